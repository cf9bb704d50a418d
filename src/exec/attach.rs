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
use crate::attest::provenance::{self, Dependency};
use crate::attest::statement::{self, TestRecord, Tested};
use crate::attest::{DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE, PROVENANCE_TYPE, TEST_RESULT_TYPE};
use crate::reference::{ImageRef, Reference, Repository};
use crate::registry::referrers::{Artifact, Listed};
use crate::registry::{Digest, RegistryRead, RegistryWrite};
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
/// The SHA-256 of the statement an attestation holds (its provenance's).
pub const STATEMENT_DIGEST: &str = "dev.strata.statement-digest";
const CREATED: &str = "org.opencontainers.image.created";

/// The statement for `record` about `digest`; test names are their folders
/// relative to `config_dir`.
pub fn tested(name: &ImageRef, digest: &Digest, record: &ImageState, config_dir: &Path) -> Tested {
    Tested {
        image: name.to_string(),
        repository: name.repository(),
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

/// A signed in-toto statement of some predicate type about one manifest
/// digest, ready to attach: the one way `push` attaches a test result, a
/// provenance or any other statement (see [`attach_statement`]).
pub struct Signed<'a> {
    /// The repository the subject lives in (`host/repo`).
    pub repository: &'a Repository,
    /// The manifest digest the artifact refers to (its `subject`).
    pub digest: &'a Digest,
    /// The statement's predicate type, such as [`TEST_RESULT_TYPE`].
    pub predicate_type: &'a str,
    /// The in-toto Statement's JSON bytes (the DSSE payload).
    pub statement: Vec<u8>,
    /// Annotations of the artifact manifest (and of its referrers entry);
    /// the predicate type and key ID are added.
    pub annotations: BTreeMap<String, String>,
    /// The annotations that tell one statement from another: one the
    /// registry holds already (of this predicate type, by this key) that
    /// agrees on all of them is not attached again.
    pub identity: &'a [&'a str],
}

/// What [`attach_statement`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// The registry holds the same statement already: this artifact.
    Held(String),
    /// Stored as this artifact, listed so; with its Sigstore bundle's
    /// artifact when signed.
    New {
        stored: Digest,
        listed: Listed,
        bundle: Option<Digest>,
    },
}

/// The in-toto attestations the registry lists as referring to `digest`
/// in `repository`.
pub(super) async fn held_attestations(
    registry: &dyn RegistryRead,
    repository: &Repository,
    digest: &Digest,
) -> Result<Vec<crate::registry::referrers::Referrer>, StepError> {
    registry
        .referrers(repository, digest, IN_TOTO_MEDIA_TYPE)
        .await
        .map_err(|source| StepError::Attestation {
            doing: format!("cannot list the attestations of {digest}"),
            source,
        })
}

/// Attaches `signed` to its digest as an in-toto artifact (a DSSE envelope,
/// signed with `key` when given) and, when signed, as a Sigstore bundle
/// referrer too, unless the registry holds the same statement already (and
/// `again` is false).
pub async fn attach_statement(
    registry: &dyn RegistryWrite,
    signed: Signed<'_>,
    key: Option<&SigningKey>,
    again: bool,
) -> Result<Attached, StepError> {
    let Signed {
        repository,
        digest,
        predicate_type,
        statement,
        mut annotations,
        identity,
    } = signed;
    let key_id = key.map(|k| k.id().to_string()).unwrap_or_default();
    annotations.insert(PREDICATE_TYPE.to_string(), predicate_type.to_string());
    annotations.insert(KEY_ID.to_string(), key_id);
    if !again {
        let held = held_attestations(registry, repository, digest).await?;
        let same = |a: &BTreeMap<String, String>| {
            // An attestation written before strata named the predicate
            // type on it is a test result.
            let kind = a
                .get(PREDICATE_TYPE)
                .map_or(TEST_RESULT_TYPE, String::as_str);
            kind == predicate_type
                && identity
                    .iter()
                    .chain(&[KEY_ID])
                    .all(|k| a.get(*k) == annotations.get(*k))
        };
        if let Some(r) = held.iter().find(|r| same(&r.annotations)) {
            return Ok(Attached::Held(r.digest.clone()));
        }
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    annotations.insert(CREATED.to_string(), created.clone());
    let envelope = Envelope::seal(&statement, key);
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
            doing: format!(
                "attaching the {} attestation failed",
                kind_of(predicate_type)
            ),
            source,
        })?;
    // The same envelope as a Sigstore bundle, for cosign: signed runs only.
    let mut bundled = None;
    if let Some(bundle) = key.and_then(|k| bundle::bundle(&envelope, k)) {
        let artifact = Artifact {
            artifact_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            media_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            content: bundle,
            annotations: bundle::annotations(predicate_type, &created),
        };
        let (stored, _) = registry
            .attach(repository, digest, &artifact)
            .await
            .map_err(|source| StepError::Attestation {
                doing: format!(
                    "attaching the {} attestation's Sigstore bundle failed",
                    kind_of(predicate_type)
                ),
                source,
            })?;
        bundled = Some(stored);
    }
    Ok(Attached::New {
        stored,
        listed,
        bundle: bundled,
    })
}

