//! The container engine, seen through one narrow trait.
//!
//! The executor never talks to Docker directly: it calls [`Engine`], which
//! [`docker::DockerEngine`] implements over the Docker Engine API (and Podman's
//! compatible service). Unit tests of the executor's rules use the in-memory
//! fake in `fakes.rs`; integration tests use the real engine.

pub mod context;
pub mod docker;
pub mod dockerignore;
pub mod owner;
pub mod session;
pub mod ssh;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::secret::Credentials;

pub use crate::reference::{ImageId, ImageRef, Repository};

/// Receives build and push output, a line at a time, as it arrives.
pub type LogSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// What the engine says about itself.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// Product and version, such as `Docker Engine 20.10.24` or `Podman Engine 4.3.1`.
    pub version: String,
    /// The API version strata negotiated.
    pub api_version: String,
    /// Where strata reached it, such as `unix:///var/run/docker.sock`.
    pub endpoint: String,
}

/// How to make a build context.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// Folder whose files go into the context, filtered by its `.dockerignore`.
    pub dir: PathBuf,
    /// The Dockerfile to build.
    pub dockerfile: Dockerfile,
    /// Extra files added to the context: (name inside the context, file on the host).
    /// Used for artifacts downloaded on the host; the user's tree is never written.
    pub extra_files: Vec<(String, PathBuf)>,
}

/// Which Dockerfile a build uses.
#[derive(Debug, Clone)]
pub enum Dockerfile {
    /// A file inside the context folder, by relative path.
    Path(String),
    /// Text given in memory; it replaces any `Dockerfile` in the folder inside
    /// the context only. Tests use this: `FROM <image id>` + the test's Dockerfile.
    Inline(String),
}

/// One build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub context: BuildContext,
    /// Tag to give the result, if any.
    pub tag: Option<ImageRef>,
    pub build_args: std::collections::BTreeMap<String, String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Ignore the engine's layer cache, so every step runs again (a test
    /// whose layer was cached from an earlier pass would not run otherwise).
    pub no_cache: bool,
    /// How long the build may take; `None` = the engine's default
    /// (`--step-timeout`).
    pub timeout: Option<Duration>,
    /// The platform to build for; `None` = the engine's own.
    pub platform: Option<crate::reference::Platform>,
    /// The builder to use; `None` = the one the run chose (`--builder`).
    pub builder: Option<Builder>,
    /// Secrets `RUN --mount=type=secret` may read (BuildKit only), served
    /// on a session of strata's own ([`session`]); never part of the image.
    pub secrets: Vec<session::BuildSecret>,
}

/// Which of Docker's builders builds.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// Docker's classic builder (`/build`): every engine has it.
    #[default]
    Classic,
    /// BuildKit through the Engine API (`/build?version=2`): reads
    /// `RUN --mount` and the other syntax publishers write for it.
    Buildkit,
}

impl Builder {
    pub fn name(self) -> &'static str {
        match self {
            Builder::Classic => "classic",
            Builder::Buildkit => "buildkit",
        }
    }
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The command a test container runs, as a test's `run.yml` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// Run as given (exec form): no shell stands between strata and the
    /// program, so arguments need no quoting.
    Exec(Vec<String>),
    /// A command line run with `sh -c`, for pipes, `&&` and variables.
    Shell(String),
}

impl RunCommand {
    /// The container's command: the list itself, or `sh -c LINE`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            RunCommand::Exec(args) => args.clone(),
            RunCommand::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }
}

impl std::fmt::Display for RunCommand {
    /// How logs show the command: a shell line as written, a list as JSON
    /// (which is how the user wrote it, and unambiguous about spaces).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunCommand::Shell(line) => write!(f, "sh -c {line:?}"),
            RunCommand::Exec(args) => {
                let json = serde_json::to_string(args).map_err(|_| std::fmt::Error)?;
                f.write_str(&json)
            }
        }
    }
}

/// What a test container did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutput {
    /// The command's exit code; `None` when it was still running at the
    /// timeout and was killed.
    pub exit_code: Option<i64>,
    /// Standard output, decoded as UTF-8 (invalid bytes replaced).
    pub stdout: String,
    /// Standard error, kept apart from `stdout` so each can be checked.
    pub stderr: String,
    /// True when a stream was longer than the engine keeps in memory
    /// ([`docker::MAX_OUTPUT`] bytes each) and its end was dropped.
    pub truncated: bool,
}

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be reached at all.
    #[error("cannot reach the container engine at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    /// A Dockerfile step failed; the message is the engine's.
    #[error("build failed: {0}")]
    BuildFailed(String),
    /// The build context could not be assembled (unreadable file, bad .dockerignore).
    #[error("build context {path}: {message}")]
    Context { path: PathBuf, message: String },
    /// A build or push went on longer than strata waits.
    #[error("{what} did not finish within {} s; {hint}", after.as_secs())]
    TimedOut {
        what: String,
        after: Duration,
        hint: String,
    },
    /// Anything else the engine answered with an error.
    #[error("{0}")]
    Api(String),
}

