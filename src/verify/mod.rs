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

use crate::attest::check::{judge, judge_statement, Judged};
use crate::attest::key::PublicKey;
use crate::attest::{
    DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE, PROVENANCE_TYPE, SBOM_TYPE, TEST_RESULT_TYPE,
};
use crate::registry::referrers::PREDICATE_TYPE;

/// When an attestation was attached (its manifest's annotation).
const CREATED: &str = "org.opencontainers.image.created";
use crate::reference::{ImageRef, Repository};
use crate::registry::referrers::{artifact_layer, is_index, is_index_media_type, subject_of};
use crate::registry::{at_digest, Digest, RegistryError, RegistryRead, RegistryWrite};

/// The largest envelope strata reads (a test result is a few KiB).
const MAX_ENVELOPE: u64 = 4 << 20;
/// The largest image config read for its platform.
const MAX_CONFIG: u64 = 1 << 20;

/// What a reference resolved to, and each platform's finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub reference: ImageRef,
    pub digest: Digest,
    /// The reference names an index of platform images.
    pub index: bool,
    pub platforms: Vec<PlatformReport>,
    /// The key signatures were checked with, if any.
    pub key: Option<String>,
    /// For an index: the attestations of the index digest itself.
    pub index_attestations: Option<IndexAttestations>,
}

/// The attestations of an index's own digest: its test result (whose
/// subjects are the index and every platform's image) and the others.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexAttestations {
    pub finding: Finding,
    pub extras: Extras,
}

impl IndexAttestations {
    /// Why the index's attestations do not hold; `None` when they do or
    /// when it has none (an index `publish` put together has none).
    pub fn problem(&self) -> Option<String> {
        let f = &self.finding;
        if f.passing.is_none() && (!f.failing.is_empty() || !f.rejected.is_empty()) {
            return f.problem();
        }
        self.extras.problem()
    }
}

/// The attestations of one digest beside its test result: its SLSA
/// provenance and its SBOM.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extras {
    /// The newest valid provenance: what it says.
    pub provenance: Option<crate::attest::provenance::Summary>,
    /// Provenance attestations that cannot be trusted: (artifact, why).
    pub provenance_rejected: Vec<(String, String)>,
    /// Valid SBOM (`https://spdx.dev/Document`) attestations.
    pub sboms: usize,
    /// SBOM attestations that cannot be trusted: (artifact, why).
    pub sbom_rejected: Vec<(String, String)>,
}

impl Extras {
    /// Why these do not hold: a provenance or SBOM is attached but none of
    /// them is valid. `None` when they hold, or when there are none.
    pub fn problem(&self) -> Option<String> {
        let why = |what: &str, rejected: &[(String, String)]| {
            let reasons: Vec<String> = rejected
                .iter()
                .map(|(d, why)| format!("{}: {why}", short(d)))
                .collect();
            format!("no valid {what}: {}", reasons.join("; "))
        };
        if self.provenance.is_none() && !self.provenance_rejected.is_empty() {
            return Some(why("provenance", &self.provenance_rejected));
        }
        if self.sboms == 0 && !self.sbom_rejected.is_empty() {
            return Some(why("SBOM", &self.sbom_rejected));
        }
        None
    }

    /// One line: provenance and SBOM, present or absent.
    fn describe(&self) -> String {
        let provenance = match (&self.provenance, self.provenance_rejected.is_empty()) {
            (Some(p), _) => format!(
                "provenance valid ({} dependencies with digests{})",
                p.dependencies.len(),
                match (&p.started_at, &p.finished_at) {
                    (Some(a), Some(b)) => format!(", built {} to {}", untrusted(a), untrusted(b)),
                    _ => String::new(),
                }
            ),
            (None, true) => "provenance absent".to_string(),
            (None, false) => "provenance NOT VALID".to_string(),
        };
        let sbom = match (self.sboms, self.sbom_rejected.is_empty()) {
            (0, true) => "SBOM absent".to_string(),
            (0, false) => "SBOM NOT VALID".to_string(),
            (_, _) => "SBOM present".to_string(),
        };
        format!("{provenance}; {sbom}")
    }
}

/// One platform's image and what its attestations say.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformReport {
    /// Such as `linux/amd64`; `unknown` when the image does not say.
    pub platform: String,
    pub digest: Digest,
    pub finding: Finding,
    /// Why the image at this entry is not what the index says it is (its
    /// config names another platform, or it is no image); `None` when it is.
    pub wrong: Option<String>,
    /// Its provenance and SBOM.
    pub extras: Extras,
}

impl PlatformReport {
    /// A valid passing attestation, the image is what the index says, and
    /// no provenance or SBOM attached to it is forged.
    pub fn verified(&self) -> bool {
        self.finding.passing.is_some() && self.wrong.is_none() && self.extras.problem().is_none()
    }
}