/// A predicate type as messages name it.
pub fn kind_of(predicate_type: &str) -> &str {
    match predicate_type {
        TEST_RESULT_TYPE => "test",
        crate::attest::PROVENANCE_TYPE => "provenance",
        other => other,
    }
}

/// Attaches the attestation `tested` to its manifest digest, unless the
/// registry holds one for the same test run and key already (and `again` is
/// false). Says what it did on `log`.
pub async fn attach(
    registry: &dyn RegistryWrite,
    tested: &Tested,
    key: Option<&SigningKey>,
    again: bool,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), StepError> {
    let tested_at = tested
        .tested_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut annotations = BTreeMap::from([
        (TESTED_AT.to_string(), tested_at.clone()),
        (IMAGE_ID.to_string(), tested.image_id.clone()),
        (
            RESULT.to_string(),
            if tested.passed { "PASSED" } else { "FAILED" }.to_string(),
        ),
    ]);
    if let Some(inputs) = &tested.inputs {
        annotations.insert(INPUTS.to_string(), inputs.clone());
    }
    let digest = &Digest::new(tested.digest.clone());
    let signed = Signed {
        repository: &tested.repository,
        digest,
        predicate_type: TEST_RESULT_TYPE,
        statement: statement::build(tested),
        annotations,
        identity: &[TESTED_AT, IMAGE_ID, INPUTS],
    };
    let outcome = attach_statement(registry, signed, key, again).await?;
    report(
        &outcome,
        digest,
        key,
        &format!(
            "attested {digest} ({}, tested {tested_at})",
            if tested.passed { "PASSED" } else { "FAILED" }
        ),
        "attestation of this test run already attached",
        "Sigstore bundle of",
        log,
    );
    Ok(())
}

/// Attaches the test result of index `index` to the index's digest, unless
/// the registry holds the same one (same test times, same key) already.
pub async fn attach_index(
    registry: &dyn RegistryWrite,
    index: &statement::IndexTested,
    key: Option<&SigningKey>,
    again: bool,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), StepError> {
    let tested_at = index
        .tested_at()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let statement = statement::build_index(index);
    let result = if index.passed() { "PASSED" } else { "FAILED" };
    let annotations = BTreeMap::from([
        (TESTED_AT.to_string(), tested_at.clone()),
        (RESULT.to_string(), result.to_string()),
        (
            STATEMENT_DIGEST.to_string(),
            crate::registry::referrers::sha256(&statement),
        ),
    ]);
    let digest = &Digest::new(index.digest.clone());
    let signed = Signed {
        repository: &index.repository,
        digest,
        predicate_type: TEST_RESULT_TYPE,
        statement,
        annotations,
        identity: &[TESTED_AT, STATEMENT_DIGEST],
    };
    let outcome = attach_statement(registry, signed, key, again).await?;
    report(
        &outcome,
        digest,
        key,
        &format!(
            "attested index {digest} ({result} on {} platform(s), tested {tested_at})",
            index.platforms.len()
        ),
        "attestation of this index already attached",
        "Sigstore bundle of index",
        log,
    );
    Ok(())
}

