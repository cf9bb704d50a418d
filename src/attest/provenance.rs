//! SLSA provenance v1 (`https://slsa.dev/provenance/v1`) of what strata
//! built: an in-toto Statement whose subjects are the manifest digests it
//! is about (a platform's image; an index and each of its platforms'
//! images), signed and stored like the test result.
//!
//! * `buildDefinition.buildType` is [`IMAGE_BUILD_TYPE`] for one image,
//!   [`INDEX_BUILD_TYPE`] for an index (both documented in the README);
//! * `externalParameters`: the config file (its path in its git repository,
//!   and the commit checked out, when it is in one), the image's name, its
//!   platform (an index: its platforms) and the names of its build
//!   arguments (their values may be secrets: never written);
//! * `resolvedDependencies`, each with a `sha256` digest and an annotation
//!   `kind`: every external base by its registry digest (`base`), an image
//!   of the plan built on by its pushed digest (`base` too), every artifact
//!   by its URL (or `pkg:npm/…`) and the SHA-256 of its file (`artifact`),
//!   the Dockerfile (`dockerfile`) and build context (`context`) and each
//!   test folder (`test`) by strata's digest of their files; an index's are
//!   its platforms' images (`image`) and all of theirs;
//! * `runDetails`: `builder.id` [`BUILDER_ID`] with strata's version, and
//!   when the build started and finished.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::statement::Statement;
use super::{Rejection, PROVENANCE_TYPE, STATEMENT_TYPE, STRATA_VERSION};

/// The build type of one image strata built from a Dockerfile.
pub const IMAGE_BUILD_TYPE: &str = "urn:strata:build-type:image:v1";
/// The build type of an index strata put together from its platforms' images.
pub const INDEX_BUILD_TYPE: &str = "urn:strata:build-type:index:v1";
/// The builder: strata (its version is in `builder.version.strata`).
pub const BUILDER_ID: &str = "urn:strata:builder";

/// What a build was made from, as the provenance states it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Build {
    /// An index (else one image).
    pub index: bool,
    /// Each subject: its name (the repository) and manifest digest; an
    /// index's own digest first.
    pub subjects: Vec<(String, String)>,
    /// The config file: its path in its git repository (else its name).
    pub config_file: String,
    /// The git commit checked out where the config file is, if any.
    pub revision: Option<String>,
    /// The image's name, such as `registry.example.com/acme/app:1`.
    pub image: String,
    /// Its platform (an index: its platforms), such as `linux/arm64`.
    pub platforms: Vec<String>,
    /// The names of its build arguments.
    pub build_args: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Build {
    /// The same build stated about its subjects copied into repository
    /// `to` from `from` (an alias in another repository): each subject named
    /// `from` (or `from#platform`) is named `to` (`to#platform`) instead;
    /// digests, and where the dependencies live, stay as they are.
    pub fn in_repository(&self, from: &str, to: &str) -> Build {
        let rename = |name: &str| match name.strip_prefix(from) {
            Some("") => to.to_string(),
            Some(rest) if rest.starts_with('#') => format!("{to}{rest}"),
            _ => name.to_string(),
        };
        Build {
            subjects: self
                .subjects
                .iter()
                .map(|(name, digest)| (rename(name), digest.clone()))
                .collect(),
            ..self.clone()
        }
    }
}

/// One resolved dependency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    /// `base`, `artifact`, `dockerfile`, `context`, `test` or `image`.
    pub kind: String,
    pub name: String,
    pub uri: Option<String>,
    /// `sha256:<hex>`.
    pub digest: String,
}

