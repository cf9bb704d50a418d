//! The registry client: [`RegistryRead`] and [`RegistryWrite`] over the OCI
//! distribution API, written once on top of a [`Transport`] per host.
//!
//! strata reads what a registry holds and moves tags by copying manifest
//! bytes, so a retag never rebuilds, re-pushes or even downloads an image's
//! layers.
//!
//! `oci-client` asks a registry's `/v2/` how to log in before each request
//! it holds no token for, and an open registry (no login at all) never gives
//! it one, so every request there would cost two. strata asks once per host
//! instead: a registry that answers `/v2/` with 200 is open, one that
//! challenges with `Basic` takes the user's credentials on every request;
//! both are spoken to with plain requests (`plain`), one request per
//! operation. A registry that wants a token is spoken to through
//! `oci-client` (`token`), which fetches and caches tokens per repository.
//!
//! Registries on the local machine (`localhost`, `127.0.0.1`, `[::1]`) are
//! spoken to over plain HTTP, as Docker does by default; every other host over
//! HTTPS.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::Reference;
use tokio::sync::Mutex;

use super::plain::{self, Access, Plain};
use super::token::Token;
use super::transport::{self, Transport};
use super::{
    at_digest, auth, referrers, upload, Digest, ImageId, IndexChild, Manifest, RegistryError,
    RegistryRead, RegistryWrite, Resolved,
};
use crate::reference::{ImageRef, Repository};
use crate::secret::{Credentials, Secret};

/// Blobs of one image uploaded at once.
const UPLOADS_AT_ONCE: usize = 3;

/// Page size when listing tags; registries may cap it lower, which is handled.
const DEFAULT_TAGS_PAGE: usize = 1000;

/// Looks up credentials for a registry host (such as `127.0.0.1:5000` or `docker.io`).
type CredentialSource = dyn Fn(&str) -> Option<Credentials> + Send + Sync;

/// Held while one task checks for and sends one blob into one repository.
type UploadLock = Arc<Mutex<()>>;

/// The registry client, speaking the OCI distribution API.
///
/// One [`Transport`] is kept per registry host, so the host is asked how to
/// log in once, and tokens are fetched once per host and repository rather
/// than once per call.
pub struct OciRegistry {
    credentials: Box<CredentialSource>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    tags_page: usize,
    timeouts: Timeouts,
}

/// How long strata waits for a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Silence on an open connection: a registry that accepted the
    /// connection but does not answer is given up on after this long.
    pub io: Duration,
}

/// How long strata waits to connect to a registry by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a registry may stay silent by default.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: DEFAULT_CONNECT_TIMEOUT,
            io: DEFAULT_IO_TIMEOUT,
        }
    }
}

/// One registry host: how it is spoken to, and what this run knows of it.
struct Host {
    /// The host as `oci-client` resolves it (`127.0.0.1:5000`, `index.docker.io`).
    registry: String,
    /// `http://host` or `https://host`.
    base: String,
    local: bool,
    timeouts: Timeouts,
    /// One connection pool for every plain request to the host.
    http: reqwest::Client,
    /// User and password, if strata has any for the host.
    credentials: Option<(String, Secret)>,
    /// How the host is spoken to: chosen on first use, from what its
    /// `/v2/` answers.
    transport: tokio::sync::OnceCell<Box<dyn Transport>>,
    /// The registry answered that it has no referrers API: ask no more.
    no_referrers_api: AtomicBool,
    /// Blobs (repository, digest) this run saw in, or sent to, a
    /// repository: not asked about again.
    seen_blobs: std::sync::Mutex<HashSet<(String, String)>>,
    /// One lock per blob (repository, digest) being sent: a second task
    /// that needs the same blob in the same repository waits for the first
    /// upload and then finds it remembered, instead of uploading it at the
    /// same time (which a registry may answer with `DIGEST_INVALID`).
    uploading: std::sync::Mutex<HashMap<(String, String), UploadLock>>,
    /// Manifests (repository, digest) this run put or read, with their
    /// bytes (checked against the digest): a copy or an attachment that
    /// needs one's bytes does not download them again.
    seen_manifests: std::sync::Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl Default for OciRegistry {
    /// Credentials from the environment or the Docker config ([`auth::credentials_for`]).
    fn default() -> Self {
        Self::new(auth::credentials_for)
    }
}

impl OciRegistry {
    /// A registry client that asks `credentials` for each host's credentials
    /// (`None` = anonymous). Tests inject credentials this way.
    pub fn new(credentials: impl Fn(&str) -> Option<Credentials> + Send + Sync + 'static) -> Self {
        OciRegistry {
            credentials: Box::new(credentials),
            hosts: Mutex::new(HashMap::new()),
            tags_page: DEFAULT_TAGS_PAGE,
            timeouts: Timeouts::default(),
        }
    }