/// The attestations found for one digest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finding {
    /// The newest valid attestation, when it says the image passed. A newer
    /// valid attestation that says it failed leaves this `None`: an older
    /// pass never hides a later failure.
    pub passing: Option<Judged>,
    /// Valid attestations that say it failed, newest first.
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
                format!(
                    "its newest test attestation says {}",
                    untrusted(&failed.summary.result)
                )
            } else {
                format!(
                    "its newest test attestation says FAILED (failed: {})",
                    untrusted(&tests.join(", "))
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
    /// Every platform carries a valid passing attestation (and an index's
    /// own attestations, where it has them, hold).
    pub fn verified(&self) -> bool {
        !self.platforms.is_empty()
            && self.platforms.iter().all(PlatformReport::verified)
            && self
                .index_attestations
                .as_ref()
                .is_none_or(|i| i.problem().is_none())
    }

    /// The platforms whose passing attestation names another image than
    /// `name` (for an index entry, than `name`'s image for its platform, as
    /// `push` names it): (platform, the name it was tested as).
    pub fn tested_as_other(&self, name: &str) -> Vec<(String, String)> {
        self.platforms
            .iter()
            .filter_map(|p| {
                let tested = &p.finding.passing.as_ref()?.summary.image;
                let expected = if self.index {
                    let platform = p.platform.parse::<crate::reference::Platform>();
                    match (platform, name.parse::<crate::reference::ImageRef>()) {
                        (Ok(platform), Ok(name)) => {
                            crate::plan::platforms::unit_name(&name, &platform).to_string()
                        }
                        _ => return Some((p.platform.clone(), tested.clone())),
                    }
                } else {
                    name.to_string()
                };
                (*tested != expected).then(|| (p.platform.clone(), tested.clone()))
            })
            .collect()
    }

    /// The report as the terminal shows it.
    pub fn render(&self) -> String {
        self.render_expecting(None)
    }

    /// Verified, and (with `expect_name`) tested as that name throughout.
    pub fn verified_as(&self, expect_name: Option<&str>) -> bool {
        self.verified() && expect_name.is_none_or(|n| self.tested_as_other(n).is_empty())
    }

    /// The report, with a line for each platform tested under another name
    /// than `expect_name` (`--expect-name`), which then does not verify.
    pub fn render_expecting(&self, expect_name: Option<&str>) -> String {
        let mut out = String::new();
        self.render_header(&mut out);
        let width = self
            .platforms
            .iter()
            .map(|p| untrusted(&p.platform).chars().count())
            .max()
            .unwrap_or(0);
        for p in &self.platforms {
            render_platform(&mut out, p, width);
        }
        if let Some(i) = &self.index_attestations {
            self.render_index(&mut out, i);
        }
        for p in &self.platforms {
            render_extras_problem(&mut out, p, width);
        }
        let misnamed = expect_name
            .map(|n| self.tested_as_other(n))
            .unwrap_or_default();
        for (platform, tested) in &misnamed {
            let _ = writeln!(
                out,
                "  {:width$}  tested as {}, not {}",
                untrusted(platform),
                untrusted(tested),
                untrusted(expect_name.unwrap_or_default())
            );
        }
        self.render_verdict(&mut out, expect_name, &misnamed);
        out
    }

    /// The first line: the reference, what it is (an index or one image)
    /// and its digest.
    fn render_header(&self, out: &mut String) {
        let what = if self.index {
            format!("an index of {} platform(s)", self.platforms.len())
        } else {
            "one image".to_string()
        };
        let _ = writeln!(
            out,
            "{} is {} at {}",
            untrusted(&self.reference),
            what,
            untrusted(&self.digest)
        );
    }

    /// The index's own lines: its test result, its extras and, when they
    /// fail, why.
    fn render_index(&self, out: &mut String, i: &IndexAttestations) {
        let test = match (&i.finding.passing, i.finding.problem()) {
            (Some(j), _) => format!(
                "test result PASSED for {} platform(s) ({} test(s)); {}",
                self.platforms.len(),
                j.summary.passed_tests.len(),
                signature_status(j)
            ),
            (None, _) if i.finding.failing.is_empty() && i.finding.rejected.is_empty() => {
                "no test result of its own".to_string()
            }
            (None, problem) => {
                format!("NOT VERIFIED  {}", untrusted(&problem.unwrap_or_default()))
            }
        };
        let _ = writeln!(out, "  index {}  {test}", untrusted(&short(&self.digest)));
        let _ = writeln!(
            out,
            "  index {}  {}",
            untrusted(&short(&self.digest)),
            i.extras.describe()
        );
        if let Some(why) = i.extras.problem() {
            let _ = writeln!(
                out,
                "  index {}  NOT VERIFIED  {}",
                untrusted(&short(&self.digest)),
                untrusted(&why)
            );
        }
    }

    /// The last line: verified, or how many platforms are not (tested as
    /// `expect_name` when given).
    fn render_verdict(
        &self,
        out: &mut String,
        expect_name: Option<&str>,
        misnamed: &[(String, String)],
    ) {
        if self.verified_as(expect_name) {
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
                .filter(|p| !p.verified() || misnamed.iter().any(|(x, _)| *x == p.platform))
                .count();
            let _ = writeln!(
                out,
                "not verified: {bad} of {} platform(s) without a valid passing test attestation{}",
                self.platforms.len(),
                match expect_name {
                    Some(n) => format!(" tested as {}", untrusted(n)),
                    None => String::new(),
                }
            );
        }
    }
}

/// One platform's lines: PASSED with when, by what, under which name and
/// which tests, or NOT VERIFIED with why.
fn render_platform(out: &mut String, p: &PlatformReport, width: usize) {
    let problem = p.wrong.clone().or_else(|| p.finding.problem());
    match (&p.finding.passing, problem) {
        (Some(j), None) => render_passed(out, p, j, width),
        (_, problem) => {
            let _ = writeln!(
                out,
                "  {:width$}  {}  NOT VERIFIED  {}",
                untrusted(&p.platform),
                untrusted(&short(&p.digest)),
                untrusted(&problem.unwrap_or_default())
            );
        }
    }
}

/// A platform's lines when its passing test result holds: the PASSED line,
/// the name it was tested as, its tests and its extras.
fn render_passed(out: &mut String, p: &PlatformReport, j: &Judged, width: usize) {
    let s = &j.summary;
    let when = s
        .tested_at
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "at an unknown time".into());
    let by = if s.strata_version.is_empty() {
        "another tool".to_string()
    } else {
        format!("strata {}", untrusted(&s.strata_version))
    };
    let signed = signature_status(j);
    let _ = writeln!(
        out,
        "  {:width$}  {}  PASSED  tested {when} with {by}; {signed}",
        untrusted(&p.platform),
        untrusted(&short(&p.digest)),
    );
    let _ = writeln!(
        out,
        "  {:width$}    tested as {}",
        "",
        if s.image.is_empty() {
            "(no name given)".to_string()
        } else {
            untrusted(&s.image)
        }
    );
    let _ = writeln!(
        out,
        "  {:width$}    {} test(s) passed: {}",
        "",
        s.passed_tests.len(),
        if s.passed_tests.is_empty() {
            "(none)".to_string()
        } else {
            untrusted(&s.passed_tests.join(", "))
        }
    );
    let _ = writeln!(out, "  {:width$}    {}", "", p.extras.describe());
}

