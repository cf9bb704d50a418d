//! The in-toto Statement strata attests with: subject = an image manifest
//! digest, predicate = in-toto's Test Result (v0.1).
//!
//! The predicate's fields are the spec's: `result` (`PASSED` or `FAILED`),
//! `configuration` (a list of in-toto ResourceDescriptors), and
//! `passedTests` / `warnedTests` / `failedTests` (test names). strata's own
//! facts go where the spec leaves room for them, into the descriptors of
//! `configuration`:
//!
//! * the first descriptor is strata itself: `name: "strata"`, `uri`
//!   `pkg:cargo/strata@VERSION`, no `digest` (a descriptor's digest is of
//!   what its `uri` names), and `annotations` with `version`, `testedAt`,
//!   `image` (the name tested), `imageId` and `inputs` (the image's input
//!   fingerprint);
//! * then one descriptor per test folder: `name` = the test's name (its
//!   folder relative to the config), `digest` = the test-layer image ID
//!   (the image the test ran in, built on the tested image ID), and
//!   `annotations` with `passed`, `layerImageId` and, for a `run.yml`, `run`
//!   (the command and what it had to produce).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{STATEMENT_TYPE, STRATA_VERSION, TEST_RESULT_TYPE};
use crate::reference::Repository;

/// What was tested, as the attestation states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tested {
    /// The image's name as tested, such as `127.0.0.1:5000/acme/app:1`.
    pub image: String,
    /// The repository the subject lives in (the name without tag).
    pub repository: Repository,
    /// The manifest digest in the registry (the subject).
    pub digest: String,
    /// The image ID (config digest) that was built and tested.
    pub image_id: String,
    pub tested_at: DateTime<Utc>,
    /// The build and every test passed.
    pub passed: bool,
    pub tests: Vec<TestRecord>,
    /// The input fingerprint (`sha256:…`) of the tested image, if known.
    pub inputs: Option<String>,
}

/// One test of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord {
    /// The test's name: its folder, relative to the config.
    pub name: String,
    pub passed: bool,
    /// The image the test ran in: its layer built on the tested image, or
    /// the tested image itself for a `run.yml` alone.
    pub layer: Option<String>,
    /// The `run.yml` checks, if the test had one.
    pub run: Option<Value>,
}

/// A Statement as read back: the parts `verify` and `publish` look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Value,
}

/// A statement's subject: a name and its digests by algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

/// What a Test Result predicate says, read back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub result: String,
    pub passed_tests: Vec<String>,
    pub failed_tests: Vec<String>,
    pub warned_tests: Vec<String>,
    /// From strata's own descriptor; empty when another tool wrote it.
    pub strata_version: String,
    pub tested_at: Option<DateTime<Utc>>,
    pub image: String,
    pub image_id: String,
    pub inputs: Option<String>,
}

/// The Statement for `tested`, as JSON bytes (the DSSE payload).
pub fn build(tested: &Tested) -> Vec<u8> {
    let mut strata = Map::new();
    strata.insert("version".into(), json!(STRATA_VERSION));
    strata.insert(
        "testedAt".into(),
        json!(tested
            .tested_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    strata.insert("image".into(), json!(tested.image));
    strata.insert("imageId".into(), json!(tested.image_id));
    let strata_descriptor = json!({
        "name": "strata",
        "uri": format!("pkg:cargo/strata@{STRATA_VERSION}"),
    });
    // The input fingerprint is no digest of what `uri` names (the strata
    // package): it is an annotation, not the descriptor's `digest`.
    if let Some(inputs) = &tested.inputs {
        strata.insert("inputs".into(), json!(inputs));
    }
    let mut strata_descriptor = strata_descriptor;
    strata_descriptor["annotations"] = Value::Object(strata);
    let mut configuration = vec![strata_descriptor];
    for test in &tested.tests {
        let mut annotations = Map::new();
        annotations.insert("passed".into(), json!(test.passed));
        let mut descriptor = json!({ "name": test.name });
        if let Some(layer) = &test.layer {
            annotations.insert("layerImageId".into(), json!(layer));
            if let Some(d) = digest_map(layer) {
                descriptor["digest"] = d;
            }
        }
        if let Some(run) = &test.run {
            annotations.insert("run".into(), run.clone());
        }
        descriptor["annotations"] = Value::Object(annotations);
        configuration.push(descriptor);
    }
    let names = |passed: bool| -> Vec<&str> {
        tested
            .tests
            .iter()
            .filter(|t| t.passed == passed)
            .map(|t| t.name.as_str())
            .collect()
    };
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": tested.repository,
            "digest": digest_map(&tested.digest).unwrap_or_else(|| json!({})),
        }],
        "predicateType": TEST_RESULT_TYPE,
        "predicate": {
            "result": if tested.passed { "PASSED" } else { "FAILED" },
            "configuration": configuration,
            "passedTests": names(true),
            "warnedTests": Vec::<&str>::new(),
            "failedTests": names(false),
        },
    });
    serde_json::to_vec(&statement).expect("a statement serializes")
}

