//! Verifying an image from its registry alone: which digest a reference
//! names (each platform's, for an index), the test attestations attached to
//! each, and whether one of them is valid and says the image passed.
//!
//! Nothing the registry says is taken on its word: manifests and blobs are
//! checked against their digests (`registry`), the artifact manifest must
//! name the digest as its subject, and the statement inside the envelope
//! must too (a referrers list can be edited by anyone who can push); with a
//! public key, the envelope must carry that key's valid signature.

use std::fmt::Write as _;

use crate::attest::check::{judge, Judged};
use crate::attest::key::PublicKey;
use crate::attest::{DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE};
use crate::reference::Reference;
use crate::registry::referrers::{artifact_layer, subject_of};
use crate::registry::{Digest, Registry, RegistryError};

/// The largest envelope strata reads (a test result is a few KiB).
const MAX_ENVELOPE: u64 = 4 << 20;
/// The largest image config read for its platform.
const MAX_CONFIG: u64 = 1 << 20;

/// What a reference resolved to, and each platform's finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub reference: String,
    pub digest: Digest,
    /// The reference names an index of platform images.
    pub index: bool,
    pub platforms: Vec<PlatformReport>,
    /// The key signatures were checked with, if any.
    pub key: Option<String>,
}

/// One platform's image and what its attestations say.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformReport {
    /// Such as `linux/amd64`; `unknown` when the image does not say.
    pub platform: String,
    pub digest: Digest,
    pub finding: Finding,
}

/// The attestations found for one digest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finding {
    /// The newest valid attestation that says the image passed.
    pub passing: Option<Judged>,
    /// Valid attestations that say it failed.
    pub failing: Vec<Judged>,
    /// Attestations that cannot be trusted: (artifact digest, why).
    pub rejected: Vec<(String, String)>,
}

impl Finding {
    /// Why this digest is not verified; `None` when it is.
    pub fn problem(&self) -> Option<String> {
        if self.passing.is_some() {
            return None;
        }
        if let Some(failed) = self.failing.first() {
            let tests = &failed.summary.failed_tests;
            return Some(if tests.is_empty() {
                format!("its test attestation says {}", failed.summary.result)
            } else {
                format!(
                    "its test attestation says FAILED (failed: {})",
                    tests.join(", ")
                )
            });
        }
        if self.rejected.is_empty() {
            return Some(
                "no test attestation is attached to this digest (not pushed by strata, or the tag was moved to an image strata did not test)"
                    .into(),
            );
        }
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|(d, why)| format!("{}: {why}", short(d)))
            .collect();
        Some(format!("no valid test attestation: {}", reasons.join("; ")))
    }
}

impl Report {
    /// Every platform carries a valid passing attestation.
    pub fn verified(&self) -> bool {
        !self.platforms.is_empty() && self.platforms.iter().all(|p| p.finding.passing.is_some())
    }

    /// The report as the terminal shows it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let what = if self.index {
            format!("an index of {} platform(s)", self.platforms.len())
        } else {
            "one image".to_string()
        };
        let _ = writeln!(out, "{} is {} at {}", self.reference, what, self.digest);
        let width = self
            .platforms
            .iter()
            .map(|p| p.platform.len())
            .max()
            .unwrap_or(0);
        for p in &self.platforms {
            match (&p.finding.passing, p.finding.problem()) {
                (Some(j), _) => {
                    let s = &j.summary;
                    let when = s
                        .tested_at
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_else(|| "at an unknown time".into());
                    let by = if s.strata_version.is_empty() {
                        "another tool".to_string()
                    } else {
                        format!("strata {}", s.strata_version)
                    };
                    let signed = match &j.checked_key {
                        Some(k) => format!("signature valid (key {})", short_key(k)),
                        None => "signature not checked (no --key)".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "  {:width$}  {}  PASSED  tested {when} with {by}; {signed}",
                        p.platform,
                        short(&p.digest),
                    );
                    if !s.image.is_empty() {
                        let _ = writeln!(out, "  {:width$}    tested as {}", "", s.image);
                    }
                    let _ = writeln!(
                        out,
                        "  {:width$}    {} test(s) passed: {}",
                        "",
                        s.passed_tests.len(),
                        if s.passed_tests.is_empty() {
                            "(none)".to_string()
                        } else {
                            s.passed_tests.join(", ")
                        }
                    );
                }
                (None, problem) => {
                    let _ = writeln!(
                        out,
                        "  {:width$}  {}  NOT VERIFIED  {}",
                        p.platform,
                        short(&p.digest),
                        problem.unwrap_or_default()
                    );
                }
            }
        }
        if self.verified() {
            let _ = writeln!(
                out,
                "verified: every platform carries a valid passing test attestation{}",
                if self.key.is_none() {
                    " (signatures not checked: give --key PUB to check them)"
                } else {
                    ""
                }
            );
        } else {
            let bad = self
                .platforms
                .iter()
                .filter(|p| p.finding.passing.is_none())
                .count();
            let _ = writeln!(
                out,
                "not verified: {bad} of {} platform(s) without a valid passing test attestation",
                self.platforms.len()
            );
        }
        out
    }
}

fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    format!("sha256:{}", hex.get(..12).unwrap_or(hex))
}

fn short_key(id: &str) -> &str {
    id.get(..16).unwrap_or(id)
}

/// Resolves `reference` and judges the attestations of each platform's
/// image. `Ok(None)` when the registry has no such tag.
pub async fn verify(
    registry: &dyn Registry,
    reference: &str,
    key: Option<&PublicKey>,
) -> Result<Option<Report>, RegistryError> {
    let Some(top) = registry.manifest(reference).await? else {
        return Ok(None);
    };
    let repository = Reference::split(reference).name.to_string();
    let mut platforms = Vec::new();
    let children = index_children(&top.bytes);
    let index = children.is_some();
    let images = match children {
        Some(children) => children,
        None => vec![(None, top.digest.to_string())],
    };
    for (platform, digest) in images {
        let digest = Digest::new(digest);
        let platform = match platform {
            Some(p) => p,
            None => config_platform(registry, &repository, &digest).await,
        };
        let finding = find(registry, &repository, &digest, key).await?;
        platforms.push(PlatformReport {
            platform,
            digest,
            finding,
        });
    }
    Ok(Some(Report {
        reference: reference.to_string(),
        digest: top.digest,
        index,
        platforms,
        key: key.map(|k| k.id().to_string()),
    }))
}

/// The attestations attached to `digest`, judged. Registry errors that
/// concern one attestation reject it; only an unreachable registry or
/// refused credentials end the search.
pub async fn find(
    registry: &dyn Registry,
    repository: &str,
    digest: &Digest,
    key: Option<&PublicKey>,
) -> Result<Finding, RegistryError> {
    let mut finding = Finding::default();
    let referrers = match registry
        .referrers(repository, digest, IN_TOTO_MEDIA_TYPE)
        .await
    {
        Ok(r) => r,
        Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. })) => {
            return Err(e)
        }
        Err(e) => {
            finding.rejected.push((
                digest.to_string(),
                format!("cannot list its referrers: {e}"),
            ));
            return Ok(finding);
        }
    };
    for referrer in referrers {
        match judge_one(registry, repository, digest, &referrer.digest, key).await {
            Ok(j) if j.passing() => {
                let newer = finding
                    .passing
                    .as_ref()
                    .is_none_or(|p| j.summary.tested_at > p.summary.tested_at);
                if newer {
                    finding.passing = Some(j);
                }
            }
            Ok(j) => finding.failing.push(j),
            Err(Fatal(e)) => return Err(e),
            Err(Rejected(why)) => finding.rejected.push((referrer.digest, why)),
        }
    }
    Ok(finding)
}

enum Problem {
    Fatal(RegistryError),
    Rejected(String),
}
use Problem::{Fatal, Rejected};

impl From<RegistryError> for Problem {
    fn from(e: RegistryError) -> Problem {
        match e {
            RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. } => Fatal(e),
            RegistryError::Other { message, .. } => Rejected(message),
        }
    }
}

async fn judge_one(
    registry: &dyn Registry,
    repository: &str,
    subject: &Digest,
    artifact: &str,
    key: Option<&PublicKey>,
) -> Result<Judged, Problem> {
    let manifest = registry
        .manifest(&format!("{repository}@{artifact}"))
        .await?
        .ok_or_else(|| Rejected("listed, but its manifest is not in the registry".into()))?;
    match subject_of(&manifest.bytes) {
        Some(s) if s == subject.as_str() => {}
        Some(s) => {
            return Err(Rejected(format!(
                "its manifest's subject is {s}, not this digest: it belongs to another image"
            )))
        }
        None => return Err(Rejected("its manifest names no subject".into())),
    }
    let (layer, _) = artifact_layer(&manifest.bytes, Some(DSSE_MEDIA_TYPE)).map_err(Rejected)?;
    let envelope = registry.blob(repository, &layer, MAX_ENVELOPE).await?;
    judge(&envelope, subject, key).map_err(Rejected)
}

