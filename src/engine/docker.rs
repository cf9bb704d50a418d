//! [`Engine`](super::Engine) over the Docker Engine API with bollard.
//!
//! Works with Docker Engine (20.10 and later, classic builder) and with
//! Podman's Docker-compatible service. Their answers vary by product and
//! version (an ID with or without its `sha256:` prefix, a build that does or
//! does not end with the `aux` message naming the image), so IDs are
//! normalized to `sha256:<hex>` and, when no `aux` message came, looked up by
//! tag or by the builder's last words. Podman 4.3 sends `aux` and prefixed IDs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::reference::Platform;

use async_trait::async_trait;
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{BuildInfoAux, ContainerCreateBody};
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, CreateContainerOptions, CreateImageOptions,
    ListContainersOptions, ListImagesOptions, LogsOptions, RemoveContainerOptions,
    RemoveImageOptions, StartContainerOptions, TagImageOptions, WaitContainerOptions,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;

use super::{
    context, BuildRequest, Builder, Engine, EngineError, EngineInfo, ImageId, LocalImage, LogSink,
    RunCommand, RunContainer, RunOutput,
};
use crate::reference::Reference;

use super::{ImageRef, Repository};
use crate::secret::Credentials;

/// TLS to a `tcp://` engine, as Docker's client sets it up: on when
/// `DOCKER_TLS_VERIFY` is set (to anything but the empty string), with
/// `ca.pem`, `cert.pem` and `key.pem` from `DOCKER_CERT_PATH` (default
/// `~/.docker`). The engine's certificate is checked against `ca.pem`, and
/// strata shows its own with `cert.pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the TLS settings of the environment cannot reach an engine; each
/// says what to set.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "DOCKER_TLS asks for TLS without checking the engine's certificate, \
         which strata does not do: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH \
         to the folder with ca.pem, cert.pem and key.pem"
    )]
    Unverified,
    #[error("DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is")]
    NoFolder,
    #[error(
        "DOCKER_TLS_VERIFY is set but {}: set DOCKER_CERT_PATH to the folder \
         with ca.pem, cert.pem and key.pem",
        .0.message
    )]
    Unreadable(#[source] crate::error::InputError),
}

impl Tls {
    /// What the environment asks for: `None` for plain TCP. `DOCKER_TLS`
    /// without verification is refused: strata does not talk to an engine it
    /// cannot authenticate.
    pub fn from_env() -> Result<Option<Tls>, TlsError> {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DOCKER_TLS_VERIFY") {
            if set("DOCKER_TLS") {
                return Err(TlsError::Unverified);
            }
            return Ok(None);
        }
        let dir = match std::env::var_os("DOCKER_CERT_PATH").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".docker"))
                .ok_or(TlsError::NoFolder)?,
        };
        Ok(Some(Tls::in_dir(&dir)))
    }

    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> Tls {
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// Every file is a readable regular file of at most [`MAX_TLS_FILE_BYTES`]
    /// (each is read through the one capped reader); else which one is not,
    /// and what to do. A FIFO would block the read, `/dev/zero` never ends.
    fn check(&self) -> Result<(), TlsError> {
        for path in [&self.ca, &self.cert, &self.key] {
            // Read here, under the cap, so the client library only ever
            // opens a file that passed.
            crate::read::read_bytes(path, None, "TLS file", MAX_TLS_FILE_BYTES)
                .map_err(TlsError::Unreadable)?;
        }
        Ok(())
    }
}

/// The largest `ca.pem`, `cert.pem` or `key.pem` strata accepts: 1 MiB,
/// room for a long chain of certificates.
pub const MAX_TLS_FILE_BYTES: u64 = 1024 * 1024;

/// Where Docker listens when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long strata waits for an engine to answer its first request.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one API request may take before its response starts, and how
/// long a push may go without a word from the engine. Builds stream their
/// output, so this bounds waiting, not working.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(300);

/// How long one build (an image's, or a test's on top of it) may take.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long strata waits for the engine, and for one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The first answer (version negotiation) when connecting.
    pub connect: Duration,
    /// A request's response to start; a push's silence between messages.
    pub io: Duration,
    /// A build, when its request sets no timeout of its own.
    pub step: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: DEFAULT_CONNECT_TIMEOUT,
            io: DEFAULT_IO_TIMEOUT,
            step: DEFAULT_STEP_TIMEOUT,
        }
    }
}

/// The label on every container [`Engine::run`] creates, so one left behind
/// (by a killed strata) can be told apart from the user's own containers.
pub const RUN_LABEL: &str = "io.strata.run-test";

/// How much of each output stream a test run keeps: enough for any sensible
/// check, bounded so a runaway `yes` cannot exhaust memory.
pub const MAX_OUTPUT: usize = 4 << 20;

/// Extra time the API client waits for a container's exit beyond the run's
/// own timeout, so the run's timeout (not the client's) decides.
const WAIT_SLACK: Duration = Duration::from_secs(60);

/// What to tell someone whose engine is not answering.
const START_HINT: &str = "start the Docker engine (dockerd), or run `bash scripts/setup.sh` \
                          from strata's repository, or set DOCKER_HOST to a running engine \
                          (unix:///path/to.sock or tcp://host:port)";

/// A container engine reached over the Docker Engine API.
#[derive(Debug, Clone)]
pub struct DockerEngine {
    docker: Docker,
    endpoint: String,
    timeouts: Timeouts,
    /// The value of [`RUN_LABEL`] on this process's containers.
    owner: String,
    /// Whether the engine is Podman, once [`Engine::info`] said what it is.
    podman: Arc<OnceLock<bool>>,
    /// The socket an `ssh://` engine is served on, while the engine is used.
    ssh: Option<Arc<super::ssh::Tunnel>>,
    /// The builder a request that names none is built with.
    builder: Builder,
    /// Where a build with secrets opens its BuildKit session.
    session_address: super::session::SessionAddress,
}

impl DockerEngine {
    /// Connects to the engine `DOCKER_HOST` names, or to the default socket,
    /// and negotiates the API version.
    pub async fn connect() -> Result<Self, EngineError> {
        Self::connect_with(Timeouts::default()).await
    }

