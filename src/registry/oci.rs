//! [`Registry`](super::Registry) over the OCI distribution API.
//!
//! Everything here is plain HTTP requests to `/v2/` made through `oci-client`:
//! strata reads what a registry holds and moves tags by copying manifest bytes,
//! so a retag never rebuilds, re-pushes or even downloads an image's layers.
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
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::Mutex;

use super::direct::{self, Access, Direct};
use super::{
    auth, referrers, upload, Digest, ImageId, IndexChild, Manifest, Registry, RegistryError,
    Resolved,
};
use crate::secret::{Credentials, Secret};

/// The manifest kinds strata reads: single images and multi-platform lists,
/// in both Docker's and OCI's spelling.
const MANIFEST_TYPES: &[&str] = &[
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
];

/// Blobs of one image uploaded at once.
const UPLOADS_AT_ONCE: usize = 3;

/// Page size when listing tags; registries may cap it lower, which is handled.
const DEFAULT_TAGS_PAGE: usize = 1000;

/// Looks up credentials for a registry host (such as `127.0.0.1:5000` or `docker.io`).
type CredentialSource = dyn Fn(&str) -> Option<Credentials> + Send + Sync;

/// Held while one task checks for and sends one blob into one repository.
type UploadLock = Arc<Mutex<()>>;

/// A [`Registry`] speaking the OCI distribution API.
///
/// One HTTP client is kept per registry host, so tokens are fetched once per
/// host and repository rather than once per call.
pub struct OciRegistry {
    credentials: Box<CredentialSource>,
    hosts: Mutex<HashMap<String, Arc<HostClient>>>,
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

/// The client for one registry host and the credentials it uses.
struct HostClient {
    /// `oci-client`'s client, made on first use (a token registry, or a
    /// call strata does not make itself): making one loads the system's
    /// TLS roots, which a run against a local registry never needs.
    oci: tokio::sync::OnceCell<Client>,
    protocol: ClientProtocol,
    timeouts: Timeouts,
    auth: RegistryAuth,
    /// Kept only to scrub it out of error text the registry might echo back.
    password: Option<Secret>,
    /// The host as `oci-client` resolves it (`127.0.0.1:5000`, `index.docker.io`).
    registry: String,
    /// `http://host` or `https://host`.
    base: String,
    /// One connection pool for the plain requests strata makes itself.
    http: reqwest::Client,
    /// User and password for a registry that takes HTTP Basic.
    basic: Option<(String, Secret)>,
    /// Plain requests, for an open or HTTP Basic registry; `None` for one
    /// that wants tokens. Asked once, on first use.
    direct: tokio::sync::OnceCell<Option<Direct>>,
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

