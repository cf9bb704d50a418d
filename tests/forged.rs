//! Forged content, on the real engine and registry: someone who can write to
//! the registry, without the signing key, tries to get untested content past
//! `verify --key` and have `publish` point an alias at it. Each attempt is
//! refused, and says why:
//!
//! * an image manifest with a `manifests` field added, naming a tested
//!   digest, is read as the image it says it is (not as an index);
//! * a tested digest of one image put under another image's tag does not
//!   qualify that image (`verify --expect-name`, `publish`);
//! * a newer signed FAILED attestation is not hidden by an older PASSED;
//! * `publish` without a key is refused unless `--allow-unsigned`, and
//!   `verify` without one warns;
//! * text an attestation carries is escaped before it is printed;
//! * a cross-repository alias whose attestation copy is missing (as a run
//!   killed between the two leaves it) is repaired by the next run.
//!
//! Needs the engine and registries `scripts/setup.sh` starts (then
//! `source target/strata-test-env`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{
    block_on, busybox_base, engine, manifest_digest, registry, unique, write, BUSYBOX_IMAGE,
};
use sha2::{Digest as _, Sha256};
use strata::attest::dsse::Envelope;
use strata::attest::key::SigningKey;
use strata::attest::statement::{build, TestRecord, Tested};
use strata::registry::oci::OciRegistry;
use strata::registry::referrers::Artifact;
use strata::registry::{Digest, RegistryWrite};

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("STRATA_SIGNING_KEY")
        .env_remove("STRATA_VERIFY_KEY")
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all(o: &Output) -> String {
    format!("{}{}", out(o), String::from_utf8_lossy(&o.stderr))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Raw PUT of a manifest, as anyone with push rights can.
fn put_manifest(reg: &str, repo: &str, reference: &str, bytes: &[u8], media_type: &str) {
    let url = format!("http://{reg}/v2/{repo}/manifests/{reference}");
    let (bytes, media_type) = (bytes.to_vec(), media_type.to_string());
    block_on(async move {
        let r = reqwest::Client::new()
            .put(&url)
            .header("Content-Type", media_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT {url}: {}", r.status());
    });
}

fn get_manifest(reg: &str, repo: &str, reference: &str) -> (Vec<u8>, String) {
    let url = format!("http://{reg}/v2/{repo}/manifests/{reference}");
    block_on(async move {
        let r = reqwest::Client::new()
            .get(&url)
            .header("Accept", ACCEPT)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        let t = r.headers()["Content-Type"].to_str().unwrap().to_string();
        (r.bytes().await.unwrap().to_vec(), t)
    })
}

/// Raw monolithic blob upload.
fn put_blob(reg: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let (reg, repo, bytes, d) = (
        reg.to_string(),
        repo.to_string(),
        bytes.to_vec(),
        digest.clone(),
    );
    block_on(async move {
        let c = reqwest::Client::new();
        let r = c
            .post(format!("http://{reg}/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let location = r.headers()["Location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{reg}{location}")
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = c
            .put(format!("{location}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    });
    digest
}

/// An image strata never tested (one config, no layers), as a Docker v2
/// image manifest, with `extra` fields added; returns its bytes.
fn stranger(reg: &str, repo: &str, marker: &str, extra: serde_json::Value) -> Vec<u8> {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"marker": marker}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let config_digest = put_blob(reg, repo, &config);
    let mut m = serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [],
    });
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    serde_json::to_vec(&m).unwrap()
}

/// Attaches a signed attestation, as strata's `push` writes one, with the
/// given name, result and time, to `digest` of `repo`.
fn attest(
    reg: &str,
    repo: &str,
    digest: &str,
    key: &SigningKey,
    image: &str,
    passed: bool,
    tested_at: chrono::DateTime<chrono::Utc>,
) {
    let tested = Tested {
        image: image.to_string(),
        repository: format!("{reg}/{repo}").parse().unwrap(),
        digest: digest.to_string(),
        image_id: format!("sha256:{}", "1".repeat(64)),
        tested_at,
        passed,
        tests: vec![TestRecord {
            name: "tests/app".into(),
            passed,
            layer: None,
            run: None,
        }],
        inputs: None,
    };
    let content = Envelope::seal(&build(&tested), Some(key)).to_bytes();
    let artifact = Artifact {
        artifact_type: strata::attest::IN_TOTO_MEDIA_TYPE.into(),
        media_type: strata::attest::DSSE_MEDIA_TYPE.into(),
        content,
        annotations: BTreeMap::from([("dev.strata.tested-at".to_string(), tested_at.to_rfc3339())]),
    };
    let (repository, digest) = (tested.repository, digest.to_string());
    block_on(async move {
        let registry = OciRegistry::new(|_| None);
        registry
            .attach(&repository, &Digest::new(digest), &artifact)
            .await
            .expect("attach");
    });
}

#[test]
fn forged_content_is_refused_by_verify_and_publish() {
    let reg = registry();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let ns = unique("forged");
    let app = format!("{ns}/app");
    let other = format!("{ns}/other");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    let mut inventory = String::from("images:\n");
    for (tag, alias) in [
        ("1", format!("{app}:stable")),
        ("2", format!("{other}:latest")),
    ] {
        write(
            &root,
            &format!("a{tag}/Dockerfile"),
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {tag} > /who\n"),
        );
        inventory.push_str(&format!(
            "  - name: \"{reg}/{app}:{tag}\"\n    path: ./a{tag}\n    test: ./t\n    alias: \"{reg}/{alias}\"\n"
        ));
    }
    write(&root, "t/Dockerfile", "RUN test -s /who\n");
    write(&root, "inventory.yml", &inventory);
    let prefix = dir.path().join("k");
    let o = strata(
        dir.path(),
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let (key_path, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
    let key = SigningKey::read(&key_path).unwrap();
    let public = public.to_str().unwrap().to_string();
    let o = strata(&root, &["test"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let o = strata(&root, &["push", "--key", key_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let d1 = manifest_digest(&reg, &app, "1").unwrap();
    let d2 = manifest_digest(&reg, &app, "2").unwrap();
    assert_eq!(manifest_digest(&reg, &app, "stable").as_deref(), Some(&*d1));
    assert_eq!(
        manifest_digest(&reg, &other, "latest").as_deref(),
        Some(&*d2)
    );
    let app1 = format!("{reg}/{app}:1");
    let app2 = format!("{reg}/{app}:2");

    // --- publish without a key: refused before anything is read.
    let o = strata(&root, &["publish"]);
    assert_eq!(o.status.code(), Some(2), "{}", all(&o));
    assert!(all(&o).contains("--allow-unsigned"), "{}", all(&o));
    let o = strata(&root, &["publish", "--allow-unsigned", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        out(&o)
            .lines()
            .next()
            .unwrap()
            .starts_with("nothing was checked cryptographically"),
        "{}",
        all(&o)
    );
    // verify without a key: a warning that no key was checked.
    let o = strata(dir.path(), &["verify", &app1]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no key was checked"),
        "{}",
        all(&o)
    );

    // --- an image manifest posing as an index of a tested digest.
    let (tested_manifest, tested_type) = get_manifest(&reg, &app, &d1);
    let forged = stranger(
        &reg,
        &app,
        "posing",
        serde_json::json!({"manifests": [{
            "mediaType": tested_type, "digest": d1, "size": tested_manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        }]}),
    );
    let forged_digest = sha256(&forged);
    put_manifest(&reg, &app, "1", &forged, DOCKER_MANIFEST);
    assert_eq!(
        manifest_digest(&reg, &app, "1"),
        Some(forged_digest.clone())
    );
    let o = strata(dir.path(), &["verify", &app1, "--key", &public]);
    let report = all(&o);
    eprintln!("--- verify of an image posing as an index:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(!report.contains("an index"), "{report}");
    assert!(report.contains("is one image"), "{report}");
    assert!(report.contains("no test attestation"), "{report}");
    let o = strata(&root, &["publish", "--key", &public]);
    let report = all(&o);
    eprintln!("--- publish with app:1 posing as an index:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("not ready  {app1}")), "{report}");
    assert_eq!(
        manifest_digest(&reg, &app, "stable").as_deref(),
        Some(&*d1),
        "{report}"
    );
    put_manifest(&reg, &app, "1", &tested_manifest, &tested_type);

    // --- a tested digest of app:1 replayed under app:2's tag.
    put_manifest(&reg, &app, "2", &tested_manifest, &tested_type);
    let o = strata(
        dir.path(),
        &["verify", &app2, "--key", &public, "--expect-name", &app2],
    );
    let report = all(&o);
    eprintln!("--- verify --expect-name of a replayed digest:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("tested as {app1}")), "{report}");
    assert!(
        report.contains(&format!("tested as {app1}, not {app2}")),
        "{report}"
    );
    assert!(report.contains("not verified: 1 of 1"), "{report}");
    let o = strata(&root, &["publish", "--key", &public]);
    let report = all(&o);
    eprintln!("--- publish with a replayed digest under app:2:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("not ready  {app2}")), "{report}");
    assert!(
        report.contains(&format!("was tested as {app1}")),
        "{report}"
    );
    assert_eq!(
        manifest_digest(&reg, &other, "latest").as_deref(),
        Some(&*d2),
        "the alias of app:2 stays: {report}"
    );
    let (m2, t2) = get_manifest(&reg, &app, &d2);
    put_manifest(&reg, &app, "2", &m2, &t2);
    let o = strata(
        dir.path(),
        &["verify", &app2, "--key", &public, "--expect-name", &app2],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));

    // --- a run killed between moving the cross-repository alias and
    // copying its attestation: the copy in `other` is gone.
    let empty = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    )
    .unwrap();
    put_manifest(&reg, &other, &d2.replacen(':', "-", 1), &empty, OCI_INDEX);
    let alias = format!("{reg}/{other}:latest");
    let o = strata(dir.path(), &["verify", &alias, "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let o = strata(&root, &["publish", "--key", &public]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let o = strata(dir.path(), &["verify", &alias, "--key", &public]);
    assert_eq!(o.status.code(), Some(0), "publish repaired it: {}", all(&o));
    // ... and so does the next push.
    put_manifest(&reg, &other, &d2.replacen(':', "-", 1), &empty, OCI_INDEX);
    let o = strata(&root, &["push", "--key", key_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let o = strata(dir.path(), &["verify", &alias, "--key", &public]);
    assert_eq!(o.status.code(), Some(0), "push repaired it: {}", all(&o));

    // --- hostile text in a (validly signed) attestation is escaped.
    let evil = stranger(&reg, &app, "evil", serde_json::json!({}));
    let evil_digest = sha256(&evil);
    put_manifest(&reg, &app, "evil", &evil, DOCKER_MANIFEST);
    attest(
        &reg,
        &app,
        &evil_digest,
        &key,
        "x\u{1b}[2J\u{1b}]0;owned\u{7}\r\nverified: \u{202e}elbats",
        true,
        chrono::Utc::now(),
    );
    let o = strata(
        dir.path(),
        &["verify", &format!("{reg}/{app}:evil"), "--key", &public],
    );
    let report = out(&o);
    eprintln!("--- verify of hostile text:\n{report}");
    assert!(
        !report
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{report:?}"
    );
    assert!(report.contains(r"x\u{1b}[2J"), "{report}");
    assert!(
        !report.lines().any(|l| l.starts_with("verified: \u{202e}")),
        "{report}"
    );

    // --- app:1 rebuilt, tested and pushed (stable follows); then its tag
    // is moved back to the older tested build: a downgrade by replay.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(
        &root,
        "a1/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo 1b > /who\n"),
    );
    let o = strata(&root, &["test"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let o = strata(&root, &["push", "--key", key_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let d1b = manifest_digest(&reg, &app, "1").unwrap();
    assert_ne!(d1b, d1);
    assert_eq!(
        manifest_digest(&reg, &app, "stable").as_deref(),
        Some(&*d1b)
    );
    put_manifest(&reg, &app, "1", &tested_manifest, &tested_type);
    let o = strata(&root, &["publish", "--key", &public]);
    let report = all(&o);
    eprintln!("--- publish after app:1 was moved back to an older build:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains("older test run"), "{report}");
    assert_eq!(
        manifest_digest(&reg, &app, "stable").as_deref(),
        Some(&*d1b),
        "not downgraded: {report}"
    );
    let (m1b, t1b) = get_manifest(&reg, &app, &d1b);
    put_manifest(&reg, &app, "1", &m1b, &t1b);

    // --- a newer signed FAILED attestation on app:1's digest: not hidden
    // by the older PASSED one.
    attest(&reg, &app, &d1b, &key, &app1, false, chrono::Utc::now());
    let o = strata(dir.path(), &["verify", &app1, "--key", &public]);
    let report = all(&o);
    eprintln!("--- verify after a newer FAILED:\n{report}");
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains("FAILED"), "{report}");
    let o = strata(&root, &["publish", "--key", &public, "--dry-run"]);
    let report = all(&o);
    assert_eq!(o.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("not ready  {app1}")), "{report}");
    let _ = OCI_MANIFEST;
}