    /// [`DockerEngine::connect`], waiting as `timeouts` say.
    pub async fn connect_with(timeouts: Timeouts) -> Result<Self, EngineError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        Self::connect_to_with(&host, timeouts).await
    }

    /// Connects to the engine at `host` (`unix:///path` or `tcp://host:port`)
    /// and negotiates the API version (an older engine, such as Docker 20.10
    /// with API 1.41, gets requests in its own version).
    pub async fn connect_to(host: &str) -> Result<Self, EngineError> {
        Self::connect_to_with(host, Timeouts::default()).await
    }

    /// [`DockerEngine::connect_to`], waiting as `timeouts` say.
    pub async fn connect_to_with(host: &str, timeouts: Timeouts) -> Result<Self, EngineError> {
        // bollard takes whole seconds; a zero would mean "no answer ever".
        let secs = |d: Duration| d.as_secs().max(1);
        let timeout = secs(timeouts.connect);
        let unreachable = |message: String| EngineError::Unreachable {
            endpoint: host.to_string(),
            message: with_hint(message),
        };
        // TLS settings matter only for a TCP engine, as with Docker's client.
        let tls = if host.starts_with("unix://") {
            None
        } else {
            Tls::from_env().map_err(|e| unreachable(e.to_string()))?
        };
        let mut ssh = None;
        let mut session_address = super::session::SessionAddress::of(host, tls.is_some());
        let docker = if host.starts_with("unix://") {
            Docker::connect_with_unix(host, timeout, API_DEFAULT_VERSION)
        } else if let (true, Some(tls)) = (host.starts_with("tcp://"), &tls) {
            tls.check().map_err(|e| unreachable(e.to_string()))?;
            Docker::connect_with_ssl(
                host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                timeout,
                API_DEFAULT_VERSION,
            )
        } else if host.starts_with("https://") {
            let tls = tls.ok_or_else(|| {
                unreachable(format!(
                    "{host} needs a client certificate: set DOCKER_TLS_VERIFY=1 and \
                     DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem"
                ))
            })?;
            tls.check().map_err(|e| unreachable(e.to_string()))?;
            Docker::connect_with_ssl(
                host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                timeout,
                API_DEFAULT_VERSION,
            )
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, timeout, API_DEFAULT_VERSION)
        } else if host.starts_with("ssh://") {
            // The system's ssh client (its config, keys, agent and known
            // hosts) runs `docker system dial-stdio` on the remote machine,
            // one process per connection, served on a socket of strata's.
            let target = super::ssh::Target::parse(host).map_err(|e| unreachable(e.to_string()))?;
            let tunnel = super::ssh::Tunnel::start(&target, timeouts.connect).map_err(|e| {
                unreachable(format!("cannot open a socket for the ssh connection: {e}"))
            })?;
            let docker = Docker::connect_with_unix(&tunnel.address(), timeout, API_DEFAULT_VERSION);
            session_address = super::session::SessionAddress::of(&tunnel.address(), false);
            ssh = Some(Arc::new(tunnel));
            docker
        } else {
            return Err(unreachable(format!(
                "unsupported address {host:?} (expected unix://, tcp://, https:// or ssh://)"
            )));
        }
        .map_err(|e| unreachable(describe(&e, timeouts.connect)))?;
        let docker = match docker.negotiate_version().await {
            Ok(docker) => docker.with_timeout(Duration::from_secs(secs(timeouts.io))),
            Err(e) => {
                let words = match &ssh {
                    Some(tunnel) => tunnel.last_words().await,
                    None => String::new(),
                };
                return Err(unreachable(match words.is_empty() {
                    true => describe(&e, timeouts.connect),
                    false => format!(
                        "ssh could not log in to the engine's machine or run `docker system \
                         dial-stdio` there (check the user, key, port and known hosts for it \
                         in ~/.ssh/config): {words}"
                    ),
                }));
            }
        };
        Ok(DockerEngine {
            docker,
            endpoint: host.to_string(),
            timeouts,
            owner: super::owner::Owner::current().to_string(),
            podman: Arc::default(),
            ssh,
            builder: Builder::default(),
            session_address,
        })
    }

    /// Builds with `builder` from now on, once the engine was checked to
    /// offer it (an environment error saying why not, else).
    pub async fn with_builder(mut self, builder: Builder) -> Result<Self, EngineError> {
        if builder == Builder::Buildkit {
            let info = self.info().await?;
            if let Some(reason) = buildkit_missing(&info, self.podman.get().copied()) {
                return Err(EngineError::Api(format!(
                    "--builder buildkit: the engine at {} cannot build with BuildKit: {reason}; \
                     use --builder classic (or STRATA_BUILDER=classic)",
                    self.endpoint
                )));
            }
        }
        self.builder = builder;
        Ok(self)
    }

    /// Builds with BuildKit when the engine offers it (a Docker engine with
    /// API 1.39 or later), else with the classic builder: the default when
    /// neither `--builder` nor the config names one.
    pub async fn with_default_builder(mut self) -> Result<Self, EngineError> {
        let info = self.info().await?;
        self.builder = match buildkit_missing(&info, self.podman.get().copied()) {
            None => Builder::Buildkit,
            Some(_) => Builder::Classic,
        };
        Ok(self)
    }

    /// [`DockerEngine::with_builder`] when a builder was chosen, else
    /// [`DockerEngine::with_default_builder`].
    pub async fn with_builder_or_default(
        self,
        builder: Option<Builder>,
    ) -> Result<Self, EngineError> {
        match builder {
            Some(builder) => self.with_builder(builder).await,
            None => self.with_default_builder().await,
        }
    }

    /// The builder a request that names none is built with.
    pub fn builder(&self) -> Builder {
        self.builder
    }

    /// The image's inspection, or `None` when the engine has no such image.
    /// The ID of the image `name` (a reference or an ID) names, or `None`.
    async fn id_of(&self, name: &str) -> Result<Option<ImageId>, EngineError> {
        match self.docker.inspect_image(name).await {
            Ok(image) => Ok(image.id.as_deref().map(normalize_id)),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Removes the image or tag `name`; missing is not an error.
    async fn remove_named(&self, name: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptions {
            force: false,
            noprune: false,
            platforms: None,
        };
        match self.docker.remove_image(name, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn inspect(
        &self,
        reference: &str,
    ) -> Result<Option<bollard::models::ImageInspect>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(image)),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Where this engine was reached.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Maps a bollard error: transport failures mean the engine went away.
    fn error(&self, error: BollardError) -> EngineError {
        match error {
            BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::IOError { .. }
            | BollardError::SocketNotFoundError(_)
            | BollardError::RequestTimeoutError => EngineError::Unreachable {
                endpoint: self.endpoint.clone(),
                message: match self
                    .ssh
                    .as_ref()
                    .map(|t| t.said())
                    .filter(|s| !s.is_empty())
                {
                    Some(words) => {
                        format!("{}; ssh said: {words}", describe(&error, self.timeouts.io))
                    }
                    None => format!("{}; {START_HINT}", describe(&error, self.timeouts.io)),
                },
            },
            BollardError::DockerResponseServerError { message, .. } => EngineError::Api(message),
            BollardError::DockerStreamError { error } => EngineError::Api(error),
            other => EngineError::Api(other.to_string()),
        }
    }

    /// The builder's messages, plus what it is: (`stream` lines, final ID),
    /// collected into `output` so a build cut short still shows them.
    async fn run_build(
        &self,
        options: BuildImageOptions,
        context: ContextChunks,
        log: LogSink<'_>,
        output: &mut BuildOutput,
    ) -> Result<(), EngineError> {
        // The build's own timeout decides, not the client's request timeout
        // (the classic builder may say nothing until its first step ends).
        let docker = self.docker.clone().with_timeout(Duration::from_secs(
            self.timeouts.step.as_secs().saturating_add(60),
        ));
        let chunks = futures_util::stream::unfold(context, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk.map(Into::into), rx))
        });
        let body = bollard::body_try_stream(chunks);
        let mut stream = docker.build_image(options, None, Some(body));
        let mut lines = LineBuffer::default();
        let mut trace = Trace::default();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(BollardError::DockerStreamError { error }) => {
                    lines.flush(log, &mut output.lines);
                    trace.flush(log, &mut output.lines);
                    return Err(EngineError::BuildFailed(error.trim().to_string()));
                }
                Err(BollardError::DockerResponseServerError { message, .. }) => {
                    return Err(EngineError::BuildFailed(message.trim().to_string()));
                }
                Err(other) => return Err(self.error(other)),
            };
            if let Some(text) = &info.stream {
                lines.push(text, log, &mut output.lines);
            }
            if let Some(status) = &info.status {
                lines.flush(log, &mut output.lines);
                log(status);
            }
            match info.aux {
                Some(BuildInfoAux::Default(image)) => {
                    if let Some(id) = image.id {
                        output.aux_id = Some(normalize_id(&id));
                    }
                }
                Some(BuildInfoAux::BuildKit(status)) => {
                    lines.flush(log, &mut output.lines);
                    trace.push(&status, log, &mut output.lines);
                }
                None => {}
            }
        }
        lines.flush(log, &mut output.lines);
        trace.flush(log, &mut output.lines);
        Ok(())
    }

    /// Removes the container a timed-out build was running its step in.
    /// Docker's classic builder kills and removes it itself once the client
    /// goes away, about a second later; strata does not rely on that. The
    /// builder names it in its output (` ---> Running in <id>`).
    async fn remove_build_container(&self, lines: &[String]) -> Option<String> {
        let id = lines
            .iter()
            .rev()
            .find_map(|l| l.trim().strip_prefix("---> Running in "))?
            .trim()
            .to_string();
        if !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let _ = self.force_remove(&id).await;
        Some(id)
    }
}

