//! Two machines, simulated: the Docker engine and Podman each test and push
//! one shard of one plan to one registry, with signed attestations; then
//! `strata publish` (no engine) points the aliases from the registry alone,
//! holds an alias back when its image no longer qualifies, and refuses an
//! attestation that is not for what a shard's state recorded.
//!
//! Needs the engine, Podman and registries `scripts/setup.sh` starts (then
//! `source target/strata-test-env`).

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, podman, registry, unique, write, BUSYBOX_IMAGE};
use sha2::{Digest as _, Sha256};

fn strata(dir: &Path, host: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir)
        .env_remove("STRATA_SIGNING_KEY")
        .env_remove("STRATA_VERIFY_KEY")
        .args(args);
    match host {
        // Podman records a repository digest for every image, so the base
        // it imported here cannot be told from a pulled one: never pull.
        Some(h) if std::env::var("STRATA_TEST_PODMAN_HOST").as_deref() == Ok(h) => {
            cmd.env("DOCKER_HOST", h).env("STRATA_PULL", "never")
        }
        Some(h) => cmd.env("DOCKER_HOST", h),
        // publish needs no engine: point it at none.
        None => cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    };
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn digest_of(reg: &str, repo: &str, tag: &str) -> String {
    let url = format!("http://{reg}/v2/{repo}/manifests/{tag}");
    block_on(async move {
        let r = reqwest::Client::new()
            .get(&url)
            .header("Accept", MANIFEST)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(r.bytes().await.unwrap()))
        )
    })
}

/// Points `repo:tag` at the manifest `digest` of the same repository.
fn move_tag(reg: &str, repo: &str, tag: &str, digest: &str) {
    let (reg, repo, tag, digest) = (
        reg.to_string(),
        repo.to_string(),
        tag.to_string(),
        digest.to_string(),
    );
    block_on(async move {
        let c = reqwest::Client::new();
        let bytes = c
            .get(format!("http://{reg}/v2/{repo}/manifests/{digest}"))
            .header("Accept", MANIFEST)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let r = c
            .put(format!("http://{reg}/v2/{repo}/manifests/{tag}"))
            .header("Content-Type", MANIFEST)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    });
}