/// Says on `log` what [`attach_statement`] did: `done` then where it is
/// stored, how it is listed and how it is signed; `held` when it was there.
fn report(
    outcome: &Attached,
    digest: &Digest,
    key: Option<&SigningKey>,
    done: &str,
    held: &str,
    bundle_of: &str,
    log: &(dyn Fn(&str) + Send + Sync),
) {
    match outcome {
        Attached::Held(at) => log(&format!("{held}: {at}")),
        Attached::New {
            stored,
            listed,
            bundle,
        } => {
            if let Some(b) = bundle {
                log(&format!("{bundle_of} {digest}: {b}"));
            }
            let how = match listed {
                Listed::ByApi => "listed by the referrers API".to_string(),
                Listed::ByTag(tag) => format!("listed under tag {tag}"),
            };
            let signed = match key {
                Some(k) => format!("signed with key {}", k.id()),
                None => "unsigned: no signing key given".to_string(),
            };
            log(&format!("{done}: {stored}, {how}, {signed}"));
        }
    }
}

/// Where the config a run read lives: its path in its git repository (else
/// its file name) and the commit checked out there, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    pub config_file: String,
    pub revision: Option<String>,
}

/// The [`Source`] of config file `config`: `git rev-parse` in its folder;
/// outside a git repository (or without git) its file name alone.
pub fn source_of(config: &Path) -> Source {
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let asked = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD", "--show-prefix"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Some(out) = asked
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
    else {
        return Source {
            config_file: name,
            revision: None,
        };
    };
    let mut lines = out.lines();
    let revision = lines
        .next()
        .map(str::trim)
        .filter(|r| matches!(r.len(), 40 | 64) && r.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string);
    let prefix = lines.next().unwrap_or("").trim();
    Source {
        config_file: format!("{prefix}{name}"),
        revision,
    }
}

/// The provenance of one platform's image `image` (a unit of the plan),
/// pushed as `digest` of `repository`, from what `test` recorded for it;
/// `parents` are the images of the plan it is built on, by pushed digest.
/// Names of files are relative to `config_dir`.
pub fn provenance(
    image: &crate::plan::ImagePlan,
    published: &ImageRef,
    digest: &Digest,
    record: &ImageState,
    parents: &[(String, Digest)],
    source: &Source,
    config_dir: &Path,
) -> provenance::Build {
    let relative = |p: &Path| {
        let shown = p
            .strip_prefix(config_dir)
            .unwrap_or(p)
            .display()
            .to_string();
        if shown.is_empty() {
            ".".to_string()
        } else {
            shown
        }
    };
    let dep = |kind: &str, name: String, uri: Option<String>, digest: String| Dependency {
        kind: kind.to_string(),
        name,
        uri,
        digest,
    };
    let mut dependencies: Vec<Dependency> = record
        .bases
        .iter()
        .map(|b| {
            let uri = format!("{}@{}", b.reference, b.digest);
            dep("base", b.reference.clone(), Some(uri), b.digest.to_string())
        })
        .collect();
    for (name, d) in parents {
        let repo = Reference::split(name).name;
        dependencies.push(dep(
            "base",
            name.clone(),
            Some(format!("{repo}@{d}")),
            d.to_string(),
        ));
    }
    let built = record.built.as_ref();
    if let Some(b) = built {
        for a in &b.artifacts {
            let uri = Some(a.uri.clone());
            dependencies.push(dep("artifact", a.file_name.clone(), uri, a.sha256.clone()));
        }
        let dockerfile = relative(&image.context.join(&image.dockerfile));
        dependencies.push(dep("dockerfile", dockerfile, None, b.dockerfile.clone()));
        dependencies.push(dep(
            "context",
            relative(&image.context),
            None,
            b.context.clone(),
        ));
        for (path, d) in &b.tests {
            dependencies.push(dep("test", relative(path), None, d.clone()));
        }
    }
    provenance::Build {
        index: false,
        subjects: vec![(published.name().to_string(), digest.to_string())],
        config_file: source.config_file.clone(),
        revision: source.revision.clone(),
        image: published.to_string(),
        platforms: image.platforms.iter().map(|p| p.to_string()).collect(),
        build_args: image.build_args.keys().cloned().collect(),
        dependencies,
        started_at: built.map(|b| b.started_at),
        finished_at: built.map(|b| b.finished_at),
    }
}

