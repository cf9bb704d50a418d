//! `strata test` and `strata push`: the plan handed to the executor, with
//! reporters listening, then the outcome decided.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::docker::DockerEngine;
use crate::engine::Engine;
use crate::error::{Failure, RunError, EXIT_OK};
use crate::events::record::RunRecord;
use crate::events::{Command, Listener};
use crate::exec::{self, Bus, World};
use crate::plan::Plan;
use crate::registry::oci::OciRegistry;
use crate::registry::{RegistryRead, RegistryWrite};
use crate::report;
use crate::state::StateFile;

use super::outcome::Outcome;
use super::output::{print_stdout, write_generated};
use super::settings::{apply_shard, RunSettings};
use super::signal::{stop_on_signal, Signal};

pub async fn run(s: RunSettings) -> Result<i32, RunError> {
    // Held to the end of the run: another run in this folder waits for it.
    let (plan, _output_lock) = prepare_plan(&s)?;
    if s.dry_run {
        return dry_run(&s, &plan);
    }
    if let Some(warning) = crate::registry::auth::environment_warning() {
        eprintln!("strata: warning: {warning}");
    }
    // Build secrets are read before anything is built: a missing variable
    // or file is bad input. `push` builds nothing and needs none.
    let builder = s.builder.or(plan.builder).unwrap_or_default();
    let secrets = match s.command {
        Command::Test => exec::secrets::Secrets::read(&plan, builder).map_err(|m| {
            crate::error::InputError::plain(format!("{}: {m}", s.config.display())).with_help(
                "set each secret's variable, or create its file, before the run (see `secrets:`)",
            )
        })?,
        Command::Push => exec::secrets::Secrets::default(),
    };
    // A damaged state is named before the engine is asked anything.
    let state = StateFile::open(&s.state_file()).map_err(RunError::state)?;
    let (world, engine_desc) = connect(&s, &plan).await?;
    let run_dir = open_run_folder(&s)?;
    remove_leftovers(world.engine.as_ref()).await;

    let stop = CancellationToken::new();
    let (bus, dispatcher) = Bus::start_in(&run_dir, listeners(&s, &run_dir));
    // SIGINT or SIGTERM stops the run but not the reporting: steps in flight
    // are abandoned (their engine requests cancelled), results recorded so
    // far stay in the state file, and the reports say the run was cut short.
    let watcher = tokio::spawn(stop_on_signal(stop.clone()));
    let mut options = s.options(stop.clone());
    let mut world = world;
    options.secrets = Arc::new(secrets);
    if s.command == Command::Test {
        options.provenance = Arc::new(provenance(&plan)?);
        // One list call answers the bases' look-ups and the whole run's.
        let (units, _) = exec::units(&plan, &options);
        world.engine = Arc::new(exec::known::Known::learn(world.engine.clone(), &units).await);
        options.bases = Arc::new(follow_bases(&s, &plan, &world, &options).await?);
    }
    let result = match s.command {
        Command::Test => {
            exec::test_run::run(&plan, &world, &options, &bus, &state, engine_desc).await
        }
        Command::Push => {
            exec::push_run::run(&plan, &world, &options, &bus, &state, engine_desc).await
        }
    };
    let mut outcome = Outcome {
        signal: signal_seen(watcher, &stop).await,
        ..Outcome::default()
    };
    if outcome.signal.is_some() {
        // The abandoned steps' containers (a `run.yml` in flight) go too.
        if let Err(e) = exec::containers::remove_own(world.engine.as_ref()).await {
            eprintln!("strata: warning: could not remove this run's containers: {e}");
        }
    }
    drop(bus);
    let (record, listeners) = dispatcher.finish().await;
    outcome.state_result(result);
    for listener in listeners {
        if let Err(e) = listener.finish() {
            outcome.unwritten.push(Failure::of(e));
        }
    }
    report_results(&record, &run_dir, &mut outcome);
    super::ci::github(&record, &plan, &mut outcome);
    outcome.environment_only = options.failures.environment_only();
    outcome.exit_code(record.verdict())
}

/// The config loaded; for `test`, the generated tree written (every shard
/// writes all of it: cheap, and the same bytes on every machine); then this
/// machine's shard.
fn prepare_plan(
    s: &RunSettings,
) -> Result<(Plan, Option<crate::generate::write::OutputLock>), RunError> {
    let plan = s.load()?;
    let mut held = None;
    if s.command == Command::Test && !s.dry_run && !plan.files.is_empty() {
        held = write_generated(&plan)?.1;
    }
    if !s.platforms.is_empty() {
        let only: Vec<String> = s.platforms.iter().map(|p| p.to_string()).collect();
        eprintln!(
            "strata: platforms {}: indexes and aliases of images with other platforms are left to `strata publish --from`",
            only.join(", ")
        );
    }
    Ok((apply_shard(plan, s.shard), held))
}

/// The plan, and for `push` what each image would get, from the state alone.
fn dry_run(s: &RunSettings, plan: &Plan) -> Result<i32, RunError> {
    let mut text = crate::plan::print::text(plan);
    if s.command == Command::Push {
        let state = crate::state::State::load(&s.state_file()).map_err(RunError::state)?;
        text.push_str(&push_preview(plan, &state, &s.platforms));
    }
    print_stdout(&text);
    Ok(EXIT_OK)
}

