//! The executor: the only stage with side effects.
//!
//! It reads a [`Plan`](crate::plan::Plan), drives the [`Engine`] and
//! [`Registry`] traits, records results in the [`State`](crate::state::State)
//! and reports everything as [`Event`](crate::events::Event)s. It decides
//! nothing about presentation; reporters listen to the events.
//!
//! * [`skeleton`] is the shape `test` and `push` share: units, schedule,
//!   then aliases, each moved through the retry path.
//! * [`schedule`] runs images concurrently, parents before children.
//! * [`fingerprint`] digests an image's inputs, so unchanged images are skipped.
//! * [`known`] learns the engine's tags in one list call per run, so an
//!   unchanged image and its aliases cost no engine call.
//! * [`retry`] runs one step with retries and emits its events; [`StepError`]
//!   says why an attempt failed, and whether another may pass.
//! * [`test_run`] is `strata test`: build, test as layers, tag aliases.
//! * [`push_run`] is `strata push`: push what was tested, point aliases at it;
//!   `attach` adds the test attestation to every image it sends, `sbom`
//!   the signed SBOM of each platform image.

pub mod attach;
pub mod bases;
pub mod bus;
pub mod changes;
pub mod containers;
mod error;
pub mod fingerprint;
pub mod known;
pub mod matrix;
pub mod provenance;
pub mod push_run;
pub mod reasons;
pub mod retry;
#[cfg(test)]
mod rules_tests;
mod run_check;
mod sbom;
pub mod schedule;
pub mod secrets;
mod skeleton;
pub mod test_run;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::plan::{Artifact, Plan};
use crate::registry::RegistryWrite;
use crate::secret::Credentials;

pub use bus::Bus;
pub use error::StepError;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Images worked on at once.
    pub jobs: usize,
    /// Extra attempts for a failed build, test or push.
    pub retries: u32,
    /// Wait before the first retry; doubled for each later one.
    pub backoff: Duration,
    /// Build without the engine's layer cache.
    pub no_cache: bool,
    /// Cancelled when the run must stop (SIGINT, SIGTERM): steps in flight
    /// are abandoned, no new image starts, and no alias moves after it; an
    /// alias move already under way finishes, so reports say exactly what moved.
    pub stop: CancellationToken,
    /// Signs the test attestation `push` attaches to every image it sends;
    /// without it the attestation is attached unsigned.
    pub signing_key: Option<Arc<crate::attest::key::SigningKey>>,
    /// Alias tags (globs) that `push` may point at an older candidate when
    /// the newest was not pushed; every other alias is held where it is.
    pub fallback: Vec<globset::GlobMatcher>,
    /// Run only these platforms of each image (`--platform`; empty: all):
    /// another machine runs the rest, and `strata publish` joins them.
    pub platforms: Vec<crate::reference::Platform>,
    /// How the run's failed steps failed (shared by every clone), for the
    /// exit code: the environment, or the images.
    pub failures: Failures,
    /// The external bases resolved before the run (see [`bases`]): each
    /// build's `FROM` reads the digest resolved for its platform.
    pub bases: Arc<bases::Bases>,
    /// Where the config's sources come from (commit, time, repository),
    /// for the OCI labels every build gets (see [`provenance`]).
    pub provenance: Arc<provenance::Provenance>,
    /// Build secrets' values, read before the run ([`secrets::Secrets::read`]).
    pub secrets: Arc<secrets::Secrets>,
}

/// The steps of a run whose last attempt failed, counted by cause: the
/// engine or a registry unreachable ([`StepError::environment`]), or
/// anything else. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Failures(Arc<[std::sync::atomic::AtomicUsize; 2]>);

