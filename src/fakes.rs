//! In-memory fakes of the engine and the registry, for unit tests of the
//! executor's, `publish`'s and `verify`'s rules (`exec/rules_tests.rs`).
//! Integration tests use the real ones; these only model what the rules
//! depend on:
//!
//! * an image ID is the digest of what was built (the Dockerfile's text, or
//!   the inline text of a test layer), so an unchanged image rebuilds to the
//!   same ID and an edited one to another, as with the engine's cache;
//! * a manifest digest is the digest of its image ID, and a tag in the
//!   registry points at a manifest, so a re-tag moves no layer;
//! * every call is logged, so a test can say what was (not) asked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::engine::{
    BuildRequest, Dockerfile, Engine, EngineError, EngineInfo, ImageId, ImageRef, LogSink,
    Repository, RunCommand, RunContainer, RunOutput,
};
use crate::reference::{normalize, Reference};
use crate::registry::referrers::{
    artifact_manifest, fallback_tag, sha256, Artifact, Descriptor, Listed, Referrer,
    INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use crate::registry::{Digest, Manifest, RegistryError, RegistryRead, RegistryWrite, Resolved};

fn sha(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// Called with the reference an engine `tag` call points.
pub type TagHook = Box<dyn Fn(&str) + Send>;

/// An engine holding tags in memory.
#[derive(Default)]
pub struct FakeEngine {
    /// Local tags: reference → image ID.
    pub tags: Mutex<BTreeMap<String, ImageId>>,
    /// Builds (by the tag they would get) that fail.
    pub failing: Mutex<BTreeSet<String>>,
    /// Every call, as `verb argument`.
    pub calls: Mutex<Vec<String>>,
    /// Inline Dockerfiles built (test layers), in order.
    pub inline: Mutex<Vec<String>>,
    /// Called at every `tag`: lets a test act in the middle of a run.
    pub on_tag: Mutex<Option<TagHook>>,
    /// `tags_of` answers nothing, as an engine that matches names otherwise.
    pub hidden: std::sync::atomic::AtomicBool,
    /// Tagging this reference fails this many more times.
    pub failing_tags: Mutex<BTreeMap<String, u32>>,
    /// Files in every image, by absolute path, for `read_files`.
    pub files: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Each built image's layers: its base's, then one for what was built.
    pub layers: Mutex<BTreeMap<ImageId, Vec<String>>>,
}

impl FakeEngine {
    pub fn fail(&self, tag: &str) {
        self.failing.lock().unwrap().insert(tag.to_string());
    }

    /// Points `reference` at `id`, as someone outside strata might.
    pub fn set(&self, reference: &str, id: &ImageId) {
        self.tags
            .lock()
            .unwrap()
            .insert(reference.to_string(), id.clone());
    }

    pub fn get(&self, reference: &str) -> Option<ImageId> {
        self.tags.lock().unwrap().get(reference).cloned()
    }

    /// The calls whose verb is `verb`, by argument.
    pub fn calls_of(&self, verb: &str) -> Vec<String> {
        let prefix = format!("{verb} ");
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    pub fn hide_from_lists(&self, hidden: bool) {
        self.hidden
            .store(hidden, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn forget_calls(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl Engine for FakeEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        Ok(EngineInfo {
            version: "fake".into(),
            api_version: "1.41".into(),
            endpoint: "memory".into(),
        })
    }

    async fn build(&self, request: BuildRequest, log: LogSink<'_>) -> Result<ImageId, EngineError> {
        let tag = request
            .tag
            .as_ref()
            .map(ImageRef::to_string)
            .unwrap_or_default();
        self.log(format!("build {tag}"));
        let text = match &request.context.dockerfile {
            Dockerfile::Path(p) => std::fs::read_to_string(request.context.dir.join(p))
                .map_err(|e| EngineError::Api(e.to_string()))?,
            Dockerfile::Inline(text) => {
                self.inline.lock().unwrap().push(text.clone());
                text.clone()
            }
        };
        if self.failing.lock().unwrap().contains(&tag) {
            log("step 2/2 : RUN false");
            return Err(EngineError::BuildFailed(format!(
                "the command '/bin/sh -c false' returned a non-zero code: 1 ({tag})"
            )));
        }
        let id = ImageId::new(sha(&text));
        // Layers as an engine stacks them: the base's, then this build's.
        let base = crate::dockerfile::final_base(&text).unwrap_or_default();
        let base = match base.starts_with("sha256:") {
            true => Some(ImageId::new(base)),
            false => self.get(&base),
        };
        let mut layers = base
            .and_then(|b| self.layers.lock().unwrap().get(&b).cloned())
            .unwrap_or_default();
        layers.push(sha(&format!("layer {text}")));
        self.layers.lock().unwrap().insert(id.clone(), layers);
        if !tag.is_empty() {
            self.set(&tag, &id);
        }
        Ok(id)
    }

    async fn layers(&self, id: &ImageId) -> Result<Option<Vec<String>>, EngineError> {
        self.log(format!("layers {id}"));
        Ok(Some(
            self.layers
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .unwrap_or_default(),
        ))
    }

    async fn image_id(&self, reference: &ImageRef) -> Result<Option<ImageId>, EngineError> {
        self.log(format!("inspect {reference}"));
        Ok(self.get(reference))
    }

    /// Tags are held as given; they are matched and answered normalized.
    async fn tags_of(
        &self,
        repositories: &[Repository],
    ) -> Result<Vec<(String, ImageId)>, EngineError> {
        let names: Vec<&str> = repositories.iter().map(Repository::as_str).collect();
        self.log(format!("tags_of {}", names.join(" ")));
        if self.hidden.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(vec![]);
        }
        let wanted: Vec<String> = repositories.iter().map(Repository::normalized).collect();
        Ok(self
            .tags
            .lock()
            .unwrap()
            .iter()
            .map(|(tag, id)| (normalize(tag), id.clone()))
            .filter(|(tag, _)| wanted.iter().any(|w| Reference::split(tag).name == w))
            .collect())
    }

    async fn tag(&self, id: &ImageId, reference: &ImageRef) -> Result<(), EngineError> {
        self.log(format!("tag {reference}"));
        if let Some(n) = self
            .failing_tags
            .lock()
            .unwrap()
            .get_mut(reference.as_str())
        {
            if *n > 0 {
                *n -= 1;
                return Err(EngineError::Api(format!("tagging {reference}: busy")));
            }
        }
        self.set(reference, id);
        if let Some(hook) = self.on_tag.lock().unwrap().as_ref() {
            hook(reference);
        }
        Ok(())
    }

    async fn import(
        &self,
        _rootfs_tar: PathBuf,
        reference: &ImageRef,
    ) -> Result<ImageId, EngineError> {
        let id = ImageId::new(sha(reference));
        self.set(reference, &id);
        Ok(id)
    }

    /// The "archive" is the image ID as text: what the fake registry uploads.
    async fn export(&self, id: &ImageId, dest: &Path) -> Result<(), EngineError> {
        self.log(format!("export {id}"));
        std::fs::write(dest, id.as_str()).map_err(|e| EngineError::Api(e.to_string()))
    }

    async fn read_files(
        &self,
        id: &ImageId,
        paths: &[&str],
        _max_bytes: u64,
    ) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        self.log(format!("read_files {id}"));
        let files = self.files.lock().unwrap();
        Ok(paths.iter().map(|p| files.get(*p).cloned()).collect())
    }

    async fn remove(&self, reference: &ImageRef) -> Result<(), EngineError> {
        self.log(format!("remove {reference}"));
        self.tags.lock().unwrap().remove(reference.as_str());
        Ok(())
    }

    /// Removes every tag on `id`, as removing an image does.
    async fn remove_id(&self, id: &ImageId) -> Result<(), EngineError> {
        self.log(format!("remove {id}"));
        self.tags.lock().unwrap().retain(|_, held| held != id);
        Ok(())
    }

    async fn run(
        &self,
        image: &str,
        _command: &RunCommand,
        _timeout: Duration,
        _platform: Option<&crate::reference::Platform>,
    ) -> Result<RunOutput, EngineError> {
        self.log(format!("run {image}"));
        Ok(RunOutput {
            exit_code: Some(0),
            ..RunOutput::default()
        })
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        Ok(vec![])
    }

    async fn remove_container(&self, _id: &str) -> Result<(), EngineError> {
        Ok(())
    }
}

/// A registry holding manifests and tags in memory.
#[derive(Default)]
pub struct FakeRegistry {
    /// Manifest digest → the image ID (config digest) it names.
    pub manifests: Mutex<BTreeMap<String, ImageId>>,
    /// `host/repo:tag` → manifest digest.
    pub tags: Mutex<BTreeMap<String, Digest>>,
    /// Every write, as `verb argument`.
    pub calls: Mutex<Vec<String>>,
    /// After an upload to this tag, or a re-tag of an uploaded image to it,
    /// someone moves it to this image ID.
    pub hijack: Mutex<Option<(String, ImageId)>>,
    /// Manifests that came by `upload` (not put by "someone else").
    uploaded: Mutex<BTreeSet<Digest>>,
    /// Attaching fails while this is set.
    pub failing_attach: std::sync::atomic::AtomicBool,
    /// Attaching in these repositories (`host/repo`) fails.
    pub failing_attach_in: Mutex<BTreeSet<String>>,
    /// Attached artifacts: (subject digest, entry, content).
    pub attached: Mutex<Vec<(Digest, Referrer, Vec<u8>)>>,
    /// The repository each of `attached` was attached in (referrers live in
    /// their subject's repository).
    attached_in: Mutex<Vec<String>>,
    /// Every tag read (`resolve` or `digest`), as `verb reference`.
    pub reads: Mutex<Vec<String>>,
    /// Requests under way, and the most there were at once.
    in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    /// Manifests being put under a tag right now.
    putting: Mutex<BTreeSet<Digest>>,
    /// Re-tagging to this reference fails this many more times.
    pub failing_retags: Mutex<BTreeMap<String, u32>>,
    /// Manifests held as bytes (indexes, artifact manifests, forged ones),
    /// by digest: (media type, bytes).
    pub raw: Mutex<BTreeMap<String, (String, Vec<u8>)>>,
    /// Blobs by digest (attached layers, forged configs).
    pub blobs: Mutex<BTreeMap<String, Vec<u8>>>,
    /// The platform each image's config names (`linux/amd64` if not here).
    pub platforms: Mutex<BTreeMap<ImageId, String>>,
    /// Listing referrers fails with what this makes of the repository.
    pub failing_referrers: Mutex<Option<ReferrersFailure>>,
}

/// The error a registry's referrers listing gives, made from the repository.
pub type ReferrersFailure = Box<dyn Fn(&str) -> RegistryError + Send>;

impl FakeRegistry {
    /// The manifest digest of an image ID's manifest.
    pub fn digest_of(id: &ImageId) -> Digest {
        Digest::new(sha(id.as_str()))
    }

    /// Stores `id`'s manifest under `reference`, as another pusher might.
    pub fn put(&self, reference: &str, id: &ImageId) -> Digest {
        let digest = Self::digest_of(id);
        self.manifests
            .lock()
            .unwrap()
            .insert(digest.to_string(), id.clone());
        self.tags
            .lock()
            .unwrap()
            .insert(reference.to_string(), digest.clone());
        digest
    }

    /// The digest `reference` (a tag, or `repo@digest` of a manifest held) names.
    pub fn get(&self, reference: &str) -> Option<Digest> {
        if let Some((_, digest)) = reference.split_once('@') {
            return self
                .manifests
                .lock()
                .unwrap()
                .contains_key(digest)
                .then(|| Digest::new(digest.to_string()));
        }
        self.tags.lock().unwrap().get(reference).cloned()
    }

    pub fn writes(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Forgets the requests so far, and the most there were at once.
    pub fn forget_calls(&self) {
        self.calls.lock().unwrap().clear();
        self.reads.lock().unwrap().clear();
        self.peak.store(0, Ordering::SeqCst);
    }

    /// The reads whose verb is `verb`, by argument.
    pub fn reads_of(&self, verb: &str) -> Vec<String> {
        let prefix = format!("{verb} ");
        self.reads
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// A request that takes a few milliseconds, so that requests made at
    /// once overlap and [`FakeRegistry::peak`] counts them.
    async fn request(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stores a manifest as bytes (an index, an artifact manifest, or one
    /// forged) under its digest, and under `tag` when given.
    pub fn put_raw(&self, tag: Option<&str>, media_type: &str, bytes: Vec<u8>) -> Digest {
        let digest = Digest::new(sha256(&bytes));
        self.raw
            .lock()
            .unwrap()
            .insert(digest.to_string(), (media_type.to_string(), bytes));
        if let Some(tag) = tag {
            self.tags
                .lock()
                .unwrap()
                .insert(tag.to_string(), digest.clone());
        }
        digest
    }

    /// Stores a blob under its digest, which it returns.
    pub fn put_blob(&self, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        self.blobs.lock().unwrap().insert(digest.clone(), bytes);
        digest
    }

    /// Lists `entry` among `subject`'s referrers in `repository`, as anyone
    /// who can push there can (its manifest need not be held, nor name
    /// `subject`).
    pub fn list_referrer(&self, repository: &str, subject: &Digest, entry: Referrer) {
        self.attached
            .lock()
            .unwrap()
            .push((subject.clone(), entry, Vec::new()));
        self.attached_in
            .lock()
            .unwrap()
            .push(repository.to_string());
    }

    /// The digest `reference` (a tag, or `repo@digest`) names among every
    /// manifest held, images' and raw ones.
    fn held(&self, reference: &str) -> Option<Digest> {
        if let Some((_, digest)) = reference.split_once('@') {
            let known = self.manifests.lock().unwrap().contains_key(digest)
                || self.raw.lock().unwrap().contains_key(digest);
            return known.then(|| Digest::new(digest.to_string()));
        }
        self.tags.lock().unwrap().get(reference).cloned()
    }

    /// The manifest `reference` names: one held as bytes, or an image's
    /// (an OCI image manifest whose config digest is its image ID, the
    /// digest being the fake's own, not its bytes').
    fn manifest_of(&self, reference: &str) -> Option<crate::registry::Manifest> {
        let digest = self.held(reference)?;
        if let Some((media_type, bytes)) = self.raw.lock().unwrap().get(digest.as_str()) {
            return Some(crate::registry::Manifest {
                digest,
                media_type: media_type.clone(),
                bytes: bytes.clone(),
            });
        }
        let id = self
            .manifests
            .lock()
            .unwrap()
            .get(digest.as_str())
            .cloned()?;
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": id.as_str(),
                "size": 0,
            },
            "layers": [],
        }))
        .unwrap();
        Some(crate::registry::Manifest {
            digest,
            media_type: MANIFEST_MEDIA_TYPE.into(),
            bytes,
        })
    }

    /// Blob `digest`: one held, or an image's config (its platform), at
    /// most `max` bytes, as the real client caps it.
    fn blob_of(&self, repository: &str, digest: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let config = || {
            let id = ImageId::new(digest.to_string());
            let known = self.manifests.lock().unwrap().values().any(|i| *i == id);
            known.then(|| {
                let platform = self.platforms.lock().unwrap().get(&id).cloned();
                let platform = platform.unwrap_or_else(|| "linux/amd64".into());
                let mut parts = platform.splitn(3, '/');
                let mut config = serde_json::json!({
                    "os": parts.next().unwrap_or_default(),
                    "architecture": parts.next().unwrap_or_default(),
                });
                if let Some(variant) = parts.next() {
                    config["variant"] = variant.into();
                }
                serde_json::to_vec(&config).unwrap()
            })
        };
        let held = self.blobs.lock().unwrap().get(digest).cloned();
        let bytes = held.or_else(config).ok_or_else(|| RegistryError::Other {
            reference: format!("{repository}@{digest}"),
            message: "blob unknown".into(),
        })?;
        if bytes.len() as u64 > max {
            return Err(RegistryError::Other {
                reference: format!("{repository}@{digest}"),
                message: format!("the blob is larger than {max} bytes"),
            });
        }
        Ok(bytes)
    }

    /// Puts an OCI index of `children` under `target`, as a registry holds it.
    fn index_of(&self, target: &str, children: &[(Digest, crate::reference::Platform)]) -> Digest {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(digest, platform)| {
                let mut entry = serde_json::json!({
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": digest.as_str(),
                    "size": 1,
                    "platform": { "architecture": platform.architecture, "os": platform.os },
                });
                if let Some(v) = &platform.variant {
                    entry["platform"]["variant"] = v.clone().into();
                }
                entry
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": manifests,
        });
        self.put_raw(
            Some(target),
            INDEX_MEDIA_TYPE,
            serde_json::to_vec(&index).unwrap(),
        )
    }

    /// What `digest` resolves to: an index's children, or an image's ID.
    fn resolved(&self, digest: Digest) -> Resolved {
        let config = self.manifests.lock().unwrap().get(digest.as_str()).cloned();
        let children = match self.raw.lock().unwrap().get(digest.as_str()) {
            Some((media_type, bytes)) if media_type == INDEX_MEDIA_TYPE => {
                let index: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
                index["manifests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        let p = &m["platform"];
                        let part = |k: &str| p[k].as_str().map(str::to_string);
                        let platform = match (part("os"), part("architecture"), part("variant")) {
                            (Some(os), Some(arch), Some(v)) => Some(format!("{os}/{arch}/{v}")),
                            (Some(os), Some(arch), None) => Some(format!("{os}/{arch}")),
                            _ => None,
                        };
                        crate::registry::IndexChild {
                            digest: Digest::new(m["digest"].as_str().unwrap_or_default()),
                            platform,
                        }
                    })
                    .collect()
            }
            _ => vec![],
        };
        Resolved {
            digest,
            config_digest: config,
            children,
        }
    }

    /// Keeps an attached artifact's manifest and layer, to be read back.
    fn keep_artifact(&self, manifest: Vec<u8>, content: &[u8]) {
        self.put_raw(None, MANIFEST_MEDIA_TYPE, manifest);
        self.put_blob(content.to_vec());
    }

    /// The contents of the artifacts attached to `subject`, oldest first.
    pub fn attached_to(&self, subject: &Digest) -> Vec<Vec<u8>> {
        self.attached
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| s == subject)
            .map(|(_, _, content)| content.clone())
            .collect()
    }
}