    /// Waits as `timeouts` say (for clients made after this call).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Lists tags `size` at a time (at least 1). The default suits real
    /// repositories; tests make it small to exercise paging.
    pub fn with_tags_page(mut self, size: usize) -> Self {
        self.tags_page = size.max(1);
        self
    }

    /// The host `reference` lives on, made on first use.
    async fn host(&self, reference: &Reference) -> Result<Arc<Host>, RegistryError> {
        let host = reference.resolve_registry().to_string();
        let mut hosts = self.hosts.lock().await;
        if let Some(client) = hosts.get(&host) {
            return Ok(client.clone());
        }
        let credentials = (self.credentials)(reference.registry());
        if let Some(c) = &credentials {
            crate::secret::register(c);
        }
        let local = is_local(&host);
        let scheme = if local { "http" } else { "https" };
        let http = plain::client(self.timeouts.connect, self.timeouts.io, local).map_err(|e| {
            RegistryError::Unreachable {
                registry: host.clone(),
                message: format!(
                    "cannot make an HTTP client for it (are the system's TLS certificates installed?): {}",
                    transport::error_chain(&e)
                ),
            }
        })?;
        let entry = Arc::new(Host {
            registry: host.clone(),
            base: format!("{scheme}://{host}"),
            local,
            timeouts: self.timeouts,
            http,
            credentials: credentials.map(|c| (c.username, c.password)),
            transport: tokio::sync::OnceCell::new(),
            no_referrers_api: AtomicBool::new(false),
            seen_blobs: Default::default(),
            uploading: Default::default(),
            seen_manifests: Default::default(),
        });
        hosts.insert(host, entry.clone());
        Ok(entry)
    }
}

impl Host {
    /// How this host is spoken to: plain requests when its registry is open
    /// or takes HTTP Basic (its `/v2/` asked once), `oci-client` when it
    /// wants tokens.
    async fn transport(&self) -> Result<&dyn Transport, RegistryError> {
        let transport = self
            .transport
            .get_or_try_init(|| async {
                let access = plain::probe(
                    &self.http,
                    &self.base,
                    &self.registry,
                    self.timeouts.connect,
                )
                .await?;
                let plain = |basic| -> Box<dyn Transport> {
                    Box::new(Plain::new(
                        self.http.clone(),
                        self.base.clone(),
                        self.registry.clone(),
                        basic,
                        self.timeouts.connect,
                    ))
                };
                Ok::<_, RegistryError>(match access {
                    Access::Open => plain(None),
                    Access::Basic => plain(self.credentials.clone()),
                    Access::Other => Box::new(Token::new(
                        self.http.clone(),
                        self.base.clone(),
                        self.registry.clone(),
                        self.credentials.clone(),
                        self.local,
                        (self.timeouts.connect, self.timeouts.io),
                    )),
                })
            })
            .await?;
        Ok(transport.as_ref())
    }

    /// The manifest `image` names, and its digest; `None` if there is none.
    async fn get_manifest(
        &self,
        image: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let found = self.transport().await?.get_manifest(image).await?;
        if let Some((raw, digest)) = &found {
            self.saw_manifest(image, digest, raw);
        }
        Ok(found)
    }

    /// The manifest `image` (by digest) names: from what this run put or
    /// read in its repository, else from the registry; it must exist.
    async fn known_manifest(&self, image: &Reference) -> Result<(Vec<u8>, String), RegistryError> {
        if let Some(digest) = image.digest() {
            let key = (image.repository().to_string(), digest.to_string());
            if let Some(raw) = self.seen_manifests.lock().expect("lock").get(&key) {
                return Ok((raw.clone(), digest.to_string()));
            }
        }
        self.get_manifest(image)
            .await?
            .ok_or_else(|| RegistryError::Other {
                reference: image.whole(),
                message: "the registry has no such manifest".into(),
            })
    }

    /// The digest `image` resolves to (a `HEAD`); `None` if there is none.
    async fn head_manifest(&self, image: &Reference) -> Result<Option<String>, RegistryError> {
        self.transport().await?.head_manifest(image).await
    }

    /// Puts manifest `bytes` of `media_type` under `target`; see
    /// [`Transport::put_manifest`].
    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let seen = bytes.clone();
        let subject = self
            .transport()
            .await?
            .put_manifest(target, bytes, media_type)
            .await?;
        self.saw_manifest(target, &upload::sha256(&seen), &seen);
        Ok(subject)
    }

    /// Whether `target`'s repository holds blob `digest`.
    async fn has_blob(&self, target: &Reference, digest: &str) -> Result<bool, RegistryError> {
        if self.seen_blob(target, digest) {
            return Ok(true);
        }
        let there = self.transport().await?.has_blob(target, digest).await?;
        if there {
            self.saw_blob(target, digest);
        }
        Ok(there)
    }