#[test]
fn two_engines_push_shards_and_publish_points_every_alias_from_the_registry() {
    let reg = registry();
    let podman_host = std::env::var("STRATA_TEST_PODMAN_HOST")
        .unwrap_or_else(|_| panic!("STRATA_TEST_PODMAN_HOST is not set: {}", common::SETUP_HINT));
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
        busybox_base(&podman().await, BUSYBOX_IMAGE).await;
    });
    let ns = unique("publish");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let mut inventory = String::from("images:\n");
    for x in ["a", "b"] {
        write(
            &root,
            &format!("{x}/Dockerfile"),
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {x} > /who\n"),
        );
        write(
            &root,
            &format!("t/{x}/Dockerfile"),
            &format!("RUN grep -q {x} /who\n"),
        );
        inventory.push_str(&format!(
            "  - name: \"{reg}/{ns}/{x}:1\"\n    path: ./{x}\n    test: ./t/{x}\n    alias: \"{reg}/{ns}/{x}:latest\"\n"
        ));
    }
    write(&root, "inventory.yml", &inventory);
    let keys = dir.path().join("k");
    let out = strata(
        dir.path(),
        None,
        &["key", "generate", "--out", keys.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (key, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));

    // --- two machines: shard 1 on Docker, shard 2 on Podman, one registry.
    let docker_host = std::env::var("DOCKER_HOST")
        .unwrap_or_else(|_| strata::engine::docker::DEFAULT_HOST.to_string());
    let mut states = Vec::new();
    for (k, host) in [(1, docker_host.as_str()), (2, podman_host.as_str())] {
        let shard = format!("{k}/2");
        let state_dir = dir.path().join(format!("state{k}"));
        let sd = state_dir.to_str().unwrap();
        let out = strata(
            &root,
            Some(host),
            &["test", "--shard", &shard, "--state-dir", sd],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "test shard {shard}:\n{}",
            text(&out)
        );
        if host == podman_host {
            assert!(
                text(&out).contains("Podman"),
                "ran on Podman:\n{}",
                text(&out)
            );
        }
        let out = strata(
            &root,
            Some(host),
            &[
                "push",
                "--shard",
                &shard,
                "--state-dir",
                sd,
                "--key",
                key.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "push shard {shard}:\n{}",
            text(&out)
        );
        states.push(state_dir.join("state.json"));
    }
    let a = digest_of(&reg, &format!("{ns}/a"), "1");
    let b = digest_of(&reg, &format!("{ns}/b"), "1");
    // Each image was tested on one engine only.
    let engines: Vec<String> = states
        .iter()
        .map(|s| std::fs::read_to_string(s).unwrap())
        .collect();
    assert!(
        engines
            .iter()
            .all(|s| s.matches("\"image_id\"").count() == 1),
        "one image per shard: {engines:?}"
    );

    // An alias out of date, as a run that was cut short could leave it.
    move_tag(
        &reg,
        &format!("{ns}/b"),
        "latest",
        &copy_into(&reg, &ns, &a, "b"),
    );
    let from: Vec<&str> = states
        .iter()
        .flat_map(|s| ["--from", s.to_str().unwrap()])
        .collect();
    let mut args = vec!["publish", "--key", public.to_str().unwrap()];
    args.extend(&from);
    let out = strata(&root, None, &args);
    let report = text(&out);
    eprintln!("--- publish after both shards:\n{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(digest_of(&reg, &format!("{ns}/b"), "latest"), b, "{report}");
    assert_eq!(digest_of(&reg, &format!("{ns}/a"), "latest"), a, "{report}");
    assert!(
        report.contains(&format!("pointed {reg}/{ns}/b:latest")),
        "{report}"
    );

    // --- the image's tag moved to an untested image: not ready, and its
    // alias is held where it is (it still carries a passing attestation).
    // b's image, copied into repository a: no attestation of it there.
    let stranger = copy_into(&reg, &ns, &b, "a");
    move_tag(&reg, &format!("{ns}/a"), "1", &stranger);
    let out = strata(&root, None, &args);
    let report = text(&out);
    eprintln!("--- publish after a:1 was moved:\n{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("not ready"), "{report}");
    assert!(report.contains("held back, because"), "{report}");
    assert_eq!(
        digest_of(&reg, &format!("{ns}/a"), "latest"),
        a,
        "held: {report}"
    );
    move_tag(&reg, &format!("{ns}/a"), "1", &a);

    // --- a shard's state that recorded another image: its attestation
    // does not count.
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&states[0]).unwrap()).unwrap();
    for (_, image) in forged["images"].as_object_mut().unwrap() {
        image["image_id"] = format!("sha256:{}", "e".repeat(64)).into();
    }
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = strata(
        &root,
        None,
        &[
            "publish",
            "--dry-run",
            "--key",
            public.to_str().unwrap(),
            "--from",
            forged_path.to_str().unwrap(),
        ],
    );
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("is not the one its shard tested"),
        "{report}"
    );
}

/// Copies manifest `digest` (of repository a or b) into repository `into`
/// and returns its digest there (the same bytes, the same digest).
fn copy_into(reg: &str, ns: &str, digest: &str, into: &str) -> String {
    for repo in ["a", "b"] {
        let url = format!("http://{reg}/v2/{ns}/{repo}/manifests/{digest}");
        let found = block_on(async move {
            let r = reqwest::Client::new()
                .get(&url)
                .header("Accept", MANIFEST)
                .send()
                .await
                .unwrap();
            r.status().is_success()
        });
        if found {
            let registry = strata::registry::oci::OciRegistry::new(|_| None);
            let source: strata::reference::Repository =
                format!("{reg}/{ns}/{repo}").parse().unwrap();
            let target: strata::reference::ImageRef =
                format!("{reg}/{ns}/{into}:copy-{}", &digest[7..19])
                    .parse()
                    .unwrap();
            let d = strata::registry::Digest::new(digest.to_string());
            block_on(async move {
                use strata::registry::RegistryWrite as _;
                registry.retag(&source, &d, &target).await.unwrap();
            });
            return digest.to_string();
        }
    }
    panic!("{digest} is in neither repository");
}