#[async_trait]
impl RegistryRead for FakeRegistry {
    async fn resolve(&self, reference: &ImageRef) -> Result<Option<Resolved>, RegistryError> {
        self.reads
            .lock()
            .unwrap()
            .push(format!("resolve {reference}"));
        self.request().await;
        Ok(self.held(reference).map(|d| self.resolved(d)))
    }

    async fn digest(&self, reference: &ImageRef) -> Result<Option<Digest>, RegistryError> {
        self.reads
            .lock()
            .unwrap()
            .push(format!("digest {reference}"));
        self.request().await;
        Ok(self.get(reference))
    }

    async fn referrers(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let repository = repository.as_str();
        if let Some(fail) = &*self.failing_referrers.lock().unwrap() {
            return Err(fail(repository));
        }
        let attached = self.attached.lock().unwrap();
        let repositories = self.attached_in.lock().unwrap();
        Ok(attached
            .iter()
            .zip(repositories.iter())
            .filter(|((s, r, _), repo)| {
                s == subject && r.artifact_type == artifact_type && *repo == repository
            })
            .map(|((_, r, _), _)| r.clone())
            .collect())
    }

    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        let prefix = format!("{repository}:");
        Ok(self
            .tags
            .lock()
            .unwrap()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    async fn manifest(&self, reference: &ImageRef) -> Result<Option<Manifest>, RegistryError> {
        Ok(self.manifest_of(reference))
    }

    async fn blob(
        &self,
        repository: &Repository,
        digest: &str,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        self.blob_of(repository, digest, max)
    }
}

#[async_trait]
impl RegistryWrite for FakeRegistry {
    /// Like a registry's file storage, fails a put of a manifest while the
    /// same manifest is being put under another tag.
    async fn retag(
        &self,
        _source_repo: &Repository,
        digest: &Digest,
        target: &ImageRef,
    ) -> Result<Digest, RegistryError> {
        let target = target.as_str();
        self.calls.lock().unwrap().push(format!("retag {target}"));
        if let Some(n) = self.failing_retags.lock().unwrap().get_mut(target) {
            if *n > 0 {
                *n -= 1;
                return Err(RegistryError::Other {
                    reference: target.into(),
                    message: "503 Service Unavailable".into(),
                });
            }
        }
        if !self.putting.lock().unwrap().insert(digest.clone()) {
            return Err(RegistryError::Other {
                reference: target.into(),
                message: "500 Internal Server Error: the manifest is being written".into(),
            });
        }
        self.request().await;
        self.putting.lock().unwrap().remove(digest);
        if !self.manifests.lock().unwrap().contains_key(digest.as_str()) {
            return Err(RegistryError::Other {
                reference: target.into(),
                message: format!("manifest unknown: {digest}"),
            });
        }
        self.tags
            .lock()
            .unwrap()
            .insert(target.to_string(), digest.clone());
        if self.uploaded.lock().unwrap().contains(digest) {
            let hijack = self.hijack.lock().unwrap().clone();
            if let Some((tag, other)) = hijack.filter(|(t, _)| t == target) {
                self.put(&tag, &other);
            }
        }
        Ok(digest.clone())
    }