    /// Makes sure `target`'s repository holds blob `digest`, calling `send`
    /// when it does not. One check-and-send per (repository, digest) at a
    /// time: concurrent callers wait for the first and then see the blob.
    async fn ensure_blob<F, Fut>(
        &self,
        target: &Reference,
        digest: &str,
        send: F,
    ) -> Result<(), RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), RegistryError>>,
    {
        if self.seen_blob(target, digest) {
            return Ok(());
        }
        let lock = self.upload_lock(target, digest);
        let _sending = lock.lock().await;
        if self.has_blob(target, digest).await? {
            return Ok(());
        }
        send().await?;
        self.saw_blob(target, digest);
        Ok(())
    }

    /// Copies manifest `digest` of `source` into `target` (a tag or digest
    /// reference). When the repositories differ, the blobs (or, for a
    /// multi-platform list, the platform manifests and their blobs) are
    /// mounted into the target repository first, as the registry requires.
    async fn copy_manifest(
        &self,
        source: &Reference,
        digest: &str,
        target: &Reference,
        depth: usize,
    ) -> Result<(), RegistryError> {
        let from = source.clone_with_digest(digest.to_string());
        let (raw, _) = self.known_manifest(&from).await?;
        let manifest = ManifestJson::parse(&raw).map_err(|e| e.at(&from.whole()))?;

        if source.repository() != target.repository() {
            for child in &manifest.children {
                if depth > 0 {
                    return Err(RegistryError::Other {
                        reference: from.whole(),
                        message: "manifest list nests another list".into(),
                    });
                }
                let child_target = Reference::with_digest(
                    target.registry().to_string(),
                    target.repository().to_string(),
                    child.clone(),
                );
                Box::pin(self.copy_manifest(source, child, &child_target, depth + 1)).await?;
            }
            for blob in &manifest.blobs {
                self.copy_blob(source, target, blob).await?;
            }
        }

        self.put_manifest(target, raw, &manifest.media_type)
            .await
            .map(drop)
    }

    /// Makes blob `digest` of `source`'s repository available in `target`'s:
    /// nothing if it is there already, a cross-repository mount if the registry
    /// allows one, otherwise a download-and-upload as the last resort.
    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let lock = self.upload_lock(target, digest);
        let _sending = lock.lock().await;
        if self.has_blob(target, digest).await? {
            return Ok(());
        }
        self.transport()
            .await?
            .copy_blob(source, target, digest)
            .await
    }

    /// The referrers API's list for `subject` (`GET /v2/<name>/referrers/<digest>`),
    /// or `None` when the registry has no such API (it answers 404).
    async fn referrers_api(&self, subject: &Reference) -> Result<Option<Vec<u8>>, RegistryError> {
        if self.no_referrers_api.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let url = format!(
            "{}/v2/{}/referrers/{}",
            self.base,
            subject.repository(),
            subject.digest().unwrap_or_default()
        );
        let response = self.referrers_get(subject, &url).await?;
        match response.status().as_u16() {
            200 => Ok(Some(self.referrers_pages(subject, response).await?)),
            // No referrers API; a token-based registry that wants a token
            // for it is read through the tag schema as well. A registry
            // does not grow one during a run: it is not asked again.
            404 | 401 | 400 | 405 => {
                self.no_referrers_api.store(true, Ordering::Relaxed);
                Ok(None)
            }
            code => Err(RegistryError::Other {
                reference: subject.whole(),
                message: format!("the referrers API answered HTTP {code}"),
            }),
        }
    }

    /// One page of the referrers API's list for `subject`, at `url` (the
    /// first page's address, or the one the previous page's `Link` named),
    /// whatever the registry answers.
    async fn referrers_get(
        &self,
        subject: &Reference,
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.transport()
            .await?
            .get(
                subject,
                url,
                referrers::INDEX_MEDIA_TYPE,
                "GET of the referrers list",
            )
            .await
    }

    /// The referrers API's list for `subject`, from its first page
    /// `response` on: each page read with a cap, the next one followed as
    /// its `Link` header says, at most `MAX_REFERRERS_PAGES` pages; the
    /// pages' `manifests` joined into one index.
    async fn referrers_pages(
        &self,
        subject: &Reference,
        first: reqwest::Response,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("the referrers of {}", subject.whole());
        let mut response = first;
        let mut all: Vec<serde_json::Value> = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            let next = transport::header(&response, "link").and_then(|l| next_link(&l));
            let page =
                transport::read_capped(response, super::MAX_REFERRERS_PAGE, &self.registry, &what)
                    .await?;
            // One page alone is passed on as it is (its own checks apply).
            if next.is_none() && pages == 1 {
                return Ok(page);
            }
            let index: serde_json::Value =
                serde_json::from_slice(&page).map_err(|e| RegistryError::Other {
                    reference: subject.whole(),
                    message: format!("a page of the referrers list is not JSON: {e}"),
                })?;
            if let Some(list) = index.get("manifests").and_then(|m| m.as_array()) {
                all.extend(list.iter().cloned());
            }
            let Some(next) = next else { break };
            if pages >= super::MAX_REFERRERS_PAGES {
                return Err(RegistryError::Unreachable {
                    registry: self.registry.clone(),
                    message: format!(
                        "it lists the referrers of {} on more than {} pages, more than strata \
                         reads; a registry that does is not usable",
                        subject.whole(),
                        super::MAX_REFERRERS_PAGES
                    ),
                });
            }
            let url = if next.starts_with('/') {
                format!("{}{next}", self.base)
            } else {
                next
            };
            if !url.starts_with(&format!("{}/", self.base)) {
                return Err(RegistryError::Other {
                    reference: subject.whole(),
                    message: format!(
                        "the referrers list's next page is on another host: {}",
                        crate::text::cut(&url, 200)
                    ),
                });
            }
            response = self.referrers_get(subject, &url).await?;
            if response.status().as_u16() != 200 {
                return Err(RegistryError::Other {
                    reference: subject.whole(),
                    message: format!(
                        "a page of the referrers list answered HTTP {}",
                        response.status().as_u16()
                    ),
                });
            }
        }
        let joined = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": referrers::INDEX_MEDIA_TYPE,
            "manifests": all,
        });
        serde_json::to_vec(&joined).map_err(|e| RegistryError::Other {
            reference: subject.whole(),
            message: format!("the joined referrers list does not serialise: {e}"),
        })
    }

    /// The lock that serializes sending blob `digest` into `repo`'s repository.
    fn upload_lock(&self, repo: &Reference, digest: &str) -> UploadLock {
        let key = (repo.repository().to_string(), digest.to_string());
        self.uploading
            .lock()
            .expect("lock")
            .entry(key)
            .or_default()
            .clone()
    }

    fn seen_blob(&self, repo: &Reference, digest: &str) -> bool {
        let key = (repo.repository().to_string(), digest.to_string());
        self.seen_blobs.lock().expect("lock").contains(&key)
    }

    fn saw_blob(&self, repo: &Reference, digest: &str) {
        let key = (repo.repository().to_string(), digest.to_string());
        self.seen_blobs.lock().expect("lock").insert(key);
    }

    /// Remembers manifest `raw`, whose digest is `digest` (checked by the
    /// caller), as held in `repo`'s repository.
    fn saw_manifest(&self, repo: &Reference, digest: &str, raw: &[u8]) {
        let key = (repo.repository().to_string(), digest.to_string());
        self.seen_manifests
            .lock()
            .expect("lock")
            .insert(key, raw.to_vec());
    }
}

