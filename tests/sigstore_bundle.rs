//! Sigstore bundle referrers, checked by an independent verifier: an image
//! tested and pushed with a key carries a Sigstore bundle v0.3 referrer in
//! the layout `cosign` reads, for its test result and for its SLSA
//! provenance, and sigstore-js (`@sigstore/verify`, pinned in
//! `scripts/sigstore-js`) verifies them from the registry with the public key
//! alone; a tampered bundle and another key fail; an unsigned push writes no
//! bundle. An image of two platforms: its index carries its own test result
//! and provenance (subjects: the index and both platform images), checked
//! the same way. The provenance is also checked with the in-toto
//! attestation framework's Python bindings (`scripts/check-provenance.py`),
//! and `strata verify` reports all of it, as text and JSON.
//!
//! Needs the engine and registries `scripts/setup.sh` starts (then
//! `source target/strata-test-env`), node and npm (the packages are
//! installed under `target/sigstore-js` when missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    arm64_rootfs, block_on, busybox_base, engine, registry, unique, write, BUSYBOX_IMAGE,
};

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

/// `scripts/check-provenance.py` on `repo:reference` with `key`.
fn check_provenance(reg: &str, repo: &str, reference: &str, key: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-provenance.py");
    std::process::Command::new("python3")
        .arg(script)
        .args([&format!("http://{reg}"), repo, reference])
        .arg(key)
        .output()
        .expect("python3 runs")
}

/// The predicate types sigstore-js verified, one per `OK` line.
fn verified_types(out: &Output) -> Vec<String> {
    let mut types: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("OK "))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    types.sort();
    types
}

const TEST_RESULT: &str = "https://in-toto.io/attestation/test-result/v0.1";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";

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
    // The provenance's bundle too, its subject the same digest.
    // The provenance's and the SBOM's bundles too.
    assert_eq!(
        verified_types(&ok),
        [TEST_RESULT, PROVENANCE, "https://spdx.dev/Document"],
        "{said}"
    );
    let prov = check_provenance(&reg, &repo, "1", &public);
    assert_eq!(prov.status.code(), Some(0), "{}", text(&prov));
    assert!(
        text(&prov).contains("valid: urn:strata:build-type:image:v1"),
        "{}",
        text(&prov)
    );
    let prov = check_provenance(&reg, &repo, "1", &other);
    assert_eq!(prov.status.code(), Some(1), "{}", text(&prov));

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