/// The provenance Statement of `build`, as JSON bytes (the DSSE payload).
pub fn build(build: &Build) -> Vec<u8> {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut config = Map::new();
    config.insert("path".into(), json!(build.config_file));
    if let Some(rev) = &build.revision {
        config.insert("revision".into(), json!(rev));
    }
    let mut external = Map::new();
    external.insert("config".into(), Value::Object(config));
    external.insert("image".into(), json!(build.image));
    if build.index {
        external.insert("platforms".into(), json!(build.platforms));
    } else if let Some(p) = build.platforms.first() {
        external.insert("platform".into(), json!(p));
    }
    external.insert("buildArgs".into(), json!(build.build_args));
    let dependencies: Vec<Value> = build
        .dependencies
        .iter()
        .map(|d| {
            let mut v = json!({
                "name": d.name,
                "digest": digest_map(&d.digest),
                "annotations": { "kind": d.kind },
            });
            if let Some(uri) = &d.uri {
                v["uri"] = json!(uri);
            }
            v
        })
        .collect();
    let mut metadata = Map::new();
    if let Some(t) = &build.started_at {
        metadata.insert("startedOn".into(), json!(time(t)));
    }
    if let Some(t) = &build.finished_at {
        metadata.insert("finishedOn".into(), json!(time(t)));
    }
    let subject: Vec<Value> = build
        .subjects
        .iter()
        .map(|(name, digest)| json!({ "name": name, "digest": digest_map(digest) }))
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PROVENANCE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": if build.index { INDEX_BUILD_TYPE } else { IMAGE_BUILD_TYPE },
                "externalParameters": external,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": { "strata": STRATA_VERSION },
                },
                "metadata": metadata,
            },
        },
    });
    serde_json::to_vec(&statement).expect("a statement serializes")
}

fn digest_map(digest: &str) -> Value {
    match digest.split_once(':') {
        Some((algorithm, hex)) => json!({ algorithm: hex }),
        None => json!({}),
    }
}

/// What a provenance statement read back says, as `verify` reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub build_type: String,
    pub builder: String,
    /// The dependencies: (kind, name, digest).
    pub dependencies: Vec<(String, String, String)>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// Reads a provenance statement, or says why it is not one strata can