/// The provenance of an index put together as `digest` under `name` from
/// its platforms' images (`platforms`: each platform and its image's
/// provenance): its subjects are the index and every image; its
/// dependencies every image and all of theirs.
pub fn index_provenance(
    name: &ImageRef,
    digest: &Digest,
    platforms: &[(String, provenance::Build)],
) -> provenance::Build {
    let repository = name.name().to_string();
    let mut subjects = vec![(repository.clone(), digest.to_string())];
    let mut dependencies = Vec::new();
    for (platform, b) in platforms {
        for (_, d) in &b.subjects {
            subjects.push((format!("{repository}#{platform}"), d.clone()));
            dependencies.push(Dependency {
                kind: "image".into(),
                name: platform.clone(),
                uri: Some(format!("{repository}@{d}")),
                digest: d.clone(),
            });
        }
    }
    for (_, b) in platforms {
        for d in &b.dependencies {
            if !dependencies.contains(d) {
                dependencies.push(d.clone());
            }
        }
    }
    let first = platforms.first().map(|(_, b)| b);
    provenance::Build {
        index: true,
        subjects,
        config_file: first.map(|b| b.config_file.clone()).unwrap_or_default(),
        revision: first.and_then(|b| b.revision.clone()),
        image: name.to_string(),
        platforms: platforms.iter().map(|(p, _)| p.clone()).collect(),
        build_args: first.map(|b| b.build_args.clone()).unwrap_or_default(),
        dependencies,
        started_at: platforms.iter().filter_map(|(_, b)| b.started_at).min(),
        finished_at: platforms.iter().filter_map(|(_, b)| b.finished_at).max(),
    }
}