impl Failures {
    /// Counts one step that failed after its last attempt.
    pub fn record(&self, error: &StepError) {
        let i = usize::from(!error.environment());
        self.0[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// True when some step failed and every failed step failed because the
    /// engine or a registry could not be reached.
    pub fn environment_only(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.0[0].load(Relaxed) > 0 && self.0[1].load(Relaxed) == 0
    }
}

/// The plan the executor runs: each image of several platforms as one unit
/// per platform, narrowed to the platforms this machine runs.
pub fn units(plan: &Plan, options: &Options) -> (Plan, Vec<crate::plan::platforms::Group>) {
    let host = crate::reference::Platform::host();
    let (expanded, groups) = crate::plan::platforms::expand(plan, &host);
    let (units, groups) = crate::plan::platforms::only(expanded, groups, &options.platforms, &host);
    let units = label(options.bases.pin(units), &groups, options);
    (units, groups)
}

/// Every unit with its OCI labels ([`provenance`]): what its final stage is
/// built on, its version, and where and when its sources come from.
fn label(mut units: Plan, groups: &[crate::plan::platforms::Group], options: &Options) -> Plan {
    let published: std::collections::BTreeMap<&str, &crate::reference::ImageRef> = groups
        .iter()
        .flat_map(|g| g.unit_names().map(|u| (u, &g.name)))
        .collect();
    let published_as = |unit: &str| {
        published
            .get(unit)
            .map_or(unit.to_string(), |g| g.to_string())
    };
    let mut labelled = Vec::with_capacity(units.images.len());
    for unit in &units.images {
        let base = fingerprint::dockerfile_text(unit)
            .ok()
            .and_then(|text| final_base(unit, &text, options));
        let base = base.map(|(name, digest)| (published_as(&name), digest));
        labelled.push(provenance::labels(
            unit,
            published
                .get(unit.name.as_str())
                .copied()
                .unwrap_or(&unit.name),
            base,
            &options.provenance,
        ));
    }
    for (unit, labels) in units.images.iter_mut().zip(labelled) {
        unit.labels.extend(labels);
    }
    units
}

/// The image `unit`'s final stage is built on (its Dockerfile `text` as
/// built), with the digest when it is an external base resolved upstream.
fn final_base(
    unit: &crate::plan::ImagePlan,
    text: &str,
    options: &Options,
) -> Option<(String, Option<String>)> {
    let written = crate::dockerfile::final_base(text)?;
    let read = crate::dockerfile::base_images_written(text, &unit.build_args)
        .into_iter()
        .find(|(w, _)| *w == written)
        .map(|(_, r)| r)
        .unwrap_or(written);
    let pinned = options
        .bases
        .0
        .values()
        .find(|b| b.pinned == read && b.platform.as_ref() == unit.platforms.first());
    Some(match pinned {
        Some(b) => (
            b.reference.clone(),
            b.digest.as_ref().map(|d| d.to_string()),
        ),
        None => (read, None),
    })
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 1,
            retries: 0,
            backoff: Duration::from_secs(2),
            no_cache: false,
            stop: CancellationToken::new(),
            signing_key: None,
            fallback: Vec::new(),
            platforms: Vec::new(),
            failures: Failures::default(),
            bases: Arc::default(),
            provenance: Arc::default(),
            secrets: Arc::default(),
        }
    }
}

/// Fetches artifacts onto the host so they can join a build context.
#[async_trait]
pub trait Fetch: Send + Sync {
    /// Returns the verified file on the host.
    async fn fetch(&self, artifact: &Artifact) -> Result<PathBuf, crate::artifact::ArtifactError>;

    /// The URL a fetched artifact's bytes came from, if known.
    fn origin(&self, artifact: &Artifact) -> Option<String> {
        let _ = artifact;
        None
    }
}

/// Looks up registry credentials for a registry host.
pub type CredentialLookup = Arc<dyn Fn(&str) -> Option<Credentials> + Send + Sync>;

/// The outside world, as the executor sees it.
#[derive(Clone)]
pub struct World {
    /// The engine every image is built on, unless its platform has its own.
    pub engine: Arc<dyn Engine>,
    /// Engines for some platforms (a native arm64 machine builds arm64).
    pub platform_engines: std::collections::BTreeMap<crate::reference::Platform, Arc<dyn Engine>>,
    pub registry: Option<Arc<dyn RegistryWrite>>,
    pub fetch: Option<Arc<dyn Fetch>>,
    pub credentials: CredentialLookup,
}

impl World {
    /// The world as an image built for `platform` sees it: that platform's
    /// engine if it has one.
    pub fn for_platform(&self, platform: Option<&crate::reference::Platform>) -> World {
        match platform.and_then(|p| self.platform_engines.get(p)) {
            Some(engine) => World {
                engine: engine.clone(),
                ..self.clone()
            },
            None => self.clone(),
        }
    }
}

/// Runs `work` unless `stop` fires first. `None` (after emitting
/// [`Event::Interrupted`](crate::events::Event::Interrupted)) when stopped;
/// dropping `work` abandons whatever it had in flight.
async fn until_stopped<F: std::future::Future>(
    stop: &CancellationToken,
    bus: &Bus,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        out = work => Some(out),
        _ = stop.cancelled() => {
            bus.emit(crate::events::Event::Interrupted);
            None
        }
    }
}

/// True (after emitting the interruption) when no further alias may move.
fn stopped(stop: &CancellationToken, bus: &Bus) -> bool {
    if stop.is_cancelled() {
        bus.emit(crate::events::Event::Interrupted);
    }
    stop.is_cancelled()
}

/// Emits the event that opens a run.
fn announce(
    bus: &Bus,
    command: crate::events::Command,
    plan: &crate::plan::Plan,
    engine: String,
    matrix: Vec<crate::events::MatrixCell>,
) {
    bus.emit(crate::events::Event::RunStarted {
        command,
        images: plan.images.len(),
        tests: plan.test_count(),
        engine,
        at: chrono::Utc::now(),
    });
    if !matrix.is_empty() {
        bus.emit(crate::events::Event::Matrix { cells: matrix });
    }
}

/// The real fetcher: downloads on the host, verified and cached.
#[async_trait]
impl Fetch for crate::artifact::Fetcher {
    async fn fetch(&self, artifact: &Artifact) -> Result<PathBuf, crate::artifact::ArtifactError> {
        crate::artifact::Fetcher::fetch(self, artifact).await
    }

    fn origin(&self, artifact: &Artifact) -> Option<String> {
        crate::artifact::Fetcher::origin(self, artifact)
    }
}
