//! What the engine holds, learned in one list call instead of one inspect
//! per image and per tag.
//!
//! [`Known`] wraps the run's [`Engine`]. Before a run, it lists the local tags
//! of every repository the plan names (its images, their tests' tags, their
//! aliases and the images their `FROM` lines name) with
//! [`Engine::tags_of`]: one request on Docker, one per repository on Podman,
//! however many tags there are. Afterwards:
//!
//! * [`Engine::image_id`] answers from that list when it names the reference,
//!   and asks the engine otherwise (a tag the list does not show may still
//!   exist, so absence is always confirmed by the engine itself);
//! * what the run itself changes (a build's tag, a tag, a removal, an import)
//!   updates the list, so later answers stay true;
//! * everything else goes to the engine as it is.
//!
//! An engine that cannot list (or a list that fails) leaves the list empty,
//! and every question goes to the engine: slower, never wrong.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::engine::{
    BuildRequest, Engine, EngineError, EngineInfo, ImageId, ImageRef, LocalImage, LogSink,
    Repository, RunCommand, RunContainer, RunOutput,
};
use crate::plan::Plan;
use crate::reference::normalize;
use crate::secret::Credentials;

/// An [`Engine`] that remembers the tags it has seen.
pub struct Known {
    inner: Arc<dyn Engine>,
    /// Normalized reference → the image ID behind it.
    tags: Mutex<HashMap<String, ImageId>>,
}

impl Known {
    /// Lists the repositories of every reference `plan` names (see the module
    /// documentation) and wraps `engine` with what they hold.
    pub async fn learn(engine: Arc<dyn Engine>, plan: &Plan) -> Known {
        Known::learn_references(engine, references(plan)).await
    }

    /// Lists the repositories of `references` and wraps `engine` with what
    /// they hold.
    pub async fn learn_references(
        engine: Arc<dyn Engine>,
        references: impl IntoIterator<Item = String>,
    ) -> Known {
        let repositories: Vec<Repository> = references
            .into_iter()
            .filter(|r| !r.contains('@') && !r.starts_with("sha256:"))
            .filter_map(|r| ImageRef::parse(&normalize(&r)).ok())
            .map(|r| r.repository())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let tags = engine
            .tags_of(&repositories)
            .await
            .map(|found| found.into_iter().collect())
            .unwrap_or_default();
        Known {
            inner: engine,
            tags: Mutex::new(tags),
        }
    }

    /// The ID behind `reference` as last seen, without asking the engine.
    fn seen(&self, reference: &str) -> Option<ImageId> {
        self.tags
            .lock()
            .expect("tags lock")
            .get(&normalize(reference))
            .cloned()
    }

    fn set(&self, reference: &str, id: Option<ImageId>) {
        let mut tags = self.tags.lock().expect("tags lock");
        match id {
            Some(id) => tags.insert(normalize(reference), id),
            None => tags.remove(&normalize(reference)),
        };
    }
}

/// Every image reference a run of `plan` asks the engine about: its images,
/// their tests' tags, aliases, and the images its `FROM` lines name (read
/// from the Dockerfiles; one that cannot be read is simply not listed).
pub fn references(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for image in &plan.images {
        out.push(image.name.to_string());
        out.extend(image.tests.iter().map(|t| t.tag.to_string()));
        let path = image.context.join(&image.dockerfile);
        if let Ok(text) = crate::read::read_text(&path, None, "Dockerfile") {
            out.extend(crate::dockerfile::base_images(&text));
        }
    }
    out.extend(plan.aliases.iter().map(|a| a.tag.to_string()));
    out
}

#[async_trait]
impl Engine for Known {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        self.inner.info().await
    }

    async fn build(&self, request: BuildRequest, log: LogSink<'_>) -> Result<ImageId, EngineError> {
        let tag = request.tag.clone();
        let id = self.inner.build(request, log).await?;
        if let Some(tag) = tag {
            self.set(&tag, Some(id.clone()));
        }
        Ok(id)
    }

    async fn image_id(&self, reference: &ImageRef) -> Result<Option<ImageId>, EngineError> {
        if let Some(id) = self.seen(reference) {
            return Ok(Some(id));
        }
        let id = self.inner.image_id(reference).await?;
        if let Some(id) = &id {
            if reference.digest().is_none() && !reference.starts_with("sha256:") {
                self.set(reference, Some(id.clone()));
            }
        }
        Ok(id)
    }

    fn builder(&self) -> crate::engine::Builder {
        self.inner.builder()
    }

    async fn layers(&self, id: &ImageId) -> Result<Option<Vec<String>>, EngineError> {
        self.inner.layers(id).await
    }

    async fn tags_of(
        &self,
        repositories: &[Repository],
    ) -> Result<Vec<(String, ImageId)>, EngineError> {
        self.inner.tags_of(repositories).await
    }

    /// From the list when it names `reference`: the image and the
    /// repository digests the list gave for it; the engine otherwise.
    async fn local_image(&self, reference: &ImageRef) -> Result<Option<LocalImage>, EngineError> {
        let Some(id) = self.seen(reference) else {
            return self.inner.local_image(reference).await;
        };
        let repo_digests = self
            .tags
            .lock()
            .expect("tags lock")
            .iter()
            .filter(|(r, i)| r.contains('@') && **i == id)
            .map(|(r, _)| r.clone())
            .collect();
        Ok(Some(LocalImage { id, repo_digests }))
    }

    async fn pull(
        &self,
        reference: &ImageRef,
        platform: Option<&crate::reference::Platform>,
        credentials: Option<&Credentials>,
    ) -> Result<ImageId, EngineError> {
        let id = self.inner.pull(reference, platform, credentials).await?;
        self.set(reference, Some(id.clone()));
        Ok(id)
    }

    fn learnt(&self) -> bool {
        true
    }

    async fn tag(&self, id: &ImageId, reference: &ImageRef) -> Result<(), EngineError> {
        let result = self.inner.tag(id, reference).await;
        // A failed tag may or may not have moved it: forget what was seen.
        self.set(reference, result.is_ok().then(|| id.clone()));
        result
    }

    async fn import(
        &self,
        rootfs_tar: std::path::PathBuf,
        reference: &ImageRef,
    ) -> Result<ImageId, EngineError> {
        let id = self.inner.import(rootfs_tar, reference).await?;
        self.set(reference, Some(id.clone()));
        Ok(id)
    }

    async fn export(&self, id: &ImageId, dest: &Path) -> Result<(), EngineError> {
        self.inner.export(id, dest).await
    }

    async fn read_files(
        &self,
        id: &ImageId,
        paths: &[&str],
        max_bytes: u64,
    ) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        self.inner.read_files(id, paths, max_bytes).await
    }

    async fn remove(&self, reference: &ImageRef) -> Result<(), EngineError> {
        self.set(reference, None);
        self.inner.remove(reference).await
    }

    async fn remove_id(&self, id: &ImageId) -> Result<(), EngineError> {
        // Removing an image by ID takes every tag on it.
        self.tags
            .lock()
            .expect("tags lock")
            .retain(|_, held| held != id);
        self.inner.remove_id(id).await
    }

    async fn run(
        &self,
        image: &str,
        command: &RunCommand,
        timeout: Duration,
        platform: Option<&crate::reference::Platform>,
    ) -> Result<RunOutput, EngineError> {
        self.inner.run(image, command, timeout, platform).await
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        self.inner.run_containers().await
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        self.inner.remove_container(id).await
    }
}
