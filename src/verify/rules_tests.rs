//! Every refusal `verify` gives, reached on purpose through the in-memory
//! registry (`crate::fakes`): each test stores one genuine attestation and
//! forges one thing about it, and the image must not verify, for the reason
//! named. A genuine one verifies (`a_signed_passing_attestation_verifies`),
//! so each refusal is the forgery's doing.

use std::collections::BTreeMap;

use super::*;
use crate::attest::dsse::Envelope;
use crate::attest::key::SigningKey;
use crate::attest::statement::{build, TestRecord, Tested};
use crate::fakes::FakeRegistry;
use crate::reference::ImageId;
use crate::registry::referrers::{artifact_manifest, Artifact, Descriptor, Referrer};

const REPO: &str = "127.0.0.1:5999/acme/app";

fn tag() -> String {
    format!("{REPO}:1")
}

/// `REPO` as the registry takes it.
fn repo() -> Repository {
    REPO.parse().unwrap()
}

/// `text` as the registry takes it.
fn at(text: &str) -> ImageRef {
    text.parse().unwrap()
}

fn id(c: char) -> ImageId {
    ImageId::new(format!("sha256:{}", c.to_string().repeat(64)))
}

/// A registry holding image `a` under `REPO:1`, and its digest.
fn one_image() -> (FakeRegistry, Digest) {
    let registry = FakeRegistry::default();
    let digest = registry.put(&tag(), &id('a'));
    (registry, digest)
}

/// What strata writes about `digest` after a test run.
fn tested(digest: &Digest, passed: bool, at: &str) -> Tested {
    Tested {
        image: tag(),
        repository: repo(),
        digest: digest.to_string(),
        image_id: id('a').to_string(),
        tested_at: at.parse().unwrap(),
        passed,
        tests: vec![TestRecord {
            name: "tests/smoke".into(),
            passed,
            layer: None,
            run: None,
        }],
        inputs: None,
    }
}

const AT: &str = "2026-01-01T00:00:00Z";

/// An artifact of `predicate` type holding `content`, as strata attaches one.
fn artifact(content: Vec<u8>, predicate: &str) -> Artifact {
    Artifact {
        artifact_type: IN_TOTO_MEDIA_TYPE.into(),
        media_type: DSSE_MEDIA_TYPE.into(),
        content,
        annotations: BTreeMap::from([
            (PREDICATE_TYPE.to_string(), predicate.to_string()),
            (CREATED.to_string(), AT.to_string()),
        ]),
    }
}

/// Attaches `envelope` to `subject` as a test result.
async fn attach(registry: &FakeRegistry, subject: &Digest, envelope: Vec<u8>) {
    let artifact = artifact(envelope, TEST_RESULT_TYPE);
    registry.attach(&repo(), subject, &artifact).await.unwrap();
}

/// A signed test result about `subject`.
fn signed(subject: &Digest, passed: bool, key: &SigningKey) -> Vec<u8> {
    Envelope::seal(&build(&tested(subject, passed, AT)), Some(key)).to_bytes()
}

async fn verdict(registry: &FakeRegistry, key: Option<&SigningKey>) -> Report {
    let public = key.map(SigningKey::public);
    verify(registry, &at(&tag()), public.as_ref())
        .await
        .unwrap()
        .expect("the tag is in the registry")
}

/// Why the one image of `report` does not verify (and that it does not).
fn refusal(report: &Report) -> String {
    assert!(!report.verified(), "{}", report.render());
    let p = &report.platforms[0];
    p.wrong
        .clone()
        .or_else(|| p.finding.problem())
        .or_else(|| p.extras.problem())
        .expect("a refusal says why")
}

#[tokio::test]
async fn a_signed_passing_attestation_verifies() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.verified(), "{}", report.render());
    assert!(!report.index);
    assert_eq!(report.platforms[0].platform, "linux/amd64");
    assert!(report.verified_as(Some(&tag())));
}

