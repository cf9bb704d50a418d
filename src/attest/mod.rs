//! Test attestations: what strata tested, as a signed statement that travels
//! with the image in its registry.
//!
//! * [`statement`] builds an in-toto Statement v1 whose subject is an image's
//!   manifest digest and whose predicate is the in-toto **Test Result**
//!   (`https://in-toto.io/attestation/test-result/v0.1`): the result, each
//!   test by name with its test-layer image ID and `run.yml` checks, the
//!   strata version and the image's input fingerprint.
//! * [`dsse`] wraps it in a DSSE envelope (`application/vnd.in-toto+json`),
//!   signed over DSSE's pre-authentication encoding.
//! * [`key`] makes, reads and uses ECDSA P-256 keys in PEM (PKCS#8 private
//!   keys, PKIX public keys, as `cosign` writes its public keys).
//! * [`bundle`] puts a signed envelope in a Sigstore bundle v0.3, the form
//!   `cosign` reads, stored as a second referrer beside the in-toto one.
//! * [`sbom`] builds the SPDX 2.3 SBOM of a pushed image (its package
//!   databases and strata's artifacts) as an in-toto statement with the
//!   predicate type `https://spdx.dev/Document`.
//! * [`check`] judges an envelope read back from a registry: signature,
//!   subject, predicate type and result, and why it does not hold.
//!
//! Nothing here does I/O beyond reading and writing key files: the registry
//! stores and finds attestations (`registry::referrers`), the executor
//! attaches them on push, and `strata verify` reads them back.

pub mod bundle;
pub mod check;
pub mod dsse;
pub mod key;
pub mod provenance;
pub mod sbom;
pub mod statement;

/// The media type of an in-toto statement, and of the DSSE envelope's payload.
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// The media type of a DSSE envelope stored as a blob.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The statement type strata writes.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type strata writes: in-toto's Test Result.
pub const TEST_RESULT_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// SLSA provenance v1: how an image or index was built, from what.
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// An SPDX SBOM's predicate type (written by the SBOM attestation).
pub const SBOM_TYPE: &str = "https://spdx.dev/Document";
/// The version of strata that writes an attestation.
pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why an attestation read back (an envelope, its statement, a provenance)
/// cannot be trusted. The text is what `verify` reports for it.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("not a DSSE envelope: {0}")]
    NotEnvelope(#[source] serde_json::Error),
    #[error("the envelope's payload is not base64: {0}")]
    PayloadNotBase64(#[source] base64::DecodeError),
    /// The payload type (cut to 100 characters).
    #[error("the envelope's payload type is {0:?}, not {IN_TOTO_MEDIA_TYPE}")]
    PayloadType(String),
    #[error(transparent)]
    Signature(#[from] dsse::SignatureProblem),
    #[error("the statement is not valid: {0}")]
    Statement(#[source] serde_json::Error),
    /// `found` is cut to 100 characters.
    #[error("the statement's predicate type is {found:?}, not {wanted}")]
    PredicateType { found: String, wanted: String },
    /// `about`: the subjects' digests (cut), or "no digest".
    #[error("the statement is about {about}, not {digest}: it belongs to another image")]
    Subject { about: String, digest: String },
    /// A provenance's build type (cut) is not one strata writes.
    #[error("its build type is {0:?}, not strata's")]
    BuildType(String),
    #[error("it names no builder")]
    NoBuilder,
    #[error("it lists no resolved dependencies")]
    NoDependencies,
    /// A provenance dependency (its name, cut) without a digest.
    #[error("its dependency {0:?} has no digest")]
    DependencyDigest(String),
}