/// The engine (and for `push` the registries, checked before anything is
/// pushed); the engine described for the reports.
async fn connect(s: &RunSettings, plan: &Plan) -> Result<(World, String), RunError> {
    let engine = DockerEngine::connect_with(s.engine_timeouts)
        .await
        .map_err(RunError::environment)?;
    // Unless chosen: BuildKit where the engine offers it, else classic.
    let chosen = s.builder.or(plan.builder);
    let engine = engine
        .with_builder_or_default(chosen)
        .await
        .map_err(RunError::environment)?;
    let builder = engine.builder();
    let info = engine.info().await.map_err(RunError::environment)?;
    // The builder rides in the engine's description: the run header, every
    // report and `report.json` show it.
    let described = format!(
        "{} (API {}) at {}, builder {builder}",
        info.version, info.api_version, info.endpoint
    );
    let registry: Option<Arc<dyn RegistryWrite>> = (s.command == Command::Push).then(|| {
        Arc::new(
            OciRegistry::new(crate::registry::auth::credentials_for)
                .with_timeouts(s.registry_timeouts),
        ) as Arc<dyn RegistryWrite>
    });
    if let Some(registry) = &registry {
        check_registries(plan, registry.as_ref()).await?;
    }
    let mut platform_engines = std::collections::BTreeMap::new();
    for (platform, host) in &s.platform_engines {
        let failed = |e: crate::engine::EngineError| {
            RunError::Environment(Failure::caused(format!("the engine for {platform}"), e))
        };
        let other = DockerEngine::connect_to_with(host, s.engine_timeouts)
            .await
            .map_err(failed)?
            .with_builder_or_default(chosen)
            .await
            .map_err(failed)?;
        let info = other.info().await.map_err(failed)?;
        eprintln!(
            "strata: {platform} is built on {} (API {}) at {}",
            info.version, info.api_version, info.endpoint
        );
        platform_engines.insert(platform.clone(), Arc::new(other) as Arc<dyn Engine>);
    }
    let fetch: Arc<dyn exec::Fetch> = Arc::new(
        crate::artifact::Fetcher::new(s.cache_dir())
            .with_timeouts(
                s.engine_timeouts.connect,
                s.engine_timeouts.io,
                s.engine_timeouts.step,
            )
            .verbose(s.verbose),
    );
    let world = World {
        engine: Arc::new(engine),
        platform_engines,
        registry,
        fetch: Some(fetch),
        credentials: Arc::new(crate::registry::auth::credentials_for),
    };
    Ok((world, described))
}

/// Every external base resolved, pulled if need be and pinned, under the
/// pull policy (`--pull`, else the config's, else `always`), before any
/// build: a registry that cannot be reached or refuses exits 3, a base that
/// cannot be had exits 2.
async fn follow_bases(
    s: &RunSettings,
    plan: &Plan,
    world: &World,
    options: &exec::Options,
) -> Result<exec::bases::Bases, RunError> {
    let policy = s.pull.or(plan.pull).unwrap_or_default();
    let (units, _) = exec::units(plan, options);
    let wanted = exec::bases::external(plan, &units).map_err(bases_error)?;
    let registry: Option<Arc<dyn RegistryRead>> =
        (policy != crate::config::pull::PullPolicy::Never).then(|| {
            Arc::new(
                OciRegistry::new(crate::registry::auth::credentials_for)
                    .with_timeouts(s.registry_timeouts),
            ) as Arc<dyn RegistryRead>
        });
    // A lock file pins every base: checked against the config first.
    let lock = crate::config::lock::Lock::load(&crate::config::lock::path_for(&s.config))?;
    if let Some(lock) = &lock {
        let named: Vec<(String, Option<String>)> = wanted
            .iter()
            .map(|(r, p)| (r.clone(), p.as_ref().map(|p| p.to_string())))
            .collect();
        lock.check(&named)?;
    }
    let bases = exec::bases::resolve(wanted, world, registry, policy, options.jobs, lock.as_ref())
        .await
        .map_err(bases_error)?;
    for base in bases.0.values().filter(|b| b.pulled) {
        eprintln!("strata: pulled {} ({})", base.reference, base.pinned);
    }
    Ok(bases)
}

/// Where and when the config's sources come from, for the images' OCI
/// labels: `SOURCE_DATE_EPOCH` (a bad value is bad input, exit 2) and the
/// git repository the config is in, if any.
fn provenance(plan: &Plan) -> Result<exec::provenance::Provenance, RunError> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let created = exec::provenance::source_date_epoch(epoch.as_deref())
        .map_err(|e| RunError::from(crate::error::InputError::plain(e.to_string())))?;
    let dir = plan
        .source
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(exec::provenance::discover(dir, created))
}

fn bases_error(e: exec::bases::BaseError) -> RunError {
    match e {
        e @ exec::bases::BaseError::Environment(_) => RunError::environment(e),
        exec::bases::BaseError::Input(m) => crate::error::InputError::plain(m).into(),
    }
}

