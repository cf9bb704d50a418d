//! DSSE envelopes (Dead Simple Signing Envelope, v1): a payload, its type,
//! and signatures over the pre-authentication encoding
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, so a signature
//! covers the payload type as well as the bytes.
//!
//! An envelope with no signatures is what `push` attaches without a key.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::key::{PublicKey, SigningKey};
use super::{Rejection, IN_TOTO_MEDIA_TYPE};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A DSSE envelope as JSON holds it: `payload` and `sig` in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    pub sig: String,
}

/// Why an envelope's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// The envelope carries no signature at all.
    Unsigned,
    /// Signed, but only by other keys (their IDs).
    OtherKey(Vec<String>),
    /// A signature by this key ID does not match the content: altered.
    Invalid,
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureProblem::Unsigned => f.write_str("the attestation is not signed"),
            SignatureProblem::OtherKey(ids) => write!(
                f,
                "the attestation is signed by another key ({})",
                ids.join(", ")
            ),
            SignatureProblem::Invalid => f.write_str(
                "the signature does not match the attestation's content: it was altered after signing",
            ),
        }
    }
}

impl std::error::Error for SignatureProblem {}

/// DSSE's pre-authentication encoding of `payload` of type `payload_type`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An in-toto statement, signed by `key` when one is given.
    pub fn seal(statement: &[u8], key: Option<&SigningKey>) -> Envelope {
        let signatures = key
            .map(|k| EnvelopeSignature {
                keyid: k.id().to_string(),
                sig: B64.encode(k.sign(&pae(IN_TOTO_MEDIA_TYPE, statement))),
            })
            .into_iter()
            .collect();
        Envelope {
            payload_type: IN_TOTO_MEDIA_TYPE.to_string(),
            payload: B64.encode(statement),
            signatures,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    pub fn parse(bytes: &[u8]) -> Result<Envelope, Rejection> {
        serde_json::from_slice(bytes).map_err(Rejection::NotEnvelope)
    }

    /// The payload's bytes.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, Rejection> {
        B64.decode(self.payload.trim())
            .map_err(Rejection::PayloadNotBase64)
    }

    /// Key IDs of the signatures, for reports.
    pub fn key_ids(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.keyid.clone()).collect()
    }

    /// Checks that `key` signed this envelope's payload and payload type.
    /// Any one valid signature by `key` is enough.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureProblem> {
        if self.signatures.is_empty() {
            return Err(SignatureProblem::Unsigned);
        }
        let payload = self
            .payload_bytes()
            .map_err(|_| SignatureProblem::Invalid)?;
        let message = pae(&self.payload_type, &payload);
        let mut mine = false;
        for s in &self.signatures {
            // A signature without a key ID may be anyone's: try it.
            if !s.keyid.is_empty() && s.keyid != key.id() {
                continue;
            }
            mine |= s.keyid == key.id();
            if let Ok(sig) = B64.decode(s.sig.trim()) {
                if key.verifies(&message, &sig) {
                    return Ok(());
                }
            }
        }
        if mine {
            Err(SignatureProblem::Invalid)
        } else {
            Err(SignatureProblem::OtherKey(
                self.key_ids()
                    .into_iter()
                    .map(|k| if k.is_empty() { "no key ID".into() } else { k })
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_follows_the_spec() {
        // The example from the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn signed_envelopes_verify_and_alterations_do_not() {
        let key = SigningKey::generate();
        let envelope = Envelope::seal(br#"{"a":1}"#, Some(&key));
        let round = Envelope::parse(&envelope.to_bytes()).unwrap();
        assert_eq!(round, envelope);
        assert_eq!(round.verify(&key.public()), Ok(()));
        assert_eq!(round.payload_bytes().unwrap(), br#"{"a":1}"#);

        let mut altered = envelope.clone();
        altered.payload = B64.encode(br#"{"a":2}"#);
        assert_eq!(
            altered.verify(&key.public()),
            Err(SignatureProblem::Invalid)
        );
        let mut retyped = envelope.clone();
        retyped.payload_type = "text/plain".into();
        assert_eq!(
            retyped.verify(&key.public()),
            Err(SignatureProblem::Invalid)
        );

        let other = SigningKey::generate();
        assert_eq!(
            envelope.verify(&other.public()),
            Err(SignatureProblem::OtherKey(vec![key.id().to_string()]))
        );
        let unsigned = Envelope::seal(br#"{"a":1}"#, None);
        assert_eq!(
            unsigned.verify(&key.public()),
            Err(SignatureProblem::Unsigned)
        );
        // No key ID: checked all the same.
        let mut anonymous = envelope.clone();
        anonymous.signatures[0].keyid.clear();
        assert_eq!(anonymous.verify(&key.public()), Ok(()));
        assert!(matches!(
            anonymous.verify(&other.public()),
            Err(SignatureProblem::OtherKey(_))
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Envelope::parse(b"[1,2]").is_err());
        let e = Envelope {
            payload_type: IN_TOTO_MEDIA_TYPE.into(),
            payload: "%%%".into(),
            signatures: vec![EnvelopeSignature {
                keyid: String::new(),
                sig: "%%%".into(),
            }],
        };
        assert!(e.payload_bytes().is_err());
        assert!(e.verify(&SigningKey::generate().public()).is_err());
    }
}