/// How often the referrers tag schema's index is re-read and re-written
/// when concurrent writers keep replacing it.
const TAG_SCHEMA_TRIES: usize = 8;

#[async_trait]
impl RegistryRead for OciRegistry {
    async fn resolve(&self, reference: &ImageRef) -> Result<Option<Resolved>, RegistryError> {
        let image = reference.to_oci();
        let host = self.host(&image).await?;
        let Some((raw, digest)) = host.get_manifest(&image).await? else {
            return Ok(None);
        };
        let manifest = ManifestJson::parse(&raw).map_err(|e| e.at(reference))?;
        Ok(Some(Resolved {
            digest: Digest::new(digest),
            config_digest: manifest.config.map(ImageId::new),
            children: manifest.platforms,
        }))
    }

    async fn digest(&self, reference: &ImageRef) -> Result<Option<Digest>, RegistryError> {
        let image = reference.to_oci();
        let host = self.host(&image).await?;
        Ok(host.head_manifest(&image).await?.map(Digest::new))
    }

    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        let repo = repository.to_image_ref().to_oci();
        let host = self.host(&repo).await?;
        // Sorted and free of repeats, whatever order the registry pages in.
        let mut tags = std::collections::BTreeSet::new();
        let mut last: Option<String> = None;
        loop {
            let mut url =
                reqwest::Url::parse(&format!("{}/v2/{}/tags/list", host.base, repo.repository()))
                    .map_err(|e| RegistryError::Other {
                    reference: repo.whole(),
                    message: format!("no tag list address: {e}"),
                })?;
            url.query_pairs_mut()
                .append_pair("n", &self.tags_page.to_string());
            if let Some(last) = &last {
                url.query_pairs_mut().append_pair("last", last);
            }
            let response = host
                .transport()
                .await?
                .get(&repo, url.as_str(), "application/json", "a tag list")
                .await?;
            let page: Vec<String> = match response.status().as_u16() {
                200 => {
                    let what = format!("a page of the tags of {}", repo.whole());
                    let body = transport::read_capped(
                        response,
                        super::MAX_TAGS_PAGE,
                        &host.registry,
                        &what,
                    )
                    .await?;
                    #[derive(serde::Deserialize)]
                    struct Page {
                        tags: Option<Vec<String>>,
                    }
                    serde_json::from_slice::<Page>(&body)
                        .map_err(|e| RegistryError::Other {
                            reference: repo.whole(),
                            message: format!("the tag list is not what the API says: {e}"),
                        })?
                        .tags
                        .unwrap_or_default()
                }
                // A repository nothing was pushed to yet simply has no tags.
                404 => Vec::new(),
                401 | 403 => {
                    return Err(RegistryError::Unauthorized {
                        registry: repo.registry().to_string(),
                        reference: repo.whole(),
                    })
                }
                code => {
                    return Err(RegistryError::Other {
                        reference: repo.whole(),
                        message: format!("the tag list answered HTTP {code}"),
                    })
                }
            };
            if tags.len() + page.len() > super::MAX_TAGS {
                return Err(RegistryError::Unreachable {
                    registry: host.registry.clone(),
                    message: format!(
                        "it lists more than {} tags in {}, more than strata reads; a \
                         registry that does is not usable",
                        super::MAX_TAGS,
                        repo.whole()
                    ),
                });
            }
            let full_page = page.len() >= self.tags_page;
            last = page.last().cloned();
            let mut grew = false;
            for tag in page {
                grew |= tags.insert(tag);
            }
            // Stop on a short page, or when a registry ignores `last` and repeats itself.
            if !full_page || !grew {
                break;
            }
        }
        Ok(tags.into_iter().collect())
    }

    async fn manifest(&self, reference: &ImageRef) -> Result<Option<Manifest>, RegistryError> {
        let image = reference.to_oci();
        let host = self.host(&image).await?;
        let Some((raw, _)) = host.get_manifest(&image).await? else {
            return Ok(None);
        };
        let media_type = ManifestJson::parse(&raw)
            .map(|m| m.media_type)
            .or_else(|_| media_type_of(&raw))
            .map_err(|e| e.at(reference))?;
        let digest = upload::sha256(&raw);
        if let Some(asked) = image.digest() {
            if asked != digest {
                return Err(RegistryError::Other {
                    reference: reference.to_string(),
                    message: format!("the registry sent a manifest whose digest is {digest}"),
                });
            }
        }
        Ok(Some(Manifest {
            digest: Digest::new(digest),
            media_type,
            bytes: raw,
        }))
    }

    async fn blob(
        &self,
        repository: &Repository,
        digest: &str,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let at = format!("{repository}@{digest}");
        let image = at_digest(repository, digest)?.to_oci();
        let host = self.host(&image).await?;
        let other = |message: String| RegistryError::Other {
            reference: at.clone(),
            message,
        };
        let mut stream = host.transport().await?.get_blob(&image, digest).await?;
        if stream.size.is_some_and(|n| n > max) {
            return Err(other(format!("the blob is larger than {max} bytes")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
            .chunks
            .try_next()
            .await
            .map_err(|e| other(format!("reading the blob failed: {e}")))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(other(format!("the blob is larger than {max} bytes")));
            }
        }
        if upload::sha256(&bytes) != digest {
            return Err(other("the blob does not match its digest".into()));
        }
        Ok(bytes)
    }

    async fn referrers(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<referrers::Referrer>, RegistryError> {
        let subject_ref = at_digest(repository, subject)?.to_oci();
        let host = self.host(&subject_ref).await?;
        let index = match host.referrers_api(&subject_ref).await? {
            Some(index) => index,
            None => {
                let tag_ref = Reference::with_tag(
                    subject_ref.registry().to_string(),
                    subject_ref.repository().to_string(),
                    referrers::fallback_tag(subject),
                );
                match host.get_manifest(&tag_ref).await? {
                    Some((raw, _)) => raw,
                    None => return Ok(Vec::new()),
                }
            }
        };
        referrers::entries(&index, artifact_type).map_err(|e| RegistryError::Other {
            reference: subject_ref.whole(),
            message: e.to_string(),
        })
    }
}

#[async_trait]
impl RegistryWrite for OciRegistry {
    async fn check(&self, reference: &ImageRef) -> Result<(), RegistryError> {
        let repo = reference.repository().to_image_ref().to_oci();
        let host = self.host(&repo).await?;
        host.transport().await?.check(&repo).await
    }

    async fn retag(
        &self,
        source_repo: &Repository,
        digest: &Digest,
        target: &ImageRef,
    ) -> Result<Digest, RegistryError> {
        let source = at_digest(source_repo, digest)?.to_oci();
        let target_ref = target.to_oci();
        if source.resolve_registry() != target_ref.resolve_registry() {
            return Err(RegistryError::Other {
                reference: target.to_string(),
                message: format!(
                    "cannot retag across registries (source is on {})",
                    source.registry()
                ),
            });
        }
        let host = self.host(&target_ref).await?;
        host.copy_manifest(&source, digest, &target_ref, 0).await?;

        let now = host
            .head_manifest(&target_ref)
            .await?
            .unwrap_or_else(|| "nothing".to_string());
        if *digest != now {
            return Err(RegistryError::Other {
                reference: target.to_string(),
                message: format!("registry resolves it to {now}, expected {digest}"),
            });
        }
        Ok(Digest::new(now))
    }

    async fn upload(
        &self,
        saved: &std::path::Path,
        target: &ImageRef,
    ) -> Result<Digest, RegistryError> {
        let other = |message: String| RegistryError::Other {
            reference: target.to_string(),
            message,
        };
        let archive = saved.to_owned();
        let image = tokio::task::spawn_blocking(move || upload::Saved::unpack(&archive))
            .await
            .map_err(|e| other(format!("unpacking the exported image failed: {e}")))?
            .map_err(|e| other(e.to_string()))?;
        let target_ref = target.to_oci();
        let host = self.host(&target_ref).await?;
        let transport = host.transport().await?;
        // A few blobs at once: each is checked, and sent only if missing.
        let sends: Vec<_> = std::iter::once(&image.config)
            .chain(&image.layers)
            .map(
                |blob| -> futures_util::future::BoxFuture<'_, Result<(), RegistryError>> {
                    let (host, target_ref) = (&host, &target_ref);
                    Box::pin(async move {
                        host.ensure_blob(target_ref, &blob.digest, || {
                            transport.put_blob_file(target_ref, blob)
                        })
                        .await
                    })
                },
            )
            .collect();
        futures_util::stream::iter(sends)
            .buffer_unordered(UPLOADS_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        let manifest = image.manifest();
        let digest = upload::sha256(&manifest);
        // No tag: the manifest is stored under its digest alone.
        let put_ref = if target.tag().is_none() && target.digest().is_none() {
            target_ref.clone_with_digest(digest.clone())
        } else {
            target_ref.clone()
        };
        host.put_manifest(&put_ref, manifest, upload::MANIFEST_MEDIA_TYPE)
            .await?;
        Ok(Digest::new(digest))
    }

    async fn put_index(
        &self,
        target: &ImageRef,
        children: &[(Digest, crate::reference::Platform)],
    ) -> Result<Digest, RegistryError> {
        let target_ref = target.to_oci();
        let host = self.host(&target_ref).await?;
        let mut manifests = Vec::with_capacity(children.len());
        let mut raws = Vec::with_capacity(children.len());
        for (digest, platform) in children {
            let child = target_ref.clone_with_digest(digest.to_string());
            let (raw, _) = host.known_manifest(&child).await?;
            let media_type = ManifestJson::parse(&raw)
                .map_err(|e| e.at(&child.whole()))?
                .media_type;
            let mut entry = serde_json::json!({
                "mediaType": media_type,
                "digest": digest.as_str(),
                "size": raw.len(),
                "platform": { "architecture": platform.architecture, "os": platform.os },
            });
            if let Some(v) = &platform.variant {
                entry["platform"]["variant"] = serde_json::Value::String(v.clone());
            }
            manifests.push(entry);
            raws.push(raw);
        }
        let mut index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
            "manifests": manifests,
        });
        // What every platform's manifest says alike, the index says too.
        let shared =
            super::annotations::shared(&raws.iter().map(|r| r.as_ref()).collect::<Vec<&[u8]>>());
        if !shared.is_empty() {
            index["annotations"] = serde_json::json!(shared);
        }
        let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Other {
            reference: target.to_string(),
            message: e.to_string(),
        })?;
        let digest = upload::sha256(&bytes);
        host.put_manifest(&target_ref, bytes, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await?;
        Ok(Digest::new(digest))
    }

    async fn attach(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact: &referrers::Artifact,
    ) -> Result<(Digest, referrers::Listed), RegistryError> {
        let subject_ref = at_digest(repository, subject)?.to_oci();
        let host = self.host(&subject_ref).await?;
        let other = |message: String| RegistryError::Other {
            reference: subject_ref.whole(),
            message,
        };
        // The subject must be there; its media type and size go into the
        // artifact manifest's `subject`.
        let (raw, _) = host.known_manifest(&subject_ref).await?;
        let media_type = ManifestJson::parse(&raw)
            .map_err(|e| e.at(&subject_ref.whole()))?
            .media_type;
        let descriptor = referrers::Descriptor {
            media_type,
            digest: subject.to_string(),
            size: raw.len() as u64,
        };
        let transport = host.transport().await?;
        for blob in [referrers::EMPTY_BLOB, artifact.content.as_slice()] {
            let digest = upload::sha256(blob);
            host.ensure_blob(&subject_ref, &digest, || {
                transport.put_blob(&subject_ref, &digest, blob.to_vec())
            })
            .await?;
        }
        let manifest = referrers::artifact_manifest(artifact, &descriptor);
        let digest = upload::sha256(&manifest);
        let artifact_ref = subject_ref.clone_with_digest(digest.clone());
        let answer = host
            .put_manifest(
                &artifact_ref,
                manifest.clone(),
                referrers::MANIFEST_MEDIA_TYPE,
            )
            .await?;

        // A registry with the referrers API lists it now, by its subject,
        // and says so with the `OCI-Subject` header; without the header the
        // tag schema's index is updated. Where the answer's headers are not
        // seen, the referrers API is asked.
        match referrers::after_put(answer.as_ref().map(Option::as_deref), subject) {
            referrers::AfterPut::Listed => {
                return Ok((Digest::new(digest), referrers::Listed::ByApi))
            }
            referrers::AfterPut::UpdateTag => {}
            referrers::AfterPut::AskApi => {
                let listed = |index: &[u8]| {
                    referrers::entries(index, &artifact.artifact_type)
                        .map(|e| e.iter().any(|r| r.digest == digest))
                        .unwrap_or(false)
                };
                if let Some(index) = host.referrers_api(&subject_ref).await? {
                    if listed(&index) {
                        return Ok((Digest::new(digest), referrers::Listed::ByApi));
                    }
                }
            }
        }
        // Otherwise the tag schema: read, extend, write, read back; again
        // if a concurrent writer replaced the index meanwhile.
        let tag = referrers::fallback_tag(subject);
        let tag_ref = Reference::with_tag(
            subject_ref.registry().to_string(),
            subject_ref.repository().to_string(),
            tag.clone(),
        );
        for _ in 0..TAG_SCHEMA_TRIES {
            let index = host.get_manifest(&tag_ref).await?.map(|(raw, _)| raw);
            let Some(grown) = referrers::index_with(index.as_deref(), &manifest, artifact)
                .map_err(|e| other(e.to_string()))?
            else {
                return Ok((Digest::new(digest), referrers::Listed::ByTag(tag)));
            };
            host.put_manifest(&tag_ref, grown, referrers::INDEX_MEDIA_TYPE)
                .await?;
        }
        Err(other(format!(
            "the referrers index under tag {tag} kept changing; the artifact {digest} is stored but not listed"
        )))
    }
}

