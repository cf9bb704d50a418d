//! External bases followed upstream, on the real engine with a local
//! registry playing upstream: a base absent from the engine is resolved and
//! pulled by digest; when its tag moves, exactly the images built on it
//! rebuild, and the next run rebuilds nothing; `--pull never` stays offline.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::{BuildContext, BuildRequest, Dockerfile, Engine};

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The images whose build `out` reported as up to date.
fn skipped(out: &Output, names: &[&str]) -> Vec<String> {
    let stdout = text(&out.stdout);
    names
        .iter()
        .filter(|n| {
            stdout.split("## Image: ").any(|section| {
                let build = section.split("### Test").next().unwrap_or_default();
                section.starts_with(&format!("{n}\n")) && build.contains("up to date")
            })
        })
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn a_base_is_pulled_by_digest_and_its_move_rebuilds_exactly_its_dependents() {
    let registry = common::registry();
    let path = unique("upstream");
    let ns = format!("{registry}/{path}");
    let base = format!("{ns}/base:stable");
    let engine = block_on(engine());
    block_on(busybox_base(&engine, BUSYBOX_IMAGE));
    // v1, pushed upstream, then gone from the engine.
    let v1 = block_on(busybox_base(&engine, &base));
    block_on(engine.push(&base, None, &|_| {})).unwrap();
    let d1 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    block_on(engine.remove(&base)).unwrap();
    block_on(engine.remove(v1.as_str())).ok();
    assert_eq!(block_on(engine.image_id(&base)).unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {base}\nRUN echo app > /app\n"),
    );
    write(
        root,
        "child/Dockerfile",
        &format!("FROM {ns}/app:1\nRUN echo child > /child\n"),
    );
    write(
        root,
        "other/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo other > /other\n"),
    );
    write(root, "t/Dockerfile", "RUN test -f /bin/sh\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    test: ./t\n  - name: \"{ns}/child:1\"\n    path: ./child\n    test: ./t\n  - name: \"{ns}/other:1\"\n    path: ./other\n    test: ./t\n"
        ),
    );
    let (app, child, other) = (
        format!("{ns}/app:1"),
        format!("{ns}/child:1"),
        format!("{ns}/other:1"),
    );
    let names = [app.as_str(), child.as_str(), other.as_str()];

    // `never` with the base absent: exit 2 before any build, naming it.
    let never = strata(root, &["test", "--pull", "never"]);
    assert_eq!(never.status.code(), Some(2), "{}", text(&never.stderr));
    assert!(
        text(&never.stderr).contains(&base),
        "{}",
        text(&never.stderr)
    );
    assert_eq!(block_on(engine.image_id(&app)).unwrap(), None);

    let first = strata(root, &["test", "-j", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let pinned = format!("{ns}/base@{d1}");
    assert!(
        text(&first.stderr).contains(&format!("pulled {base} ({pinned})")),
        "{}",
        text(&first.stderr)
    );
    assert!(block_on(engine.image_id(&pinned)).unwrap().is_some());
    // The state records the digest the image was built on.
    let state = || std::fs::read_to_string(root.join(".strata/state.json")).unwrap();
    assert!(
        state().contains(&format!("\"digest\": \"{d1}\"")),
        "{}",
        state()
    );

    // v2 pushed to the same tag; the engine's tag still names v1, and v2
    // is not on the engine.
    let v1 = block_on(engine.image_id(&pinned)).unwrap().unwrap();
    let v2 = block_on(engine.build(
        BuildRequest {
            context: BuildContext {
                dir: root.join("t"),
                dockerfile: Dockerfile::Inline(format!(
                    "FROM {}\nRUN echo v2 > /v2\n",
                    v1.as_str()
                )),
                extra_files: vec![],
            },
            tag: Some(base.clone()),
            build_args: Default::default(),
            labels: Default::default(),
            no_cache: false,
            timeout: None,
            platform: None,
            builder: None,
        },
        &|_| {},
    ))
    .unwrap();
    block_on(engine.push(&base, None, &|_| {})).unwrap();
    let d2 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    assert_ne!(d1, d2);
    block_on(engine.tag(&v1, &base)).unwrap();
    block_on(engine.remove(v2.as_str())).ok();

    let second = strata(root, &["test", "-j", "2"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains(&format!("pulled {base} ({ns}/base@{d2})")),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        skipped(&second, &names),
        vec![other.clone()],
        "{}",
        text(&second.stdout)
    );
    assert!(
        state().contains(&format!("\"digest\": \"{d2}\"")),
        "{}",
        state()
    );
    assert!(!state().contains(&d1), "{}", state());

    let third = strata(root, &["test", "-j", "2"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert!(
        !text(&third.stderr).contains("pulled"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(skipped(&third, &names).len(), 3, "{}", text(&third.stdout));

    // Offline: the engine's copies, no registry asked.
    let offline = strata(root, &["test", "--pull", "never"]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
}

/// A registry that does not answer, and one that refuses strata's (absent)
/// credentials: exit 3 before any build, naming the base.
#[test]
fn an_unreachable_or_refusing_upstream_stops_the_run_before_any_build() {
    let (auth, _) = common::auth_registry();
    let down = format!("127.0.0.1:{}", common::free_port());
    for host in [down, auth] {
        let ns = format!("{host}/{}", unique("upstream-down"));
        let base = format!("{ns}/base:1");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app/Dockerfile", &format!("FROM {base}\nRUN true\n"));
        write(
            root,
            "inventory.yml",
            &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n"),
        );
        let config = tempfile::tempdir().unwrap();
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .current_dir(root)
            .env("DOCKER_CONFIG", config.path())
            .args(["test", "--connect-timeout", "3"])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&format!("base image {base}")), "{stderr}");
        let engine = block_on(engine());
        assert_eq!(
            block_on(engine.image_id(&format!("{ns}/app:1"))).unwrap(),
            None
        );
    }
}

/// The arm64 busybox that the setup script fetched.
fn arm64_busybox() -> std::path::PathBuf {
    let path = std::env::var("STRATA_TEST_BUSYBOX_ARM64")
        .expect("STRATA_TEST_BUSYBOX_ARM64 is unset: run scripts/setup.sh and source its env file");
    let path = std::path::PathBuf::from(path);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

/// The host's busybox root filesystem with its binary swapped for `binary`.
fn rootfs_with(binary: &Path) -> Vec<u8> {
    let host = common::busybox_rootfs();
    let mut archive = tar::Archive::new(host.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    let replacement = std::fs::read(binary).unwrap();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        if entry.path().unwrap().to_str() == Some("bin/busybox") {
            header.set_size(replacement.len() as u64);
            header.set_cksum();
            out.append(&header, replacement.as_slice()).unwrap();
        } else {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            out.append(&header, data.as_slice()).unwrap();
        }
    }
    out.into_inner().unwrap()
}

/// `rootfs` with one more file, `/etc/strata-test`, holding `marker`.
fn with_marker(rootfs: Vec<u8>, marker: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(rootfs.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.append(&header, data.as_slice()).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(marker.len() as u64);
    out.append_data(&mut header, "etc/strata-test", marker.as_bytes())
        .unwrap();
    out.into_inner().unwrap()
}

fn architecture(reference: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            reference,
        ])
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

/// Upstream `{registry}/{path}/base:stable`: a two-platform index (amd64
/// and arm64 busybox), put together over plain HTTP as another tool would,
/// then gone from the engine. Returns the index's digest and each
/// platform's manifest digest, amd64 first.
fn two_platform_base(root: &Path, registry: &str, path: &str) -> (String, String, String) {
    let ns = format!("{registry}/{path}");
    let engine = block_on(engine());
    let mut children = Vec::new();
    for (arch, rootfs) in [
        ("amd64", common::busybox_rootfs()),
        ("arm64", rootfs_with(&arm64_busybox())),
    ] {
        let tar = root.join(format!("rootfs-{arch}.tar"));
        // Content of its own: an import of the same files would be the
        // engine's cached image of other tests, which the push would mark
        // as pulled from this registry.
        std::fs::write(&tar, with_marker(rootfs, &ns)).unwrap();
        let tag = format!("{ns}/base:{arch}");
        let platform = format!("linux/{arch}");
        let out = strata(
            root,
            &[
                "import",
                "--platform",
                &platform,
                tar.to_str().unwrap(),
                &tag,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(architecture(&tag), arch);
        block_on(engine.push(&tag, None, &|_| {})).unwrap();
        let digest = common::manifest_digest(registry, &format!("{path}/base"), arch).unwrap();
        let id = block_on(engine.image_id(&tag)).unwrap().unwrap();
        block_on(engine.remove(&tag)).unwrap();
        block_on(engine.remove(id.as_str())).ok();
        children.push((arch, digest));
    }
    let index = block_on(async {
        let client = reqwest::Client::new();
        let mut manifests = Vec::new();
        for (arch, digest) in &children {
            let got = client
                .get(format!("http://{registry}/v2/{path}/base/manifests/{digest}"))
                .header(
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
                )
                .send()
                .await
                .unwrap();
            let media_type = got.headers()["Content-Type"].to_str().unwrap().to_string();
            let size = got.bytes().await.unwrap().len();
            manifests.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": size,
                "platform": {"os": "linux", "architecture": arch},
            }));
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": manifests,
        }))
        .unwrap();
        let put = client
            .put(format!("http://{registry}/v2/{path}/base/manifests/stable"))
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.status());
        put.headers()["Docker-Content-Digest"]
            .to_str()
            .unwrap()
            .to_string()
    });
    assert_eq!(
        block_on(engine.image_id(&format!("{ns}/base:stable"))).unwrap(),
        None
    );
    let (amd64, arm64) = (children[0].1.clone(), children[1].1.clone());
    (index, amd64, arm64)
}

/// An app for amd64 and arm64 on `{ns}/base:stable`, each platform's
/// build recording where it ran.
fn two_platform_app(root: &Path, ns: &str) {
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {ns}/base:stable\nRUN uname -m > /built-on\n"),
    );
    write(root, "t/Dockerfile", "RUN test -s /built-on\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    platforms: [linux/amd64, linux/arm64]\n    test: ./t\n"
        ),
    );
}

