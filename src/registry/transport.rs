//! The narrow way the registry client speaks to one registry host.
//!
//! [`Transport`] is what differs between registries: an open or HTTP Basic
//! registry is spoken to with plain requests (`plain`), one that wants
//! tokens through `oci-client` (`token`). Everything strata asks of a
//! registry (resolving, re-tagging, uploads, indexes, referrers) is written
//! once on top of it, in the client (`oci`). The helpers here (capped
//! reads, answer timeouts, redaction) are shared by both transports.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::Reference;
use reqwest::Response;

use super::upload::Blob;
use super::RegistryError;
use crate::secret::Secret;

/// The manifest kinds strata reads: single images and multi-platform lists,
/// in both Docker's and OCI's spelling.
pub(super) const MANIFEST_TYPES: &[&str] = &[
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
];

/// The header a registry with the referrers API answers an artifact
/// manifest's `PUT` with: the subject's digest, listed by it.
pub(super) const OCI_SUBJECT: &str = "OCI-Subject";

/// A blob as it arrives: its stated size and its bytes, chunk by chunk.
pub(super) struct BlobStream {
    pub size: Option<u64>,
    pub chunks: BoxStream<'static, Result<Vec<u8>, std::io::Error>>,
}

/// The requests strata makes of one registry host. Every method answers
/// for one repository (`Reference::repository`) on that host; a request
/// without a body gets its answer's head within the connect timeout.
#[async_trait]
pub(super) trait Transport: Send + Sync {
    /// The manifest `reference` names and its digest (of the bytes, checked
    /// against the digest asked for and the one the registry states), read
    /// with a cap of [`super::MAX_MANIFEST`]; `None` when there is none.
    async fn get_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError>;

    /// The digest `reference` resolves to, without reading the manifest
    /// where the registry allows it; `None` when there is none.
    async fn head_manifest(&self, reference: &Reference) -> Result<Option<String>, RegistryError>;

    /// Puts `bytes` (of `media_type`) under `reference` (a tag or its
    /// digest). Returns the answer's `OCI-Subject` header: `Some(None)` when
    /// the answer had none, `None` when the answer's headers are not seen.
    async fn put_manifest(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<Option<String>>, RegistryError>;

    /// Checks the registry answers and takes the credentials for
    /// `repository` (a repository not made yet is fine).
    async fn check(&self, repository: &Reference) -> Result<(), RegistryError>;

    /// Whether `reference`'s repository holds blob `digest`.
    async fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool, RegistryError>;

    /// Uploads `bytes` as blob `digest` of `reference`'s repository.
    async fn put_blob(
        &self,
        reference: &Reference,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError>;

    /// Uploads the file of `blob` (of an exported image) into
    /// `reference`'s repository.
    async fn put_blob_file(&self, reference: &Reference, blob: &Blob) -> Result<(), RegistryError>;

    /// Blob `digest` of `reference`'s repository, as it arrives.
    async fn get_blob(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<BlobStream, RegistryError>;

    /// Makes blob `digest` of `source`'s repository available in
    /// `target`'s: a cross-repository mount if the registry allows one,
    /// otherwise a download-and-upload.
    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError>;

    /// `GET url` (a question about `reference`'s repository, such as a tag
    /// list or a referrers page), with the credentials for reading it. The
    /// caller reads the body, with a cap.
    async fn get(
        &self,
        reference: &Reference,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response, RegistryError>;
}

/// Waits for the head of the answer to a request without a body (a
/// question, such as the `/v2/` check before the first push) at most
/// `connect`: a registry that accepted the connection and says nothing is
/// as good as unreachable, and is not waited on for the I/O timeout
/// (which is for uploads, and silence while a body streams).
pub(super) async fn answer_within<F>(
    connect: Duration,
    registry: &str,
    what: &str,
    request: F,
) -> Result<F::Output, RegistryError>
where
    F: std::future::Future,
{
    tokio::time::timeout(connect, request)
        .await
        .map_err(|_| RegistryError::Unreachable {
            registry: registry.to_string(),
            message: format!(
                "no answer within {} s to {what} (--connect-timeout)",
                connect.as_secs_f64()
            ),
        })
}

/// The body of `response`, read chunk by chunk and given up on as soon as
/// it passes `cap` bytes (a `Content-Length` above it is refused before a
/// byte is read): a registry that sends more than strata reads of `what` is
/// not usable, and is reported as an unreachable one is (exit 3).
pub(super) async fn read_capped(
    mut response: Response,
    cap: usize,
    registry: &str,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::Unreachable {
        registry: registry.to_string(),
        message: format!(
            "it sent more than {cap} bytes for {what}, more than strata reads of one \
             ({} MiB); a registry that does is not usable",
            cap >> 20
        ),
    };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(registry, &e, None))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most the first `cap` bytes of `response`'s body, as text (an error
/// answer quoted in a message; the rest is not read).
pub(super) async fn read_prefix(mut response: Response, cap: usize) -> String {
    let mut body = Vec::new();
    while body.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(cap - body.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A failed request as strata reports it: the registry cannot be reached,
/// or gave no answer within the timeouts.
pub(super) fn unreachable(
    registry: &str,
    error: &reqwest::Error,
    password: Option<&Secret>,
) -> RegistryError {
    let message = redact(&error_chain(error), password);
    let message = if error.is_timeout() {
        format!("no answer within the timeout (--io-timeout, --connect-timeout): {message}")
    } else {
        message
    };
    RegistryError::Unreachable {
        registry: registry.to_string(),
        message,
    }
}

/// `bytes`, the manifest `reference` names, with its digest: checked
/// against the digest asked for and the one the registry `stated`.
pub(super) fn checked_manifest(
    reference: &Reference,
    bytes: Vec<u8>,
    stated: Option<String>,
) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
    let digest = super::upload::sha256(&bytes);
    let wrong = |what: &str, said: &str| RegistryError::Other {
        reference: reference.whole(),
        message: format!("the registry sent a manifest whose digest is {digest}, {what} {said}"),
    };
    if let Some(asked) = reference.digest() {
        if asked != digest {
            return Err(wrong("not the", asked));
        }
    }
    if let Some(said) = stated.filter(|s| s.starts_with("sha256:")) {
        if said != digest {
            return Err(wrong("yet it says", &said));
        }
    }
    Ok(Some((bytes, digest)))
}

pub(super) fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The error and its causes on one line: reqwest's top-level message alone
/// ("error sending request") does not say what went wrong.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `text` with the password replaced in every encoding a registry may
/// echo it in (`secret::encodings`), then every registered secret and
/// echoed `Authorization` value (`secret::redact`).
pub(super) fn redact(text: &str, password: Option<&Secret>) -> String {
    let mut text = text.to_string();
    if let Some(p) = password.filter(|p| !p.expose().is_empty()) {
        let mut forms = crate::secret::encodings(p.expose());
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        for form in forms {
            if text.contains(&form) {
                text = text.replace(&form, crate::secret::REDACTED);
            }
        }
    }
    crate::secret::redact_in_place(&mut text);
    text
}

/// The manifest URL of `reference` under `base` (`http://host:port`).
pub(super) fn manifest_url(base: &str, reference: &Reference) -> String {
    let at = reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_string();
    format!("{base}/v2/{}/manifests/{at}", reference.repository())
}