#[tokio::test]
async fn a_tag_the_registry_lacks_is_nothing_to_verify() {
    let (registry, _) = one_image();
    let got = verify(&registry, &at(&format!("{REPO}:2")), None)
        .await
        .unwrap();
    assert_eq!(got, None);
}

#[tokio::test]
async fn no_attestation_is_refused() {
    let (registry, _) = one_image();
    let why = refusal(&verdict(&registry, None).await);
    assert!(why.contains("no test attestation is attached"), "{why}");
}

#[tokio::test]
async fn another_keys_signature_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    attach(
        &registry,
        &digest,
        signed(&digest, true, &SigningKey::generate()),
    )
    .await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(why.contains("signed by another key"), "{why}");
}

#[tokio::test]
async fn an_unsigned_attestation_is_refused_when_a_key_is_given() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    let unsigned = Envelope::seal(&build(&tested(&digest, true, AT)), None).to_bytes();
    attach(&registry, &digest, unsigned).await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(why.contains("the attestation is not signed"), "{why}");
}

#[tokio::test]
async fn an_attestation_altered_after_signing_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    // A failing result, signed, then its payload swapped for a passing one.
    let mut envelope = Envelope::seal(&build(&tested(&digest, false, AT)), Some(&key));
    envelope.payload = Envelope::seal(&build(&tested(&digest, true, AT)), None).payload;
    attach(&registry, &digest, envelope.to_bytes()).await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(why.contains("altered after signing"), "{why}");
}

#[tokio::test]
async fn a_statement_about_another_digest_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    let other = registry.put(&format!("{REPO}:other"), &id('b'));
    // Signed by the right key, about another image, listed under this one.
    attach(&registry, &digest, signed(&other, true, &key)).await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains(&format!("the statement is about {other}, not {digest}")),
        "{why}"
    );
}

/// Lists under `subject` an artifact manifest that names `named` as its
/// subject (none when `None`) and holds `envelope`.
fn list_forged(
    registry: &FakeRegistry,
    subject: &Digest,
    named: Option<&Digest>,
    envelope: Vec<u8>,
) {
    let artifact = artifact(envelope.clone(), TEST_RESULT_TYPE);
    let descriptor = Descriptor {
        media_type: crate::registry::referrers::MANIFEST_MEDIA_TYPE.into(),
        digest: named.unwrap_or(subject).to_string(),
        size: 1,
    };
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&artifact_manifest(&artifact, &descriptor)).unwrap();
    if named.is_none() {
        manifest.as_object_mut().unwrap().remove("subject");
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let stored = registry.put_raw(None, crate::registry::referrers::MANIFEST_MEDIA_TYPE, bytes);
    registry.put_blob(envelope);
    registry.list_referrer(
        REPO,
        subject,
        Referrer {
            digest: stored.to_string(),
            artifact_type: artifact.artifact_type,
            annotations: artifact.annotations,
        },
    );
}

#[tokio::test]
async fn an_artifact_manifest_whose_subject_is_another_image_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    let other = registry.put(&format!("{REPO}:other"), &id('b'));
    list_forged(
        &registry,
        &digest,
        Some(&other),
        signed(&digest, true, &key),
    );
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains(&format!(
            "its manifest's subject is {other}, not this digest"
        )),
        "{why}"
    );
}

#[tokio::test]
async fn an_artifact_manifest_without_a_subject_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    list_forged(&registry, &digest, None, signed(&digest, true, &key));
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(why.contains("its manifest names no subject"), "{why}");
}

#[tokio::test]
async fn a_listed_artifact_whose_manifest_is_missing_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    registry.list_referrer(
        REPO,
        &digest,
        Referrer {
            digest: format!("sha256:{}", "e".repeat(64)),
            artifact_type: IN_TOTO_MEDIA_TYPE.into(),
            annotations: BTreeMap::new(),
        },
    );
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains("listed, but its manifest is not in the registry"),
        "{why}"
    );
}