/// An alias whose candidates were built on two engines: the newest (22.11.0)
/// fails its test on one machine, the older (22.10.0) passes on the other.
/// `publish` does not move the alias back by itself; opted in, it points it
/// at the image the other engine built.
#[test]
fn an_alias_whose_candidates_were_built_on_two_engines_falls_back_only_when_asked() {
    let reg = registry();
    let podman_host = std::env::var("STRATA_TEST_PODMAN_HOST")
        .unwrap_or_else(|_| panic!("STRATA_TEST_PODMAN_HOST is not set: {}", common::SETUP_HINT));
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
        busybox_base(&podman().await, BUSYBOX_IMAGE).await;
    });
    let ns = unique("publish-versions");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (to, from) in [
        ("feed/index.tab", "node-dist-index.tab"),
        ("feed/schedule.json", "node-release-schedule.json"),
    ] {
        write(
            &root,
            to,
            &std::fs::read_to_string(data.join(from)).unwrap(),
        );
    }
    write(
        &root,
        "tpl/Dockerfile.j2",
        "FROM {{ os.from }}\nRUN echo {{ version }} > /version\n",
    );
    // 22.11.0 does not pass.
    write(
        &root,
        "tests/version/Dockerfile.j2",
        "RUN test \"$(cat /version)\" = {{ version }} && test {{ version }} != 22.11.0\n",
    );
    write(
        &root,
        "strata.yml",
        &format!(
            "as_of: 2024-10-30\noutput: out\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \">=22.10.0 <22.12.0\"\n  pick: all\nos:\n  - {{ name: bookworm, default: true, from: \"{BUSYBOX_IMAGE}\" }}\nimage:\n  name: \"{reg}/{ns}/node:{{{{ version }}}}\"\n  template: tpl\ntests: [tests/version]\naliases:\n  - \"{reg}/{ns}/node:{{{{ major }}}}\"\n"
        ),
    );
    let docker_host = std::env::var("DOCKER_HOST")
        .unwrap_or_else(|_| strata::engine::docker::DEFAULT_HOST.to_string());
    let mut states = Vec::new();
    let mut built_on = std::collections::BTreeMap::new();
    for (k, host) in [(1, docker_host.as_str()), (2, podman_host.as_str())] {
        let shard = format!("{k}/2");
        let state_dir = dir.path().join(format!("state{k}"));
        let sd = state_dir.to_str().unwrap();
        let test = strata(
            &root,
            Some(host),
            &["test", "--shard", &shard, "--state-dir", sd],
        );
        let push = strata(
            &root,
            Some(host),
            &["push", "--shard", &shard, "--state-dir", sd],
        );
        let state = std::fs::read_to_string(state_dir.join("state.json")).unwrap();
        let version = if state.contains("node:22.11.0") {
            "22.11.0"
        } else {
            "22.10.0"
        };
        assert!(state.contains(&format!("node:{version}")), "{state}");
        // The machine with 22.11.0 fails; the other passes.
        let want = if version == "22.11.0" { 1 } else { 0 };
        assert_eq!(
            test.status.code(),
            Some(want),
            "test {shard}: {}",
            text(&test)
        );
        assert_eq!(
            push.status.code(),
            Some(want),
            "push {shard}: {}",
            text(&push)
        );
        built_on.insert(version, host.to_string());
        states.push(state_dir.join("state.json"));
    }
    assert_eq!(built_on.len(), 2, "one version per engine: {built_on:?}");
    assert_ne!(built_on["22.10.0"], built_on["22.11.0"]);
    let older = digest_of(&reg, &format!("{ns}/node"), "22.10.0");

    let from: Vec<&str> = states
        .iter()
        .flat_map(|s| ["--from", s.to_str().unwrap()])
        .collect();
    let mut args = vec!["publish", "--allow-unsigned"];
    args.extend(&from);
    let out = strata(&root, None, &args);
    let report = text(&out);
    eprintln!("--- publish, 22.11.0 failed on one machine:\n{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("withheld   {reg}/{ns}/node:22"))
            && report.contains("its newest image")
            && report.contains("22.11.0 did not qualify"),
        "{report}"
    );
    let tags = tags_of(&reg, &format!("{ns}/node"));
    assert!(
        !tags.contains(&"22".to_string()),
        "not moved back: {tags:?}"
    );

    // Opted in: the alias goes to 22.10.0, built on the other engine.
    let glob = format!("*/{ns}/node:22");
    args.extend(["--fallback", glob.as_str()]);
    let out = strata(&root, None, &args);
    let report = text(&out);
    eprintln!("--- publish --fallback:\n{report}");
    assert!(report.contains("fell back (opted in)"), "{report}");
    assert_eq!(
        digest_of(&reg, &format!("{ns}/node"), "22"),
        older,
        "{report}"
    );
}

/// The tags of `repo`, over plain HTTP.
fn tags_of(reg: &str, repo: &str) -> Vec<String> {
    let url = format!("http://{reg}/v2/{repo}/tags/list");
    block_on(async move {
        let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    })
}