    /// The client for the registry `reference` lives on, made on first use.
    async fn host(&self, reference: &Reference) -> Arc<HostClient> {
        let host = reference.resolve_registry().to_string();
        let mut hosts = self.hosts.lock().await;
        if let Some(client) = hosts.get(&host) {
            return client.clone();
        }
        let credentials = (self.credentials)(reference.registry());
        if let Some(c) = &credentials {
            crate::secret::register(c);
        }
        let protocol = if is_local(&host) {
            ClientProtocol::HttpsExcept(vec![host.clone()])
        } else {
            ClientProtocol::Https
        };
        let auth = match &credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string()),
            None => RegistryAuth::Anonymous,
        };
        let scheme = if is_local(&host) { "http" } else { "https" };
        let http = direct::client(self.timeouts.connect, self.timeouts.io, is_local(&host))
            .expect("an HTTP client with timeouts builds");
        let entry = Arc::new(HostClient {
            oci: tokio::sync::OnceCell::new(),
            protocol,
            timeouts: self.timeouts,
            auth,
            password: credentials.as_ref().map(|c| c.password.clone()),
            base: format!("{scheme}://{host}"),
            registry: host.clone(),
            http,
            basic: credentials.map(|c| (c.username, c.password)),
            direct: tokio::sync::OnceCell::new(),
            no_referrers_api: AtomicBool::new(false),
            seen_blobs: Default::default(),
            uploading: Default::default(),
            seen_manifests: Default::default(),
        });
        hosts.insert(host, entry.clone());
        entry
    }

    /// Plain requests for `host`, when its registry is open or takes HTTP
    /// Basic (its `/v2/` asked once); `None` when it wants tokens.
    async fn direct<'h>(&self, host: &'h HostClient) -> Result<Option<&'h Direct>, RegistryError> {
        let direct = host
            .direct
            .get_or_try_init(|| async {
                let access = direct::probe(
                    &host.http,
                    &host.base,
                    &host.registry,
                    host.timeouts.connect,
                )
                .await?;
                let basic = match access {
                    Access::Open => None,
                    Access::Basic => host.basic.clone(),
                    Access::Other => return Ok::<_, RegistryError>(None),
                };
                Ok(Some(Direct::new(
                    host.http.clone(),
                    host.base.clone(),
                    host.registry.clone(),
                    basic,
                    host.timeouts.connect,
                )))
            })
            .await?;
        Ok(direct.as_ref())
    }

    /// The manifest `image` names, and its digest; `None` if there is none.
    async fn get_manifest(
        &self,
        host: &HostClient,
        image: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let found = match self.direct(host).await? {
            Some(direct) => direct.manifest(image, MANIFEST_TYPES).await?,
            None => self.oci_manifest(host, image).await?,
        };
        if let Some((raw, digest)) = &found {
            host.saw_manifest(image, digest, raw);
        }
        Ok(found)
    }

    async fn oci_manifest(
        &self,
        host: &HostClient,
        image: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            host.base,
            image.repository(),
            image.digest().or(image.tag()).unwrap_or("latest")
        );
        let accept = MANIFEST_TYPES.join(", ");
        let password = host.password.as_ref();
        let response = host
            .pull_get(image, &url, &accept, "GET of a manifest")
            .await?;
        match response.status().as_u16() {
            200 => {
                let stated = direct::header(&response, "docker-content-digest");
                let what = format!("the manifest of {}", image.whole());
                let bytes =
                    direct::read_capped(response, super::MAX_MANIFEST, &host.registry, &what)
                        .await?;
                direct::checked_manifest(image, bytes, stated)
            }
            404 => Ok(None),
            401 | 403 => Err(RegistryError::Unauthorized {
                registry: image.registry().to_string(),
                reference: image.whole(),
            }),
            code => {
                let body = direct::read_prefix(response, 4096).await;
                Err(RegistryError::Other {
                    reference: image.whole(),
                    message: format!(
                        "the registry answered HTTP {code}: {}",
                        crate::text::cut(&redact(body.trim(), password), 300)
                    ),
                })
            }
        }
    }

    /// The manifest `image` (by digest) names: from what this run put or
    /// read in its repository, else from the registry; it must exist.
    async fn known_manifest(
        &self,
        host: &HostClient,
        image: &Reference,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        if let Some(digest) = image.digest() {
            let key = (image.repository().to_string(), digest.to_string());
            if let Some(raw) = host.seen_manifests.lock().expect("lock").get(&key) {
                return Ok((raw.clone(), digest.to_string()));
            }
        }
        self.need_manifest(host, image).await
    }

    /// The manifest `image` names, which must exist.
    async fn need_manifest(
        &self,
        host: &HostClient,
        image: &Reference,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        self.get_manifest(host, image)
            .await?
            .ok_or_else(|| RegistryError::Other {
                reference: image.whole(),
                message: "the registry has no such manifest".into(),
            })
    }

    /// The digest `image` resolves to (a `HEAD`); `None` if there is none.
    async fn head_manifest(
        &self,
        host: &HostClient,
        image: &Reference,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(direct) = self.direct(host).await? {
            return direct.digest(image, MANIFEST_TYPES).await;
        }
        let asked = host.client().await.fetch_manifest_digest(image, &host.auth);
        match host.within("HEAD of a manifest", asked).await? {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(host.error(e, image)),
        }
    }

    /// Puts manifest `bytes` of `media_type` under `target`. Returns the
    /// answer's `OCI-Subject` header: `Some(None)` when the answer had none,
    /// `None` when the answer's headers are not seen (a token registry,
    /// written through `oci-client`).
    async fn put_manifest(
        &self,
        host: &HostClient,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let seen = bytes.clone();
        let subject = match self.direct(host).await? {
            Some(direct) => Some(direct.put_manifest(target, bytes, media_type).await?),
            None => {
                self.oci_put_manifest(host, target, bytes, media_type)
                    .await?;
                None
            }
        };
        host.saw_manifest(target, &upload::sha256(&seen), &seen);
        Ok(subject)
    }

    async fn oci_put_manifest(
        &self,
        host: &HostClient,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let content_type = media_type.parse().map_err(|_| RegistryError::Other {
            reference: target.whole(),
            message: format!("unusable media type {media_type:?}"),
        })?;
        host.client()
            .await
            .push_manifest_raw(target, bytes, content_type)
            .await
            .map_err(|e| host.error(e, target))?;
        Ok(())
    }

    /// Whether `target`'s repository holds blob `digest`.
    async fn has_blob(
        &self,
        host: &HostClient,
        target: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        if host.seen_blob(target, digest) {
            return Ok(true);
        }
        let there = match self.direct(host).await? {
            Some(direct) => direct.blob_exists(target, digest).await?,
            None => host
                .within(
                    "HEAD of a blob",
                    host.client().await.blob_exists(target, digest),
                )
                .await?
                .map_err(|e| host.error(e, target))?,
        };
        if there {
            host.saw_blob(target, digest);
        }
        Ok(there)
    }

    /// Makes sure `target`'s repository holds blob `digest`, calling `send`
    /// when it does not. One check-and-send per (repository, digest) at a
    /// time: concurrent callers wait for the first and then see the blob.
    async fn ensure_blob<F, Fut>(
        &self,
        host: &HostClient,
        target: &Reference,
        digest: &str,
        send: F,
    ) -> Result<(), RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), RegistryError>>,
    {
        if host.seen_blob(target, digest) {
            return Ok(());
        }
        let lock = host.upload_lock(target, digest);
        let _sending = lock.lock().await;
        if self.has_blob(host, target, digest).await? {
            return Ok(());
        }
        send().await
    }

    /// Uploads `bytes` as blob `digest` of `target`'s repository.
    async fn put_blob(
        &self,
        host: &HostClient,
        target: &Reference,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        match self.direct(host).await? {
            Some(direct) => direct.push_bytes(target, digest, bytes).await?,
            None => {
                host.client()
                    .await
                    .push_blob(target, bytes, digest)
                    .await
                    .map_err(|e| host.error(e, target))?;
            }
        }
        host.saw_blob(target, digest);
        Ok(())
    }

    /// Uploads the file of `blob` into `target`'s repository.
    async fn put_blob_file(
        &self,
        host: &HostClient,
        target: &Reference,
        blob: &upload::Blob,
    ) -> Result<(), RegistryError> {
        if let Some(direct) = self.direct(host).await? {
            direct
                .push_file(target, &blob.digest, blob.size, &blob.path)
                .await?;
            host.saw_blob(target, &blob.digest);
            return Ok(());
        }
        let bytes = tokio::fs::read(&blob.path)
            .await
            .map_err(|e| RegistryError::Other {
                reference: target.whole(),
                message: format!("cannot read {}: {e}", blob.path.display()),
            })?;
        self.put_blob(host, target, &blob.digest, bytes).await
    }

    /// Copies manifest `digest` of `source` into `target` (a tag or digest
    /// reference). When the repositories differ, the blobs (or, for a
    /// multi-platform list, the platform manifests and their blobs) are
    /// mounted into the target repository first, as the registry requires.
    async fn copy_manifest(
        &self,
        host: &HostClient,
        source: &Reference,
        digest: &str,
        target: &Reference,
        depth: usize,
    ) -> Result<(), RegistryError> {
        let from = source.clone_with_digest(digest.to_string());
        let (raw, _) = self.known_manifest(host, &from).await?;
        let manifest = ManifestJson::parse(&raw).map_err(|message| RegistryError::Other {
            reference: from.whole(),
            message,
        })?;

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
                Box::pin(self.copy_manifest(host, source, child, &child_target, depth + 1)).await?;
            }
            for blob in &manifest.blobs {
                self.copy_blob(host, source, target, blob).await?;
            }
        }

        self.put_manifest(host, target, raw, &manifest.media_type)
            .await
            .map(drop)
    }

    /// Makes blob `digest` of `source`'s repository available in `target`'s:
    /// nothing if it is there already, a cross-repository mount if the registry
    /// allows one, otherwise a download-and-upload as the last resort.
    async fn copy_blob(
        &self,
        host: &HostClient,
        source: &Reference,
        target: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let lock = host.upload_lock(target, digest);
        let _sending = lock.lock().await;
        if self.has_blob(host, target, digest).await? {
            return Ok(());
        }
        let mount = host.client().await.mount_blob(target, source, digest);
        match host.within("a blob mount", mount).await? {
            Ok(()) => return Ok(()),
            Err(e) => {
                // A refused login or a dead connection will not get better by copying.
                let e = host.error(e, target);
                if !matches!(e, RegistryError::Other { .. }) {
                    return Err(e);
                }
            }
        }
        let from = source.clone_with_digest(digest.to_string());
        let blob = host
            .within(
                "GET of a blob",
                host.client().await.pull_blob_stream(&from, digest),
            )
            .await?
            .map_err(|e| host.error(e, &from))?;
        let size = blob.content_length;
        let stream = blob.stream.map_err(OciDistributionError::from);
        host.client()
            .await
            .push_blob_stream(target, stream, digest, size)
            .await
            .map_err(|e| host.error(e, target))?;
        Ok(())
    }
}