#[tokio::test]
async fn a_layer_of_another_media_type_is_refused() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    let artifact = Artifact {
        media_type: "application/json".into(),
        ..artifact(signed(&digest, true, &key), TEST_RESULT_TYPE)
    };
    registry.attach(&repo(), &digest, &artifact).await.unwrap();
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains(&format!("0 layers of type {DSSE_MEDIA_TYPE}, expected one")),
        "{why}"
    );
}

#[tokio::test]
async fn an_oversized_envelope_is_refused_unread() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    // A genuine envelope padded past the cap with whitespace JSON allows.
    let mut envelope = signed(&digest, true, &key);
    envelope.resize(MAX_ENVELOPE as usize + 1, b' ');
    attach(&registry, &digest, envelope).await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains(&format!("larger than {MAX_ENVELOPE} bytes")),
        "{why}"
    );
}

#[tokio::test]
async fn content_that_is_no_envelope_or_statement_is_refused() {
    let (registry, digest) = one_image();
    attach(&registry, &digest, b"{\"not\":\"dsse\"}".to_vec()).await;
    let why = refusal(&verdict(&registry, None).await);
    assert!(why.contains("not a DSSE envelope"), "{why}");

    let (registry, digest) = registry_with_envelope(|e| e.payload_type = "text/plain".into()).await;
    let _ = digest;
    let why = refusal(&verdict(&registry, None).await);
    assert!(
        why.contains("the envelope's payload type is \"text/plain\""),
        "{why}"
    );

    let (registry, _) = registry_with_envelope(|e| e.payload = "%%% not base64".into()).await;
    let why = refusal(&verdict(&registry, None).await);
    assert!(
        why.contains("the envelope's payload is not base64"),
        "{why}"
    );

    let (registry, _) = registry_with_envelope(|e| {
        *e = Envelope::seal(b"[1, 2, 3]", None);
    })
    .await;
    let why = refusal(&verdict(&registry, None).await);
    assert!(why.contains("the statement is not valid"), "{why}");
}

/// A registry whose image carries an unsigned passing test result changed
/// by `forge` before it was attached.
async fn registry_with_envelope(forge: impl FnOnce(&mut Envelope)) -> (FakeRegistry, Digest) {
    let (registry, digest) = one_image();
    let mut envelope = Envelope::seal(&build(&tested(&digest, true, AT)), None);
    forge(&mut envelope);
    let artifact = artifact(envelope.to_bytes(), TEST_RESULT_TYPE);
    registry.attach(&repo(), &digest, &artifact).await.unwrap();
    (registry, digest)
}

#[tokio::test]
async fn a_statement_of_another_predicate_type_is_refused_as_a_test_result() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    let mut statement: serde_json::Value =
        serde_json::from_slice(&build(&tested(&digest, true, AT))).unwrap();
    statement["predicateType"] = "https://example.com/anything".into();
    let envelope = Envelope::seal(&serde_json::to_vec(&statement).unwrap(), Some(&key));
    // Listed without a predicate type: read as a test result.
    let artifact = Artifact {
        annotations: BTreeMap::new(),
        ..artifact(envelope.to_bytes(), TEST_RESULT_TYPE)
    };
    registry.attach(&repo(), &digest, &artifact).await.unwrap();
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains("the statement's predicate type is \"https://example.com/anything\""),
        "{why}"
    );
}

#[tokio::test]
async fn a_failed_result_is_refused_and_a_newer_failure_hides_an_older_pass() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    attach(&registry, &digest, signed(&digest, false, &key)).await;
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert_eq!(
        why,
        "its newest test attestation says FAILED (failed: tests/smoke)"
    );

    // An older pass, then a newer failure: the failure decides.
    let registry = older_and_newer_result(&key, true, false).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.platforms[0].finding.passing.is_none());
    assert!(refusal(&report).contains("FAILED"));

    // A newer pass after an older failure verifies.
    let registry = older_and_newer_result(&key, false, true).await;
    assert!(report_verified(&registry, &key).await);
}