#[test]
fn an_index_carries_its_own_test_result_and_provenance_and_verify_reports_them() {
    let reg = registry();
    let ns = unique("bundle-index");
    let repo = format!("{ns}/app");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let keys = root.join("keys");
    std::fs::create_dir(&keys).unwrap();
    for name in ["release", "other"] {
        let prefix = keys.join(name);
        let out = strata(
            root,
            &["key", "generate", "--out", prefix.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let (key, public, other) = (
        keys.join("release.key"),
        keys.join("release.pub"),
        keys.join("other.pub"),
    );
    // Bases for both platforms, as `strata import --platform` makes them.
    for (arch, rootfs) in [
        ("amd64", common::busybox_rootfs()),
        ("arm64", arm64_rootfs()),
    ] {
        let tar = root.join(format!("rootfs-{arch}.tar"));
        std::fs::write(&tar, rootfs).unwrap();
        let reference = format!("{reg}/{ns}/rootfs:{arch}");
        let platform = format!("linux/{arch}");
        let out = strata(
            root,
            &[
                "import",
                "--platform",
                &platform,
                tar.to_str().unwrap(),
                &reference,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let project = root.join("project");
    write(
        &project,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{reg}/{repo}:1\"\n    path: ./app\n    platforms: [linux/amd64, linux/arm64]\n    test: [./tests/layer]\n"
        ),
    );
    write(
        &project,
        "app/Dockerfile",
        &format!(
            "ARG TARGETARCH\nFROM {reg}/{ns}/rootfs:${{TARGETARCH}}\nRUN echo bundled > /msg\n"
        ),
    );
    write(
        &project,
        "tests/layer/Dockerfile",
        "RUN grep -q bundled /msg\n",
    );
    let out = strata(&project, &["test", "-j", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = strata(&project, &["push", "-v", "--key", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("attested index sha256:"),
        "{}",
        text(&out)
    );

    // The index's bundles: its test result and its provenance, verified by
    // sigstore-js with the public key, their subjects naming the index.
    let ok = check(&reg, &repo, "1", &public, &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(
        verified_types(&ok),
        [TEST_RESULT, PROVENANCE],
        "{}",
        text(&ok)
    );
    assert!(
        text(&ok).contains(&format!("{TEST_RESULT} PASSED")),
        "{}",
        text(&ok)
    );
    let tampered = check(&reg, &repo, "1", &public, &["--tamper"]);
    assert_eq!(tampered.status.code(), Some(1), "{}", text(&tampered));
    let wrong = check(&reg, &repo, "1", &other, &[]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("key not found"), "{}", text(&wrong));

    // The index's provenance, through the in-toto attestation bindings.
    let prov = check_provenance(&reg, &repo, "1", &public);
    assert_eq!(prov.status.code(), Some(0), "{}", text(&prov));
    assert!(
        text(&prov).contains("valid: urn:strata:build-type:index:v1"),
        "{}",
        text(&prov)
    );

    // strata verify: both platforms, the index, text and JSON.
    let reference = format!("{reg}/{repo}:1");
    let out = strata(
        &project,
        &["verify", "--key", public.to_str().unwrap(), &reference],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("test result PASSED for 2 platform(s)"),
        "{said}"
    );
    assert!(said.contains("provenance valid"), "{said}");
    assert!(said.contains("SBOM absent"), "{said}");
    assert!(
        said.contains(&format!(
            "cosign verify-attestation --key {} --type {PROVENANCE} --insecure-ignore-tlog=true {reg}/{repo}@sha256:",
            public.display()
        )),
        "{said}"
    );
    let out = strata(
        &project,
        &[
            "verify",
            "--format",
            "json",
            "--key",
            public.to_str().unwrap(),
            &reference,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], true, "{json:#}");
    let index = &json["indexAttestations"];
    assert_eq!(index["testResult"]["verified"], true, "{json:#}");
    assert_eq!(
        index["testResult"]["passedTests"].as_array().unwrap().len(),
        2
    );
    let provenance = &index["attestations"]["provenance"];
    assert_eq!(provenance["valid"], true, "{json:#}");
    let images: Vec<&str> = provenance["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "image")
        .filter_map(|d| d["digest"].as_str())
        .collect();
    let platforms = json["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    for p in platforms {
        assert!(images.contains(&p["digest"].as_str().unwrap()), "{json:#}");
        assert_eq!(p["attestations"]["provenance"]["valid"], true, "{json:#}");
        // A signed push attaches each platform image's SBOM: reported
        // present, with its cosign command.
        assert_eq!(p["attestations"]["sbom"]["present"], true, "{json:#}");
        assert_eq!(
            p["attestations"]["sbom"]["rejected"],
            serde_json::json!([]),
            "{json:#}"
        );
        let spdx = p["cosign"].as_array().unwrap().iter().any(|c| {
            c.as_str()
                .unwrap()
                .contains("--type https://spdx.dev/Document")
        });
        assert!(spdx, "{json:#}");
        let kinds: Vec<&str> = p["attestations"]["provenance"]["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["dockerfile", "context", "test"], "{json:#}");
        // Each platform's bundles, verified by sigstore-js too.
        let digest = p["digest"].as_str().unwrap();
        let ok = check(&reg, &repo, digest, &public, &[]);
        assert_eq!(
            verified_types(&ok),
            [TEST_RESULT, PROVENANCE, "https://spdx.dev/Document"],
            "{}",
            text(&ok)
        );
    }
    // Another key: nothing verifies.
    let out = strata(
        &project,
        &["verify", "--key", other.to_str().unwrap(), &reference],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