/// A new BuildKit session's ID: random, so concurrent builds never share one.
fn session_id() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("strata-{}", hex::encode(bytes))
}

/// Why an engine cannot build with BuildKit through the Engine API, if it
/// cannot: Podman's build endpoint is buildah, with no `version=2`, and
/// Docker answers `version=2` from API 1.39 (Engine 18.09) on.
fn buildkit_missing(info: &EngineInfo, podman: Option<bool>) -> Option<String> {
    if podman == Some(true) || info.version.contains("Podman") {
        return Some(format!(
            "{} builds with buildah, which has no BuildKit (`/build?version=2`); \
             buildah reads `RUN --mount` itself with the classic builder's request",
            info.version
        ));
    }
    let mut parts = info.api_version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) if (major, minor) < (1, 39) => Some(format!(
            "{} speaks API {}, and BuildKit needs API 1.39 or later",
            info.version, info.api_version
        )),
        _ => None,
    }
}

/// The platform build arguments (`TARGETPLATFORM`, `TARGETOS`,
/// `TARGETARCH`, `TARGETVARIANT` and the `BUILD` four) of a build for
/// `platform`: BuildKit sets them itself, so those the plan set to the same
/// values are left to it; the classic builder leaves them empty, so strata
/// sets those the request does not (on test layers too).
///
/// Docker 20.10's BuildKit leaves one empty when the Dockerfile declares it
/// again before its first `FROM` (`ARG TARGETARCH` + `FROM base:${TARGETARCH}`),
/// so those of `globals` (the names declared there) are still passed.
fn platform_args(
    builder: Builder,
    platform: Option<&Platform>,
    globals: &[String],
    args: &mut std::collections::BTreeMap<String, String>,
) {
    let Some(platform) = platform else {
        return;
    };
    for (key, value) in platform.build_args(&Platform::host()) {
        match builder {
            Builder::Buildkit => {
                if args.get(&key) == Some(&value) && !globals.contains(&key) {
                    args.remove(&key);
                }
            }
            Builder::Classic => {
                args.entry(key).or_insert(value);
            }
        }
    }
}

/// The names the build's Dockerfile declares with `ARG` before its first
/// `FROM` (none when it cannot be read: the build says why).
fn global_args(context: &crate::engine::BuildContext) -> Vec<String> {
    let text = match &context.dockerfile {
        crate::engine::Dockerfile::Inline(text) => text.clone(),
        crate::engine::Dockerfile::Path(path) => {
            match crate::read::read_text(&context.dir.join(path), None, "Dockerfile") {
                Ok(text) => text,
                Err(_) => return Vec::new(),
            }
        }
    };
    crate::dockerfile::instructions(&text, crate::dockerfile::Heredocs::Lines)
        .into_iter()
        .take_while(|i| i.keyword != "FROM")
        .filter(|i| i.keyword == "ARG")
        .flat_map(|i| {
            i.args
                .split_whitespace()
                .map(|a| a.split('=').next().unwrap_or(a).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Turns BuildKit's progress (`moby.buildkit.trace`) into log lines read
/// like `docker build --progress=plain`: `#N <step>` when a step starts,
/// its output as `#N <line>`, then `#N CACHED`, `#N DONE` or `#N ERROR: ..`.
#[derive(Default)]
struct Trace {
    /// Vertex digest → its number, in the order steps appeared.
    numbers: HashMap<String, usize>,
    /// Vertexes already announced, and those already finished.
    started: BTreeSet<String>,
    finished: BTreeSet<String>,
    /// Output not yet ended by a newline, per vertex.
    partial: HashMap<String, String>,
}

impl Trace {
    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    fn push(
        &mut self,
        status: &bollard::moby::buildkit::v1::StatusResponse,
        log: LogSink<'_>,
        out: &mut Seen,
    ) {
        // Starts, then output, then ends: a step's last words come before
        // its verdict even when one message carries both.
        for vertex in &status.vertexes {
            let n = self.number(&vertex.digest);
            if (vertex.started.is_some() || vertex.cached)
                && self.started.insert(vertex.digest.clone())
            {
                emit(&format!("#{n} {}", vertex.name), log, out);
            }
        }
        self.push_logs(status, log, out);
        for vertex in &status.vertexes {
            let n = self.number(&vertex.digest);
            if self.finished.contains(&vertex.digest) {
                continue;
            }
            let end = if !vertex.error.is_empty() {
                Some(format!("#{n} ERROR: {}", vertex.error))
            } else if vertex.cached {
                Some(format!("#{n} CACHED"))
            } else if vertex.completed.is_some() {
                Some(format!("#{n} DONE"))
            } else {
                None
            };
            if let Some(end) = end {
                self.flush_vertex(&vertex.digest, log, out);
                self.finished.insert(vertex.digest.clone());
                emit(&end, log, out);
            }
        }
        for warning in &status.warnings {
            let n = self.number(&warning.vertex);
            emit(
                &format!("#{n} WARNING: {}", String::from_utf8_lossy(&warning.short)),
                log,
                out,
            );
        }
    }

    fn push_logs(
        &mut self,
        status: &bollard::moby::buildkit::v1::StatusResponse,
        log: LogSink<'_>,
        out: &mut Seen,
    ) {
        for entry in &status.logs {
            let n = self.number(&entry.vertex);
            let text = String::from_utf8_lossy(&entry.msg);
            let pending = self.partial.entry(entry.vertex.clone()).or_default();
            pending.push_str(&text);
            while let Some(at) = pending.find('\n') {
                let line: String = pending.drain(..=at).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                emit(&format!("#{n} {line}"), log, out);
            }
            // A line without an end is passed on once it is long.
            if pending.len() > MAX_TRACE_LINE {
                let line = std::mem::take(pending);
                emit(&format!("#{n} {line}"), log, out);
            }
        }
    }

    fn flush_vertex(&mut self, digest: &str, log: LogSink<'_>, out: &mut Seen) {
        if let Some(rest) = self.partial.remove(digest).filter(|r| !r.is_empty()) {
            let n = self.number(digest);
            emit(&format!("#{n} {rest}"), log, out);
        }
    }

    fn flush(&mut self, log: LogSink<'_>, out: &mut Seen) {
        let digests: Vec<String> = self.partial.keys().cloned().collect();
        for digest in digests {
            self.flush_vertex(&digest, log, out);
        }
    }
}

/// The longest piece of one step's output passed on without a line end.
const MAX_TRACE_LINE: usize = 64 * 1024;

/// What a bollard error means, in words: a refused connection, a timeout, a
/// missing socket, rather than "Error in the hyper legacy client".
/// `message` with what to do next: about certificates when it was about
/// them, else how to start an engine.
fn with_hint(message: String) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("docker_cert_path")
        || lower.contains("docker_tls_verify")
        || lower.contains("ssh")
    {
        message
    } else {
        format!("{message}; {START_HINT}")
    }
}

fn describe(error: &BollardError, timeout: Duration) -> String {
    let mut chain = error.to_string();
    // The innermost cause says what the system said ("Connection refused").
    let mut deepest = chain.clone();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        deepest = text;
        source = cause.source();
    }
    let lower = chain.to_ascii_lowercase();
    let what = if matches!(error, BollardError::RequestTimeoutError) || lower.contains("timed out")
    {
        format!("the engine did not answer within {} s", timeout.as_secs())
    } else if lower.contains("publickey")
        || lower.contains("host key verification failed")
        || lower.contains("failed to connect to the remote host")
    {
        "ssh could not log in to the engine's machine (check the user, key, port and known \
         hosts for it in ~/.ssh/config)"
            .to_string()
    } else if lower.contains("connection refused") {
        "nothing accepts connections there (the engine is not running)".to_string()
    } else if lower.contains("no such file")
        || matches!(error, BollardError::SocketNotFoundError(_))
    {
        "the socket does not exist (the engine is not running)".to_string()
    } else if lower.contains("permission denied") {
        "permission denied on the socket (run as a user in the docker group, or as root)"
            .to_string()
    } else if lower.contains("fatal alert") {
        "the engine refused strata's client certificate (cert.pem in DOCKER_CERT_PATH is not \
         signed by a CA the engine trusts)"
            .to_string()
    } else if lower.contains("invalid peer certificate") {
        "strata does not trust the engine's certificate (ca.pem in DOCKER_CERT_PATH did not sign \
         it, or it is not for this address)"
            .to_string()
    } else if lower.contains("http request to an https server") {
        "the engine speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder with \
         ca.pem, cert.pem and key.pem"
            .to_string()
    } else if lower.contains("connection reset")
        || lower.contains("broken pipe")
        || lower.contains("incomplete")
        || lower.contains("closed")
    {
        "the engine closed the connection (it stopped or restarted)".to_string()
    } else {
        return crate::text::cut(&chain, 500).into_owned();
    };
    if deepest.contains("hyper") || deepest.to_ascii_lowercase().contains("timeout error") {
        return what;
    }
    format!("{what} ({})", crate::text::cut(&deepest, 300))
}

impl DockerEngine {
    /// Containers made by [`Engine::run`] from `image` that still exist,
    /// running or not. Empty after every run: tests use it to prove that.
    pub async fn run_containers_from(&self, image: &str) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([
            ("label".to_string(), vec![RUN_LABEL.to_string()]),
            ("ancestor".to_string(), vec![image.to_string()]),
        ]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.into_iter().filter_map(|c| c.id).collect())
    }

    /// Starts the created container `id`, waits up to `timeout` for it to
    /// exit and reads its output. Leaves removing it to the caller.
    async fn run_created(&self, id: &str, timeout: Duration) -> Result<RunOutput, EngineError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.error(e))?;
        let exit_code = match tokio::time::timeout(timeout, self.wait_exit(id, timeout)).await {
            Ok(code) => Some(code?),
            // Still running: its output so far is read below, and removing
            // the container (forced) kills it.
            Err(_elapsed) => None,
        };
        let mut output = self.container_output(id).await?;
        output.exit_code = exit_code;
        Ok(output)
    }

    /// Waits for container `id` to stop and returns its exit code.
    async fn wait_exit(&self, id: &str, timeout: Duration) -> Result<i64, EngineError> {
        // The client's own request timeout would otherwise cut a long wait.
        let docker = self.docker.clone().with_timeout(timeout + WAIT_SLACK);
        let mut stream = docker.wait_container(id, None::<WaitContainerOptions>);
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error; for a test it is
            // a result like any other.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(self.error(e)),
            None => Err(EngineError::Api(format!(
                "the engine did not say how container {id} ended"
            ))),
        }
    }

    /// Everything container `id` wrote so far, stdout and stderr apart.
    async fn container_output(&self, id: &str) -> Result<RunOutput, EngineError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            follow: false,
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut truncated = false;
        while let Some(item) = stream.next().await {
            let (buffer, message) = match item.map_err(|e| self.error(e))? {
                LogOutput::StdErr { message } => (&mut stderr, message),
                // A container with a terminal sends one stream: its stdout.
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    (&mut stdout, message)
                }
                LogOutput::StdIn { .. } => continue,
            };
            truncated |= append_capped(buffer, &message);
        }
        Ok(RunOutput {
            exit_code: None,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            truncated,
        })
    }

    /// Removes container `id`, killing it if it still runs; gone is fine.
    async fn force_remove(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(match self.error(e) {
                EngineError::Api(message) => {
                    EngineError::Api(format!("removing test container {id}: {message}"))
                }
                other => other,
            }),
        }
    }
}

