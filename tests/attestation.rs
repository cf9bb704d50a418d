//! Test attestations end to end, through the `strata` binary, on the real
//! engine and registry: a key pair made, an image tested and pushed with
//! its signed attestation, `verify` passing, then each kind of tampering
//! failing `verify` with its reason, and the attestation checked without
//! strata (plain HTTP and Python's `cryptography`).
//!
//! Needs the engine and registries `scripts/setup.sh` starts (then
//! `source target/strata-test-env`), and python3 with `cryptography`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{
    block_on, busybox_base, engine, registry, registry_get, unique, write, BUSYBOX_IMAGE,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn client() -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// PUTs `bytes` as a manifest of `media_type` at `reference`.
fn put_manifest(reference: &str, bytes: Vec<u8>, media_type: &str) {
    let reference: Reference = reference.parse().unwrap();
    let media_type = media_type.to_string();
    block_on(async move {
        client()
            .push_manifest_raw(&reference, bytes, media_type.parse().unwrap())
            .await
            .expect("push manifest");
    });
}

fn put_blob(repo: &str, bytes: Vec<u8>) -> String {
    let digest = sha256(&bytes);
    let reference: Reference = format!("{repo}:x").parse().unwrap();
    let d = digest.clone();
    block_on(async move {
        let c = client();
        c.store_auth_if_needed(reference.resolve_registry(), &RegistryAuth::Anonymous)
            .await;
        c.push_blob(&reference, bytes, &d).await.expect("push blob");
    });
    digest
}

/// An inventory of one image with a layer test and a `run.yml` test.
fn write_project(root: &Path, image: &str) {
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{image}\"\n    path: ./app\n    test: [./tests/layer, ./tests/run]\n"
        ),
    );
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo attested > /msg\n"),
    );
    write(
        root,
        "tests/layer/Dockerfile",
        "RUN grep -q attested /msg\n",
    );
    write(
        root,
        "tests/run/run.yml",
        "command: [\"cat\", \"/msg\"]\nexpect:\n  stdout_contains: [\"attested\"]\n",
    );
}

