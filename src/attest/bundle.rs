//! Sigstore bundles (v0.3): the form `cosign` v3 writes and reads an
//! attestation in, as an OCI referrer of the image.
//!
//! A bundle is `{mediaType, verificationMaterial: {publicKey: {hint}},
//! dsseEnvelope}`: the DSSE envelope strata signs, and a hint naming the key
//! (base64 of the SHA-256 of its PKIX DER, as `cosign` and sigstore-go name a
//! key; strata's key ID is the same digest in hex). There is no
//! transparency-log entry and no timestamp: a verifier checks it with the
//! public key alone (`cosign verify-attestation --key K
//! --insecure-ignore-tlog=true`).
//!
//! Only a signed envelope becomes a bundle: an unsigned statement is not one.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;

use super::dsse::Envelope;
use super::key::SigningKey;

/// The media type of a Sigstore bundle v0.3, and the `artifactType` and
/// layer media type of the referrer holding one.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Annotations `cosign` puts on a bundle referrer.
pub const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
pub const BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
pub const CREATED: &str = "org.opencontainers.image.created";

/// The key hint of a key whose ID (hex SHA-256 of its PKIX DER) is `key_id`.
pub fn hint(key_id: &str) -> String {
    let raw = hex::decode(key_id).unwrap_or_else(|_| key_id.as_bytes().to_vec());
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The bundle of `envelope` signed by `key`; `None` when the envelope
/// carries no signature.
pub fn bundle(envelope: &Envelope, key: &SigningKey) -> Option<Vec<u8>> {
    if envelope.signatures.is_empty() {
        return None;
    }
    let b = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": { "publicKey": { "hint": hint(key.id()) } },
        "dsseEnvelope": envelope,
    });
    Some(serde_json::to_vec(&b).expect("a bundle serializes"))
}

/// The annotations of a bundle referrer, exactly as `cosign` writes them.
pub fn annotations(predicate_type: &str, created: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (BUNDLE_CONTENT.to_string(), "dsse-envelope".to_string()),
        (
            BUNDLE_PREDICATE_TYPE.to_string(),
            predicate_type.to_string(),
        ),
        (CREATED.to_string(), created.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_signed_envelope_becomes_a_bundle_with_the_key_hint() {
        let key = SigningKey::generate();
        let envelope = Envelope::seal(br#"{"a":1}"#, Some(&key));
        let b: Value = serde_json::from_slice(&bundle(&envelope, &key).unwrap()).unwrap();
        assert_eq!(b["mediaType"], BUNDLE_MEDIA_TYPE);
        let h = b["verificationMaterial"]["publicKey"]["hint"]
            .as_str()
            .unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
        assert_eq!(hex::encode(raw), key.id());
        assert_eq!(
            b["dsseEnvelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
        assert_eq!(b["dsseEnvelope"]["payload"], envelope.payload);
        assert_eq!(
            b["dsseEnvelope"]["signatures"][0]["sig"],
            envelope.signatures[0].sig
        );
        // Exactly the three fields cosign's strict parser knows.
        assert_eq!(b.as_object().unwrap().len(), 3);
    }

    #[test]
    fn an_unsigned_envelope_is_not_a_bundle() {
        let key = SigningKey::generate();
        assert_eq!(bundle(&Envelope::seal(b"{}", None), &key), None);
    }

    #[test]
    fn annotations_are_cosigns() {
        let a = annotations("https://x/v1", "2026-01-01T00:00:00Z");
        assert_eq!(a[BUNDLE_CONTENT], "dsse-envelope");
        assert_eq!(a[BUNDLE_PREDICATE_TYPE], "https://x/v1");
        assert_eq!(a.len(), 3);
    }
}