impl DockerEngine {
    /// The file at `path` in container `id` (created, never started), as
    /// the archive API sends it: `Err` for a file over `max_bytes`, `None`
    /// when nothing is there, a link's target when it is a symbolic link.
    async fn archive_entry(
        &self,
        id: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Option<Entry>, EngineError> {
        let options = bollard::query_parameters::DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let mut stream = self.docker.download_from_container(id, Some(options));
        // The tar framing: a header (a long name adds a few) and padding.
        let cap = max_bytes.saturating_add(64 * 1024);
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let next = tokio::time::timeout(self.timeouts.io, stream.next()).await;
            let Ok(next) = next else {
                return Err(EngineError::TimedOut {
                    what: format!("reading {path} from the image"),
                    after: self.timeouts.io,
                    hint: "the engine said nothing for that long; set --io-timeout to wait longer"
                        .into(),
                });
            };
            match next {
                None => break,
                Some(Ok(chunk)) => {
                    if bytes.len() as u64 + chunk.len() as u64 > cap {
                        return Err(EngineError::Api(format!(
                            "{path} in the image is longer than the {max_bytes} bytes strata reads"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Some(Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                })) => return Ok(None),
                Some(Err(e)) => {
                    return Err(match self.error(e) {
                        EngineError::Api(message) => {
                            EngineError::Api(format!("reading {path} from the image: {message}"))
                        }
                        other => other,
                    })
                }
            }
        }
        let bad = |e: std::io::Error| {
            EngineError::Api(format!(
                "reading {path} from the image: the engine's archive is not a tar file: {e}"
            ))
        };
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive.entries().map_err(bad)?;
        let Some(entry) = entries.next() else {
            return Ok(None);
        };
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let target = entry.link_name().map_err(bad)?.unwrap_or_default();
            return Ok(Some(Entry::Link(target.to_string_lossy().into_owned())));
        }
        if !kind.is_file() {
            return Ok(None);
        }
        if entry.size() > max_bytes {
            return Err(EngineError::Api(format!(
                "{path} in the image is longer than the {max_bytes} bytes strata reads"
            )));
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        std::io::Read::read_to_end(&mut entry, &mut content).map_err(bad)?;
        Ok(Some(Entry::File(content)))
    }

    /// The file at `path` in container `id`, symbolic links followed
    /// inside the image (at most [`MAX_LINKS`] of them).
    async fn read_one(
        &self,
        id: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, EngineError> {
        let mut path = path.to_string();
        for _ in 0..=MAX_LINKS {
            match self.archive_entry(id, &path, max_bytes).await? {
                None => return Ok(None),
                Some(Entry::File(content)) => return Ok(Some(content)),
                Some(Entry::Link(target)) => path = resolve_link(&path, &target),
            }
        }
        Err(EngineError::Api(format!(
            "{path} in the image: more than {MAX_LINKS} symbolic links in a row"
        )))
    }
}

/// What the archive API holds at a path.
enum Entry {
    File(Vec<u8>),
    Link(String),
}

/// The most symbolic links [`Engine::read_files`] follows for one path.
const MAX_LINKS: usize = 8;

/// Where link `target` at `path` points, as an absolute path in the image
/// (`..` never climbs above its root).
fn resolve_link(path: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        parts.extend(path.split('/').filter(|p| !p.is_empty()));
        parts.pop();
    }
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A build context on its way to the engine, a chunk at a time.
type ContextChunks = tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>;

/// How much of a context the packer writes ahead of the engine: chunks of
/// [`CHUNK`] bytes, at most [`CHUNKS_AHEAD`] of them waiting.
const CHUNK: usize = 64 * 1024;
const CHUNKS_AHEAD: usize = 4;

/// Packs `packing` on a blocking thread into chunks the engine reads as
/// they are written: memory stays at a few chunks whatever the context's size. If
/// packing fails, the body ends with an error (the engine never gets a
/// truncated context it could build from) and the packer returns why.
fn stream_context(
    packing: context::Packing,
) -> (
    ContextChunks,
    tokio::task::JoinHandle<Result<(), EngineError>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    let packer = tokio::task::spawn_blocking(move || {
        match packing.write_to(ChunkWriter::new(tx.clone())) {
            Ok(_) => Ok(()),
            // The engine stopped reading: its own answer says why.
            Err(_) if tx.is_closed() => Ok(()),
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    });
    (rx, packer)
}

/// A writer that hands what it is given to a channel in [`CHUNK`]-byte
/// pieces, waiting while the reader is behind.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn new(tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>) -> Self {
        ChunkWriter {
            tx,
            buffer: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the engine stopped reading the build context",
            )
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&data[..n]);
        if self.buffer.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Appends `chunk` to `buffer` up to [`MAX_OUTPUT`] bytes; true if any of
/// it was dropped.
fn append_capped(buffer: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let room = MAX_OUTPUT.saturating_sub(buffer.len());
    buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
    chunk.len() > room
}

/// What a finished build said.
#[derive(Debug, Default)]
struct BuildOutput {
    /// The few lines strata reads back (every line went to the log sink).
    lines: Seen,
    /// The ID from the `aux` message, if the engine sent one.
    aux_id: Option<ImageId>,
}

/// The lines of a build's output strata reads back, whatever its length: the
/// last one (which may name the image) and the last ` ---> Running in <id>`
/// (the container of the step running now). The output itself goes only to
/// the log sink, so a step printing gigabytes costs no memory here.
#[derive(Debug, Default)]
struct Seen {
    last: Option<String>,
    running_in: Option<String>,
}

impl Seen {
    fn push(&mut self, line: &str) {
        if line.trim().starts_with("---> Running in ") {
            self.running_in = Some(line.to_string());
        }
        self.last = Some(line.to_string());
    }
}

/// The longest line passed on whole: a longer one (a step printing without
/// line breaks) is passed on in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Splits streamed text into lines: the engine's chunks need not end at a
/// line break.
#[derive(Debug, Default)]
struct LineBuffer {
    pending: String,
}

impl LineBuffer {
    fn push(&mut self, text: &str, log: LogSink<'_>, out: &mut Seen) {
        self.pending.push_str(text);
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            emit(line.trim_end_matches(['\n', '\r']), log, out);
        }
        while self.pending.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !self.pending.is_char_boundary(cut) {
                cut -= 1;
            }
            let piece: String = self.pending.drain(..cut).collect();
            emit(&piece, log, out);
        }
    }

    fn flush(&mut self, log: LogSink<'_>, out: &mut Seen) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            emit(line.trim_end_matches(['\n', '\r']), log, out);
        }
    }
}

fn emit(line: &str, log: LogSink<'_>, out: &mut Seen) {
    if !line.trim().is_empty() {
        log(line);
        out.push(line);
    }
}

/// A normalized repository name as engines show and match it:
/// `docker.io/library/node` is `node`, `docker.io/acme/app` is `acme/app`.
fn short_name(repository: &str) -> String {
    let short = repository
        .strip_prefix("docker.io/library/")
        .or_else(|| repository.strip_prefix("docker.io/"))
        .unwrap_or(repository);
    short.to_string()
}

/// Writes an image ID as `sha256:<hex>`, whichever way the engine wrote it.
pub fn normalize_id(id: &str) -> ImageId {
    let id = id.trim();
    if id.contains(':') {
        ImageId::new(id)
    } else {
        ImageId::new(format!("sha256:{id}"))
    }
}

/// The ID a classic builder names in its last words: Docker says
/// `Successfully built 4f2a…` (short), Podman ends with the full hex ID.
fn id_from_output(lines: &[String]) -> Option<String> {
    let last = lines.last()?.trim();
    if let Some(short) = last.strip_prefix("Successfully built ") {
        return Some(short.trim().to_string());
    }
    let is_hex_id = last.len() >= 12 && last.chars().all(|c| c.is_ascii_hexdigit());
    is_hex_id.then(|| last.to_string())
}

/// Removes a secret from text that will be shown, in case an engine echoes it.
fn redact(text: &str, credentials: Option<&Credentials>) -> String {
    match credentials {
        Some(c) if !c.password.expose().is_empty() => {
            text.replace(c.password.expose(), "<redacted>")
        }
        _ => text.to_string(),
    }
}

impl DockerEngine {
    /// Docker's classic builder makes the step after `FROM scratch` an
    /// image of the engine's own platform, whatever the build's platform
    /// (there is no parent to inherit one from), so the next step of an
    /// arm64 build fails ("does not match the specified platform") or the
    /// image says amd64; and its cache, which matches a step by its parent,
    /// offers one platform's step to the other. So a classic build for a
    /// platform reads `FROM scratch` as an image of that platform with no
    /// layers ([`empty_image`]), loaded once: the same layers as `scratch`,
    /// a parent that carries the platform. Podman (buildah) needs none.
    async fn scratch_of_platform(
        &self,
        request: &mut BuildRequest,
        platform: &Platform,
    ) -> Result<(), EngineError> {
        if self.podman.get().copied().unwrap_or(false) {
            return Ok(());
        }
        let text = match &request.context.dockerfile {
            crate::engine::Dockerfile::Inline(text) => text.clone(),
            crate::engine::Dockerfile::Path(path) => {
                let file = request.context.dir.join(path);
                match crate::read::read_text(&file, None, "Dockerfile") {
                    Ok(text) => text,
                    // The build reports an unreadable Dockerfile itself.
                    Err(_) => return Ok(()),
                }
            }
        };
        let froms = crate::dockerfile::from_instructions(&text);
        if !froms
            .iter()
            .any(|f| f.image.eq_ignore_ascii_case("scratch"))
        {
            return Ok(());
        }
        let id = self.empty_image(platform).await?;
        let rename = froms
            .iter()
            .filter(|f| f.image.eq_ignore_ascii_case("scratch"))
            .map(|f| (f.image.clone(), id.to_string()))
            .collect();
        let text =
            crate::dockerfile::rename_bases(&text, &rename).map_err(|e| EngineError::Context {
                path: request.context.dir.clone(),
                message: e.to_string(),
            })?;
        request.context.dockerfile = crate::engine::Dockerfile::Inline(text);
        Ok(())
    }