#[test]
fn pushed_images_carry_signed_attestations_that_verify_and_tampering_fails() {
    let reg = registry();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let ns = unique("attest");
    let repo = format!("{reg}/{ns}/app");
    let image = format!("{repo}:1");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    write_project(&root, &image);

    // --- key pair: the private key never shows.
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let prefix = keys.join("release");
    let out = strata(
        dir.path(),
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let private = std::fs::read_to_string(keys.join("release.key")).unwrap();
    let body = private.lines().nth(1).unwrap();
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!shown.contains(body), "private key printed:\n{shown}");
    let mode = std::fs::metadata(keys.join("release.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = strata(
        dir.path(),
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing key is never overwritten"
    );
    let other = keys.join("other");
    let out = strata(
        dir.path(),
        &["key", "generate", "--out", other.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let (key, public, other_public) = (
        keys.join("release.key"),
        keys.join("release.pub"),
        keys.join("other.pub"),
    );

    // --- test, then push signed.
    let out = strata(&root, &["test"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = strata(&root, &["push", "-v", "--key", key.to_str().unwrap()]);
    let pushed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{pushed}");
    assert!(pushed.contains("attested sha256:"), "{pushed}");
    assert!(!pushed.contains(body), "private key printed:\n{pushed}");

    // --- verify: passes, and says what passed, when, with which strata.
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    assert!(report.contains("PASSED"), "{report}");
    assert!(report.contains("signature valid"), "{report}");
    assert!(report.contains("tests/layer, tests/run"), "{report}");
    assert!(
        report.contains(&format!("strata {}", env!("CARGO_PKG_VERSION"))),
        "{report}"
    );
    let manifest = registry_get(&format!("http://{reg}/v2/{ns}/app/manifests/1"), MANIFEST);
    let digest = sha256(&manifest);
    assert!(report.contains(&digest), "{report}");

    // --- independent check: plain HTTP and Python's cryptography.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-attestation.py");
    let py = std::process::Command::new("python3")
        .arg(&script)
        .args([&format!("http://{reg}"), &format!("{ns}/app"), "1"])
        .arg(&public)
        .output()
        .expect("python3 runs");
    let py_out = format!("{}{}", text(&py.stdout), text(&py.stderr));
    assert_eq!(py.status.code(), Some(0), "{py_out}");
    assert!(py_out.contains(&format!("is {digest}")), "{py_out}");
    assert!(py_out.contains(": PASSED"), "{py_out}");
    // ... and it fails with another key, so it checks something.
    let py = std::process::Command::new("python3")
        .arg(&script)
        .args([&format!("http://{reg}"), &format!("{ns}/app"), "1"])
        .arg(&other_public)
        .output()
        .unwrap();
    assert_eq!(py.status.code(), Some(1), "{}", text(&py.stdout));

    // --- another key: not verified, and says so.
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", other_public.to_str().unwrap()],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("signed by another key"), "{report}");

    // --- the envelope altered (a failed test made to look passed): the
    // referrers index now lists only the altered copy.
    let tag_url = format!(
        "http://{reg}/v2/{ns}/app/manifests/{}",
        digest.replacen(':', "-", 1)
    );
    let index: serde_json::Value = serde_json::from_slice(&registry_get(&tag_url, INDEX)).unwrap();
    let entry = index["manifests"][0].clone();
    let art_bytes = registry_get(
        &format!(
            "http://{reg}/v2/{ns}/app/manifests/{}",
            entry["digest"].as_str().unwrap()
        ),
        MANIFEST,
    );
    let mut art: serde_json::Value = serde_json::from_slice(&art_bytes).unwrap();
    let layer = art["layers"][0]["digest"].as_str().unwrap().to_string();
    let envelope = registry_get(&format!("http://{reg}/v2/{ns}/app/blobs/{layer}"), "*/*");
    let mut envelope: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let mut statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    statement["predicate"]["passedTests"]
        .as_array_mut()
        .unwrap()
        .push("tests/added-later".into());
    envelope["payload"] = b64.encode(serde_json::to_vec(&statement).unwrap()).into();
    let altered = serde_json::to_vec(&envelope).unwrap();
    art["layers"][0]["size"] = altered.len().into();
    art["layers"][0]["digest"] = put_blob(&format!("{reg}/{ns}/app"), altered).into();
    let art_bytes = serde_json::to_vec(&art).unwrap();
    let art_digest = sha256(&art_bytes);
    put_manifest(
        &format!("{reg}/{ns}/app@{art_digest}"),
        art_bytes.clone(),
        MANIFEST,
    );
    let mut altered_index = index.clone();
    altered_index["manifests"][0]["digest"] = art_digest.clone().into();
    altered_index["manifests"][0]["size"] = art_bytes.len().into();
    let tag_ref = format!("{reg}/{ns}/app:{}", digest.replacen(':', "-", 1));
    put_manifest(&tag_ref, serde_json::to_vec(&altered_index).unwrap(), INDEX);
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("altered after signing"), "{report}");
    // Put the genuine one back: verified again.
    put_manifest(&tag_ref, serde_json::to_vec(&index).unwrap(), INDEX);
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // --- the tag moved to an image strata never tested: no attestation.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = put_blob(&format!("{reg}/{ns}/app"), config.to_vec());
    let stranger = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [],
    }))
    .unwrap();
    let stranger_digest = sha256(&stranger);
    put_manifest(&image, stranger.clone(), MANIFEST);
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains(&stranger_digest), "{report}");
    assert!(report.contains("no test attestation"), "{report}");

    // --- ... and given the moved-from image's attestation: it names
    // another subject, so it does not count.
    let stolen_tag = format!("{reg}/{ns}/app:{}", stranger_digest.replacen(':', "-", 1));
    put_manifest(&stolen_tag, serde_json::to_vec(&index).unwrap(), INDEX);
    let out = strata(
        dir.path(),
        &["verify", &image, "--key", public.to_str().unwrap()],
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("belongs to another image"), "{report}");
}

#[test]
fn verify_needs_no_engine_and_names_bad_input() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    // No engine anywhere: verify reads only the registry.
    let missing = format!("{reg}/{}/none:1", unique("attest-none"));
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["verify", &missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not in the registry"),
        "{}",
        text(&out.stderr)
    );

    let bad_key = dir.path().join("bad.pub");
    std::fs::write(&bad_key, "not a key").unwrap();
    let out = strata(
        dir.path(),
        &["verify", &missing, "--key", bad_key.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.pub"),
        "{}",
        text(&out.stderr)
    );

    // A push with an unusable key stops before anything is built or pushed,
    // and never echoes the key's text.
    write(dir.path(), "inventory.yml", "images: []\n");
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env(
            "STRATA_SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n",
        )
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["push"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("STRATA_SIGNING_KEY"), "{err}");
    assert!(!err.contains("c2VjcmV0LWJ5dGVz"), "{err}");
}