#[async_trait]
impl Registry for OciRegistry {
    async fn resolve(&self, reference: &str) -> Result<Option<Resolved>, RegistryError> {
        let image = parse(reference)?;
        let host = self.host(&image).await;
        let Some((raw, digest)) = self.get_manifest(&host, &image).await? else {
            return Ok(None);
        };
        let manifest = ManifestJson::parse(&raw).map_err(|message| RegistryError::Other {
            reference: reference.to_string(),
            message,
        })?;
        Ok(Some(Resolved {
            digest: Digest::new(digest),
            config_digest: manifest.config.map(ImageId::new),
            children: manifest.platforms,
        }))
    }

    async fn digest(&self, reference: &str) -> Result<Option<Digest>, RegistryError> {
        let image = parse(reference)?;
        let host = self.host(&image).await;
        Ok(self.head_manifest(&host, &image).await?.map(Digest::new))
    }

    async fn retag(
        &self,
        source_repo: &str,
        digest: &Digest,
        target: &str,
    ) -> Result<Digest, RegistryError> {
        let source = parse(&format!(
            "{}@{digest}",
            crate::reference::Reference::split(source_repo).name
        ))?;
        let target_ref = parse(target)?;
        if source.resolve_registry() != target_ref.resolve_registry() {
            return Err(RegistryError::Other {
                reference: target.to_string(),
                message: format!(
                    "cannot retag across registries (source is on {})",
                    source.registry()
                ),
            });
        }
        let host = self.host(&target_ref).await;
        self.copy_manifest(&host, &source, digest, &target_ref, 0)
            .await?;

        let now = self
            .head_manifest(&host, &target_ref)
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

    async fn check(&self, reference: &str) -> Result<(), RegistryError> {
        let repo = parse(crate::reference::Reference::split(reference).name)?;
        let host = self.host(&repo).await;
        if let Some(direct) = self.direct(&host).await? {
            return direct.check(&repo).await;
        }
        let asked = host
            .client()
            .await
            .list_tags(&repo, &host.auth, Some(1), None);
        match host.within("a tag list", asked).await? {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(host.error(e, &repo)),
        }
    }

    async fn upload(&self, saved: &std::path::Path, target: &str) -> Result<Digest, RegistryError> {
        let other = |message: String| RegistryError::Other {
            reference: target.to_string(),
            message,
        };
        let archive = saved.to_owned();
        let image = tokio::task::spawn_blocking(move || upload::Saved::unpack(&archive))
            .await
            .map_err(|e| other(format!("unpacking the exported image failed: {e}")))?
            .map_err(other)?;
        let r = crate::reference::Reference::split(target);
        let target_ref = parse(target)?;
        let host = self.host(&target_ref).await;
        // A few blobs at once: each is checked, and sent only if missing.
        let sends: Vec<_> = std::iter::once(&image.config)
            .chain(&image.layers)
            .map(
                |blob| -> futures_util::future::BoxFuture<'_, Result<(), RegistryError>> {
                    let (host, target_ref) = (&host, &target_ref);
                    Box::pin(async move {
                        self.ensure_blob(host, target_ref, &blob.digest, || {
                            self.put_blob_file(host, target_ref, blob)
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
        let put_ref = if r.tag.is_none() && r.digest.is_none() {
            target_ref.clone_with_digest(digest.clone())
        } else {
            target_ref.clone()
        };
        self.put_manifest(&host, &put_ref, manifest, upload::MANIFEST_MEDIA_TYPE)
            .await?;
        Ok(Digest::new(digest))
    }

    async fn put_index(
        &self,
        target: &str,
        children: &[(Digest, crate::reference::Platform)],
    ) -> Result<Digest, RegistryError> {
        let target_ref = parse(target)?;
        let host = self.host(&target_ref).await;
        let mut manifests = Vec::with_capacity(children.len());
        let mut raws = Vec::with_capacity(children.len());
        for (digest, platform) in children {
            let child = target_ref.clone_with_digest(digest.to_string());
            let (raw, _) = self.known_manifest(&host, &child).await?;
            let media_type = ManifestJson::parse(&raw)
                .map_err(|message| RegistryError::Other {
                    reference: child.whole(),
                    message,
                })?
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
        self.put_manifest(&host, &target_ref, bytes, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await?;
        Ok(Digest::new(digest))
    }

    async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let repo = parse(crate::reference::Reference::split(repository).name)?;
        let host = self.host(&repo).await;
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
                .pull_get(&repo, url.as_str(), "application/json", "a tag list")
                .await?;
            let page: Vec<String> = match response.status().as_u16() {
                200 => {
                    let what = format!("a page of the tags of {}", repo.whole());
                    let body =
                        direct::read_capped(response, super::MAX_TAGS_PAGE, &host.registry, &what)
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
        let tags = tags.into_iter().collect();
        Ok(tags)
    }

    async fn manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        let image = parse(reference)?;
        let host = self.host(&image).await;
        let Some((raw, _)) = self.get_manifest(&host, &image).await? else {
            return Ok(None);
        };
        let media_type = ManifestJson::parse(&raw)
            .map(|m| m.media_type)
            .or_else(|_| media_type_of(&raw))
            .map_err(|message| RegistryError::Other {
                reference: reference.to_string(),
                message,
            })?;
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
        repository: &str,
        digest: &str,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let at = format!(
            "{}@{digest}",
            crate::reference::Reference::split(repository).name
        );
        let image = parse(&at)?;
        let host = self.host(&image).await;
        let other = |message: String| RegistryError::Other {
            reference: at.clone(),
            message,
        };
        let mut stream = host
            .within(
                "GET of a blob",
                host.client().await.pull_blob_stream(&image, digest),
            )
            .await?
            .map_err(|e| host.error(e, &image))?;
        if stream.content_length.is_some_and(|n| n > max) {
            return Err(other(format!("the blob is larger than {max} bytes")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
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

    async fn attach(
        &self,
        repository: &str,
        subject: &Digest,
        artifact: &referrers::Artifact,
    ) -> Result<(Digest, referrers::Listed), RegistryError> {
        let name = crate::reference::Reference::split(repository).name;
        let subject_ref = parse(&format!("{name}@{subject}"))?;
        let host = self.host(&subject_ref).await;
        let other = |message: String| RegistryError::Other {
            reference: subject_ref.whole(),
            message,
        };
        // The subject must be there; its media type and size go into the
        // artifact manifest's `subject`.
        let (raw, _) = self.known_manifest(&host, &subject_ref).await?;
        let media_type = ManifestJson::parse(&raw).map_err(other)?.media_type;
        let descriptor = referrers::Descriptor {
            media_type,
            digest: subject.to_string(),
            size: raw.len() as u64,
        };
        for blob in [referrers::EMPTY_BLOB, artifact.content.as_slice()] {
            let digest = upload::sha256(blob);
            self.ensure_blob(&host, &subject_ref, &digest, || {
                self.put_blob(&host, &subject_ref, &digest, blob.to_vec())
            })
            .await?;
        }
        let manifest = referrers::artifact_manifest(artifact, &descriptor);
        let digest = upload::sha256(&manifest);
        let artifact_ref = subject_ref.clone_with_digest(digest.clone());
        let answer = self
            .put_manifest(
                &host,
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
                if let Some(index) = self.referrers_api(&host, &subject_ref).await? {
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
            let index = self
                .get_manifest(&host, &tag_ref)
                .await?
                .map(|(raw, _)| raw);
            let Some(grown) =
                referrers::index_with(index.as_deref(), &manifest, artifact).map_err(other)?
            else {
                return Ok((Digest::new(digest), referrers::Listed::ByTag(tag)));
            };
            self.put_manifest(&host, &tag_ref, grown, referrers::INDEX_MEDIA_TYPE)
                .await?;
        }
        Err(other(format!(
            "the referrers index under tag {tag} kept changing; the artifact {digest} is stored but not listed"
        )))
    }

    async fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<referrers::Referrer>, RegistryError> {
        let name = crate::reference::Reference::split(repository).name;
        let subject_ref = parse(&format!("{name}@{subject}"))?;
        let host = self.host(&subject_ref).await;
        let other = |message: String| RegistryError::Other {
            reference: subject_ref.whole(),
            message,
        };
        let index = match self.referrers_api(&host, &subject_ref).await? {
            Some(index) => index,
            None => {
                let tag_ref = Reference::with_tag(
                    subject_ref.registry().to_string(),
                    subject_ref.repository().to_string(),
                    referrers::fallback_tag(subject),
                );
                match self.get_manifest(&host, &tag_ref).await? {
                    Some((raw, _)) => raw,
                    None => return Ok(Vec::new()),
                }
            }
        };
        referrers::entries(&index, artifact_type).map_err(other)
    }
}

/// How often the referrers tag schema's index is re-read and re-written
/// when concurrent writers keep replacing it.
const TAG_SCHEMA_TRIES: usize = 8;

impl OciRegistry {
    /// The referrers API's list for `subject` (`GET /v2/<name>/referrers/<digest>`),
    /// or `None` when the registry has no such API (it answers 404).
    async fn referrers_api(
        &self,
        host: &HostClient,
        subject: &Reference,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        if host.no_referrers_api.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let url = format!(
            "{}/v2/{}/referrers/{}",
            host.base,
            subject.repository(),
            subject.digest().unwrap_or_default()
        );
        let mut request = host
            .http
            .get(&url)
            .header("Accept", referrers::INDEX_MEDIA_TYPE);
        if let RegistryAuth::Basic(user, password) = &host.auth {
            request = request.basic_auth(user, Some(password));
        }
        let unreachable = |e: reqwest::Error| RegistryError::Unreachable {
            registry: subject.registry().to_string(),
            message: redact(&error_chain(&e), host.password.as_ref()),
        };
        let response = host
            .within("GET of the referrers list", request.send())
            .await?
            .map_err(unreachable)?;
        match response.status().as_u16() {
            200 => Ok(Some(self.referrers_pages(host, subject, response).await?)),
            // No referrers API; a token-based registry that wants a token
            // for it is read through the tag schema as well. A registry
            // does not grow one during a run: it is not asked again.
            404 | 401 | 400 | 405 => {
                host.no_referrers_api.store(true, Ordering::Relaxed);
                Ok(None)
            }
            code => Err(RegistryError::Other {
                reference: subject.whole(),
                message: format!("the referrers API answered HTTP {code}"),
            }),
        }
    }
}

impl OciRegistry {
    /// The referrers API's list for `subject`, from its first page
    /// `response` on: each page read with a cap, the next one followed as
    /// its `Link` header says, at most `MAX_REFERRERS_PAGES` pages; the
    /// pages' `manifests` joined into one index.
    async fn referrers_pages(
        &self,
        host: &HostClient,
        subject: &Reference,
        first: reqwest::Response,
    ) -> Result<Vec<u8>, RegistryError> {
        let password = host.password.as_ref();
        let what = format!("the referrers of {}", subject.whole());
        let mut response = first;
        let mut all: Vec<serde_json::Value> = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            let next = direct::header(&response, "link").and_then(|l| next_link(&l));
            let page =
                direct::read_capped(response, super::MAX_REFERRERS_PAGE, &host.registry, &what)
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
                    registry: host.registry.clone(),
                    message: format!(
                        "it lists the referrers of {} on more than {} pages, more than strata \
                         reads; a registry that does is not usable",
                        subject.whole(),
                        super::MAX_REFERRERS_PAGES
                    ),
                });
            }
            let url = if next.starts_with('/') {
                format!("{}{next}", host.base)
            } else {
                next
            };
            if !url.starts_with(&format!("{}/", host.base)) {
                return Err(RegistryError::Other {
                    reference: subject.whole(),
                    message: format!(
                        "the referrers list's next page is on another host: {}",
                        crate::text::cut(&url, 200)
                    ),
                });
            }
            let mut request = host
                .http
                .get(&url)
                .header("Accept", referrers::INDEX_MEDIA_TYPE);
            if let RegistryAuth::Basic(user, pw) = &host.auth {
                request = request.basic_auth(user, Some(pw));
            }
            response = host
                .within("GET of the referrers list", request.send())
                .await?
                .map_err(|e| direct::unreachable(&host.registry, &e, password))?;
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
        Ok(serde_json::to_vec(&joined).expect("JSON values serialise"))
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
fn media_type_of(raw: &[u8]) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| format!("manifest is not JSON: {e}"))?;
    Ok(v.get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(OCI_IMAGE_MEDIA_TYPE)
        .to_string())
}

impl HostClient {
    /// `GET url` (a question about `image`'s repository), with the token
    /// `oci-client` fetches and caches for pulling from it (or the Basic
    /// credentials), answered within the connect timeout. strata reads the
    /// body itself, with a cap: `oci-client` reads bodies whole.
    async fn pull_get(
        &self,
        image: &Reference,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let token = self
            .within(
                "a token request",
                self.client()
                    .await
                    .auth(image, &self.auth, oci_client::RegistryOperation::Pull),
            )
            .await?
            .map_err(|e| self.error(e, image))?;
        let mut request = self.http.get(url).header("Accept", accept);
        request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        self.within(what, request.send())
            .await?
            .map_err(|e| direct::unreachable(&self.registry, &e, self.password.as_ref()))
    }

    /// `request` (one without a body) answered within the connect timeout
    /// (`direct::answer_within`), else the registry is unreachable.
    async fn within<F: std::future::Future>(
        &self,
        what: &str,
        request: F,
    ) -> Result<F::Output, RegistryError> {
        direct::answer_within(self.timeouts.connect, &self.registry, what, request).await
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

    /// `oci-client`'s client for this host, made on first use.
    async fn client(&self) -> &Client {
        self.oci
            .get_or_init(|| async {
                let client = Client::new(ClientConfig {
                    protocol: self.protocol.clone(),
                    connect_timeout: Some(self.timeouts.connect),
                    read_timeout: Some(self.timeouts.io),
                    ..Default::default()
                });
                // Calls that take no credentials (blob checks, mounts) use the stored ones.
                client
                    .store_auth_if_needed(&self.registry, &self.auth)
                    .await;
                client
            })
            .await
    }

    /// Maps a client error onto strata's kinds, with the password scrubbed
    /// from the text in case a registry or proxy echoed it back.
    fn error(&self, error: OciDistributionError, reference: &Reference) -> RegistryError {
        classify(error, reference, self.password.as_ref())
    }
}

/// Maps an `oci-client` error onto [`RegistryError`]: refused credentials
/// become `Unauthorized`, failed connections `Unreachable`, the rest `Other`.
fn classify(
    error: OciDistributionError,
    reference: &Reference,
    password: Option<&Secret>,
) -> RegistryError {
    let registry = reference.registry().to_string();
    let whole = reference.whole();
    if is_unauthorized(&error) {
        return RegistryError::Unauthorized {
            registry,
            reference: whole,
        };
    }
    let message = redact(&error_chain(&error), password);
    if let OciDistributionError::RequestError(e) = &error {
        if e.is_timeout() {
            return RegistryError::Unreachable {
                registry,
                message: format!(
                    "no answer within the timeout (--io-timeout, --connect-timeout): {message}"
                ),
            };
        }
        if e.is_connect() {
            return RegistryError::Unreachable { registry, message };
        }
    }
    RegistryError::Other {
        reference: whole,
        message,
    }
}

fn is_unauthorized(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        OciDistributionError::RequestError(e) => e
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        _ => false,
    }
}

/// Whether the registry said the manifest, tag or repository does not exist.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
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

/// Parses a reference the way Docker does (a bare name is on Docker Hub).
///
/// A reference strata's own parser accepts is put together from its parts:
/// oci-client's parser runs a large regular expression whose scratch space
/// (megabytes, one per thread that used it) would stay for the whole run.
fn parse(reference: &str) -> Result<Reference, RegistryError> {
    if let Ok(r) = crate::reference::parse(reference) {
        if r.name.len() <= 255 {
            // Docker's rule: the first part is a registry if it looks like a host.
            let (registry, repository) = match r.name.split_once('/') {
                Some((first, rest))
                    if first.contains('.') || first.contains(':') || first == "localhost" =>
                {
                    (first.to_string(), rest.to_string())
                }
                _ => ("docker.io".to_string(), r.name.to_string()),
            };
            let registry = match registry.as_str() {
                "index.docker.io" => "docker.io".to_string(),
                _ => registry,
            };
            let repository = match (registry.as_str(), repository.contains('/')) {
                ("docker.io", false) => format!("library/{repository}"),
                _ => repository,
            };
            let tag = r.tag.map(str::to_string);
            return Ok(match (tag, r.digest) {
                (Some(tag), Some(digest)) => {
                    Reference::with_tag_and_digest(registry, repository, tag, digest.to_string())
                }
                (None, Some(digest)) => {
                    Reference::with_digest(registry, repository, digest.to_string())
                }
                (tag, None) => {
                    Reference::with_tag(registry, repository, tag.unwrap_or("latest".into()))
                }
            });
        }
    }
    reference.parse().map_err(|e| RegistryError::Other {
        reference: reference.to_string(),
        message: format!("not an image reference: {e}"),
    })
}

/// Registries on this machine, which Docker talks to over plain HTTP.
fn is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1")
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
    fn parse(raw: &[u8]) -> Result<Self, String> {
        let json: serde_json::Value =
            serde_json::from_slice(raw).map_err(|e| format!("manifest is not JSON: {e}"))?;
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
            .ok_or_else(|| "manifest names no config digest".to_string())?;
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
            let ours = parse(&text).unwrap();
            let theirs: Reference = text.parse().unwrap();
            assert_eq!(ours.registry(), theirs.registry(), "{text}");
            assert_eq!(ours.repository(), theirs.repository(), "{text}");
            assert_eq!(ours.tag(), theirs.tag(), "{text}");
            assert_eq!(ours.digest(), theirs.digest(), "{text}");
            assert_eq!(ours.whole(), theirs.whole(), "{text}");
        }
        assert!(parse("Not A Reference").is_err());
    }
    use oci_client::errors::{OciEnvelope, OciError};

    fn reference() -> Reference {
        "127.0.0.1:5001/acme/app:1".parse().unwrap()
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
        assert_eq!(m.media_type, IMAGE_MANIFEST_MEDIA_TYPE);
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
        assert_eq!(m.media_type, IMAGE_MANIFEST_MEDIA_TYPE);
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

    #[test]
    fn classifies_errors() {
        let r = reference();
        let unauthorized = classify(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            &r,
            None,
        );
        assert!(matches!(unauthorized, RegistryError::Unauthorized { .. }));
        let denied = classify(
            OciDistributionError::ServerError {
                code: 403,
                url: "u".into(),
                message: "denied".into(),
            },
            &r,
            None,
        );
        assert!(matches!(denied, RegistryError::Unauthorized { .. }));
        let missing = OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code: OciErrorCode::ManifestUnknown,
                    message: "manifest unknown".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "u".into(),
        };
        assert!(is_not_found(&missing));
        assert!(matches!(
            classify(missing, &r, None),
            RegistryError::Other { .. }
        ));
    }

    #[test]
    fn scrubs_the_password_from_error_text() {
        let password = Secret::new("hunter2-very-secret");
        let error = OciDistributionError::ServerError {
            code: 500,
            url: "http://127.0.0.1:5001/v2/".into(),
            message: "bad login strata:hunter2-very-secret".into(),
        };
        let mapped = classify(error, &reference(), Some(&password));
        let shown = format!("{mapped} {mapped:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn unreachable_registry_is_reported_as_such() {
        // A port that was just free: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let registry = OciRegistry::new(|_| None);
        let err = registry
            .resolve(&format!("127.0.0.1:{port}/acme/app:1"))
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    }
}