/// Attaches provenance `build` to its first subject's digest in
/// `repository`, where that subject lives (signed like the test result),
/// unless the registry holds the same one already.
pub async fn attach_provenance(
    registry: &dyn RegistryWrite,
    repository: &Repository,
    build: &provenance::Build,
    key: Option<&SigningKey>,
    again: bool,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), StepError> {
    let Some((_, digest)) = build.subjects.first() else {
        return Ok(());
    };
    let digest = &Digest::new(digest.clone());
    let statement = provenance::build(build);
    // The same build stated again (same facts, same key) is not attached twice.
    let annotations = BTreeMap::from([(
        STATEMENT_DIGEST.to_string(),
        crate::registry::referrers::sha256(&statement),
    )]);
    let signed = Signed {
        repository,
        digest,
        predicate_type: PROVENANCE_TYPE,
        statement,
        annotations,
        identity: &[STATEMENT_DIGEST],
    };
    let outcome = attach_statement(registry, signed, key, again).await?;
    report(
        &outcome,
        digest,
        key,
        &format!("provenance of {digest}"),
        "provenance of this build already attached",
        "Sigstore bundle of the provenance of",
        log,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn provenance_names_bases_parents_artifacts_files_and_tests_by_digest() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let root = Path::new("/config");
        let image = crate::plan::ImagePlan {
            name: "r.example/acme/app:1-linux-arm64".parse().unwrap(),
            context: root.join("app"),
            dockerfile: "Dockerfile".into(),
            needs: vec!["r.example/acme/base:1-linux-arm64".into()],
            tests: vec![],
            build_args: [("NODE_VERSION".to_string(), "secret-ish".to_string())].into(),
            artifacts: vec![],
            labels: Default::default(),
            cell: None,
            timeout: None,
            platforms: vec!["linux/arm64".parse().unwrap()],
            rename_bases: Default::default(),
            secrets: vec![],
        };
        let record = ImageState {
            image_id: crate::reference::ImageId::new(d('1')),
            passed: true,
            tested_at: chrono::Utc::now(),
            tests: vec![],
            pushed: None,
            inputs: None,
            parts: None,
            bases: vec![crate::state::BaseState {
                reference: "debian:bookworm".into(),
                platform: Some("linux/arm64".into()),
                digest: Digest::new(d('b')),
            }],
            built: Some(crate::state::BuildFacts {
                started_at: "2026-03-01T12:00:00Z".parse().unwrap(),
                finished_at: "2026-03-01T12:01:00Z".parse().unwrap(),
                dockerfile: d('3'),
                context: d('4'),
                artifacts: vec![crate::state::ArtifactFact {
                    file_name: "node.tar.xz".into(),
                    uri: "https://nodejs.org/dist/v22.0.0/node-v22.0.0-linux-arm64.tar.xz".into(),
                    sha256: d('5'),
                }],
                tests: vec![(root.join("tests/http"), d('6'))],
            }),
        };
        let parents = [(
            "r.example/acme/base:1-linux-arm64".to_string(),
            Digest::new(d('p')),
        )];
        let source = Source {
            config_file: "images/inventory.yml".into(),
            revision: None,
        };
        let published = "r.example/acme/app:1".parse().unwrap();
        let b = provenance(
            &image,
            &published,
            &Digest::new(d('a')),
            &record,
            &parents,
            &source,
            root,
        );
        assert_eq!(b.subjects, [("r.example/acme/app".to_string(), d('a'))]);
        assert_eq!(b.platforms, ["linux/arm64"]);
        // Argument names only: values may be secrets.
        assert_eq!(b.build_args, ["NODE_VERSION"]);
        let deps: Vec<(&str, &str, Option<&str>, &str)> = b
            .dependencies
            .iter()
            .map(|x| {
                (
                    x.kind.as_str(),
                    x.name.as_str(),
                    x.uri.as_deref(),
                    x.digest.as_str(),
                )
            })
            .collect();
        let (base, parent) = (
            format!("debian:bookworm@{}", d('b')),
            format!("r.example/acme/base@{}", d('p')),
        );
        assert_eq!(
            deps,
            [
                (
                    "base",
                    "debian:bookworm",
                    Some(base.as_str()),
                    d('b').as_str()
                ),
                (
                    "base",
                    "r.example/acme/base:1-linux-arm64",
                    Some(parent.as_str()),
                    d('p').as_str()
                ),
                (
                    "artifact",
                    "node.tar.xz",
                    Some("https://nodejs.org/dist/v22.0.0/node-v22.0.0-linux-arm64.tar.xz"),
                    d('5').as_str()
                ),
                ("dockerfile", "app/Dockerfile", None, d('3').as_str()),
                ("context", "app", None, d('4').as_str()),
                ("test", "tests/http", None, d('6').as_str()),
            ]
        );
        let statement = String::from_utf8(provenance::build(&b)).unwrap();
        assert!(!statement.contains("secret-ish"), "{statement}");

        // The index: its own digest first, then each platform's image; its
        // dependencies those images and all of theirs, once each.
        let index = index_provenance(
            &published,
            &Digest::new(d('i')),
            &[
                ("linux/arm64".to_string(), b.clone()),
                ("linux/amd64".to_string(), b),
            ],
        );
        assert_eq!(
            index.subjects[0],
            ("r.example/acme/app".to_string(), d('i'))
        );
        assert_eq!(index.subjects.len(), 3);
        assert_eq!(
            index
                .dependencies
                .iter()
                .filter(|x| x.kind == "image")
                .count(),
            2
        );
        assert_eq!(index.dependencies.len(), 2 + 6);
    }

    #[test]
    fn the_config_is_named_by_its_path_in_git_and_the_commit_checked_out() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("images/inventory.yml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, "images: []\n").unwrap();
        // Outside git: its name, no revision.
        assert_eq!(
            source_of(&config),
            Source {
                config_file: "inventory.yml".into(),
                revision: None
            }
        );
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "x"]);
        let head = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
        assert_eq!(
            source_of(&config),
            Source {
                config_file: "images/inventory.yml".into(),
                revision: Some(head)
            }
        );
    }
}