/// An index's platform images: (platform, digest). `None` for a single
/// image's manifest. Entries that are not images (build attestations of
/// other tools, listed as `unknown/unknown`) are left out.
fn index_children(manifest: &[u8]) -> Option<Vec<(Option<String>, String)>> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let list = v.get("manifests")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|m| {
                let digest = m.get("digest")?.as_str()?.to_string();
                let platform = m.get("platform").map(|p| {
                    let part = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("");
                    let mut text = format!("{}/{}", part("os"), part("architecture"));
                    if !part("variant").is_empty() {
                        text = format!("{text}/{}", part("variant"));
                    }
                    text
                });
                if platform.as_deref() == Some("unknown/unknown") {
                    return None;
                }
                Some((platform, digest))
            })
            .collect(),
    )
}

/// A single image's platform, from its config (`unknown` if unreadable).
async fn config_platform(registry: &dyn Registry, repository: &str, digest: &Digest) -> String {
    let unknown = || "unknown".to_string();
    let Ok(Some(m)) = registry.manifest(&format!("{repository}@{digest}")).await else {
        return unknown();
    };
    let config = serde_json::from_slice::<serde_json::Value>(&m.bytes)
        .ok()
        .and_then(|v| Some(v.get("config")?.get("digest")?.as_str()?.to_string()));
    let Some(config) = config else {
        return unknown();
    };
    let Ok(bytes) = registry.blob(repository, &config, MAX_CONFIG).await else {
        return unknown();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return unknown();
    };
    let part = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    match (part("os"), part("architecture"), part("variant")) {
        (os, arch, _) if os.is_empty() || arch.is_empty() => unknown(),
        (os, arch, variant) if variant.is_empty() => format!("{os}/{arch}"),
        (os, arch, variant) => format!("{os}/{arch}/{variant}"),
    }
}

/// Copies the test attestations of manifest `subject` from repository
/// `from` to repository `to` (referrers live in their subject's repository),
/// skipping those `to` holds already. For an alias pointed at an image of
/// another repository, so the alias verifies where users pull it. Returns
/// how many were copied.
pub async fn copy_attestations(
    registry: &dyn Registry,
    from: &str,
    to: &str,
    subject: &Digest,
) -> Result<usize, RegistryError> {
    let held = registry.referrers(to, subject, IN_TOTO_MEDIA_TYPE).await?;
    let mut copied = 0;
    for r in registry
        .referrers(from, subject, IN_TOTO_MEDIA_TYPE)
        .await?
    {
        if held.iter().any(|h| h.annotations == r.annotations) {
            continue;
        }
        let reference = format!("{from}@{}", r.digest);
        let Some(manifest) = registry.manifest(&reference).await? else {
            continue;
        };
        let Ok((layer, _)) = artifact_layer(&manifest.bytes, Some(DSSE_MEDIA_TYPE)) else {
            continue;
        };
        let content = registry.blob(from, &layer, MAX_ENVELOPE).await?;
        let artifact = crate::registry::referrers::Artifact {
            artifact_type: r.artifact_type.clone(),
            media_type: DSSE_MEDIA_TYPE.to_string(),
            content,
            annotations: r.annotations.clone(),
        };
        registry.attach(to, subject, &artifact).await?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_children_skip_foreign_entries() {
        let index = br#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
            {"digest":"sha256:c","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let children = index_children(index).unwrap();
        assert_eq!(
            children,
            [
                (Some("linux/amd64".to_string()), "sha256:a".to_string()),
                (Some("linux/arm/v7".to_string()), "sha256:b".to_string()),
            ]
        );
        assert_eq!(index_children(br#"{"schemaVersion":2,"layers":[]}"#), None);
    }

    #[test]
    fn a_finding_says_why_it_does_not_verify() {
        let none = Finding::default();
        assert!(none.problem().unwrap().contains("no test attestation"));
        let rejected = Finding {
            rejected: vec![(
                format!("sha256:{}", "a".repeat(64)),
                "the attestation is signed by another key (k)".into(),
            )],
            ..Finding::default()
        };
        let p = rejected.problem().unwrap();
        assert!(
            p.contains("sha256:aaaaaaaaaaaa: the attestation is signed by another key"),
            "{p}"
        );
    }
}