/// A new run folder; old ones beyond `--keep-runs` removed.
fn open_run_folder(s: &RunSettings) -> Result<PathBuf, RunError> {
    let runs = s.runs_dir();
    let dir = crate::runs::create(&runs, s.command_name()).map_err(|e| {
        RunError::Results(Failure::caused(
            format!("cannot create a run folder under {}", runs.display()),
            e,
        ))
    })?;
    if let Err(e) = crate::runs::prune(&runs, s.keep_runs) {
        eprintln!("strata: warning: could not remove old run folders: {e}");
    }
    Ok(dir)
}

/// Containers of strata runs that were killed must not fail this one.
async fn remove_leftovers(engine: &dyn Engine) {
    match exec::containers::remove_stale(engine).await {
        Ok(ids) if !ids.is_empty() => eprintln!(
            "strata: removed {} container(s) left behind by an interrupted run",
            ids.len()
        ),
        Ok(_) => {}
        Err(e) => eprintln!("strata: warning: could not look for leftover containers: {e}"),
    }
}

/// The terminal (unless `--quiet`), the raw logs and the event log.
fn listeners(s: &RunSettings, run_dir: &Path) -> Vec<Box<dyn Listener>> {
    let mut listeners: Vec<Box<dyn Listener>> = Vec::new();
    if !s.quiet {
        listeners.push(Box::new(
            report::terminal::Terminal::stderr().verbose(s.verbose),
        ));
    }
    listeners.push(Box::new(report::logs::LogFiles::new(run_dir)));
    match report::json::EventLog::create(&run_dir.join("events.jsonl")) {
        Ok(log) => listeners.push(Box::new(log)),
        Err(e) => eprintln!("strata: not keeping an event log: {e}"),
    }
    listeners
}

/// The watcher's signal, if the stop token was cancelled by one.
async fn signal_seen(
    watcher: tokio::task::JoinHandle<Option<Signal>>,
    stop: &CancellationToken,
) -> Option<Signal> {
    if stop.is_cancelled() {
        watcher.await.ok().flatten()
    } else {
        watcher.abort();
        None
    }
}

/// The Markdown summary on stdout, the report files in the run folder, the
/// terminal summary naming them; a report not written fails the run.
fn report_results(record: &RunRecord, run_dir: &Path, outcome: &mut Outcome) {
    print_stdout(&report::markdown::render(record));
    let written = match report::write_all(record, run_dir) {
        Ok(paths) => paths,
        Err(e) => {
            outcome.unwritten.push(Failure::caused(
                format!("could not write reports to {}", run_dir.display()),
                e,
            ));
            vec![]
        }
    };
    eprint!(
        "{}",
        report::terminal::summary_with_reports(record, &written)
    );
}

/// Asks every registry the plan pushes to whether it answers and accepts
/// strata's credentials, before anything is pushed: a registry that is down
/// or refuses the login is an environment problem (exit 3), not a failed push.
async fn check_registries(plan: &Plan, registry: &dyn RegistryWrite) -> Result<(), RunError> {
    let mut seen = std::collections::BTreeSet::new();
    // An alias was checked as a reference when the plan was made.
    let aliases: Vec<crate::reference::ImageRef> = plan
        .aliases
        .iter()
        .filter_map(|a| a.tag.parse().ok())
        .collect();
    let names = plan.images.iter().map(|i| &i.name).chain(&aliases);
    for name in names {
        if seen.insert(name.registry().to_string()) {
            registry.check(name).await.map_err(RunError::environment)?;
        }
    }
    Ok(())
}

/// What `push` would do with each image, judged from the state file alone
/// (the engine, at push time, also checks the image ID behind the name). An
/// image of several platforms is judged per platform, and its index is
/// published only if every platform is ready.
fn push_preview(
    plan: &Plan,
    state: &crate::state::State,
    platforms: &[crate::reference::Platform],
) -> String {
    let options = crate::exec::Options {
        platforms: platforms.to_vec(),
        ..Default::default()
    };
    let (expanded, groups) = crate::exec::units(plan, &options);
    let mut out = String::from("\nPush, from the recorded test results:\n");
    let mut ready = std::collections::BTreeSet::new();
    for image in &expanded.images {
        let line = match state.recorded_pass(&image.name) {
            Ok(st) => {
                ready.insert(image.name.clone());
                format!(
                    "ready      {}  (passed {} as {})",
                    image.name,
                    st.tested_at.format("%Y-%m-%d %H:%M UTC"),
                    crate::state::short_id(&st.image_id)
                )
            }
            Err(reason) => format!("refused    {}  ({reason})", image.name),
        };
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    for group in &groups {
        let platforms: Vec<String> = group.units.iter().map(|(p, _)| p.to_string()).collect();
        let line = match group.unit_names().all(|u| ready.contains(u)) {
            true => format!("index      {}  ({})", group.name, platforms.join(", ")),
            false => format!(
                "no index   {}  (not every platform of {} is ready)",
                group.name,
                platforms.join(", ")
            ),
        };
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}