/// trust: its predicate type, a build type of strata's, a builder, and a
/// digest for every dependency.
pub fn summary(statement: &Statement) -> Result<Summary, Rejection> {
    if statement.predicate_type != PROVENANCE_TYPE {
        return Err(Rejection::PredicateType {
            found: crate::text::cut(&statement.predicate_type, 100).into_owned(),
            wanted: PROVENANCE_TYPE.to_string(),
        });
    }
    let p = &statement.predicate;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let definition = p.get("buildDefinition");
    let build_type = text(definition.and_then(|d| d.get("buildType")));
    if build_type != IMAGE_BUILD_TYPE && build_type != INDEX_BUILD_TYPE {
        return Err(Rejection::BuildType(
            crate::text::cut(&build_type, 100).into_owned(),
        ));
    }
    let run = p.get("runDetails");
    let builder = text(run.and_then(|r| r.get("builder")).and_then(|b| b.get("id")));
    if builder.is_empty() {
        return Err(Rejection::NoBuilder);
    }
    let mut dependencies = Vec::new();
    let listed = definition
        .and_then(|d| d.get("resolvedDependencies"))
        .and_then(Value::as_array)
        .ok_or(Rejection::NoDependencies)?;
    for d in listed {
        let name = text(d.get("name").or(d.get("uri")));
        let digest = d
            .get("digest")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find_map(|(a, h)| Some(format!("{a}:{}", h.as_str()?)))
            })
            .ok_or_else(|| {
                Rejection::DependencyDigest(crate::text::cut(&name, 100).into_owned())
            })?;
        let kind = text(d.get("annotations").and_then(|a| a.get("kind")));
        dependencies.push((kind, name, digest));
    }
    let metadata = run.and_then(|r| r.get("metadata"));
    let when = |k: &str| Some(text(metadata.and_then(|m| m.get(k)))).filter(|t| !t.is_empty());
    Ok(Summary {
        build_type,
        builder,
        dependencies,
        started_at: when("startedOn"),
        finished_at: when("finishedOn"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn sample() -> Build {
        Build {
            index: false,
            subjects: vec![("127.0.0.1:5000/acme/app".into(), d('a'))],
            config_file: "images/inventory.yml".into(),
            revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
            image: "127.0.0.1:5000/acme/app:1".into(),
            platforms: vec!["linux/arm64".into()],
            build_args: vec!["NODE_VERSION".into()],
            dependencies: vec![
                Dependency {
                    kind: "base".into(),
                    name: "debian:bookworm".into(),
                    uri: Some("docker.io/library/debian:bookworm".into()),
                    digest: d('b'),
                },
                Dependency {
                    kind: "artifact".into(),
                    name: "node.tar.xz".into(),
                    uri: Some("https://nodejs.org/dist/v22.0.0/node.tar.xz".into()),
                    digest: d('c'),
                },
            ],
            started_at: Some("2026-03-01T12:00:00Z".parse().unwrap()),
            finished_at: Some("2026-03-01T12:01:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn a_build_restated_in_another_repository_renames_its_subjects_only() {
        let mut index = sample();
        index.subjects = vec![
            ("r/acme/app".into(), d('i')),
            ("r/acme/app#linux/arm64".into(), d('a')),
            ("r/acme/application".into(), d('x')),
        ];
        let moved = index.in_repository("r/acme/app", "r/acme/official");
        assert_eq!(
            moved.subjects,
            [
                ("r/acme/official".to_string(), d('i')),
                ("r/acme/official#linux/arm64".to_string(), d('a')),
                ("r/acme/application".to_string(), d('x')),
            ]
        );
        assert_eq!(moved.dependencies, index.dependencies);
        assert_eq!(moved.image, index.image);
    }

    #[test]
    fn follows_slsa_provenance_v1() {
        let v: Value = serde_json::from_slice(&build(&sample())).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PROVENANCE_TYPE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "a".repeat(64));
        let def = &v["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], IMAGE_BUILD_TYPE);
        let ext = &def["externalParameters"];
        assert_eq!(ext["config"]["path"], "images/inventory.yml");
        assert_eq!(
            ext["config"]["revision"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(ext["platform"], "linux/arm64");
        assert_eq!(ext["buildArgs"], json!(["NODE_VERSION"]));
        assert_eq!(
            def["resolvedDependencies"][1]["digest"]["sha256"],
            "c".repeat(64)
        );
        assert_eq!(
            def["resolvedDependencies"][1]["annotations"]["kind"],
            "artifact"
        );
        let run = &v["predicate"]["runDetails"];
        assert_eq!(run["builder"]["id"], BUILDER_ID);
        assert_eq!(run["builder"]["version"]["strata"], STRATA_VERSION);
        assert_eq!(run["metadata"]["startedOn"], "2026-03-01T12:00:00Z");
        assert_eq!(run["metadata"]["finishedOn"], "2026-03-01T12:01:00Z");
    }

    #[test]
    fn an_index_names_its_platforms() {
        let mut b = sample();
        b.index = true;
        b.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        let v: Value = serde_json::from_slice(&build(&b)).unwrap();
        let ext = &v["predicate"]["buildDefinition"]["externalParameters"];
        assert_eq!(ext["platforms"], json!(["linux/amd64", "linux/arm64"]));
        assert!(ext.get("platform").is_none());
        assert_eq!(
            v["predicate"]["buildDefinition"]["buildType"],
            INDEX_BUILD_TYPE
        );
    }

    #[test]
    fn reads_back_what_it_wrote_and_refuses_what_is_not_strata_provenance() {
        let s = Statement::parse(&build(&sample())).unwrap();
        assert!(s.names_digest(&d('a')));
        let summary = summary(&s).unwrap();
        assert_eq!(summary.builder, BUILDER_ID);
        assert_eq!(
            summary.dependencies[0],
            ("base".to_string(), "debian:bookworm".to_string(), d('b'))
        );
        assert_eq!(summary.started_at.as_deref(), Some("2026-03-01T12:00:00Z"));

        let mut other = s.clone();
        other.predicate["buildDefinition"]["resolvedDependencies"][0]["digest"] = json!({});
        assert!(super::summary(&other)
            .unwrap_err()
            .to_string()
            .contains("no digest"));
        let mut other = s.clone();
        other.predicate["buildDefinition"]["buildType"] = json!("https://example.com/x");
        assert!(super::summary(&other)
            .unwrap_err()
            .to_string()
            .contains("build type"));
        let mut other = s;
        other.predicate_type = "https://in-toto.io/attestation/test-result/v0.1".into();
        assert!(super::summary(&other)
            .unwrap_err()
            .to_string()
            .contains("predicate type"));
    }
}
