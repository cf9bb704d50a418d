//! Arguments resolved once (as ripgrep's `HiArgs`): every default filled in,
//! every path decided, every number checked, before any stage runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::attest::key::SigningKey;
use crate::error::{InputError, RunError};
use crate::events::Command;
use crate::exec::Options;
use crate::load::{self, LoadOptions};
use crate::plan::shard::Shard;
use crate::plan::Plan;

use super::args::{ConfigArgs, RunArgs, TimeoutArgs};

/// What `test` and `push` run with.
#[derive(Debug)]
pub struct RunSettings {
    pub command: Command,
    /// The config file, found or named.
    pub config: PathBuf,
    pub as_of: Option<chrono::NaiveDate>,
    pub shard: Option<Shard>,
    /// `.strata` beside the config, or `--state-dir`.
    pub state_dir: PathBuf,
    pub keep_runs: usize,
    pub quiet: bool,
    pub verbose: bool,
    pub dry_run: bool,
    pub jobs: usize,
    pub retries: u32,
    pub backoff: Duration,
    pub no_cache: bool,
    pub engine_timeouts: crate::engine::docker::Timeouts,
    pub registry_timeouts: crate::registry::oci::Timeouts,
    /// Engines of their own for some platforms.
    pub platform_engines: Vec<(crate::reference::Platform, String)>,
    /// Signs `push`'s test attestations (`--key`, `STRATA_SIGNING_KEY`).
    pub signing_key: Option<Arc<SigningKey>>,
    /// Aliases that may fall back to an older image (`--fallback`).
    pub fallback: Vec<globset::GlobMatcher>,
    /// The platforms this machine runs (`--platform`); empty: all.
    pub platforms: Vec<crate::reference::Platform>,
    /// `--pull`; `None`: the config's, else the default.
    pub pull: Option<crate::config::pull::PullPolicy>,
    /// `--builder` / `STRATA_BUILDER`; `None`: the config's, else BuildKit
    /// where the engine offers it, else classic.
    pub builder: Option<crate::config::builder::Builder>,
}

impl RunSettings {
    pub fn resolve(command: Command, args: RunArgs) -> Result<RunSettings, RunError> {
        if args.jobs == 0 {
            return Err(InputError::plain("-j must be at least 1").into());
        }
        let config = config_path(&args.config)?;
        let state_dir = state_dir_for(&config, args.state_dir.as_deref());
        RunSettings {
            command,
            as_of: args.config.as_of,
            shard: args.shard.shard,
            config,
            state_dir,
            keep_runs: args.keep_runs,
            quiet: args.quiet,
            verbose: args.verbose,
            dry_run: args.dry_run,
            jobs: args.jobs,
            retries: args.retries,
            backoff: crate::exec::retry::backoff_from_env(Duration::from_secs(2)),
            no_cache: args.no_cache,
            engine_timeouts: engine_timeouts(&args.timeouts),
            registry_timeouts: registry_timeouts(&args.timeouts),
            platform_engines: args.platform_engines,
            signing_key: None,
            fallback: Vec::new(),
            platforms: args.platforms,
            pull: args.pull.as_deref().and_then(|p| p.parse().ok()),
            builder: args.builder,
        }
        .with_fallback(&args.fallback)
    }

    /// The `--fallback` globs, checked.
    fn with_fallback(mut self, patterns: &[String]) -> Result<RunSettings, RunError> {
        for pattern in patterns {
            let glob = globset::Glob::new(pattern).map_err(|e| {
                InputError::plain(format!("--fallback {pattern:?} is not a valid glob: {e}"))
            })?;
            self.fallback.push(glob.compile_matcher());
        }
        Ok(self)
    }

    /// Reads the signing key `value` names (a PEM file, or the PEM itself
    /// from `STRATA_SIGNING_KEY`): a key that cannot be used is bad input,
    /// found before anything runs. The key's text is never shown.
    pub fn with_signing_key(mut self, value: Option<&str>) -> Result<RunSettings, RunError> {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            let key = SigningKey::from_setting(value, "STRATA_SIGNING_KEY").map_err(|e| {
                InputError::plain(format!("signing key {e}"))
                    .with_help("make a key pair with `strata key generate`")
            })?;
            self.signing_key = Some(Arc::new(key));
        }
        Ok(self)
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("state.json")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.state_dir.join("runs")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.state_dir.join("cache")
    }

    /// The executor's options; `stop` is the token the signal watcher cancels.
    pub fn options(&self, stop: tokio_util::sync::CancellationToken) -> Options {
        Options {
            jobs: self.jobs,
            retries: self.retries,
            backoff: self.backoff,
            no_cache: self.no_cache,
            stop,
            signing_key: self.signing_key.clone(),
            fallback: self.fallback.clone(),
            platforms: self.platforms.clone(),
            failures: Default::default(),
            bases: Default::default(),
            provenance: Default::default(),
            secrets: Default::default(),
        }
    }

    /// The command's name, as run folders and messages spell it.
    pub fn command_name(&self) -> &'static str {
        match self.command {
            Command::Test => "test",
            Command::Push => "push",
        }
    }

    /// The whole plan, with its warnings printed.
    pub fn load(&self) -> Result<Plan, RunError> {
        load_plan(&self.config, self.as_of)
    }
}

/// The config named by `-f` or the positional argument, else `inventory.yml`
/// or `strata.yml` in the current folder.
pub fn config_path(args: &ConfigArgs) -> Result<PathBuf, RunError> {
    if let Some(p) = args.file.as_ref().or(args.config.as_ref()) {
        return Ok(p.clone());
    }
    ["inventory.yml", "strata.yml"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            InputError::plain(
                "no config file: neither inventory.yml nor strata.yml is in this folder",
            )
            .with_help("name one with `-f FILE`")
            .into()
        })
}

/// `--state-dir`, else `.strata` beside the config.
pub fn state_dir_for(config: &Path, given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(".strata")
    })
}

/// Reads the config into a plan; its warnings go to stderr.
pub fn load_plan(config: &Path, as_of: Option<chrono::NaiveDate>) -> Result<Plan, RunError> {
    let plan = load::plan(config, &LoadOptions { as_of })?;
    for warning in &plan.warnings {
        eprintln!("strata: warning: {warning}");
    }
    Ok(plan)
}

/// The part of `plan` this machine runs; says what the shard holds.
pub fn apply_shard(plan: Plan, shard: Option<Shard>) -> Plan {
    let Some(shard) = shard else {
        return plan;
    };
    let part = crate::plan::shard::select(&plan, shard);
    eprintln!(
        "strata: shard {shard}: {} of {} images, {} of {} aliases",
        part.images.len(),
        plan.images.len(),
        part.aliases.len(),
        plan.aliases.len()
    );
    part
}

fn engine_timeouts(t: &TimeoutArgs) -> crate::engine::docker::Timeouts {
    crate::engine::docker::Timeouts {
        connect: Duration::from_secs(t.connect_timeout),
        io: Duration::from_secs(t.io_timeout),
        step: Duration::from_secs(t.step_timeout),
    }
}

fn registry_timeouts(t: &TimeoutArgs) -> crate::registry::oci::Timeouts {
    crate::registry::oci::Timeouts {
        connect: Duration::from_secs(t.connect_timeout),
        io: Duration::from_secs(t.io_timeout),
    }
}