/// A NOT VERIFIED line for a platform whose test result passed but whose
/// extras (provenance, SBOM) fail.
fn render_extras_problem(out: &mut String, p: &PlatformReport, width: usize) {
    if let (Some(why), true) = (p.extras.problem(), p.finding.passing.is_some()) {
        let _ = writeln!(
            out,
            "  {:width$}  {}  NOT VERIFIED  {}",
            untrusted(&p.platform),
            untrusted(&short(&p.digest)),
            untrusted(&why)
        );
    }
}

/// Whether a test result's signature was checked, and with which key.
fn signature_status(j: &Judged) -> String {
    match &j.checked_key {
        Some(k) => format!("signature valid (key {})", untrusted(short_key(k))),
        None => "signature not checked (no --key)".to_string(),
    }
}

impl Report {
    /// The `cosign verify-attestation` commands that check, without strata,
    /// what this report found: for each digest (each platform's image, and
    /// an index's own), its test result and, where there is one, its
    /// provenance. `key_file` is the public key's path as the user gave it.
    pub fn cosign_commands(&self, key_file: &str) -> Vec<(String, String)> {
        let repository = self.reference.repository();
        let command = |kind: &str, digest: &Digest| {
            format!(
                "cosign verify-attestation --key {} --type {kind} --insecure-ignore-tlog=true {}@{digest}",
                shell_word(key_file),
                shell_word(&repository),
            )
        };
        let mut commands = Vec::new();
        let mut of = |what: String, digest: &Digest, tested: bool, extras: &Extras| {
            if tested {
                commands.push((what.clone(), command(TEST_RESULT_TYPE, digest)));
            }
            if extras.provenance.is_some() {
                commands.push((what.clone(), command(PROVENANCE_TYPE, digest)));
            }
            if extras.sboms > 0 {
                commands.push((what, command(SBOM_TYPE, digest)));
            }
        };
        for p in &self.platforms {
            of(
                p.platform.clone(),
                &p.digest,
                p.finding.passing.is_some(),
                &p.extras,
            );
        }
        if let Some(i) = &self.index_attestations {
            of(
                "index".to_string(),
                &self.digest,
                i.finding.passing.is_some(),
                &i.extras,
            );
        }
        commands
    }

    /// [`Report::cosign_commands`] as the text report ends with them.
    pub fn render_cosign(&self, key_file: &str) -> String {
        let commands = self.cosign_commands(key_file);
        if commands.is_empty() {
            return String::new();
        }
        let mut out =
            String::from("the same checks with cosign (3.0.4 or later, offline; signed pushes):\n");
        for (_, c) in commands {
            let _ = writeln!(out, "  {}", untrusted(&c));
        }
        out
    }

