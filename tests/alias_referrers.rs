//! The attestations an alias carries, end to end on the real engine and
//! registry (which has no referrers API: the referrers tag schema is used):
//!
//! * an alias in another repository than its image (the example's
//!   `official:` and `node:` repositories) gets the image's signed test
//!   result, provenance and SBOM there, so `verify` on the alias finds and
//!   accepts each, and `publish` copies all of them when they are missing;
//! * a referrer whose manifest does not name its predicate type is
//!   classified by the statement it holds: an SBOM or a provenance without
//!   the annotation counts as what it is, never as a rejected test result.
//!
//! What was pushed is read back with `skopeo`, without strata.
//!
//! Needs the engine and registry `scripts/setup.sh` starts (then
//! `source target/strata-test-env`) and `skopeo`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, registry, unique, write, BUSYBOX_IMAGE};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const TEST_RESULT: &str = "https://in-toto.io/attestation/test-result/v0.1";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const PREDICATE: &str = "in-toto.io/predicate-type";
const IN_TOTO: &str = "application/vnd.in-toto+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("STRATA_SIGNING_KEY")
        .env_remove("STRATA_VERIFY_KEY")
        .args(args)
        .timeout(std::time::Duration::from_secs(300))
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

/// `skopeo inspect --raw` of `reference`, read without strata; `None`
/// when the registry has no such manifest.
fn skopeo_raw(reference: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is not installed: run scripts/setup.sh");
    out.status.success().then_some(out.stdout)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The in-toto referrers of `digest` in `repo` (`host/path`), as the
/// referrers tag schema lists them, read with skopeo.
fn referrers(repo: &str, digest: &str) -> Vec<Value> {
    let tag = digest.replacen(':', "-", 1);
    let Some(raw) = skopeo_raw(&format!("{repo}:{tag}")) else {
        return vec![];
    };
    let index: Value = serde_json::from_slice(&raw).unwrap();
    index["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["artifactType"] == IN_TOTO)
        .collect()
}

/// The predicate types `digest`'s Sigstore bundle referrers in `repo` name
/// (the form `cosign` reads), sorted.
fn bundles(repo: &str, digest: &str) -> Vec<String> {
    let tag = digest.replacen(':', "-", 1);
    let Some(raw) = skopeo_raw(&format!("{repo}:{tag}")) else {
        return vec![];
    };
    let index: Value = serde_json::from_slice(&raw).unwrap();
    let mut types: Vec<String> = index["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["artifactType"] == BUNDLE)
        .map(|e| {
            e["annotations"]["dev.sigstore.bundle.predicateType"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    types.sort();
    types
}

/// How many of `digest`'s in-toto referrers in `repo` are of each kind:
/// (test results, provenances, SBOMs), by the predicate type of the
/// statement each holds (read with skopeo, each subject checked).
fn kinds(repo: &str, digest: &str) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for entry in referrers(repo, digest) {
        let artifact = entry["digest"].as_str().unwrap();
        let raw = skopeo_raw(&format!("{repo}@{artifact}")).expect("a listed artifact is there");
        let manifest: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(manifest["subject"]["digest"], digest, "{manifest:#}");
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let (host, path) = repo.split_once('/').unwrap();
        let envelope =
            common::registry_get(&format!("http://{host}/v2/{path}/blobs/{layer}"), "*/*");
        let envelope = strata::attest::dsse::Envelope::parse(&envelope).unwrap();
        let statement: Value = serde_json::from_slice(&envelope.payload_bytes().unwrap()).unwrap();
        match statement["predicateType"].as_str().unwrap() {
            TEST_RESULT => counts.0 += 1,
            PROVENANCE => counts.1 += 1,
            SPDX => counts.2 += 1,
            other => panic!("an attestation of {other}"),
        }
    }
    counts
}

/// PUTs `bytes` as a manifest of `media_type` at `reference`.
fn put_manifest(reference: &str, bytes: Vec<u8>, media_type: &str) {
    let reference: oci_client::Reference = reference.parse().unwrap();
    let media_type = media_type.to_string();
    block_on(async move {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        client
            .push_manifest_raw(&reference, bytes, media_type.parse().unwrap())
            .await
            .expect("push manifest");
    });
}

/// A project of one image, tested, with an alias in its own repository and
/// one in another (`official`), and a key pair: (project, key, public key).
fn signed_project(
    dir: &Path,
    image: &str,
    aliases: &[String],
) -> (std::path::PathBuf, String, String) {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let root = dir.join("project");
    let list = aliases
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    write(
        &root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{image}\"\n    path: ./app\n    test: [./tests/layer]\n    alias: [{list}]\n"
        ),
    );
    write(
        &root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo carried > /msg\n"),
    );
    write(
        &root,
        "tests/layer/Dockerfile",
        "RUN grep -q carried /msg\n",
    );
    let prefix = dir.join("release");
    let out = strata(dir, &["key", "generate", "--out", prefix.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = strata(&root, &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let key = dir.join("release.key").to_str().unwrap().to_string();
    let public = dir.join("release.pub").to_str().unwrap().to_string();
    (root, key, public)
}

/// `strata verify REFERENCE --key PUB --format json`: (exit code, report).
/// `verify`'s JSON report says the test result verified, the provenance
/// valid and an SBOM present, on the first platform.
fn assert_verified_with_extras((code, report): &(Option<i32>, Value)) {
    assert_eq!(*code, Some(0), "{report:#}");
    let platform = &report["platforms"][0];
    assert_eq!(platform["testResult"]["verified"], true, "{report:#}");
    let extras = &platform["attestations"];
    assert_eq!(extras["provenance"]["valid"], true, "{report:#}");
    assert_eq!(extras["sbom"]["present"], true, "{report:#}");
}

fn verify_json(dir: &Path, reference: &str, public: &str) -> (Option<i32>, Value) {
    let out = strata(
        dir,
        &["verify", reference, "--key", public, "--format", "json"],
    );
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.code(), report)
}

#[test]
fn an_alias_in_another_repository_carries_test_result_provenance_and_sbom() {
    let reg = registry();
    let ns = unique("carried");
    let repo = format!("{reg}/{ns}/bookworm");
    let official = format!("{reg}/{ns}/official");
    let image = format!("{repo}:22.11.0");
    let alias = format!("{official}:lts-bookworm");
    let dir = tempfile::tempdir().unwrap();
    let (root, key, public) =
        signed_project(dir.path(), &image, &[format!("{repo}:22"), alias.clone()]);
    let out = strata(&root, &["push", "-v", "--key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Read back without strata: the alias names the image's digest, and
    // its repository holds the same three kinds of attestation as the
    // image's own.
    let digest = sha256(&skopeo_raw(&image).expect("the image was pushed"));
    assert_eq!(
        skopeo_raw(&alias).map(|m| sha256(&m)).as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(kinds(&repo, &digest), (1, 1, 1), "in {repo}");
    assert_eq!(kinds(&official, &digest), (1, 1, 1), "in {official}");
    // And their Sigstore bundles, for cosign.
    let all_three = [TEST_RESULT, PROVENANCE, SPDX];
    assert_eq!(bundles(&official, &digest), all_three, "in {official}");

    // `verify` on the alias finds and accepts each.
    let report = verify_json(dir.path(), &alias, &public);
    assert_verified_with_extras(&report);
    // A push with nothing new adds nothing there.
    let out = strata(&root, &["push", "--key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(kinds(&official, &digest), (1, 1, 1), "in {official}");

    // The alias's repository loses its attestations (a run stopped before
    // they were carried): `publish` copies every kind back.
    forget_referrers(&official, &digest);
    assert_eq!(kinds(&official, &digest), (0, 0, 0));
    let out = strata(&root, &["publish", "--key", &public]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(kinds(&official, &digest), (1, 1, 1), "in {official}");
    assert_eq!(bundles(&official, &digest), all_three, "in {official}");
    let report = verify_json(dir.path(), &alias, &public);
    assert_verified_with_extras(&report);
}

/// Rewrites the referrer of `digest` in `repo` whose predicate type is
/// `kind` without that annotation (on its manifest and its entry in the
/// referrers tag), keeping the signed envelope it holds.
fn strip_predicate_type(repo: &str, digest: &str, kind: &str) {
    let tag = format!("{repo}:{}", digest.replacen(':', "-", 1));
    let mut index: Value = serde_json::from_slice(&skopeo_raw(&tag).unwrap()).unwrap();
    let entries = index["manifests"].as_array_mut().unwrap();
    let entry = entries
        .iter_mut()
        .find(|e| e["artifactType"] == IN_TOTO && e["annotations"][PREDICATE] == kind)
        .unwrap_or_else(|| panic!("no {kind} attestation of {digest}"));
    let raw = skopeo_raw(&format!("{repo}@{}", entry["digest"].as_str().unwrap())).unwrap();
    let mut manifest: Value = serde_json::from_slice(&raw).unwrap();
    manifest["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(PREDICATE);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let stripped = sha256(&bytes);
    put_manifest(&format!("{repo}@{stripped}"), bytes.clone(), MANIFEST);
    entry["digest"] = stripped.into();
    entry["size"] = bytes.len().into();
    entry["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(PREDICATE);
    put_manifest(&tag, serde_json::to_vec(&index).unwrap(), INDEX);
}

#[test]
fn a_referrer_without_its_predicate_type_counts_as_what_it_holds() {
    let reg = registry();
    let ns = unique("unnamed");
    let repo = format!("{reg}/{ns}/app");
    let image = format!("{repo}:1");
    let dir = tempfile::tempdir().unwrap();
    let (root, key, public) = signed_project(dir.path(), &image, &[format!("{repo}:latest")]);
    let out = strata(&root, &["push", "--key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let digest = sha256(&skopeo_raw(&image).unwrap());
    strip_predicate_type(&repo, &digest, SPDX);
    strip_predicate_type(&repo, &digest, PROVENANCE);
    // Nothing names a kind now but the statements inside.
    assert!(referrers(&repo, &digest)
        .iter()
        .all(|e| e["annotations"][PREDICATE] != SPDX && e["annotations"][PREDICATE] != PROVENANCE));

    let (code, report) = verify_json(dir.path(), &image, &public);
    assert_eq!(code, Some(0), "{report:#}");
    let platform = &report["platforms"][0];
    assert_eq!(platform["testResult"]["verified"], true, "{report:#}");
    assert_eq!(
        platform["testResult"]["rejected"],
        serde_json::json!([]),
        "an SBOM or provenance is no rejected test result: {report:#}"
    );
    assert_eq!(
        platform["attestations"]["provenance"]["valid"], true,
        "{report:#}"
    );
    assert_eq!(
        platform["attestations"]["sbom"]["present"], true,
        "{report:#}"
    );
    // The text report says the same.
    let out = strata(dir.path(), &["verify", &image, "--key", &public]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("provenance valid"), "{said}");
    assert!(said.contains("SBOM present"), "{said}");
}

/// Empties the referrers tag of `digest` in `repo` (a run stopped before
/// the alias's repository got its attestations).
fn forget_referrers(repo: &str, digest: &str) {
    let empty = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []});
    put_manifest(
        &format!("{repo}:{}", digest.replacen(':', "-", 1)),
        serde_json::to_vec(&empty).unwrap(),
        INDEX,
    );
}

#[test]
fn an_index_alias_in_another_repository_carries_the_index_and_platform_attestations() {
    let reg = registry();
    let ns = format!("{reg}/{}", unique("carried-index"));
    let repo = format!("{ns}/node");
    let official = format!("{ns}/official");
    let image = format!("{repo}:22");
    let alias = format!("{official}:22");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    // amd64 and arm64 bases, as `strata import --platform` makes them.
    for (rootfs, arch) in [
        (common::busybox_rootfs(), "amd64"),
        (common::arm64_rootfs(), "arm64"),
    ] {
        let tar = dir.path().join(format!("rootfs-{arch}.tar"));
        std::fs::write(&tar, rootfs).unwrap();
        let platform = format!("linux/{arch}");
        let base = format!("{ns}/rootfs:{arch}");
        let out = strata(
            dir.path(),
            &[
                "import",
                "--platform",
                &platform,
                tar.to_str().unwrap(),
                &base,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    write(
        &root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{image}\"\n    path: ./app\n    platforms: [linux/amd64, linux/arm64]\n    test: [./tests/layer]\n    alias: [\"{alias}\"]\n"
        ),
    );
    write(
        &root,
        "app/Dockerfile",
        &format!("ARG TARGETARCH\nFROM {ns}/rootfs:${{TARGETARCH}}\nCOPY msg /msg\n"),
    );
    write(&root, "app/msg", "carried\n");
    write(
        &root,
        "tests/layer/Dockerfile",
        "RUN grep -q carried /msg\n",
    );
    let prefix = dir.path().join("release");
    let out = strata(
        dir.path(),
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let key = dir.path().join("release.key").to_str().unwrap().to_string();
    let public = dir.path().join("release.pub").to_str().unwrap().to_string();
    let out = strata(&root, &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = strata(&root, &["push", "--key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Read back without strata: the index and each platform's image carry
    // in the alias's repository what they carry in the image's.
    let raw = skopeo_raw(&alias).expect("the alias was pushed");
    let index = sha256(&raw);
    assert_eq!(skopeo_raw(&image).map(|m| sha256(&m)), Some(index.clone()));
    let listed: Value = serde_json::from_slice(&raw).unwrap();
    let children: Vec<String> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2, "{listed:#}");
    let carried = |when: &str| {
        assert_eq!(
            kinds(&repo, &index),
            (1, 1, 0),
            "{when}: the index in {repo}"
        );
        assert_eq!(
            kinds(&official, &index),
            (1, 1, 0),
            "{when}: the index in {official}"
        );
        let both = [TEST_RESULT, PROVENANCE];
        assert_eq!(
            bundles(&official, &index),
            both,
            "{when}: the index's bundles"
        );
        for child in &children {
            assert_eq!(
                kinds(&official, child),
                (1, 1, 1),
                "{when}: {child} in {official}"
            );
            let all_three = [TEST_RESULT, PROVENANCE, SPDX];
            assert_eq!(
                bundles(&official, child),
                all_three,
                "{when}: {child}'s bundles"
            );
        }
        let (code, report) = verify_json(dir.path(), &alias, &public);
        assert_eq!(code, Some(0), "{report:#}");
        let own = &report["indexAttestations"];
        assert_eq!(own["testResult"]["verified"], true, "{report:#}");
        assert_eq!(
            own["attestations"]["provenance"]["valid"], true,
            "{report:#}"
        );
        for platform in report["platforms"].as_array().unwrap() {
            assert_eq!(platform["attestations"]["provenance"]["valid"], true);
            assert_eq!(platform["attestations"]["sbom"]["present"], true);
        }
    };
    carried("after push");

    // Lost there: `publish` copies them back, the index's own too.
    for digest in std::iter::once(&index).chain(&children) {
        forget_referrers(&official, digest);
    }
    assert_eq!(kinds(&official, &index), (0, 0, 0));
    let out = strata(&root, &["publish", "--key", &public]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    carried("after publish");
}
