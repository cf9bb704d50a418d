//! Judging an attestation read back from a registry, without trusting the
//! registry: the envelope's signature (when a key is given), its payload
//! type, the statement's type, subject and predicate type.

use super::dsse::Envelope;
use super::key::PublicKey;
use super::statement::{Statement, Summary};
use super::{Rejection, IN_TOTO_MEDIA_TYPE, TEST_RESULT_TYPE};

/// A well-formed attestation about the digest asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub summary: Summary,
    /// The key ID whose signature was checked; `None` when no key was given.
    pub checked_key: Option<String>,
    /// Key IDs of every signature the envelope carries.
    pub key_ids: Vec<String>,
}

impl Judged {
    /// The predicate says the image passed: `PASSED` and no failed test.
    pub fn passing(&self) -> bool {
        self.summary.result == "PASSED" && self.summary.failed_tests.is_empty()
    }
}

/// Checks the envelope `bytes` as an attestation about manifest `digest`.
/// `Err` says why it cannot be trusted at all.
pub fn judge(bytes: &[u8], digest: &str, key: Option<&PublicKey>) -> Result<Judged, Rejection> {
    let (statement, envelope) = judge_statement(bytes, digest, key, TEST_RESULT_TYPE)?;
    Ok(Judged {
        summary: statement.summary(),
        checked_key: key.map(|k| k.id().to_string()),
        key_ids: envelope.key_ids(),
    })
}

/// Checks the envelope `bytes` as a statement of `predicate_type` about
/// manifest `digest` (signed with `key`, when given), and returns it.
pub fn judge_statement(
    bytes: &[u8],
    digest: &str,
    key: Option<&PublicKey>,
    predicate_type: &str,
) -> Result<(Statement, Envelope), Rejection> {
    let envelope = Envelope::parse(bytes)?;
    if envelope.payload_type != IN_TOTO_MEDIA_TYPE {
        return Err(Rejection::PayloadType(
            crate::text::cut(&envelope.payload_type, 100).into_owned(),
        ));
    }
    if let Some(key) = key {
        envelope.verify(key)?;
    }
    let statement = Statement::parse(&envelope.payload_bytes()?)?;
    if statement.predicate_type != predicate_type {
        return Err(Rejection::PredicateType {
            found: crate::text::cut(&statement.predicate_type, 100).into_owned(),
            wanted: predicate_type.to_string(),
        });
    }
    if !statement.names_digest(digest) {
        let subjects = statement.subject_digests();
        return Err(Rejection::Subject {
            about: if subjects.is_empty() {
                "no digest".to_string()
            } else {
                crate::text::cut(&subjects.join(", "), 300).into_owned()
            },
            digest: digest.to_string(),
        });
    }
    Ok((statement, envelope))
}

/// The predicate type of the statement in envelope `bytes`, read without
/// judging it (no signature checked): what an attestation whose manifest
/// does not name its predicate type holds, so it is judged as that kind.
/// `None` when the bytes hold no in-toto statement.
pub fn stated_predicate_type(bytes: &[u8]) -> Option<String> {
    let envelope = Envelope::parse(bytes).ok()?;
    if envelope.payload_type != IN_TOTO_MEDIA_TYPE {
        return None;
    }
    let statement = Statement::parse(&envelope.payload_bytes().ok()?).ok()?;
    Some(statement.predicate_type)
}

#[cfg(test)]
mod tests {
    use super::super::key::SigningKey;
    use super::super::statement::{build, TestRecord, Tested};
    use super::*;

    fn tested(digest: &str, passed: bool) -> Tested {
        Tested {
            image: "r/a:1".into(),
            repository: "r/a".parse().unwrap(),
            digest: digest.into(),
            image_id: format!("sha256:{}", "1".repeat(64)),
            tested_at: chrono::Utc::now(),
            passed,
            tests: vec![TestRecord {
                name: "t".into(),
                passed,
                layer: None,
                run: None,
            }],
            inputs: None,
        }
    }

    #[test]
    fn judges_subject_signature_and_result() {
        let d = format!("sha256:{}", "a".repeat(64));
        let other = format!("sha256:{}", "b".repeat(64));
        let key = SigningKey::generate();
        let env = Envelope::seal(&build(&tested(&d, true)), Some(&key)).to_bytes();
        let ok = judge(&env, &d, Some(&key.public())).unwrap();
        assert!(ok.passing());
        assert_eq!(ok.checked_key.as_deref(), Some(key.id()));
        // Without a key the content is read, the signature not checked.
        assert_eq!(judge(&env, &d, None).unwrap().checked_key, None);

        let e = judge(&env, &other, Some(&key.public())).unwrap_err();
        assert!(e.to_string().contains("another image"), "{e}");
        let e = judge(&env, &d, Some(&SigningKey::generate().public())).unwrap_err();
        assert!(e.to_string().contains("another key"), "{e}");

        let failed = Envelope::seal(&build(&tested(&d, false)), Some(&key)).to_bytes();
        assert!(!judge(&failed, &d, Some(&key.public())).unwrap().passing());
    }

    #[test]
    fn the_stated_predicate_type_is_read_from_the_statement() {
        let d = format!("sha256:{}", "a".repeat(64));
        let env = Envelope::seal(&build(&tested(&d, true)), None).to_bytes();
        assert_eq!(
            stated_predicate_type(&env).as_deref(),
            Some(TEST_RESULT_TYPE)
        );
        let sbom = Envelope::seal(
            br#"{"_type":"x","subject":[],"predicateType":"https://spdx.dev/Document","predicate":{}}"#,
            None,
        );
        assert_eq!(
            stated_predicate_type(&sbom.to_bytes()).as_deref(),
            Some("https://spdx.dev/Document")
        );
        assert_eq!(stated_predicate_type(b"{}"), None);
        assert_eq!(stated_predicate_type(&[b'x'; 10]), None);
    }

    #[test]
    fn foreign_content_is_named() {
        let d = format!("sha256:{}", "a".repeat(64));
        let e = judge(b"{}", &d, None).unwrap_err();
        assert!(e.to_string().contains("not a DSSE envelope"), "{e}");
        let wrong = Envelope::seal(
            br#"{"_type":"x","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}"#,
            None,
        );
        let e = judge(&wrong.to_bytes(), &d, None).unwrap_err();
        assert!(e.to_string().contains("predicate type"), "{e}");
    }
}
