//! Sigstore bundle referrers, checked by an independent verifier: an image
//! tested and pushed with a key carries a Sigstore bundle v0.3 referrer in
//! the layout `cosign` reads, and sigstore-js (`@sigstore/verify`, pinned in
//! `scripts/sigstore-js`) verifies it from the registry with the public key
//! alone; a tampered bundle and another key fail; an unsigned push writes no
//! bundle.
//!
//! Needs the engine and registries `scripts/setup.sh` starts (then
//! `source target/strata-test-env`), node and npm (the packages are
//! installed under `target/sigstore-js` when missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{block_on, busybox_base, engine, registry, unique, write, BUSYBOX_IMAGE};

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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The pinned sigstore-js packages, installed under `target/` when missing.
fn sigstore_js() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/sigstore-js");
    if !dir.join("node_modules/@sigstore/verify").is_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(root.join("scripts/sigstore-js").join(f), dir.join(f)).unwrap();
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("npm runs");
        assert!(out.status.success(), "npm ci: {}", text(&out));
    }
    dir.join("node_modules")
}

/// `scripts/check-bundle.js` on `repo:reference` with `key`.
fn check(reg: &str, repo: &str, reference: &str, key: &Path, extra: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-bundle.js");
    std::process::Command::new("node")
        .env("NODE_PATH", sigstore_js())
        .arg(script)
        .args([&format!("http://{reg}"), repo, reference])
        .arg(key)
        .args(extra)
        .output()
        .expect("node runs")
}

fn project(root: &Path, image: &str) {
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{image}\"\n    path: ./app\n    test: [./tests/layer]\n"),
    );
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo bundled > /msg\n"),
    );
    write(root, "tests/layer/Dockerfile", "RUN grep -q bundled /msg\n");
}

#[test]
fn signed_pushes_carry_a_sigstore_bundle_that_sigstore_js_verifies() {
    let reg = registry();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let ns = unique("bundle");
    let repo = format!("{ns}/app");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    for name in ["release", "other"] {
        let prefix = keys.join(name);
        let out = strata(
            dir.path(),
            &["key", "generate", "--out", prefix.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let (key, public, other) = (
        keys.join("release.key"),
        keys.join("release.pub"),
        keys.join("other.pub"),
    );

    // Signed: a bundle, verified by sigstore-js with the public key alone.
    let root = dir.path().join("signed");
    project(&root, &format!("{reg}/{repo}:1"));
    let out = strata(&root, &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = strata(&root, &["push", "-v", "--key", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Sigstore bundle of sha256:"),
        "{}",
        text(&out)
    );
    let ok = check(&reg, &repo, "1", &public, &[]);
    let said = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{said}");
    assert!(said.contains("OK sha256:"), "{said}");
    assert!(
        said.contains("https://in-toto.io/attestation/test-result/v0.1 PASSED"),
        "{said}"
    );

    // A tampered bundle and another key fail.
    let tampered = check(&reg, &repo, "1", &public, &["--tamper"]);
    assert_eq!(tampered.status.code(), Some(1), "{}", text(&tampered));
    assert!(text(&tampered).contains("FAIL"), "{}", text(&tampered));
    let wrong = check(&reg, &repo, "1", &other, &[]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("key not found"), "{}", text(&wrong));

    // Unsigned: the in-toto attestation only, no bundle.
    let root = dir.path().join("unsigned");
    project(&root, &format!("{reg}/{repo}:2"));
    write(
        &root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo bundled > /msg && echo unsigned > /other\n"),
    );
    let out = strata(&root, &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = strata(&root, &["push", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("attested sha256:"), "{}", text(&out));
    let none = check(&reg, &repo, "2", &public, &[]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(
        text(&none).contains("no sigstore bundle refers to"),
        "{}",
        text(&none)
    );
}