/// The target of a `Link: <url>; rel="next"` header, if it names one.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// The media type of a manifest that is neither an image nor a list as
/// [`ManifestJson`] reads them (an artifact manifest with an empty config
/// still has one, so this is for odd shapes only).
fn media_type_of(raw: &[u8]) -> Result<String, ManifestError> {
    let v: serde_json::Value = serde_json::from_slice(raw).map_err(ManifestError::NotJson)?;
    Ok(v.get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(OCI_IMAGE_MEDIA_TYPE)
        .to_string())
}

/// Registries on this machine, which Docker talks to over plain HTTP.
fn is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// Why a manifest's JSON is not one strata can read.
#[derive(Debug, thiserror::Error)]
enum ManifestError {
    #[error("manifest is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("manifest names no config digest")]
    NoConfig,
}

impl ManifestError {
    /// The error as the registry client reports it, about `reference`.
    fn at(&self, reference: &str) -> RegistryError {
        RegistryError::Other {
            reference: reference.to_string(),
            message: self.to_string(),
        }
    }
}

/// The parts of a manifest strata needs, read from its raw JSON so that the
/// bytes pushed back are exactly the bytes read (and so keep their digest).
#[derive(Debug, PartialEq)]
struct ManifestJson {
    media_type: String,
    /// The image config's digest; `None` for a multi-platform list.
    config: Option<String>,
    /// Blobs the manifest needs in its repository: config first, then layers.
    blobs: Vec<String>,
    /// Platform manifests, for a multi-platform list.
    children: Vec<String>,
    /// The same, with the platform each entry names.
    platforms: Vec<IndexChild>,
}