/// One image with two test results signed with `key` attached: an older
/// one (January) that says `older_passed` and a newer one (February) that
/// says `newer_passed`.
async fn older_and_newer_result(
    key: &SigningKey,
    older_passed: bool,
    newer_passed: bool,
) -> FakeRegistry {
    let (registry, digest) = one_image();
    for (passed, at) in [
        (older_passed, "2026-01-01T00:00:00Z"),
        (newer_passed, "2026-02-01T00:00:00Z"),
    ] {
        let statement = build(&tested(&digest, passed, at));
        attach(
            &registry,
            &digest,
            Envelope::seal(&statement, Some(key)).to_bytes(),
        )
        .await;
    }
    registry
}

async fn report_verified(registry: &FakeRegistry, key: &SigningKey) -> bool {
    verdict(registry, Some(key)).await.verified()
}

#[tokio::test]
async fn referrers_that_cannot_be_listed_refuse_and_an_unreachable_registry_is_an_error() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    *registry.failing_referrers.lock().unwrap() =
        Some(Box::new(|repo: &str| RegistryError::Other {
            reference: repo.to_string(),
            message: "500 Internal Server Error".into(),
        }));
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(
        why.contains("cannot list its referrers") && why.contains("500"),
        "{why}"
    );

    *registry.failing_referrers.lock().unwrap() =
        Some(Box::new(|_: &str| RegistryError::Unreachable {
            registry: "127.0.0.1:5999".into(),
            message: "connection refused".into(),
        }));
    let public = key.public();
    let e = verify(&registry, &at(&tag()), Some(&public))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e}");
}

#[tokio::test]
async fn an_attestation_tested_as_another_name_does_not_verify_as_this_one() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.verified_as(Some(&tag())));
    let other = format!("{REPO}:2");
    assert!(!report.verified_as(Some(&other)));
    assert_eq!(
        report.tested_as_other(&other),
        [("linux/amd64".to_string(), tag())]
    );
}

/// An index under `REPO:1` of images `a` (amd64) and `b` (arm64, whose
/// config says `b_config`), each with a signed passing test result.
async fn index(b_config: &str, key: &SigningKey) -> (FakeRegistry, Digest, Digest) {
    let registry = FakeRegistry::default();
    let a = registry.put(&format!("{REPO}:1-linux-amd64"), &id('a'));
    let b = registry.put(&format!("{REPO}:1-linux-arm64"), &id('b'));
    registry
        .platforms
        .lock()
        .unwrap()
        .insert(id('b'), b_config.to_string());
    let platforms = [
        (a.clone(), "linux/amd64".parse().unwrap()),
        (b.clone(), "linux/arm64".parse().unwrap()),
    ];
    registry.put_index(&at(&tag()), &platforms).await.unwrap();
    for (digest, unit) in [(&a, "1-linux-amd64"), (&b, "1-linux-arm64")] {
        let statement = build(&Tested {
            image: format!("{REPO}:{unit}"),
            ..tested(digest, true, AT)
        });
        let envelope = Envelope::seal(&statement, Some(key)).to_bytes();
        attach(&registry, digest, envelope).await;
    }
    (registry, a, b)
}

#[tokio::test]
async fn an_index_verifies_platform_by_platform() {
    let key = SigningKey::generate();
    let (registry, a, b) = index("linux/arm64/v8", &key).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.index);
    assert!(report.verified(), "{}", report.render());
    let listed: Vec<_> = report
        .platforms
        .iter()
        .map(|p| (p.platform.as_str(), p.digest.clone()))
        .collect();
    assert_eq!(listed, [("linux/amd64", a), ("linux/arm64", b)]);
    assert!(report.tested_as_other(&tag()).is_empty());
}