    /// The report as JSON (`verify --format json`): every finding, with
    /// the same verdicts as the text and the cosign commands.
    pub fn to_json(&self, expect_name: Option<&str>, key_file: &str) -> serde_json::Value {
        use serde_json::json;
        let test = |f: &Finding| {
            let newest = f.passing.as_ref().or(f.failing.first());
            json!({
                "verified": f.passing.is_some(),
                "problem": f.problem(),
                "result": newest.map(|j| j.summary.result.clone()),
                "testedAt": newest.and_then(|j| j.summary.tested_at).map(|t| t.to_rfc3339()),
                "testedAs": newest.map(|j| j.summary.image.clone()),
                "passedTests": newest.map(|j| j.summary.passed_tests.clone()).unwrap_or_default(),
                "failedTests": newest.map(|j| j.summary.failed_tests.clone()).unwrap_or_default(),
                "signatureKey": newest.and_then(|j| j.checked_key.clone()),
                "rejected": f.rejected.iter().map(|(d, why)| json!({"artifact": d, "why": why})).collect::<Vec<_>>(),
            })
        };
        let extras = |e: &Extras| {
            let rejected = |r: &[(String, String)]| {
                r.iter()
                    .map(|(d, why)| json!({"artifact": d, "why": why}))
                    .collect::<Vec<_>>()
            };
            json!({
                "provenance": {
                    "present": e.provenance.is_some() || !e.provenance_rejected.is_empty(),
                    "valid": e.provenance.is_some(),
                    "buildType": e.provenance.as_ref().map(|p| p.build_type.clone()),
                    "builder": e.provenance.as_ref().map(|p| p.builder.clone()),
                    "startedOn": e.provenance.as_ref().and_then(|p| p.started_at.clone()),
                    "finishedOn": e.provenance.as_ref().and_then(|p| p.finished_at.clone()),
                    "dependencies": e.provenance.as_ref().map(|p| p.dependencies.iter().map(|(k, n, d)| json!({"kind": k, "name": n, "digest": d})).collect::<Vec<_>>()).unwrap_or_default(),
                    "rejected": rejected(&e.provenance_rejected),
                },
                "sbom": {
                    "present": e.sboms > 0,
                    "rejected": rejected(&e.sbom_rejected),
                },
            })
        };
        let commands = self.cosign_commands(key_file);
        let cosign = |what: &str| {
            commands
                .iter()
                .filter(|(w, _)| w == what)
                .map(|(_, c)| c.clone())
                .collect::<Vec<_>>()
        };
        let misnamed = expect_name
            .map(|n| self.tested_as_other(n))
            .unwrap_or_default();
        json!({
            "reference": self.reference,
            "digest": self.digest.as_str(),
            "index": self.index,
            "verified": self.verified_as(expect_name),
            "key": self.key,
            "platforms": self.platforms.iter().map(|p| json!({
                "platform": p.platform,
                "digest": p.digest.as_str(),
                "verified": p.verified() && !misnamed.iter().any(|(x, _)| *x == p.platform),
                "wrong": p.wrong,
                "testResult": test(&p.finding),
                "attestations": extras(&p.extras),
                "cosign": cosign(&p.platform),
            })).collect::<Vec<_>>(),
            "indexAttestations": self.index_attestations.as_ref().map(|i| json!({
                "digest": self.digest.as_str(),
                "verified": i.problem().is_none(),
                "problem": i.problem(),
                "testResult": test(&i.finding),
                "attestations": extras(&i.extras),
                "cosign": cosign("index"),
            })),
        })
    }
}

/// `word` quoted for a POSIX shell when it holds anything but plain
/// characters.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Text a registry sent (or a statement holds), made safe to print: see
/// [`crate::text::escape_untrusted`].
pub use crate::text::escape_untrusted as untrusted;

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
    registry: &dyn RegistryRead,
    reference: &ImageRef,
    key: Option<&PublicKey>,
) -> Result<Option<Report>, RegistryError> {
    let Some(top) = registry.manifest(reference).await? else {
        return Ok(None);
    };
    let repository = reference.repository();
    let mut platforms = Vec::new();
    // Index or image by the media type the registry returned, never by
    // which fields the manifest holds.
    let index = is_index_media_type(&top.media_type);
    let images = if index {
        index_children(&top.bytes).unwrap_or_default()
    } else {
        vec![(None, top.digest.to_string())]
    };
    for (entry, digest) in images {
        let digest = Digest::new(digest);
        let (platform, wrong) = match entry {
            // An index entry: its image must be an image (read by its
            // digest, checked against it) whose config names this platform.
            Some(listed) => {
                let wrong = match image_platform(registry, &repository, &digest).await {
                    Err(why) => Some(why.to_string()),
                    Ok(actual) if !same_platform(&actual, &listed) => Some(format!(
                        "the index lists it as {}, but its image config says {}",
                        untrusted(&listed),
                        untrusted(&actual)
                    )),
                    Ok(_) => None,
                };
                (listed, wrong)
            }
            None => (config_platform(registry, &repository, &digest).await, None),
        };
        let finding = find(registry, &repository, &digest, key).await?;
        let extras = extras(registry, &repository, &digest, key, None).await?;
        platforms.push(PlatformReport {
            platform,
            digest,
            finding,
            wrong,
            extras,
        });
    }
    let index_attestations = if index {
        let children: Vec<String> = platforms.iter().map(|p| p.digest.to_string()).collect();
        Some(IndexAttestations {
            finding: find(registry, &repository, &top.digest, key).await?,
            extras: extras(registry, &repository, &top.digest, key, Some(&children)).await?,
        })
    } else {
        None
    };
    Ok(Some(Report {
        reference: reference.clone(),
        digest: top.digest,
        index,
        platforms,
        key: key.map(|k| k.id().to_string()),
        index_attestations,
    }))
}