/// What was tested of an index: each platform's image as its own
/// attestation states it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexTested {
    /// The index's name, such as `127.0.0.1:5000/acme/app:1`.
    pub image: String,
    /// The repository (the name without tag).
    pub repository: Repository,
    /// The index's manifest digest.
    pub digest: String,
    /// Each platform (`linux/arm64`) and what its image's attestation states.
    pub platforms: Vec<(String, Tested)>,
}

impl IndexTested {
    /// Every platform's image passed (and there is one).
    pub fn passed(&self) -> bool {
        !self.platforms.is_empty() && self.platforms.iter().all(|(_, t)| t.passed)
    }

    /// When the last of its platforms was tested.
    pub fn tested_at(&self) -> DateTime<Utc> {
        self.platforms
            .iter()
            .map(|(_, t)| t.tested_at)
            .max()
            .unwrap_or_default()
    }
}

/// The Test Result statement of an index: its subjects are the index digest
/// and every platform image's digest; `PASSED` only when every platform
/// passed; the tests are listed per platform (`linux/arm64: tests/http`),
/// and `configuration` holds strata's descriptor (the index's name, the
/// newest test time) and one per platform image (its digest, image ID,
/// input fingerprint, result and tests).
pub fn build_index(index: &IndexTested) -> Vec<u8> {
    let mut subject = vec![json!({
        "name": index.repository,
        "digest": digest_map(&index.digest).unwrap_or_else(|| json!({})),
    })];
    let mut configuration = vec![json!({
        "name": "strata",
        "uri": format!("pkg:cargo/strata@{STRATA_VERSION}"),
        "annotations": {
            "version": STRATA_VERSION,
            "testedAt": index.tested_at().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "image": index.image,
        },
    })];
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for (platform, tested) in &index.platforms {
        subject.push(json!({
            "name": format!("{}#{platform}", index.repository),
            "digest": digest_map(&tested.digest).unwrap_or_else(|| json!({})),
        }));
        let mut annotations = Map::new();
        annotations.insert("platform".into(), json!(platform));
        annotations.insert("image".into(), json!(tested.image));
        annotations.insert("imageId".into(), json!(tested.image_id));
        annotations.insert("passed".into(), json!(tested.passed));
        annotations.insert(
            "testedAt".into(),
            json!(tested
                .tested_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        if let Some(inputs) = &tested.inputs {
            annotations.insert("inputs".into(), json!(inputs));
        }
        let tests: Vec<Value> = tested
            .tests
            .iter()
            .map(|t| {
                let mut v = json!({ "name": t.name, "passed": t.passed });
                if let Some(layer) = &t.layer {
                    v["layerImageId"] = json!(layer);
                }
                v
            })
            .collect();
        annotations.insert("tests".into(), Value::Array(tests));
        configuration.push(json!({
            "name": platform,
            "digest": digest_map(&tested.digest).unwrap_or_else(|| json!({})),
            "annotations": annotations,
        }));
        for t in &tested.tests {
            let name = format!("{platform}: {}", t.name);
            if t.passed {
                passed.push(name);
            } else {
                failed.push(name);
            }
        }
        if !tested.passed && tested.tests.iter().all(|t| t.passed) {
            failed.push(format!("{platform}: build"));
        }
    }
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": TEST_RESULT_TYPE,
        "predicate": {
            "result": if index.passed() { "PASSED" } else { "FAILED" },
            "configuration": configuration,
            "passedTests": passed,
            "warnedTests": Vec::<&str>::new(),
            "failedTests": failed,
        },
    });
    serde_json::to_vec(&statement).expect("a statement serializes")
}