    /// The image of `platform` with no layers and no configuration (tagged
    /// `strata-scratch:<os>-<arch>[-<variant>]`), loaded unless the engine
    /// has it. Its ID is the digest of its configuration, the same on
    /// every engine and run.
    async fn empty_image(&self, platform: &Platform) -> Result<ImageId, EngineError> {
        let mut config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = serde_json::Value::String(variant.clone());
        }
        let config = serde_json::to_vec(&config).expect("JSON");
        let digest = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&config))
        };
        let id = ImageId::new(format!("sha256:{digest}"));
        if self.id_of(id.as_str()).await? == Some(id.clone()) {
            return Ok(id);
        }
        let tag = format!("strata-scratch:{}", platform.tag_suffix());
        let manifest = serde_json::json!([{
            "Config": format!("{digest}.json"),
            "RepoTags": [tag],
            "Layers": [],
        }]);
        let manifest = serde_json::to_vec(&manifest).expect("JSON");
        let mut archive = tar::Builder::new(Vec::new());
        for (name, data) in [
            (format!("{digest}.json"), config.as_slice()),
            ("manifest.json".to_string(), manifest.as_slice()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            archive
                .append_data(&mut header, name, data)
                .map_err(|e| EngineError::Api(format!("making an empty image: {e}")))?;
        }
        let archive = archive
            .into_inner()
            .map_err(|e| EngineError::Api(format!("making an empty image: {e}")))?;
        let options = bollard::query_parameters::ImportImageOptions {
            quiet: true,
            ..Default::default()
        };
        let mut stream =
            self.docker
                .import_image(options, bollard::body_full(archive.into()), None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                return Err(match e {
                    BollardError::DockerStreamError { error } => EngineError::Api(error),
                    other => self.error(other),
                });
            }
        }
        match self.id_of(id.as_str()).await? {
            Some(loaded) if loaded == id => Ok(id),
            other => Err(EngineError::Api(format!(
                "the engine loaded the empty {platform} image as {other:?}, not {id}"
            ))),
        }
    }

    /// One build, as the request says.
    async fn build_once(
        &self,
        request: BuildRequest,
        log: LogSink<'_>,
    ) -> Result<ImageId, EngineError> {
        let build_context = request.context.clone();
        let packing = tokio::task::spawn_blocking(move || context::prepare(&build_context))
            .await
            .map_err(|e| EngineError::Api(format!("packing the build context failed: {e}")))??;
        let builder = request.builder.unwrap_or(self.builder);
        if builder == Builder::Classic && !request.secrets.is_empty() {
            return Err(EngineError::Api(
                "build secrets need BuildKit: set `builder: buildkit` or --builder buildkit".into(),
            ));
        }
        let session = (builder == Builder::Buildkit).then(session_id);
        // A build with secrets is served by a session of strata's own,
        // registered before the build request names it.
        let _secrets = match (&session, request.secrets.is_empty()) {
            (Some(id), false) => Some(
                super::session::open(
                    &self.session_address,
                    id,
                    &request.secrets,
                    self.timeouts.connect,
                )
                .await?,
            ),
            _ => None,
        };
        let options = BuildImageOptions {
            // BuildKit reads the context tar as a remote context; the session
            // (opened by bollard over `/session`) serves no files.
            version: match builder {
                Builder::Classic => BuilderVersion::BuilderV1,
                Builder::Buildkit => BuilderVersion::BuilderBuildKit,
            },
            session,
            dockerfile: packing.dockerfile.clone(),
            t: request.tag.as_ref().map(ImageRef::to_string),
            // Base images must already be local: a build never pulls.
            pull: None,
            rm: true,
            forcerm: true,
            buildargs: Some(request.build_args.into_iter().collect::<HashMap<_, _>>()),
            labels: Some(request.labels.into_iter().collect::<HashMap<_, _>>()),
            nocache: request.no_cache,
            platform: request
                .platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            ..Default::default()
        };
        let step = request.timeout.unwrap_or(self.timeouts.step);
        let mut output = BuildOutput::default();
        let (chunks, packer) = stream_context(packing);
        let ran =
            tokio::time::timeout(step, self.run_build(options, chunks, log, &mut output)).await;
        // The packer ends once the engine has read the context or stopped
        // reading it; a file it could not read explains a failed build best.
        let packed = packer
            .await
            .map_err(|e| EngineError::Api(format!("packing the build context failed: {e}")))?;
        match ran {
            Ok(result) => {
                packed?;
                result?
            }
            Err(_elapsed) => {
                let removed = self
                    .remove_build_container(output.lines.running_in.as_slice())
                    .await;
                let removed = match removed {
                    Some(id) => format!("; its container {} was removed", &id[..id.len().min(12)]),
                    None => String::new(),
                };
                return Err(EngineError::TimedOut {
                    what: "the build".into(),
                    after: step,
                    hint: format!("set `timeout` on the image or test, or --step-timeout{removed}"),
                });
            }
        }
        if let Some(id) = output.aux_id {
            return Ok(id);
        }
        // No `aux` message: ask the engine what the tag, or the builder's
        // last line, names.
        let name = request
            .tag
            .as_ref()
            .map(ImageRef::to_string)
            .or_else(|| id_from_output(output.lines.last.as_slice()));
        if let Some(name) = name {
            if let Some(id) = self.id_of(&name).await? {
                return Ok(id);
            }
        }
        Err(EngineError::Api(
            "the build finished but the engine did not say which image it made".into(),
        ))
    }
}