/// The attestations attached to `digest`, judged. Registry errors that
/// concern one attestation reject it; only an unreachable registry or
/// refused credentials end the search.
pub async fn find(
    registry: &dyn RegistryRead,
    repository: &Repository,
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
    let mut valid: Vec<Judged> = Vec::new();
    // Attestations of another kind (provenance, SBOM) are judged as such
    // (see `extras`), whether their manifest says so or their statement.
    for referrer in referrers {
        let (kind, read) = kind_of(registry, repository, digest, &referrer).await?;
        if kind != Kind::TestResult {
            continue;
        }
        let judged = match read {
            Some(read) => read.and_then(|e| judge(&e, digest, key).map_err(|e| e.to_string())),
            None => match judge_one(registry, repository, digest, &referrer.digest, key).await {
                Err(Fatal(e)) => return Err(e),
                Err(Rejected(why)) => Err(why),
                Ok(j) => Ok(j),
            },
        };
        match judged {
            Ok(j) => valid.push(j),
            Err(why) => finding.rejected.push((referrer.digest, why)),
        }
    }
    // The newest valid attestation decides (a failure wins a tie): an older
    // PASSED never hides a newer FAILED.
    valid.sort_by_key(|j| std::cmp::Reverse((j.summary.tested_at, !j.passing())));
    let mut valid = valid.into_iter();
    match valid.next() {
        Some(newest) if newest.passing() => finding.passing = Some(newest),
        Some(newest) => finding.failing.push(newest),
        None => {}
    }
    finding.failing.extend(valid.filter(|j| !j.passing()));
    Ok(finding)
}

/// The provenance and SBOM attestations of `digest`, judged: signature (with
/// `key`), subject and predicate type; a provenance's dependencies must each
/// have a digest, and an index's (`children`: its platforms' digests) must
/// name exactly its platforms' images.
pub async fn extras(
    registry: &dyn RegistryRead,
    repository: &Repository,
    digest: &Digest,
    key: Option<&PublicKey>,
    children: Option<&[String]>,
) -> Result<Extras, RegistryError> {
    let mut extras = Extras::default();
    let referrers = match registry
        .referrers(repository, digest, IN_TOTO_MEDIA_TYPE)
        .await
    {
        Ok(r) => r,
        Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. })) => {
            return Err(e)
        }
        // `find` reports an unreadable list already.
        Err(_) => return Ok(extras),
    };
    let mut provenance: Vec<(Option<String>, crate::attest::provenance::Summary)> = Vec::new();
    for r in referrers {
        let (kind, read) = kind_of(registry, repository, digest, &r).await?;
        let created = r.annotations.get(CREATED).cloned();
        match kind {
            Kind::Provenance => {
                let judged = statement_of(registry, repository, digest, &r.digest, key, kind, read)
                    .await
                    .and_then(|s| {
                        let summary = crate::attest::provenance::summary(&s)
                            .map_err(|e| Rejected(e.to_string()))?;
                        match children {
                            Some(children) => {
                                index_dependencies(&summary, children).map(|_| summary)
                            }
                            None => Ok(summary),
                        }
                    });
                match judged {
                    Ok(summary) => provenance.push((created, summary)),
                    Err(Fatal(e)) => return Err(e),
                    Err(Rejected(why)) => extras.provenance_rejected.push((r.digest, why)),
                }
            }
            Kind::Sbom => {
                match statement_of(registry, repository, digest, &r.digest, key, kind, read).await {
                    Ok(_) => extras.sboms += 1,
                    Err(Fatal(e)) => return Err(e),
                    Err(Rejected(why)) => extras.sbom_rejected.push((r.digest, why)),
                }
            }
            _ => {}
        }
    }
    // The newest valid one is reported.
    provenance.sort_by(|a, b| b.0.cmp(&a.0));
    extras.provenance = provenance.into_iter().next().map(|(_, s)| s);
    Ok(extras)
}