/// `{"sha256": "<hex>"}` for `sha256:<hex>`.
fn digest_map(digest: &str) -> Option<Value> {
    let (algorithm, hex) = digest.split_once(':')?;
    Some(json!({ algorithm: hex }))
}

impl Statement {
    /// Reads a statement from the DSSE payload.
    pub fn parse(payload: &[u8]) -> Result<Statement, super::Rejection> {
        serde_json::from_slice(payload).map_err(super::Rejection::Statement)
    }

    /// Whether some subject has manifest digest `digest` (`sha256:<hex>`).
    pub fn names_digest(&self, digest: &str) -> bool {
        let Some((algorithm, hex)) = digest.split_once(':') else {
            return false;
        };
        self.subject
            .iter()
            .any(|s| s.digest.get(algorithm).map(String::as_str) == Some(hex))
    }

    /// The subjects' digests, as `algorithm:hex`, for messages.
    pub fn subject_digests(&self) -> Vec<String> {
        self.subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("{a}:{h}")))
            .collect()
    }

    /// What the Test Result predicate says.
    pub fn summary(&self) -> Summary {
        let p = &self.predicate;
        let strings = |key: &str| -> Vec<String> {
            p.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let strata = p
            .get("configuration")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|d| d.get("name").and_then(Value::as_str) == Some("strata"))
            })
            .and_then(|d| d.get("annotations"));
        let note = |key: &str| -> String {
            strata
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Summary {
            result: p
                .get("result")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            passed_tests: strings("passedTests"),
            failed_tests: strings("failedTests"),
            warned_tests: strings("warnedTests"),
            strata_version: note("version"),
            tested_at: DateTime::parse_from_rfc3339(&note("testedAt"))
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            image: note("image"),
            image_id: note("imageId"),
            inputs: Some(note("inputs")).filter(|i| !i.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn sample() -> Tested {
        Tested {
            image: "127.0.0.1:5000/acme/app:1".into(),
            repository: "127.0.0.1:5000/acme/app".parse().unwrap(),
            digest: format!("sha256:{}", hex('d')),
            image_id: format!("sha256:{}", hex('1')),
            tested_at: "2026-03-01T12:00:00Z".parse().unwrap(),
            passed: false,
            tests: vec![
                TestRecord {
                    name: "tests/http".into(),
                    passed: true,
                    layer: Some(format!("sha256:{}", hex('2'))),
                    run: Some(json!({"command": ["node", "-v"], "expect": {"exit": 0}})),
                },
                TestRecord {
                    name: "tests/db".into(),
                    passed: false,
                    layer: None,
                    run: None,
                },
            ],
            inputs: Some(format!("sha256:{}", hex('f'))),
        }
    }

    #[test]
    fn follows_the_test_result_predicate() {
        let bytes = build(&sample());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], TEST_RESULT_TYPE);
        assert_eq!(v["subject"][0]["name"], "127.0.0.1:5000/acme/app");
        assert_eq!(v["subject"][0]["digest"]["sha256"], hex('d'));
        let p = &v["predicate"];
        assert_eq!(p["result"], "FAILED");
        assert_eq!(p["passedTests"], json!(["tests/http"]));
        assert_eq!(p["failedTests"], json!(["tests/db"]));
        assert_eq!(p["warnedTests"], json!([]));
        // Every descriptor has a name and (where known) a digest, as
        // ResourceDescriptor wants.
        let c = p["configuration"].as_array().unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0]["name"], "strata");
        // The fingerprint is an annotation: the strata descriptor's digest
        // would have to be of the package its `uri` names.
        assert!(c[0].get("digest").is_none(), "{}", c[0]);
        assert_eq!(c[0]["uri"], format!("pkg:cargo/strata@{STRATA_VERSION}"));
        assert_eq!(
            c[0]["annotations"]["inputs"],
            format!("sha256:{}", hex('f'))
        );
        assert_eq!(c[0]["annotations"]["version"], STRATA_VERSION);
        assert_eq!(c[1]["digest"]["sha256"], hex('2'));
        assert_eq!(c[1]["annotations"]["run"]["command"][0], "node");
        assert_eq!(c[2]["annotations"]["passed"], false);
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let mut tested = sample();
        tested.passed = true;
        let s = Statement::parse(&build(&tested)).unwrap();
        assert!(s.names_digest(&tested.digest));
        assert!(!s.names_digest(&format!("sha256:{}", hex('e'))));
        assert!(!s.names_digest("nonsense"));
        let summary = s.summary();
        assert_eq!(summary.result, "PASSED");
        assert_eq!(summary.strata_version, STRATA_VERSION);
        assert_eq!(summary.tested_at, Some(tested.tested_at));
        assert_eq!(summary.inputs, tested.inputs);
        assert_eq!(summary.image_id, tested.image_id);
        assert_eq!(summary.passed_tests, ["tests/http"]);
    }

    #[test]
    fn the_same_result_makes_the_same_bytes() {
        assert_eq!(build(&sample()), build(&sample()));
    }

    fn platform(p: &str, c: char, passed: bool) -> (String, Tested) {
        let mut t = sample();
        t.image = format!("127.0.0.1:5000/acme/app:1-{}", p.replace('/', "-"));
        t.digest = format!("sha256:{}", hex(c));
        t.passed = passed;
        t.tests.retain(|t| t.passed || !passed);
        (p.to_string(), t)
    }

    #[test]
    fn an_index_statement_names_the_index_and_every_platform() {
        let mut index = IndexTested {
            image: "127.0.0.1:5000/acme/app:1".into(),
            repository: "127.0.0.1:5000/acme/app".parse().unwrap(),
            digest: format!("sha256:{}", hex('a')),
            platforms: vec![
                platform("linux/amd64", 'b', true),
                platform("linux/arm64", 'c', true),
            ],
        };
        let s = Statement::parse(&build_index(&index)).unwrap();
        assert_eq!(s.predicate_type, TEST_RESULT_TYPE);
        assert_eq!(
            s.subject_digests(),
            [
                format!("sha256:{}", hex('a')),
                format!("sha256:{}", hex('b')),
                format!("sha256:{}", hex('c'))
            ]
        );
        let summary = s.summary();
        assert_eq!(summary.result, "PASSED");
        assert_eq!(summary.image, index.image);
        assert_eq!(
            summary.passed_tests,
            ["linux/amd64: tests/http", "linux/arm64: tests/http"]
        );
        let c = s.predicate["configuration"].as_array().unwrap();
        assert_eq!(c[1]["name"], "linux/amd64");
        assert_eq!(c[2]["digest"]["sha256"], hex('c'));
        assert_eq!(c[2]["annotations"]["tests"][0]["name"], "tests/http");

        // One platform failed: the index did.
        index.platforms[1] = platform("linux/arm64", 'c', false);
        let summary = Statement::parse(&build_index(&index)).unwrap().summary();
        assert_eq!(summary.result, "FAILED");
        assert_eq!(summary.failed_tests, ["linux/arm64: tests/db"]);
        // No platform: nothing passed.
        index.platforms.clear();
        assert!(!index.passed());
    }

    #[test]
    fn a_foreign_statement_is_an_error_not_a_panic() {
        assert!(Statement::parse(b"{}").is_err());
        assert!(Statement::parse(b"\xff").is_err());
        let s =
            Statement::parse(br#"{"_type":"x","subject":[],"predicateType":"y","predicate":7}"#)
                .unwrap();
        assert_eq!(s.summary(), Summary::default());
    }
}