impl ManifestJson {
    fn parse(raw: &[u8]) -> Result<Self, ManifestError> {
        let json: serde_json::Value =
            serde_json::from_slice(raw).map_err(ManifestError::NotJson)?;
        let digest_of = |v: &serde_json::Value| v.get("digest")?.as_str().map(str::to_string);
        let children: Vec<String> = json
            .get("manifests")
            .and_then(|m| m.as_array())
            .map(|list| list.iter().filter_map(digest_of).collect())
            .unwrap_or_default();
        // An index by its stated media type, never by the fields it holds: an
        // image manifest with a `manifests` field added is still an image.
        let is_list = super::referrers::is_index(&json);
        let platforms: Vec<IndexChild> = json
            .get("manifests")
            .and_then(|m| m.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|entry| {
                        let digest = digest_of(entry)?;
                        let platform = entry.get("platform").and_then(|p| {
                            let os = p.get("os")?.as_str()?;
                            let arch = p.get("architecture")?.as_str()?;
                            Some(match p.get("variant").and_then(|v| v.as_str()) {
                                Some(v) => format!("{os}/{arch}/{v}"),
                                None => format!("{os}/{arch}"),
                            })
                        });
                        Some(IndexChild {
                            digest: Digest::new(digest),
                            platform,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        // OCI lets `mediaType` be left out; the shape then says what it is.
        let media_type = match json.get("mediaType").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None if is_list => OCI_IMAGE_INDEX_MEDIA_TYPE.to_string(),
            None => OCI_IMAGE_MEDIA_TYPE.to_string(),
        };
        let (children, platforms) = if is_list {
            (children, platforms)
        } else {
            (Vec::new(), Vec::new())
        };
        if is_list {
            return Ok(ManifestJson {
                media_type,
                config: None,
                blobs: Vec::new(),
                children,
                platforms,
            });
        }
        let config = json
            .get("config")
            .and_then(digest_of)
            .ok_or(ManifestError::NoConfig)?;
        let mut blobs = vec![config.clone()];
        let layers = json.get("layers").and_then(|l| l.as_array());
        for layer in layers.into_iter().flatten() {
            // Foreign (non-distributable) layers live elsewhere and cannot be mounted.
            let foreign = layer
                .get("mediaType")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.contains("foreign") || m.contains("nondistributable"));
            if let (Some(d), false) = (digest_of(layer), foreign) {
                blobs.push(d);
            }
        }
        Ok(ManifestJson {
            media_type,
            config: Some(config),
            blobs,
            children,
            platforms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_put_together_as_oci_clients_parser_reads_them() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        for text in [
            "node".to_string(),
            "node:22".into(),
            "acme/app:1".into(),
            "docker.io/library/node:22".into(),
            "index.docker.io/acme/app".into(),
            "127.0.0.1:5000/acme/app:1.0".into(),
            "localhost/app".into(),
            "ghcr.io/a/b/c:tag".into(),
            format!("127.0.0.1:5000/acme/app@{digest}"),
            format!("127.0.0.1:5000/acme/app:1@{digest}"),
        ] {
            let ours = ImageRef::parse(&text).unwrap().to_oci();
            let theirs: Reference = text.parse().unwrap();
            assert_eq!(ours.registry(), theirs.registry(), "{text}");
            assert_eq!(ours.repository(), theirs.repository(), "{text}");
            assert_eq!(ours.tag(), theirs.tag(), "{text}");
            assert_eq!(ours.digest(), theirs.digest(), "{text}");
            assert_eq!(ours.whole(), theirs.whole(), "{text}");
        }
    }
    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        assert_eq!(
            next_link(r#"</v2/a/referrers/sha256:1?n=2&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/sha256:1?n=2&last=x")
        );
        assert_eq!(
            next_link(r#"<https://r/a>; rel="prev", <https://r/b>; rel=next"#).as_deref(),
            Some("https://r/b")
        );
        assert_eq!(next_link(r#"<https://r/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn reads_an_image_manifest() {
        let raw = br#"{"schemaVersion":2,
            "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:c"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,"digest":"sha256:l1"},
                      {"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":1,"digest":"sha256:f"},
                      {"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1,"digest":"sha256:l2"}]}"#;
        let m = ManifestJson::parse(raw).unwrap();
        assert_eq!(
            m.media_type,
            oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE
        );
        assert_eq!(m.config.as_deref(), Some("sha256:c"));
        assert_eq!(m.blobs, ["sha256:c", "sha256:l1", "sha256:l2"]);
        assert!(m.children.is_empty());
    }

    #[test]
    fn reads_an_index_without_media_type() {
        let raw = br#"{"schemaVersion":2,"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:a"},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:b"}]}"#;
        let m = ManifestJson::parse(raw).unwrap();
        assert_eq!(m.media_type, OCI_IMAGE_INDEX_MEDIA_TYPE);
        assert_eq!(m.config, None);
        assert_eq!(m.children, ["sha256:a", "sha256:b"]);
        assert!(m.blobs.is_empty());
    }

    #[test]
    fn an_image_manifest_with_a_manifests_field_is_no_index() {
        let raw = br#"{"schemaVersion":2,
            "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:c"},
            "layers":[],
            "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:a",
                          "platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let m = ManifestJson::parse(raw).unwrap();
        assert_eq!(
            m.media_type,
            oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE
        );
        assert_eq!(m.config.as_deref(), Some("sha256:c"));
        assert!(m.children.is_empty() && m.platforms.is_empty());
    }

    #[test]
    fn rejects_a_manifest_without_config() {
        assert!(ManifestJson::parse(br#"{"schemaVersion":2,"layers":[]}"#).is_err());
        assert!(ManifestJson::parse(b"<html>").is_err());
    }

    #[test]
    fn local_hosts_are_plain_http() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:5001",
            "[::1]:5000",
        ] {
            assert!(is_local(host), "{host}");
        }
        for host in [
            "ghcr.io",
            "index.docker.io",
            "127.0.0.2:5000",
            "localhost.example.com",
        ] {
            assert!(!is_local(host), "{host}");
        }
    }

    #[tokio::test]
    async fn unreachable_registry_is_reported_as_such() {
        // A port that was just free: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let registry = OciRegistry::new(|_| None);
        let reference = ImageRef::parse(&format!("127.0.0.1:{port}/acme/app:1")).unwrap();
        let err = registry.resolve(&reference).await.unwrap_err();
        assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    }
}