/// The operations strata needs from a container engine.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Checks the engine answers; returns what it is.
    async fn info(&self) -> Result<EngineInfo, EngineError>;

    /// Builds an image without pulling its base (base images must be local).
    /// Streams output to `log` and returns the new image's ID.
    async fn build(&self, request: BuildRequest, log: LogSink<'_>) -> Result<ImageId, EngineError>;

    /// The ID of the image a reference names locally, or `None`.
    async fn image_id(&self, reference: &ImageRef) -> Result<Option<ImageId>, EngineError>;

    /// The builder a request that names none is built with.
    fn builder(&self) -> Builder {
        Builder::Classic
    }

    /// The image `id`'s root filesystem layers (its diff IDs, `sha256:…`)
    /// bottom first, or `None` when the engine has no such image. A test
    /// layer is checked against them: its layers must begin with the tested
    /// image's.
    async fn layers(&self, id: &ImageId) -> Result<Option<Vec<String>>, EngineError> {
        Err(EngineError::Api(format!(
            "this engine cannot list the layers of {id}"
        )))
    }

    /// Every local tag of `repositories` (names without tag or digest, such
    /// as `127.0.0.1:5000/acme/app`) and the image ID behind it, learned in
    /// as few requests as the engine allows (Docker: one for all), so a run
    /// does not ask once per tag. Tags come
    /// [normalized](crate::reference::normalize): `docker.io/library/node:22`
    /// and `node:22` are one tag. A tag missing from the answer may still
    /// exist (engines match names in their own ways): ask
    /// [`Engine::image_id`] before concluding it is absent. The answer also
    /// holds each listed image's repository digests (`name@sha256:…`, from
    /// the same list), so a pinned base costs no inspect.
    async fn tags_of(
        &self,
        repositories: &[Repository],
    ) -> Result<Vec<(String, ImageId)>, EngineError> {
        let names: Vec<&str> = repositories.iter().map(Repository::as_str).collect();
        Err(EngineError::Api(format!(
            "this engine cannot list the tags of {}",
            names.join(", ")
        )))
    }

    /// True for an engine wrapper that already learnt the run's tags in its
    /// one list call (`exec::known::Known`): it is not wrapped again.
    fn learnt(&self) -> bool {
        false
    }

    /// The image `reference` names locally and the repository digests the
    /// engine recorded for it (`repo@sha256:…`, set by a pull or a push;
    /// none for an image built, imported or loaded here), or `None`.
    async fn local_image(&self, reference: &ImageRef) -> Result<Option<LocalImage>, EngineError> {
        Ok(self.image_id(reference).await?.map(|id| LocalImage {
            id,
            repo_digests: Vec::new(),
        }))
    }

    /// Pulls `reference` (`repo@sha256:…`: by digest, so what arrives is
    /// exactly what was resolved) for `platform`, with the credentials for
    /// its host. Returns the pulled image's ID.
    async fn pull(
        &self,
        reference: &ImageRef,
        platform: Option<&crate::reference::Platform>,
        credentials: Option<&Credentials>,
    ) -> Result<ImageId, EngineError> {
        let _ = (platform, credentials);
        Err(EngineError::Api(format!(
            "this engine cannot pull {reference}"
        )))
    }

    /// Points `reference` (`repo:tag`) at the image `id`.
    async fn tag(&self, id: &ImageId, reference: &ImageRef) -> Result<(), EngineError>;

    /// Creates an image from a root filesystem tarball (the engine's import
    /// call). Used to make base images where nothing can be pulled.
    async fn import(
        &self,
        rootfs_tar: PathBuf,
        reference: &ImageRef,
    ) -> Result<ImageId, EngineError>;

    /// Writes the image `id` (by ID, never by a name someone could re-tag)
    /// to the file `dest`, in `docker save` format, for
    /// [`crate::registry::RegistryWrite::upload`].
    async fn export(&self, id: &ImageId, dest: &std::path::Path) -> Result<(), EngineError> {
        let _ = dest;
        Err(EngineError::Api(format!(
            "this engine cannot export images ({id})"
        )))
    }

    /// Removes the tag `reference` (the image too when it was its last
    /// tag); missing is not an error.
    async fn remove(&self, reference: &ImageRef) -> Result<(), EngineError>;

    /// Removes the image `id` and its tags, as the engine's removal by ID
    /// does; missing is not an error.
    async fn remove_id(&self, id: &ImageId) -> Result<(), EngineError>;

    /// The files at the absolute `paths` in image `id`'s filesystem, read
    /// without running anything (for SBOMs): a container is created from
    /// the image by ID, never started, each path read from it through the
    /// engine's archive API, and the container removed. A path that is not
    /// there is `None`; a symbolic link is followed inside the image; a file
    /// longer than `max_bytes` is an error.
    async fn read_files(
        &self,
        id: &ImageId,
        paths: &[&str],
        max_bytes: u64,
    ) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        let _ = (paths, max_bytes);
        Err(EngineError::Api(format!(
            "this engine cannot read files from images ({id})"
        )))
    }

    /// Runs `command` in a new container from `image` (an ID or a local
    /// reference; never pulled) and collects its exit code and output. With
    /// a `platform`, the container runs as that platform (emulated if need be).
    ///
    /// A command still running after `timeout` is killed and reported with
    /// no exit code, not as an error: its output so far is what explains it.
    /// The container is removed in every case, so runs leave nothing behind.
    async fn run(
        &self,
        image: &str,
        command: &RunCommand,
        timeout: Duration,
        platform: Option<&crate::reference::Platform>,
    ) -> Result<RunOutput, EngineError>;

    /// Every container strata's [`Engine::run`] made that still exists, with
    /// its owner label (see [`owner`]), on any run of any strata process.
    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError>;

    /// Removes a container, running or not; missing is not an error.
    async fn remove_container(&self, id: &str) -> Result<(), EngineError>;
}

/// An image as the engine holds it (see [`Engine::local_image`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: ImageId,
    /// `repo@sha256:…` for each manifest the engine pulled or pushed it as.
    pub repo_digests: Vec<String>,
}

/// A container made by [`Engine::run`], and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContainer {
    pub id: String,
    /// The owner label's value ([`owner::Owner`]'s text, or older forms).
    pub owner: String,
}