#[tokio::test]
async fn an_index_entry_whose_config_names_another_platform_is_refused() {
    let key = SigningKey::generate();
    let (registry, _, _) = index("linux/amd64", &key).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(!report.verified());
    let wrong = report.platforms[1].wrong.clone().unwrap();
    assert_eq!(
        wrong,
        "the index lists it as linux/arm64, but its image config says linux/amd64"
    );
    assert!(report.platforms[0].verified());
}

#[tokio::test]
async fn an_index_entry_that_is_no_image_is_refused_for_what_it_lacks() {
    let key = SigningKey::generate();
    // Each entry is judged by what its digest holds; the tag's index is
    // replaced by one whose arm64 entry is `entry`.
    let cases: Vec<(&str, Entry)> = vec![
        (
            "its manifest is not in the registry",
            Box::new(|_| Digest::new(format!("sha256:{}", "f".repeat(64)))),
        ),
        (
            "it is an index, not a platform's image",
            Box::new(|r| r.get(&tag()).unwrap()),
        ),
        (
            "its manifest names no image config",
            Box::new(|r| {
                r.put_raw(
                    None,
                    crate::registry::referrers::MANIFEST_MEDIA_TYPE,
                    br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
                )
            }),
        ),
        (
            "its image config cannot be read",
            Box::new(|r| manifest_with_config(r, None)),
        ),
        (
            "its image config is not JSON",
            Box::new(|r| manifest_with_config(r, Some(b"not json"))),
        ),
        (
            "its image config names no platform",
            Box::new(|r| manifest_with_config(r, Some(br#"{"os":"linux"}"#))),
        ),
    ];
    for (expected, entry) in cases {
        let (registry, a, _) = index("linux/arm64", &key).await;
        let b = entry(&registry);
        let platforms = [
            (a.clone(), "linux/amd64".parse().unwrap()),
            (b, "linux/arm64".parse().unwrap()),
        ];
        registry.put_index(&at(&tag()), &platforms).await.unwrap();
        let report = verdict(&registry, Some(&key)).await;
        assert!(!report.verified(), "{expected}: {}", report.render());
        let wrong = report.platforms[1].wrong.clone().unwrap_or_default();
        assert!(wrong.starts_with(expected), "{expected}: {wrong}");
    }
}

/// Makes an index entry's manifest in a registry, returning its digest.
type Entry = Box<dyn Fn(&FakeRegistry) -> Digest>;

/// An image manifest whose config is `config` (a blob never stored: `None`).
fn manifest_with_config(registry: &FakeRegistry, config: Option<&[u8]>) -> Digest {
    let digest = match config {
        Some(bytes) => registry.put_blob(bytes.to_vec()),
        None => format!("sha256:{}", "9".repeat(64)),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::registry::referrers::MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 1},
        "layers": [],
    });
    registry.put_raw(
        None,
        crate::registry::referrers::MANIFEST_MEDIA_TYPE,
        serde_json::to_vec(&manifest).unwrap(),
    )
}

#[tokio::test]
async fn an_image_manifest_listing_manifests_is_one_image_by_its_media_type() {
    let (registry, digest) = one_image();
    let key = SigningKey::generate();
    // An image's media type, with a `manifests` list smuggled in: read as
    // the one image it says it is, whose own attestation decides.
    let forged = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::registry::referrers::MANIFEST_MEDIA_TYPE,
        "config": {"digest": id('a').as_str()},
        "layers": [],
        "manifests": [{"digest": digest.as_str(), "platform": {"os": "linux", "architecture": "amd64"}}],
    });
    registry.put_raw(
        Some(&tag()),
        crate::registry::referrers::MANIFEST_MEDIA_TYPE,
        serde_json::to_vec(&forged).unwrap(),
    );
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(!report.index);
    assert_ne!(report.platforms[0].digest, digest);
    assert!(refusal(&report).contains("no test attestation is attached"));
}