/// An index's provenance names each of its platforms' images as a
/// dependency (`image`), and no other.
fn index_dependencies(
    summary: &crate::attest::provenance::Summary,
    children: &[String],
) -> Result<(), Problem> {
    let mut named: Vec<&str> = summary
        .dependencies
        .iter()
        .filter(|(kind, _, _)| kind == "image")
        .map(|(_, _, d)| d.as_str())
        .collect();
    let mut wanted: Vec<&str> = children.iter().map(String::as_str).collect();
    named.sort_unstable();
    wanted.sort_unstable();
    if named != wanted {
        return Err(Rejected(format!(
            "it names the images {} as the index's, not its platforms' {}",
            crate::text::cut(&named.join(", "), 300),
            crate::text::cut(&wanted.join(", "), 300)
        )));
    }
    Ok(())
}

/// The statement of `kind` in artifact `artifact` about `subject`, judged
/// as [`judge_statement`] does; its envelope `read` already when
/// [`kind_of`] read it to tell its kind.
async fn statement_of(
    registry: &dyn RegistryRead,
    repository: &Repository,
    subject: &Digest,
    artifact: &str,
    key: Option<&PublicKey>,
    kind: Kind,
    read: Option<Result<Vec<u8>, String>>,
) -> Result<crate::attest::statement::Statement, Problem> {
    let envelope = match read {
        Some(read) => read.map_err(Rejected)?,
        None => envelope_of(registry, repository, subject, artifact, kind.cap()).await?,
    };
    judge_statement(&envelope, subject, key, kind.predicate_type())
        .map(|(s, _)| s)
        .map_err(|e| Rejected(e.to_string()))
}

/// What an attestation states, by its predicate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TestResult,
    Provenance,
    Sbom,
    /// Of a predicate type strata does not judge: left alone.
    Other,
}

impl Kind {
    fn of(predicate_type: &str) -> Kind {
        match predicate_type {
            TEST_RESULT_TYPE => Kind::TestResult,
            PROVENANCE_TYPE => Kind::Provenance,
            SBOM_TYPE => Kind::Sbom,
            _ => Kind::Other,
        }
    }

    fn predicate_type(self) -> &'static str {
        match self {
            Kind::TestResult | Kind::Other => TEST_RESULT_TYPE,
            Kind::Provenance => PROVENANCE_TYPE,
            Kind::Sbom => SBOM_TYPE,
        }
    }

    /// The largest envelope of this kind strata reads: an SBOM lists every
    /// package of the image, so it may be larger than a test result or a
    /// provenance may.
    fn cap(self) -> u64 {
        match self {
            Kind::Sbom => crate::attest::sbom::MAX_ENVELOPE_BYTES,
            _ => MAX_ENVELOPE,
        }
    }
}

/// What referrer `r` of `subject` states: the predicate type its manifest
/// names; else (a manifest that does not say) a provenance or an SBOM when
/// its statement says so, its envelope read once (up to the largest cap,
/// then held to its kind's) and returned to be judged, or why it cannot be
/// read. Any other is taken for a test result, as strata wrote them before
/// it named the type (and refused as one when it is not). Only an
/// unreachable registry or refused credentials are errors.
async fn kind_of(
    registry: &dyn RegistryRead,
    repository: &Repository,
    subject: &Digest,
    r: &crate::registry::referrers::Referrer,
) -> Result<(Kind, Option<Result<Vec<u8>, String>>), RegistryError> {
    if let Some(stated) = r.annotations.get(PREDICATE_TYPE) {
        return Ok((Kind::of(stated), None));
    }
    let largest = Kind::Sbom.cap().max(MAX_ENVELOPE);
    let envelope = match envelope_of(registry, repository, subject, &r.digest, largest).await {
        Ok(e) => e,
        Err(Fatal(e)) => return Err(e),
        Err(Rejected(why)) => return Ok((Kind::TestResult, Some(Err(why)))),
    };
    // Only a provenance or an SBOM is told apart: anything else is judged
    // as a test result, as before (and refused naming what it states).
    let kind = match crate::attest::check::stated_predicate_type(&envelope).map(|t| Kind::of(&t)) {
        Some(kind @ (Kind::Provenance | Kind::Sbom)) => kind,
        _ => Kind::TestResult,
    };
    if envelope.len() as u64 > kind.cap() {
        let why = format!("the blob is larger than {} bytes", kind.cap());
        return Ok((kind, Some(Err(why))));
    }
    Ok((kind, Some(Ok(envelope))))
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
    registry: &dyn RegistryRead,
    repository: &Repository,
    subject: &Digest,
    artifact: &str,
    key: Option<&PublicKey>,
) -> Result<Judged, Problem> {
    let envelope = envelope_of(registry, repository, subject, artifact, MAX_ENVELOPE).await?;
    judge(&envelope, subject, key).map_err(|e| Rejected(e.to_string()))
}

/// The DSSE envelope of artifact `artifact`, whose manifest must name
/// `subject` as its subject, read up to `cap` bytes.
async fn envelope_of(
    registry: &dyn RegistryRead,
    repository: &Repository,
    subject: &Digest,
    artifact: &str,
    cap: u64,
) -> Result<Vec<u8>, Problem> {
    let manifest = registry
        .manifest(&at_digest(repository, artifact)?)
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
    let (layer, _) = artifact_layer(&manifest.bytes, Some(DSSE_MEDIA_TYPE))
        .map_err(|e| Rejected(e.to_string()))?;
    Ok(registry.blob(repository, &layer, cap).await?)
}