#[async_trait]
impl Engine for DockerEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let version = self.docker.version().await.map_err(|e| self.error(e))?;
        let components = version.components.unwrap_or_default();
        let _ = self
            .podman
            .set(components.iter().any(|c| c.name.contains("Podman")));
        let product = components
            .iter()
            .find(|c| c.name.contains("Podman"))
            .map(|c| format!("{} {}", c.name, c.version))
            .or_else(|| {
                components
                    .iter()
                    .find(|c| c.name == "Engine")
                    .map(|c| format!("Docker Engine {}", c.version))
            })
            .unwrap_or_else(|| {
                format!(
                    "Docker Engine {}",
                    version
                        .version
                        .unwrap_or_else(|| "(unknown version)".into())
                )
            });
        Ok(EngineInfo {
            version: product,
            api_version: self.docker.client_version().to_string(),
            endpoint: self.endpoint.clone(),
        })
    }

    async fn build(
        &self,
        mut request: BuildRequest,
        log: LogSink<'_>,
    ) -> Result<ImageId, EngineError> {
        let builder = request.builder.unwrap_or(self.builder);
        request.builder = Some(builder);
        let globals = match builder {
            Builder::Buildkit => global_args(&request.context),
            Builder::Classic => Vec::new(),
        };
        platform_args(
            builder,
            request.platform.as_ref(),
            &globals,
            &mut request.build_args,
        );
        if let (Builder::Classic, Some(platform)) = (builder, request.platform.clone()) {
            self.scratch_of_platform(&mut request, &platform).await?;
        }
        self.build_once(request, log).await
    }

    fn builder(&self) -> Builder {
        self.builder
    }

    async fn layers(&self, id: &ImageId) -> Result<Option<Vec<String>>, EngineError> {
        Ok(self
            .inspect(id.as_str())
            .await?
            .map(|image| image.root_fs.and_then(|fs| fs.layers).unwrap_or_default()))
    }

    async fn image_id(&self, reference: &ImageRef) -> Result<Option<ImageId>, EngineError> {
        self.id_of(reference.as_str()).await
    }

    async fn local_image(&self, reference: &ImageRef) -> Result<Option<LocalImage>, EngineError> {
        match self.docker.inspect_image(reference.as_str()).await {
            Ok(image) => Ok(image.id.as_deref().map(|id| LocalImage {
                id: normalize_id(id),
                repo_digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn pull(
        &self,
        reference: &ImageRef,
        platform: Option<&crate::reference::Platform>,
        credentials: Option<&Credentials>,
    ) -> Result<ImageId, EngineError> {
        if let Some(c) = credentials {
            crate::secret::register(c);
        }
        let auth = credentials.map(|c| DockerCredentials {
            username: Some(c.username.clone()),
            password: Some(c.password.expose().to_string()),
            serveraddress: Some(reference.registry().to_string()),
            ..Default::default()
        });
        let failed = |message: String| {
            EngineError::Api(format!(
                "pulling {reference}: {}",
                redact(message.trim(), credentials)
            ))
        };
        let options = CreateImageOptions {
            from_image: Some(reference.to_string()),
            platform: platform.map(|p| p.to_string()).unwrap_or_default(),
            ..Default::default()
        };
        let mut stream = self.docker.create_image(Some(options), None, auth);
        loop {
            let Ok(item) = tokio::time::timeout(self.timeouts.io, stream.next()).await else {
                return Err(EngineError::TimedOut {
                    what: format!("the pull of {reference}"),
                    after: self.timeouts.io,
                    hint: "the engine said nothing for that long; set --io-timeout to wait longer"
                        .into(),
                });
            };
            match item {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(BollardError::DockerStreamError { error })) => return Err(failed(error)),
                Some(Err(BollardError::DockerResponseServerError { message, .. })) => {
                    return Err(failed(message))
                }
                Some(Err(other)) => {
                    return Err(match self.error(other) {
                        EngineError::Api(message) => failed(message),
                        unreachable => unreachable,
                    })
                }
            }
        }
        self.image_id(reference)
            .await?
            .ok_or_else(|| failed("the engine pulled it but has no such image".into()))
    }

    async fn tags_of(
        &self,
        repositories: &[Repository],
    ) -> Result<Vec<(String, ImageId)>, EngineError> {
        // Docker matches `reference` against the short form it shows
        // (`node`, not `docker.io/library/node`), and takes an image that
        // any pattern matches: one request for all. Podman 4 wants every
        // pattern to match, so it gets one request per repository (and so
        // does an engine not yet asked what it is). Either way the engine
        // reads its whole image store for each request, which is why there
        // are as few as possible.
        let wanted: BTreeSet<String> = repositories.iter().map(Repository::normalized).collect();
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let shown: Vec<String> = wanted.iter().map(|w| short_name(w)).collect();
        let patterns: Vec<Vec<String>> = match self.podman.get() {
            Some(false) => vec![shown],
            _ => shown.into_iter().map(|w| vec![w]).collect(),
        };
        let mut found = Vec::new();
        for patterns in patterns {
            let options = ListImagesOptions {
                all: false,
                filters: Some(HashMap::from([("reference".to_string(), patterns)])),
                ..Default::default()
            };
            let images =
                self.docker
                    .list_images(Some(options))
                    .await
                    .map_err(|e| match self.error(e) {
                        EngineError::Api(message) => {
                            EngineError::Api(format!("listing local images: {message}"))
                        }
                        other => other,
                    })?;
            for image in images {
                let id = normalize_id(&image.id);
                // Its repository digests come with the list: a base pinned
                // to `name@sha256:…` is answered without an inspect.
                for tag in image.repo_tags.into_iter().chain(image.repo_digests) {
                    let tag = crate::reference::normalize(&tag);
                    // An image also carries its other repositories' tags.
                    if wanted.contains(Reference::split(&tag).name) {
                        found.push((tag, id.clone()));
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn tag(&self, id: &ImageId, reference: &ImageRef) -> Result<(), EngineError> {
        let (repo, tag) = (
            reference.name().to_string(),
            reference.tag_or_latest().to_string(),
        );
        let options = TagImageOptions {
            repo: Some(repo),
            tag: Some(tag),
        };
        self.docker
            .tag_image(id.as_str(), Some(options))
            .await
            .map_err(|e| match self.error(e) {
                EngineError::Api(message) => {
                    EngineError::Api(format!("tagging {id} as {reference}: {message}"))
                }
                other => other,
            })
    }

    async fn import(
        &self,
        rootfs_tar: PathBuf,
        reference: &ImageRef,
    ) -> Result<ImageId, EngineError> {
        // Streamed a chunk at a time: a tarball of any size takes no more
        // memory than a chunk or two.
        let file = tokio::fs::File::open(&rootfs_tar)
            .await
            .map_err(|e| EngineError::Context {
                path: rootfs_tar.clone(),
                message: e.to_string(),
            })?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut chunk = vec![0u8; CHUNK];
            match file.read(&mut chunk).await? {
                0 => Ok(None),
                n => {
                    chunk.truncate(n);
                    Ok(Some((chunk.into(), file)))
                }
            }
        });
        let (repo, tag) = (
            reference.name().to_string(),
            reference.tag_or_latest().to_string(),
        );
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(chunks)), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| match self.error(e) {
                EngineError::Api(message) => EngineError::Api(format!(
                    "importing {} as {reference}: {message}",
                    rootfs_tar.display()
                )),
                other => other,
            })?;
        }
        self.image_id(reference).await?.ok_or_else(|| {
            EngineError::Api(format!(
                "the engine imported {} but has no image {reference}",
                rootfs_tar.display()
            ))
        })
    }

    async fn export(&self, id: &ImageId, dest: &std::path::Path) -> Result<(), EngineError> {
        use tokio::io::AsyncWriteExt;
        let write_err = |e: std::io::Error| EngineError::Context {
            path: dest.to_owned(),
            message: format!("cannot write the exported image: {e}"),
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(write_err)?;
        // A long-running request: only silence (not length) is limited.
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(self.timeouts.step.as_secs().max(1)));
        let mut stream = docker.export_image(id.as_str());
        loop {
            let Ok(item) = tokio::time::timeout(self.timeouts.io, stream.next()).await else {
                return Err(EngineError::TimedOut {
                    what: format!("the export of {id}"),
                    after: self.timeouts.io,
                    hint: "the engine said nothing for that long; set --io-timeout to wait longer"
                        .into(),
                });
            };
            let Some(item) = item else { break };
            let bytes = item.map_err(|e| match self.error(e) {
                EngineError::Api(message) => EngineError::Api(format!("exporting {id}: {message}")),
                other => other,
            })?;
            file.write_all(&bytes).await.map_err(write_err)?;
        }
        // A temporary file read back at once: flushed, not synced to disk.
        file.flush().await.map_err(write_err)?;
        Ok(())
    }

    async fn remove(&self, reference: &ImageRef) -> Result<(), EngineError> {
        self.remove_named(reference.as_str()).await
    }

    async fn remove_id(&self, id: &ImageId) -> Result<(), EngineError> {
        self.remove_named(id.as_str()).await
    }

    async fn read_files(
        &self,
        id: &ImageId,
        paths: &[&str],
        max_bytes: u64,
    ) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        let body = ContainerCreateBody {
            image: Some(id.to_string()),
            // Never started: the command only lets images without one be
            // created.
            entrypoint: Some(vec!["/strata-never-started".to_string()]),
            cmd: Some(vec![]),
            network_disabled: Some(true),
            labels: Some(HashMap::from([(RUN_LABEL.to_string(), self.owner.clone())])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| match self.error(e) {
                EngineError::Api(message) => {
                    EngineError::Api(format!("creating a container from {id}: {message}"))
                }
                other => other,
            })?;
        let mut files = Vec::with_capacity(paths.len());
        let mut failed = None;
        for path in paths {
            match self.read_one(&created.id, path, max_bytes).await {
                Ok(file) => files.push(file),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Removed whatever happened.
        let removed = self.force_remove(&created.id).await;
        if let Some(e) = failed {
            return Err(e);
        }
        removed?;
        Ok(files)
    }

    async fn run(
        &self,
        image: &str,
        command: &RunCommand,
        timeout: Duration,
        platform: Option<&crate::reference::Platform>,
    ) -> Result<RunOutput, EngineError> {
        let options = CreateContainerOptions {
            platform: platform.map(|p| p.to_string()).unwrap_or_default(),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(command.argv()),
            tty: Some(false),
            open_stdin: Some(false),
            labels: Some(HashMap::from([(RUN_LABEL.to_string(), self.owner.clone())])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| match self.error(e) {
                EngineError::Api(message) => {
                    EngineError::Api(format!("creating a container from {image}: {message}"))
                }
                other => other,
            })?;
        let result = self.run_created(&created.id, timeout).await;
        // Removed whatever happened: a failed or timed-out run must not
        // leave a container (possibly still running) behind.
        let removed = self.force_remove(&created.id).await;
        let output = result?;
        removed?;
        Ok(output)
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![RUN_LABEL.to_string()],
            )])),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.error(e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let owner = c.labels?.get(RUN_LABEL)?.clone();
                Some(RunContainer { id: c.id?, owner })
            })
            .collect())
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        self.force_remove(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_image() {
        assert_eq!(
            resolve_link("/etc/os-release", "../usr/lib/os-release"),
            "/usr/lib/os-release"
        );
        assert_eq!(resolve_link("/a/b", "/c/d"), "/c/d");
        assert_eq!(resolve_link("/a/b", "../../../../x"), "/x");
        assert_eq!(resolve_link("/a/b", "./c"), "/a/c");
    }

    #[test]
    fn repositories_are_listed_by_the_names_engines_show() {
        assert_eq!(short_name("docker.io/library/node"), "node");
        assert_eq!(short_name("docker.io/acme/app"), "acme/app");
        assert_eq!(
            short_name("127.0.0.1:5000/acme/app"),
            "127.0.0.1:5000/acme/app"
        );
    }

    #[test]
    fn platform_arguments_are_set_for_classic_and_left_to_buildkit() {
        let arm: Platform = "linux/arm64".parse().unwrap();
        let planned = arm.build_args(&Platform::host());
        let mut args = planned.clone();
        args.insert("TARGETOS".into(), "chosen-by-the-user".into());
        args.insert("OTHER".into(), "1".into());
        platform_args(Builder::Buildkit, Some(&arm), &[], &mut args);
        // What strata would have set is BuildKit's; what the user set stays.
        assert_eq!(
            args,
            std::collections::BTreeMap::from([
                ("OTHER".to_string(), "1".to_string()),
                ("TARGETOS".to_string(), "chosen-by-the-user".to_string()),
            ])
        );
        // One declared before the first FROM is still passed: Docker 20.10's
        // BuildKit would leave it empty there.
        let mut args = planned.clone();
        platform_args(
            Builder::Buildkit,
            Some(&arm),
            &["TARGETARCH".into()],
            &mut args,
        );
        assert_eq!(args.keys().collect::<Vec<_>>(), ["TARGETARCH"]);
        // The classic builder sets none: strata does, on test layers too.
        let mut args = std::collections::BTreeMap::new();
        platform_args(Builder::Classic, Some(&arm), &[], &mut args);
        assert_eq!(args, planned);
        assert_eq!(args["TARGETARCH"], "arm64");
        let mut args = std::collections::BTreeMap::new();
        platform_args(Builder::Classic, None, &[], &mut args);
        assert!(args.is_empty());
    }

    #[test]
    fn buildkit_is_refused_on_podman_and_old_apis() {
        let info = |version: &str, api: &str| EngineInfo {
            version: version.into(),
            api_version: api.into(),
            endpoint: "unix:///x".into(),
        };
        assert!(buildkit_missing(&info("Docker Engine 20.10.24", "1.41"), Some(false)).is_none());
        let podman = buildkit_missing(&info("Podman Engine 4.3.1", "1.41"), Some(true)).unwrap();
        assert!(podman.contains("buildah"), "{podman}");
        let old = buildkit_missing(&info("Docker Engine 18.06", "1.38"), Some(false)).unwrap();
        assert!(old.contains("1.39"), "{old}");
    }

    #[test]
    fn buildkit_progress_reads_as_numbered_steps() {
        use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
        let vertex = |digest: &str, name: &str, done: bool, error: &str| Vertex {
            digest: digest.into(),
            name: name.into(),
            started: Some(Default::default()),
            completed: done.then(Default::default),
            error: error.into(),
            ..Default::default()
        };
        let lines = std::sync::Mutex::new(Vec::<String>::new());
        let log = |l: &str| lines.lock().unwrap().push(l.to_string());
        let mut seen = Seen::default();
        let mut trace = Trace::default();
        let mut status = StatusResponse {
            vertexes: vec![vertex("a", "[1/2] FROM base", true, "")],
            ..Default::default()
        };
        trace.push(&status, &log, &mut seen);
        status.vertexes = vec![vertex("b", "[2/2] RUN false", false, "")];
        status.logs = vec![VertexLog {
            vertex: "b".into(),
            msg: b"one\ntw".to_vec(),
            ..Default::default()
        }];
        trace.push(&status, &log, &mut seen);
        status.logs = vec![VertexLog {
            vertex: "b".into(),
            msg: b"o\n".to_vec(),
            ..Default::default()
        }];
        status.vertexes = vec![vertex("b", "[2/2] RUN false", true, "exit code: 1")];
        trace.push(&status, &log, &mut seen);
        trace.flush(&log, &mut seen);
        assert_eq!(
            lines.into_inner().unwrap(),
            [
                "#1 [1/2] FROM base",
                "#1 DONE",
                "#2 [2/2] RUN false",
                "#2 one",
                "#2 two",
                "#2 ERROR: exit code: 1",
            ]
        );
    }

    #[test]
    fn ids_are_normalized_to_sha256_prefix() {
        let hex = "4f2a".repeat(16);
        assert_eq!(normalize_id(&hex), format!("sha256:{hex}"));
        assert_eq!(
            normalize_id(&format!("sha256:{hex}")),
            format!("sha256:{hex}")
        );
    }

    #[test]
    fn final_id_is_read_from_docker_and_podman_output() {
        let docker = vec![
            "Step 2/2 : RUN true".into(),
            "Successfully built 0123abcd4567".into(),
        ];
        assert_eq!(id_from_output(&docker).as_deref(), Some("0123abcd4567"));
        let podman = vec!["COMMIT".into(), "ab".repeat(32)];
        assert_eq!(id_from_output(&podman), Some("ab".repeat(32)));
        let other = vec!["Successfully tagged x:y".into()];
        assert_eq!(id_from_output(&other), None);
    }

    #[test]
    fn lines_are_reassembled_across_chunks() {
        let seen = std::sync::Mutex::new(Vec::new());
        let log = |l: &str| seen.lock().unwrap().push(l.to_string());
        let mut buffer = LineBuffer::default();
        let mut out = Seen::default();
        buffer.push("Step 1/2 : FR", &log, &mut out);
        buffer.push(
            "OM x\n ---> Running in 0123abcd\n\nok\npart",
            &log,
            &mut out,
        );
        buffer.flush(&log, &mut out);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "Step 1/2 : FROM x",
                " ---> Running in 0123abcd",
                "ok",
                "part"
            ]
        );
        assert_eq!(out.last.as_deref(), Some("part"));
        assert_eq!(out.running_in.as_deref(), Some(" ---> Running in 0123abcd"));
    }

    #[test]
    fn a_line_without_breaks_is_passed_on_in_pieces() {
        let longest = std::sync::Mutex::new(0);
        let log = |l: &str| {
            let mut longest = longest.lock().unwrap();
            *longest = (*longest).max(l.len());
        };
        let mut buffer = LineBuffer::default();
        let mut out = Seen::default();
        for _ in 0..100 {
            buffer.push(&"é".repeat(10_000), &log, &mut out);
            assert!(buffer.pending.len() <= MAX_LINE);
        }
        buffer.flush(&log, &mut out);
        assert!(*longest.lock().unwrap() <= MAX_LINE);
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let creds = Credentials {
            username: "u".into(),
            password: crate::secret::Secret::new("hunter2"),
        };
        assert_eq!(
            redact("denied for u:hunter2", Some(&creds)),
            "denied for u:<redacted>"
        );
    }

    #[test]
    fn run_output_is_capped() {
        let mut buffer = vec![0; MAX_OUTPUT - 2];
        assert!(!append_capped(&mut buffer, b"ab"));
        assert_eq!(buffer.len(), MAX_OUTPUT);
        assert!(append_capped(&mut buffer, b"c"));
        assert_eq!(buffer.len(), MAX_OUTPUT);
    }

    #[tokio::test]
    async fn unreachable_engine_says_how_to_start_it() {
        let err = DockerEngine::connect_to("unix:///nonexistent/strata-test.sock")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EngineError::Unreachable { .. }), "{text}");
        assert!(text.contains("scripts/setup.sh"), "{text}");
        assert!(text.contains("DOCKER_HOST"), "{text}");
    }
}