/// Point 1 of following upstream: a base that is an index gives each
/// platform its own child, pulled by that digest and recorded per unit.
#[test]
fn a_two_platform_base_index_builds_each_platform_on_its_own_child() {
    let registry = common::registry();
    let path = unique("upstream-index");
    let ns = format!("{registry}/{path}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (index, amd64, arm64) = two_platform_base(root, &registry, &path);
    two_platform_app(root, &ns);
    let base = format!("{ns}/base:stable");

    let out = strata(root, &["test", "-j", "2"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (arch, digest) in [("amd64", &amd64), ("arm64", &arm64)] {
        let pinned = format!("{ns}/base@{digest}");
        assert!(
            stderr.contains(&format!("pulled {base} ({pinned})")),
            "{stderr}"
        );
        // Pulled by digest: the engine holds that child, for its platform.
        assert_eq!(architecture(&pinned), arch);
        assert_eq!(architecture(&format!("{ns}/app:1-linux-{arch}")), arch);
    }
    assert!(!stderr.contains(&index), "the index itself is never pulled");

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(".strata/state.json")).unwrap()).unwrap();
    for (arch, digest) in [("amd64", &amd64), ("arm64", &arm64)] {
        let unit = format!("{ns}/app:1-linux-{arch}");
        let bases = &state["images"][&unit]["bases"];
        assert_eq!(
            bases,
            &serde_json::json!([{
                "reference": base, "platform": format!("linux/{arch}"), "digest": digest,
            }]),
            "{unit}: {state:#}"
        );
    }
}

/// `skopeo inspect --raw` of `reference` (`host/repo:tag` or `@digest`),
/// read without strata.
fn skopeo(args: &[&str], reference: &str) -> serde_json::Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(args)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is not installed: run scripts/setup.sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .env("GIT_AUTHOR_DATE", "@1500000000 +0000")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Point 7: every pushed image and index says what it is built on, as
/// labels in the image config and annotations on the manifest and index,
/// read back by skopeo. `created` is the commit's time, or
/// `SOURCE_DATE_EPOCH`; a new commit that changes no input rebuilds nothing.
#[test]
fn pushed_images_and_indexes_say_what_they_are_built_on() {
    let registry = common::registry();
    let path = unique("upstream-annotated");
    let ns = format!("{registry}/{path}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (_, amd64, arm64) = two_platform_base(root, &registry, &path);
    two_platform_app(root, &ns);
    write(root, ".gitignore", ".strata/\n*.tar\n");
    git(root, &["init", "-q"]);
    git(
        root,
        &[
            "remote",
            "add",
            "origin",
            "https://someone:ghp_notshown@example.org/acme/images.git",
        ],
    );
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "images"]);
    let head = git(root, &["rev-parse", "HEAD"]);

    for command in ["test", "push"] {
        let out = strata(root, &[command, "-j", "2"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let base = format!("{ns}/base:stable");
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    let common = serde_json::json!({
        key("base.name"): base,
        key("version"): "1",
        // The commit's time (committer), not the clock's.
        key("created"): "2020-09-13T12:26:40Z",
        key("revision"): head,
        key("source"): "https://example.org/acme/images",
    });
    let index = skopeo(&["--raw"], &format!("{ns}/app:1"));
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index:#}"
    );
    // Each platform's base digest differs: the index says what they share.
    assert_eq!(index["annotations"], common, "{index:#}");
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index:#}");
    for entry in entries {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        let want_base = match arch {
            "amd64" => &amd64,
            "arm64" => &arm64,
            other => panic!("{other} in {index:#}"),
        };
        let mut want = common.clone();
        want[key("base.digest")] = serde_json::json!(want_base);
        let child = format!("{ns}/app@{}", entry["digest"].as_str().unwrap());
        let manifest = skopeo(&["--raw"], &child);
        assert_eq!(manifest["annotations"], want, "{arch}: {manifest:#}");
        // The same values are labels in the image config (the image ID).
        let config = skopeo(&["--config"], &child);
        let labels = &config["config"]["Labels"];
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&labels[k], v, "{arch} label {k}: {config:#}");
        }
    }
    assert!(!text(&std::fs::read(root.join(".strata/state.json")).unwrap()).contains("ghp_"));

    // A commit that changes none of the image's inputs rebuilds nothing:
    // the image keeps the commit it was built at.
    write(root, "NOTES.md", "notes\n");
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "notes"]);
    let again = strata(root, &["test", "-j", "2"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let names = [
        format!("{ns}/app:1-linux-amd64"),
        format!("{ns}/app:1-linux-arm64"),
    ];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(skipped(&again, &names).len(), 2, "{}", text(&again.stdout));

    // SOURCE_DATE_EPOCH decides `created` when set (a build it does not
    // cause: the stamp is no input); a bad one is bad input.
    let epoch = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["test", "-j", "2", "--no-cache"])
        .output()
        .unwrap();
    assert_eq!(epoch.status.code(), Some(0), "{}", text(&epoch.stderr));
    let engine = block_on(engine());
    let id = block_on(engine.image_id(names[0])).unwrap().unwrap();
    let inspect = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            id.as_str(),
        ])
        .output()
        .unwrap();
    let labels: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(labels[key("created")], "2023-11-14T22:13:20Z", "{labels}");
    let bad = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "last tuesday")
        .args(["test"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("SOURCE_DATE_EPOCH"),
        "{}",
        text(&bad.stderr)
    );
}