/// A statement of `predicate_type` about `subject` with `predicate`.
fn statement(subject: &Digest, predicate_type: &str, predicate: serde_json::Value) -> Vec<u8> {
    let (algorithm, hex) = subject.as_str().split_once(':').unwrap();
    serde_json::to_vec(&serde_json::json!({
        "_type": crate::attest::STATEMENT_TYPE,
        "subject": [{"name": REPO, "digest": {algorithm: hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .unwrap()
}

fn provenance(dependencies: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "buildDefinition": {
            "buildType": crate::attest::provenance::IMAGE_BUILD_TYPE,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": crate::attest::provenance::BUILDER_ID}},
    })
}

#[tokio::test]
async fn a_forged_provenance_or_sbom_beside_a_passing_result_is_refused() {
    let key = SigningKey::generate();
    let dependency = serde_json::json!([{"name": "base", "digest": {"sha256": "1".repeat(64)}}]);
    let genuine = |d: &Digest| statement(d, PROVENANCE_TYPE, provenance(dependency.clone()));
    // Genuine provenance and SBOM: verified, and reported.
    let (registry, digest) = one_image();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let sealed = |s: &[u8], k: &SigningKey| Envelope::seal(s, Some(k)).to_bytes();
    registry
        .attach(
            &repo(),
            &digest,
            &artifact(sealed(&genuine(&digest), &key), PROVENANCE_TYPE),
        )
        .await
        .unwrap();
    let sbom = statement(
        &digest,
        SBOM_TYPE,
        serde_json::json!({"spdxVersion": "SPDX-2.3"}),
    );
    registry
        .attach(&repo(), &digest, &artifact(sealed(&sbom, &key), SBOM_TYPE))
        .await
        .unwrap();
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.verified(), "{}", report.render());
    assert_eq!(report.platforms[0].extras.sboms, 1);
    assert!(report.platforms[0].extras.provenance.is_some());

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            PROVENANCE_TYPE,
            sealed(&genuine(&digest), &SigningKey::generate()),
            "no valid provenance",
        ),
        (
            PROVENANCE_TYPE,
            sealed(
                &statement(
                    &digest,
                    PROVENANCE_TYPE,
                    provenance(serde_json::json!([{"name": "base"}])),
                ),
                &key,
            ),
            "its dependency \"base\" has no digest",
        ),
        (
            SBOM_TYPE,
            sealed(
                &statement(&digest, PROVENANCE_TYPE, provenance(dependency.clone())),
                &key,
            ),
            "no valid SBOM",
        ),
    ];
    for (kind, envelope, expected) in cases {
        let (registry, digest) = one_image();
        attach(&registry, &digest, signed(&digest, true, &key)).await;
        registry
            .attach(&repo(), &digest, &artifact(envelope, kind))
            .await
            .unwrap();
        let why = refusal(&verdict(&registry, Some(&key)).await);
        assert!(why.contains(expected), "{expected}: {why}");
    }
}

/// `artifact` without the predicate-type annotation on its manifest.
fn unnamed(artifact: Artifact) -> Artifact {
    let mut annotations = artifact.annotations.clone();
    annotations.remove(PREDICATE_TYPE);
    Artifact {
        annotations,
        ..artifact
    }
}

#[tokio::test]
async fn a_provenance_or_sbom_whose_manifest_does_not_say_so_counts_as_what_it_holds() {
    let key = SigningKey::generate();
    let dependency = serde_json::json!([{"name": "base", "digest": {"sha256": "1".repeat(64)}}]);
    let sealed = |s: &[u8], k: &SigningKey| Envelope::seal(s, Some(k)).to_bytes();
    let (registry, digest) = one_image();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let provenance = statement(&digest, PROVENANCE_TYPE, provenance(dependency));
    let sbom = statement(
        &digest,
        SBOM_TYPE,
        serde_json::json!({"spdxVersion": "SPDX-2.3"}),
    );
    for (statement, kind) in [(&provenance, PROVENANCE_TYPE), (&sbom, SBOM_TYPE)] {
        let artifact = unnamed(artifact(sealed(statement, &key), kind));
        registry.attach(&repo(), &digest, &artifact).await.unwrap();
    }
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.verified(), "{}", report.render());
    let p = &report.platforms[0];
    assert_eq!(p.finding.rejected, [], "no rejected test result");
    assert!(p.extras.provenance.is_some());
    assert_eq!(p.extras.sboms, 1);

    // One signed with another key is refused as what it is: an SBOM.
    let (registry, digest) = one_image();
    attach(&registry, &digest, signed(&digest, true, &key)).await;
    let forged = unnamed(artifact(sealed(&sbom, &SigningKey::generate()), SBOM_TYPE));
    registry.attach(&repo(), &digest, &forged).await.unwrap();
    let report = verdict(&registry, Some(&key)).await;
    assert_eq!(report.platforms[0].finding.rejected, []);
    let why = refusal(&report);
    assert!(why.contains("no valid SBOM"), "{why}");

    // An unnamed test result is held to the test result's cap, though it
    // is read up to the SBOM's to tell its kind.
    let (registry, digest) = one_image();
    let mut envelope = signed(&digest, true, &key);
    envelope.resize(MAX_ENVELOPE as usize + 1, b' ');
    let big = unnamed(artifact(envelope, TEST_RESULT_TYPE));
    registry.attach(&repo(), &digest, &big).await.unwrap();
    let why = refusal(&verdict(&registry, Some(&key)).await);
    assert!(why.contains("no valid test attestation"), "{why}");
    assert!(
        why.contains(&format!("larger than {MAX_ENVELOPE} bytes")),
        "{why}"
    );
}

#[tokio::test]
async fn an_index_provenance_naming_other_images_is_refused() {
    let key = SigningKey::generate();
    let (registry, a, b) = index("linux/arm64", &key).await;
    let top = registry.get(&tag()).unwrap();
    let names = |digests: &[&Digest]| {
        let deps: Vec<serde_json::Value> = digests
            .iter()
            .map(|d| {
                let (alg, hex) = d.as_str().split_once(':').unwrap();
                serde_json::json!({"name": REPO, "digest": {alg: hex}, "annotations": {"kind": "image"}})
            })
            .collect();
        let mut p = provenance(serde_json::Value::Array(deps));
        p["buildDefinition"]["buildType"] = crate::attest::provenance::INDEX_BUILD_TYPE.into();
        let s = statement(&top, PROVENANCE_TYPE, p);
        artifact(Envelope::seal(&s, Some(&key)).to_bytes(), PROVENANCE_TYPE)
    };
    registry
        .attach(&repo(), &top, &names(&[&a, &b]))
        .await
        .unwrap();
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.verified(), "{}", report.render());

    let (registry, a, _) = index("linux/arm64", &key).await;
    let top = registry.get(&tag()).unwrap();
    let _ = &top;
    let stranger = registry.put(&format!("{REPO}:x"), &id('c'));
    registry
        .attach(&repo(), &top, &names(&[&a, &stranger]))
        .await
        .unwrap();
    let report = verdict(&registry, Some(&key)).await;
    assert!(!report.verified());
    let why = report
        .index_attestations
        .as_ref()
        .and_then(IndexAttestations::problem)
        .unwrap();
    assert!(why.contains("as the index's, not its platforms'"), "{why}");
}

#[tokio::test]
async fn an_index_whose_own_test_result_failed_is_refused() {
    let key = SigningKey::generate();
    let (registry, _, _) = index("linux/arm64", &key).await;
    let top = registry.get(&tag()).unwrap();
    attach(&registry, &top, signed(&top, false, &key)).await;
    let report = verdict(&registry, Some(&key)).await;
    assert!(report.platforms.iter().all(PlatformReport::verified));
    assert!(!report.verified(), "{}", report.render());
    let why = report.index_attestations.unwrap().problem().unwrap();
    assert!(why.contains("FAILED"), "{why}");
}
