//! The registry, seen through two traits: [`RegistryRead`] (what a tag
//! resolves to, manifests, blobs, referrers) and [`RegistryWrite`] (uploads,
//! re-tags, indexes, attachments). Callers take the narrower one they need.
//!
//! The client (`oci`) is written once over a narrow per-host `transport`,
//! which has two implementations: plain requests (`plain`, an open or HTTP
//! Basic registry) and `oci-client` (`token`, a registry that wants tokens).

pub mod annotations;
pub mod auth;
pub mod index;
pub mod oci;
mod plain;
pub mod referrers;
mod token;
mod transport;
pub mod upload;

use async_trait::async_trait;

pub use crate::reference::{Digest, ImageId, ImageRef, Repository};

/// What a tag resolves to in its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The manifest's digest (`Docker-Content-Digest`).
    pub digest: Digest,
    /// The digest of the image config the manifest names: for a single-platform
    /// image this is the engine's image ID, which ties a push to a test.
    pub config_digest: Option<ImageId>,
    /// For an image index: each platform's manifest, in the index's order.
    pub children: Vec<IndexChild>,
}

/// One entry of an image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChild {
    pub digest: Digest,
    /// `os/architecture[/variant]` as the entry's `platform` says, if it says.
    pub platform: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable { registry: String, message: String },
    #[error("registry {registry} refused the credentials for {reference}")]
    Unauthorized { registry: String, reference: String },
    #[error("{reference}: {message}")]
    Other { reference: String, message: String },
}

/// The most strata reads of one manifest or index (a tag's, or the
/// referrers tag schema's index), as OCI distribution suggests registries
/// accept: a registry that sends more is unusable (exit 3).
pub const MAX_MANIFEST: usize = 4 << 20;
/// The most strata reads of one page of the referrers API's list.
pub const MAX_REFERRERS_PAGE: usize = 4 << 20;
/// The most pages of the referrers API's list strata follows (`Link`), so
/// at most 16 pages of 4 MiB (64 MiB) for one subject.
pub const MAX_REFERRERS_PAGES: usize = 16;
/// The most strata reads of one page of a tag list.
pub const MAX_TAGS_PAGE: usize = 4 << 20;
/// The most tags strata lists of one repository, over all pages.
pub const MAX_TAGS: usize = 200_000;

/// The manifest or blob `digest` (as a registry listed it, unchecked) in
/// `repository`: the reference to ask a registry for it, the digest checked.
pub fn at_digest(repository: &Repository, digest: &str) -> Result<ImageRef, RegistryError> {
    repository
        .with_digest(&Digest::new(digest))
        .map_err(|e| RegistryError::Other {
            reference: format!("{repository}@{digest}"),
            message: format!("not an image reference: {e}"),
        })
}

/// A manifest as the registry holds it, with the digest of its bytes
/// (computed here, not taken from the registry's word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What strata reads from an image registry.
#[async_trait]
pub trait RegistryRead: Send + Sync {
    /// What `reference` (`host/repo:tag`) resolves to, or `None` if the tag is absent.
    async fn resolve(&self, reference: &ImageRef) -> Result<Option<Resolved>, RegistryError>;

    /// The manifest digest `reference` resolves to, or `None` if the tag is
    /// absent: what [`RegistryRead::resolve`] says, without reading the
    /// manifest (one `HEAD` request where the registry allows it).
    async fn digest(&self, reference: &ImageRef) -> Result<Option<Digest>, RegistryError>;

    /// The tags of a repository (`host/repo`).
    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError>;

    /// The manifest `reference` (`host/repo:tag` or `host/repo@digest`)
    /// names, or `None` if there is none.
    async fn manifest(&self, reference: &ImageRef) -> Result<Option<Manifest>, RegistryError>;

    /// Blob `digest` of `repository`, at most `max` bytes, checked against
    /// its digest.
    async fn blob(
        &self,
        repository: &Repository,
        digest: &str,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError>;

    /// The artifacts of `artifact_type` that refer to manifest `subject` of
    /// `repository`: from the referrers API, else the referrers tag schema.
    async fn referrers(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<referrers::Referrer>, RegistryError>;
}

/// What strata writes to an image registry (and reads back: every writer
/// checks what it wrote).
#[async_trait]
pub trait RegistryWrite: RegistryRead {
    /// Checks that the registry `reference` lives on answers and accepts
    /// strata's credentials for its repository, before anything is pushed.
    async fn check(&self, reference: &ImageRef) -> Result<(), RegistryError>;

    /// Points `target` (a tag, or a digest in another repository) at the
    /// manifest `digest` of `source_repo` (both on the same registry),
    /// without uploading layers again. Returns the digest `target` now
    /// resolves to.
    async fn retag(
        &self,
        source_repo: &Repository,
        digest: &Digest,
        target: &ImageRef,
    ) -> Result<Digest, RegistryError>;

    /// Uploads the image exported (by ID, `docker save` format) to the file
    /// `saved` and puts its manifest under `target`: a `host/repo:tag`, or a
    /// bare `host/repo` to store it by digest only (no tag moves). Blobs the
    /// repository holds already are not sent again. Returns the manifest
    /// digest, whose config digest is the exported image's ID.
    async fn upload(
        &self,
        saved: &std::path::Path,
        target: &ImageRef,
    ) -> Result<Digest, RegistryError>;

    /// Puts an OCI image index under `target` (`host/repo:tag`) listing the
    /// manifests `children` (already in the repository), each with its
    /// platform. Returns the index's digest.
    async fn put_index(
        &self,
        target: &ImageRef,
        children: &[(Digest, crate::reference::Platform)],
    ) -> Result<Digest, RegistryError>;

    /// Stores `artifact` in `repository` as an artifact manifest whose
    /// subject is the manifest `subject` of the same repository, and makes
    /// it findable (see [`referrers`]). Returns the artifact manifest's
    /// digest and how it is listed.
    async fn attach(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact: &referrers::Artifact,
    ) -> Result<(Digest, referrers::Listed), RegistryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_in_a_repository_is_checked_before_it_is_asked_for() {
        let repo: Repository = "127.0.0.1:5000/acme/app".parse().unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let at = at_digest(&repo, &digest).unwrap();
        assert_eq!(at.as_str(), format!("127.0.0.1:5000/acme/app@{digest}"));
        assert_eq!(at.repository(), repo);
        // A digest a registry listed that is none: refused as before, as a
        // reference the registry cannot be asked for.
        let e = at_digest(&repo, "sha256:../../x").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "127.0.0.1:5000/acme/app@sha256:../../x: not an image reference: digest"
            ),
            "{e}"
        );
    }
}
