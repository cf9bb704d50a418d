//! The test attestation `push` attaches to each image it sends: what the
//! state recorded for the image ID that was pushed, as an in-toto Test
//! Result about the manifest digest, in a DSSE envelope (signed with
//! `Options::signing_key` when there is one), stored beside the image as an
//! OCI referrer (see `registry::referrers`). A signed envelope is attached
//! a second time as a Sigstore bundle v0.3 referrer, the layout `cosign`
//! reads (see `attest::bundle`); an unsigned one is not.
//!
//! An attestation for the same test run, digest and key already in the
//! registry is not attached again, so a repeated `push` adds nothing.

use std::collections::BTreeMap;
use std::path::Path;

use super::StepError;
use crate::attest::bundle;
use crate::attest::dsse::Envelope;
use crate::attest::key::SigningKey;
use crate::attest::statement::{self, TestRecord, Tested};
use crate::attest::{DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE, TEST_RESULT_TYPE};
use crate::reference::Reference;
use crate::registry::referrers::{Artifact, Listed};
use crate::registry::{Digest, Registry};
use crate::state::ImageState;

/// Annotations strata puts on its attestation manifests, and so on their
/// entries in a referrers list: enough to find the one for a test run
/// without downloading every envelope.
pub const TESTED_AT: &str = "dev.strata.tested-at";
pub const IMAGE_ID: &str = "dev.strata.image-id";
pub const KEY_ID: &str = "dev.strata.key-id";
pub const INPUTS: &str = "dev.strata.inputs";
pub const RESULT: &str = "dev.strata.result";
pub const PREDICATE_TYPE: &str = crate::registry::referrers::PREDICATE_TYPE;
const CREATED: &str = "org.opencontainers.image.created";

/// The statement for `record` about `digest`; test names are their folders
/// relative to `config_dir`.
pub fn tested(name: &str, digest: &Digest, record: &ImageState, config_dir: &Path) -> Tested {
    Tested {
        image: name.to_string(),
        repository: Reference::split(name).name.to_string(),
        digest: digest.to_string(),
        image_id: record.image_id.to_string(),
        tested_at: record.tested_at,
        passed: record.passed,
        tests: record
            .tests
            .iter()
            .map(|t| TestRecord {
                name: t
                    .path
                    .strip_prefix(config_dir)
                    .unwrap_or(&t.path)
                    .display()
                    .to_string(),
                passed: t.passed,
                layer: t.layer.as_ref().map(|l| l.to_string()),
                run: t.run.clone(),
            })
            .collect(),
        inputs: record.inputs.clone(),
    }
}

/// Attaches the attestation `tested` to its manifest digest, unless the
/// registry holds one for the same test run and key already (and `again` is
/// false). Says what it did on `log`.
pub async fn attach(
    registry: &dyn Registry,
    tested: &Tested,
    key: Option<&SigningKey>,
    again: bool,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), StepError> {
    let repository = tested.repository.as_str();
    let digest = &Digest::new(tested.digest.clone());
    let tested_at = tested
        .tested_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let key_id = key.map(|k| k.id().to_string()).unwrap_or_default();
    let mut annotations = BTreeMap::from([
        (PREDICATE_TYPE.to_string(), TEST_RESULT_TYPE.to_string()),
        (TESTED_AT.to_string(), tested_at.clone()),
        (IMAGE_ID.to_string(), tested.image_id.clone()),
        (KEY_ID.to_string(), key_id.clone()),
        (
            RESULT.to_string(),
            if tested.passed { "PASSED" } else { "FAILED" }.to_string(),
        ),
    ]);
    if let Some(inputs) = &tested.inputs {
        annotations.insert(INPUTS.to_string(), inputs.clone());
    }
    if !again {
        let held = registry
            .referrers(repository, digest, IN_TOTO_MEDIA_TYPE)
            .await
            .map_err(|source| StepError::Attestation {
                doing: format!("cannot list the attestations of {digest}"),
                source,
            })?;
        let same = |a: &BTreeMap<String, String>| {
            [TESTED_AT, IMAGE_ID, KEY_ID, INPUTS]
                .iter()
                .all(|k| a.get(*k) == annotations.get(*k))
        };
        if let Some(r) = held.iter().find(|r| same(&r.annotations)) {
            log(&format!(
                "attestation of this test run already attached: {}",
                r.digest
            ));
            return Ok(());
        }
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    annotations.insert(CREATED.to_string(), created.clone());
    let envelope = Envelope::seal(&statement::build(tested), key);
    let artifact = Artifact {
        artifact_type: IN_TOTO_MEDIA_TYPE.to_string(),
        media_type: DSSE_MEDIA_TYPE.to_string(),
        content: envelope.to_bytes(),
        annotations,
    };
    let (stored, listed) = registry
        .attach(repository, digest, &artifact)
        .await
        .map_err(|source| StepError::Attestation {
            doing: "attaching the test attestation failed".into(),
            source,
        })?;
    let how = match listed {
        Listed::ByApi => "listed by the referrers API".to_string(),
        Listed::ByTag(tag) => format!("listed under tag {tag}"),
    };
    let signed = match key {
        Some(k) => format!("signed with key {}", k.id()),
        None => "unsigned: no signing key given".to_string(),
    };
    // The same envelope as a Sigstore bundle, for cosign: signed runs only.
    if let Some(bundle) = key.and_then(|k| bundle::bundle(&envelope, k)) {
        let artifact = Artifact {
            artifact_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            media_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            content: bundle,
            annotations: bundle::annotations(TEST_RESULT_TYPE, &created),
        };
        let (stored, _) = registry
            .attach(repository, digest, &artifact)
            .await
            .map_err(|source| StepError::Attestation {
                doing: "attaching the test attestation's Sigstore bundle failed".into(),
                source,
            })?;
        log(&format!("Sigstore bundle of {digest}: {stored}"));
    }
    log(&format!(
        "attested {digest} ({}, tested {tested_at}): {stored}, {how}, {signed}",
        if tested.passed { "PASSED" } else { "FAILED" }
    ));
    Ok(())
}