    async fn upload(&self, saved: &Path, target: &ImageRef) -> Result<Digest, RegistryError> {
        let tagged = target.tag().is_some();
        let target = target.as_str();
        self.calls.lock().unwrap().push(format!("upload {target}"));
        let id = std::fs::read_to_string(saved).map_err(|e| RegistryError::Other {
            reference: target.into(),
            message: e.to_string(),
        })?;
        let id = ImageId::new(id);
        let digest = Self::digest_of(&id);
        self.uploaded.lock().unwrap().insert(digest.clone());
        self.manifests
            .lock()
            .unwrap()
            .insert(digest.to_string(), id);
        if tagged {
            self.tags
                .lock()
                .unwrap()
                .insert(target.to_string(), digest.clone());
        }
        let hijack = self.hijack.lock().unwrap().clone();
        if let Some((tag, other)) = hijack.filter(|(t, _)| t == target) {
            self.put(&tag, &other);
        }
        Ok(digest)
    }

    async fn attach(
        &self,
        repository: &Repository,
        subject: &Digest,
        artifact: &Artifact,
    ) -> Result<(Digest, Listed), RegistryError> {
        let repository = repository.as_str();
        self.calls
            .lock()
            .unwrap()
            .push(format!("attach {repository}@{subject}"));
        if self.failing_attach.load(Ordering::SeqCst)
            || self.failing_attach_in.lock().unwrap().contains(repository)
        {
            return Err(RegistryError::Other {
                reference: format!("{repository}@{subject}"),
                message: "503 Service Unavailable".into(),
            });
        }
        if self.held(&format!("{repository}@{subject}")).is_none() {
            return Err(RegistryError::Other {
                reference: format!("{repository}@{subject}"),
                message: "manifest unknown".into(),
            });
        }
        let descriptor = Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: subject.to_string(),
            size: 1,
        };
        let manifest = artifact_manifest(artifact, &descriptor);
        let digest = sha256(&manifest);
        self.keep_artifact(manifest, &artifact.content);
        let entry = Referrer {
            digest: digest.clone(),
            artifact_type: artifact.artifact_type.clone(),
            annotations: artifact.annotations.clone(),
        };
        let mut attached = self.attached.lock().unwrap();
        attached.push((subject.clone(), entry, artifact.content.clone()));
        self.attached_in
            .lock()
            .unwrap()
            .push(repository.to_string());
        drop(attached);
        Ok((Digest::new(digest), Listed::ByTag(fallback_tag(subject))))
    }

    async fn check(&self, _reference: &ImageRef) -> Result<(), RegistryError> {
        Ok(())
    }

    async fn put_index(
        &self,
        target: &ImageRef,
        children: &[(Digest, crate::reference::Platform)],
    ) -> Result<Digest, RegistryError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("put_index {target}"));
        Ok(self.index_of(target, children))
    }
}