/// An index's platform images: (platform, digest). `None` for a single
/// image's manifest. Entries that are not images (build attestations of
/// other tools, listed as `unknown/unknown`) are left out.
fn index_children(manifest: &[u8]) -> Option<Vec<(Option<String>, String)>> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    if !is_index(&v) {
        return None;
    }
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

/// Whether two `os/architecture[/variant]` texts name one platform: the
/// same OS and architecture, and the same variant when both name one
/// (engines write `arm64` images' variant `v8` in one place and not the other).
pub fn same_platform(a: &str, b: &str) -> bool {
    let split = |p: &str| {
        let mut parts = p.splitn(3, '/');
        let os = parts.next().unwrap_or("").to_string();
        let arch = parts.next().unwrap_or("").to_string();
        let variant = parts.next().filter(|v| !v.is_empty()).map(str::to_string);
        (os, arch, variant)
    };
    let ((os_a, arch_a, var_a), (os_b, arch_b, var_b)) = (split(a), split(b));
    os_a == os_b
        && arch_a == arch_b
        && match (var_a, var_b) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// A single image's platform, from its config (`unknown` if unreadable).
async fn config_platform(
    registry: &dyn RegistryRead,
    repository: &Repository,
    digest: &Digest,
) -> String {
    image_platform(registry, repository, digest)
        .await
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Why the manifest at an index entry (or a platform's pushed digest) is not
/// an image whose platform can be told.
#[derive(Debug, thiserror::Error)]
pub enum NotAnImage {
    #[error("its manifest is not in the registry")]
    Missing,
    #[error("its manifest cannot be read: {0}")]
    Manifest(#[source] RegistryError),
    #[error("it is an index, not a platform's image")]
    Index,
    #[error("its manifest names no image config")]
    NoConfig,
    #[error("its image config cannot be read: {0}")]
    Config(#[source] RegistryError),
    #[error("its image config is not JSON")]
    ConfigNotJson(#[source] serde_json::Error),
    #[error("its image config names no platform")]
    NoPlatform,
}

/// The platform the image config of manifest `digest` names, or why it
/// cannot be told: the manifest (read by its digest, checked against it)
/// must be an image, not an index, and its config must name its platform.
pub async fn image_platform(
    registry: &dyn RegistryRead,
    repository: &Repository,
    digest: &Digest,
) -> Result<String, NotAnImage> {
    let m = registry
        .manifest(&at_digest(repository, digest).map_err(NotAnImage::Manifest)?)
        .await
        .map_err(NotAnImage::Manifest)?
        .ok_or(NotAnImage::Missing)?;
    if is_index_media_type(&m.media_type) {
        return Err(NotAnImage::Index);
    }
    let config = serde_json::from_slice::<serde_json::Value>(&m.bytes)
        .ok()
        .and_then(|v| Some(v.get("config")?.get("digest")?.as_str()?.to_string()))
        .ok_or(NotAnImage::NoConfig)?;
    let bytes = registry
        .blob(repository, &config, MAX_CONFIG)
        .await
        .map_err(NotAnImage::Config)?;
    let v =
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(NotAnImage::ConfigNotJson)?;
    let part = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    match (part("os"), part("architecture"), part("variant")) {
        (os, arch, _) if os.is_empty() || arch.is_empty() => Err(NotAnImage::NoPlatform),
        (os, arch, variant) if variant.is_empty() => Ok(format!("{os}/{arch}")),
        (os, arch, variant) => Ok(format!("{os}/{arch}/{variant}")),
    }
}

/// Copies the attestations of manifest `subject` (test results,
/// provenance, SBOMs: the in-toto artifacts, and their Sigstore bundles,
/// which `cosign` reads) from repository `from` to repository `to`
/// (referrers live in their subject's repository), as they are, skipping
/// those `to` holds already. For an alias pointed at an image of another
/// repository, so the alias verifies where users pull it. Returns how many
/// were copied.
pub async fn copy_attestations(
    registry: &dyn RegistryWrite,
    from: &Repository,
    to: &Repository,
    subject: &Digest,
) -> Result<usize, RegistryError> {
    use crate::attest::bundle::{BUNDLE_MEDIA_TYPE, BUNDLE_PREDICATE_TYPE};
    let mut copied = 0;
    // Each form: its artifact type, its layer's media type, and the
    // annotation naming its predicate type.
    for (artifact_type, layer_type, named) in [
        (IN_TOTO_MEDIA_TYPE, DSSE_MEDIA_TYPE, PREDICATE_TYPE),
        (BUNDLE_MEDIA_TYPE, BUNDLE_MEDIA_TYPE, BUNDLE_PREDICATE_TYPE),
    ] {
        let held = registry.referrers(to, subject, artifact_type).await?;
        for r in registry.referrers(from, subject, artifact_type).await? {
            if held.iter().any(|h| h.annotations == r.annotations) {
                continue;
            }
            let reference = at_digest(from, &r.digest)?;
            let Some(manifest) = registry.manifest(&reference).await? else {
                continue;
            };
            let Ok((layer, _)) = artifact_layer(&manifest.bytes, Some(layer_type)) else {
                continue;
            };
            // Each kind's cap (an SBOM may be larger than a test result);
            // one whose manifest does not name its kind may be an SBOM.
            let cap = match r.annotations.get(named) {
                Some(stated) => Kind::of(stated).cap(),
                None => Kind::Sbom.cap().max(MAX_ENVELOPE),
            };
            let content = registry.blob(from, &layer, cap).await?;
            let artifact = crate::registry::referrers::Artifact {
                artifact_type: r.artifact_type.clone(),
                media_type: layer_type.to_string(),
                content,
                annotations: r.annotations.clone(),
            };
            registry.attach(to, subject, &artifact).await?;
            copied += 1;
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod rules_tests;

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
    fn an_image_manifest_with_a_manifests_field_has_no_children() {
        let forged = br#"{"schemaVersion":2,
            "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"digest":"sha256:c"},"layers":[],
            "manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        assert_eq!(index_children(forged), None);
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"digest":"sha256:c"},"layers":[],"manifests":[{"digest":"sha256:a"}]}"#;
        assert_eq!(index_children(oci), None);
    }

    #[test]
    fn platforms_compare_by_os_architecture_and_stated_variants() {
        assert!(same_platform("linux/arm64", "linux/arm64/v8"));
        assert!(same_platform("linux/arm/v7", "linux/arm/v7"));
        assert!(!same_platform("linux/arm/v6", "linux/arm/v7"));
        assert!(!same_platform("linux/amd64", "linux/arm64"));
        assert!(!same_platform("linux/amd64", "windows/amd64"));
    }

    #[test]
    fn registry_text_is_escaped_before_it_is_printed() {
        let hostile = "ok\u{1b}[2J\u{1b}]0;x\u{7}\r\nverified: \u{202e}evil\u{200f}\u{feff}\\";
        let shown = untrusted(hostile);
        assert!(
            !shown
                .chars()
                .any(|c| c.is_control() || matches!(c, '\u{202e}' | '\u{200f}' | '\u{feff}')),
            "{shown:?}"
        );
        assert_eq!(
            shown,
            "ok\\u{1b}[2J\\u{1b}]0;x\\u{7}\\r\\nverified: \\u{202e}evil\\u{200f}\\u{feff}\\\\"
        );
        assert_eq!(untrusted("linux/amd64 über"), "linux/amd64 über");
    }

    #[test]
    fn the_cosign_commands_name_each_digest_and_kind() {
        let d = |c: char| Digest::new(format!("sha256:{}", c.to_string().repeat(64)));
        let passing = Finding {
            passing: Some(Judged {
                summary: Default::default(),
                checked_key: None,
                key_ids: vec![],
            }),
            ..Finding::default()
        };
        let built = Extras {
            provenance: Some(Default::default()),
            ..Extras::default()
        };
        let report = Report {
            reference: "127.0.0.1:5000/acme/app:1".parse().unwrap(),
            digest: d('a'),
            index: true,
            platforms: vec![PlatformReport {
                platform: "linux/arm64".into(),
                digest: d('b'),
                finding: passing.clone(),
                wrong: None,
                extras: built.clone(),
            }],
            key: None,
            index_attestations: Some(IndexAttestations {
                finding: passing,
                extras: Extras::default(),
            }),
        };
        let commands: Vec<String> = report
            .cosign_commands("my keys/release.pub")
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(
            commands,
            [
                format!("cosign verify-attestation --key 'my keys/release.pub' --type {TEST_RESULT_TYPE} --insecure-ignore-tlog=true 127.0.0.1:5000/acme/app@{}", d('b')),
                format!("cosign verify-attestation --key 'my keys/release.pub' --type {PROVENANCE_TYPE} --insecure-ignore-tlog=true 127.0.0.1:5000/acme/app@{}", d('b')),
                format!("cosign verify-attestation --key 'my keys/release.pub' --type {TEST_RESULT_TYPE} --insecure-ignore-tlog=true 127.0.0.1:5000/acme/app@{}", d('a')),
            ]
        );
        assert!(report.verified());
        let json = report.to_json(None, "k.pub");
        assert_eq!(
            json["platforms"][0]["attestations"]["provenance"]["valid"],
            true
        );
        assert_eq!(
            json["platforms"][0]["attestations"]["sbom"]["present"],
            false
        );
        assert_eq!(json["indexAttestations"]["testResult"]["verified"], true);

        // A forged provenance and no valid one: not verified.
        let mut forged = report.clone();
        forged.platforms[0].extras = Extras {
            provenance_rejected: vec![(d('c').to_string(), "signed by another key".into())],
            ..Extras::default()
        };
        assert!(!forged.verified());
        assert!(
            forged.render().contains("no valid provenance"),
            "{}",
            forged.render()
        );
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
