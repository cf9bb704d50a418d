//! The command line: parses arguments, runs the stages, maps results to exit codes.
//!
//! Each subcommand is a straight pipeline: load the config into a plan, then
//! either print it (`plan`, `--dry-run`), write it (`generate`) or hand it to
//! the executor (`test`, `push`) with reporters listening.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::docker::DockerEngine;
use crate::engine::Engine;
use crate::error::{
    InputError, RunError, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED,
};
use crate::events::record::Verdict;
use crate::events::{Command, Listener};
use crate::exec::{self, Bus, Options, World};
use crate::load::{self, LoadOptions};
use crate::plan::Plan;
use crate::registry::oci::OciRegistry;
use crate::report;
use crate::state::StateFile;

/// Turns a matrix of Dockerfiles into tested, published container images.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Build every image, build its tests on top, and tag aliases of images that passed.
    Test(RunArgs),
    /// Push images whose recorded tests passed, then point their aliases at them.
    Push(RunArgs),
    /// Print the plan (images, parents, tests, aliases, exclusions) without an engine.
    Plan(PlanArgs),
    /// Write the Dockerfiles and tests a matrix config renders.
    Generate(GenerateArgs),
    /// Create an image from a root filesystem tarball (for base images where
    /// nothing can be pulled).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config: a Dante `inventory.yml` or a strata matrix file.
    /// Default: `inventory.yml`, else `strata.yml`, in the current folder.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The config, given as an argument (`strata plan examples/node/strata.yml`);
    /// the same as `-f`.
    #[arg(value_name = "CONFIG", conflicts_with = "file")]
    pub config: Option<PathBuf>,
    /// The date alias rules treat as today (YYYY-MM-DD), for reproducible plans.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Run only shard K of N: images that build on each other stay together,
    /// so N machines can each run `--shard K/N` of the same plan.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::plan::shard::Shard>,
}

impl ShardArgs {
    /// The part of `plan` this machine runs.
    fn apply(&self, plan: Plan) -> Plan {
        let Some(shard) = self.shard else {
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Images worked on at once.
    /// Default: the number of CPUs.
    #[arg(short = 'j', long, default_value_t = default_jobs(), value_name = "N")]
    pub jobs: usize,
    /// Run folders to keep under `.strata/runs` (the newest, and always the
    /// one `latest` points at); 0 keeps all.
    #[arg(long, env = "STRATA_KEEP_RUNS", default_value_t = crate::runs::DEFAULT_KEEP, value_name = "N")]
    pub keep_runs: usize,
    /// Only the final summary and errors on stderr, no progress lines.
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print every line of build, test and push output as it comes.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Retry a failed build, test or push N times, with backoff.
    #[arg(short = 'r', long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Print what would be done, without an engine.
    #[arg(long)]
    pub dry_run: bool,
    /// Run everything again: no skipping of unchanged images or of images
    /// the registry already holds, and no engine layer cache, so every test
    /// step runs even on an image it passed on before.
    #[arg(long)]
    pub no_cache: bool,
    /// Where the state file, caches and run logs live. Default: `.strata`
    /// beside the config file.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// How long strata waits; nothing waits forever.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Seconds one build (an image's, or a test's) may take, unless the
    /// image or test sets its own `timeout`.
    #[arg(long, env = "STRATA_STEP_TIMEOUT", value_name = "SECS",
          default_value_t = crate::engine::docker::DEFAULT_STEP_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub step_timeout: u64,
    /// Seconds to wait for the engine or a registry to accept a connection
    /// and answer at all.
    #[arg(long, env = "STRATA_CONNECT_TIMEOUT", value_name = "SECS",
          default_value_t = crate::engine::docker::DEFAULT_CONNECT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub connect_timeout: u64,
    /// Seconds the engine or a registry may stay silent in a request.
    #[arg(long, env = "STRATA_IO_TIMEOUT", value_name = "SECS",
          default_value_t = crate::engine::docker::DEFAULT_IO_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub io_timeout: u64,
}

/// The longest any timeout may be set to: a week.
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

impl TimeoutArgs {
    fn engine(&self) -> crate::engine::docker::Timeouts {
        use std::time::Duration;
        crate::engine::docker::Timeouts {
            connect: Duration::from_secs(self.connect_timeout),
            io: Duration::from_secs(self.io_timeout),
            step: Duration::from_secs(self.step_timeout),
        }
    }

    fn registry(&self) -> crate::registry::oci::Timeouts {
        use std::time::Duration;
        crate::registry::oci::Timeouts {
            connect: Duration::from_secs(self.connect_timeout),
            io: Duration::from_secs(self.io_timeout),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Also write a Dante `inventory.yml` for the generated tree to this file.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tar of a root filesystem.
    pub rootfs: PathBuf,
    /// The reference to give the image, such as `debian:bookworm`.
    pub reference: String,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_INPUT } else { EXIT_OK };
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", crate::secret::redact(&e.render()));
            e.exit_code()
        }
    }
}

async fn dispatch(cli: Cli) -> Result<i32, RunError> {
    match cli.command {
        Cmd::Test(args) => run(Command::Test, args).await,
        Cmd::Push(args) => run(Command::Push, args).await,
        Cmd::Plan(args) => {
            let (_, plan) = load(&args.config)?;
            let plan = args.shard.apply(plan);
            let out = match args.format {
                PlanFormat::Text => crate::plan::print::text(&plan),
                PlanFormat::Json => crate::plan::print::json(&plan),
            };
            print_stdout(&out);
            Ok(EXIT_OK)
        }
        Cmd::Generate(args) => {
            let (_, plan) = load(&args.config)?;
            if plan.output.is_none() {
                return Err(InputError::plain(
                    "nothing to generate: a Dante inventory names its Dockerfiles itself",
                )
                .with_help("`strata generate` renders a matrix file (such as strata.yml)")
                .into());
            }
            let summary = write_generated(&plan)?;
            eprintln!(
                "strata: {} file(s) written, {} unchanged, {} stale removed",
                summary.written.len(),
                summary.unchanged.len(),
                summary.removed.len()
            );
            if let Some(path) = args.inventory {
                write_new_file(&path, &crate::generate::inventory_yaml(&plan))?;
                eprintln!("strata: wrote {}", path.display());
            }
            Ok(EXIT_OK)
        }
        Cmd::Import(args) => {
            crate::reference::parse(&args.reference).map_err(|m| {
                InputError::plain(format!(
                    "`{}` is not a valid image reference: {m}",
                    args.reference
                ))
            })?;
            let engine = connect().await?;
            let id = engine
                .import(args.rootfs.clone(), &args.reference)
                .await
                .map_err(|e| RunError::Environment(e.to_string()))?;
            println!("{id}");
            Ok(EXIT_OK)
        }
    }
}

/// Reads the config (or a default file) into a plan.
fn load(args: &ConfigArgs) -> Result<(PathBuf, Plan), RunError> {
    let path = match args.file.as_ref().or(args.config.as_ref()) {
        Some(p) => p.clone(),
        None => ["inventory.yml", "strata.yml"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                InputError::plain(
                    "no config file: neither inventory.yml nor strata.yml is in this folder",
                )
                .with_help("name one with `-f FILE`")
            })?,
    };
    let plan = load::plan(&path, &LoadOptions { as_of: args.as_of })?;
    for warning in &plan.warnings {
        eprintln!("strata: warning: {warning}");
    }
    Ok((path, plan))
}

async fn connect() -> Result<DockerEngine, RunError> {
    DockerEngine::connect()
        .await
        .map_err(|e| RunError::Environment(e.to_string()))
}

async fn run(kind: Command, args: RunArgs) -> Result<i32, RunError> {
    if args.jobs == 0 {
        return Err(InputError::plain("-j must be at least 1").into());
    }
    let (path, plan) = load(&args.config)?;
    if kind == Command::Test && !args.dry_run && !plan.files.is_empty() {
        // Every shard writes the whole generated tree: it is cheap, and the
        // same bytes on every machine.
        write_generated(&plan)?;
    }
    let plan = args.shard.apply(plan);
    let state_dir = args.state_dir.clone().unwrap_or_else(|| {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(".strata")
    });
    if args.dry_run {
        let mut text = crate::plan::print::text(&plan);
        if kind == Command::Push {
            let state = crate::state::State::load(&state_dir.join("state.json"))
                .map_err(|e| RunError::State(e.to_string()))?;
            text.push_str(&push_preview(&plan, &state));
        }
        print_stdout(&text);
        return Ok(EXIT_OK);
    }
    if let Some(warning) = crate::registry::auth::environment_warning() {
        eprintln!("strata: warning: {warning}");
    }
    // A damaged state is named before the engine is asked anything.
    let state = StateFile::open(&state_dir.join("state.json"))
        .map_err(|e| RunError::State(e.to_string()))?;
    let engine = DockerEngine::connect_with(args.timeouts.engine())
        .await
        .map_err(|e| RunError::Environment(e.to_string()))?;
    let info = engine
        .info()
        .await
        .map_err(|e| RunError::Environment(e.to_string()))?;
    let engine_desc = format!(
        "{} (API {}) at {}",
        info.version, info.api_version, info.endpoint
    );

    let name = if kind == Command::Test {
        "test"
    } else {
        "push"
    };
    let run_dir = crate::runs::create(&state_dir.join("runs"), name).map_err(|e| {
        RunError::Results(format!(
            "cannot create a run folder under {}: {e}",
            state_dir.join("runs").display()
        ))
    })?;
    if let Err(e) = crate::runs::prune(&state_dir.join("runs"), args.keep_runs) {
        eprintln!("strata: warning: could not remove old run folders: {e}");
    }

    let credentials: exec::CredentialLookup = Arc::new(crate::registry::auth::credentials_for);
    let registry: Option<Arc<dyn crate::registry::Registry>> = (kind == Command::Push).then(|| {
        Arc::new(
            OciRegistry::new(crate::registry::auth::credentials_for)
                .with_timeouts(args.timeouts.registry()),
        ) as Arc<dyn crate::registry::Registry>
    });
    if let Some(registry) = &registry {
        check_registries(&plan, registry.as_ref()).await?;
    }
    let fetch: Arc<dyn exec::Fetch> =
        Arc::new(crate::artifact::Fetcher::new(state_dir.join("cache")));
    let world = World {
        engine: Arc::new(engine),
        registry,
        fetch: Some(fetch),
        credentials,
    };
    // Containers of strata runs that were killed must not fail this one.
    match exec::containers::remove_stale(world.engine.as_ref()).await {
        Ok(ids) if !ids.is_empty() => eprintln!(
            "strata: removed {} container(s) left behind by an interrupted run",
            ids.len()
        ),
        Ok(_) => {}
        Err(e) => eprintln!("strata: warning: could not look for leftover containers: {e}"),
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let options = Options {
        jobs: args.jobs,
        retries: args.retries,
        backoff: exec::retry::backoff_from_env(std::time::Duration::from_secs(2)),
        no_cache: args.no_cache,
        stop: stop.clone(),
    };

    let mut listeners: Vec<Box<dyn Listener>> = Vec::new();
    if !args.quiet {
        listeners.push(Box::new(
            report::terminal::Terminal::stderr().verbose(args.verbose),
        ));
    }
    listeners.push(Box::new(report::logs::LogFiles::new(&run_dir)));
    match report::json::EventLog::create(&run_dir.join("events.jsonl")) {
        Ok(log) => listeners.push(Box::new(log)),
        Err(e) => eprintln!("strata: not keeping an event log: {e}"),
    }
    let (bus, dispatcher) = Bus::start(listeners);
    // SIGINT or SIGTERM stops the run but not the reporting: steps in flight
    // are abandoned (their engine requests cancelled), results recorded so
    // far stay in the state file, and the reports say the run was cut short.
    let signal = tokio::spawn(stop_on_signal(stop.clone()));
    let result = match kind {
        Command::Test => {
            exec::test_run::run(&plan, &world, &options, &bus, &state, engine_desc).await
        }
        Command::Push => {
            exec::push_run::run(&plan, &world, &options, &bus, &state, engine_desc).await
        }
    };
    let signal = if stop.is_cancelled() {
        signal.await.ok().flatten()
    } else {
        signal.abort();
        None
    };
    if signal.is_some() {
        // The abandoned steps' containers (a `run.yml` in flight) go too.
        if let Err(e) = exec::containers::remove_own(world.engine.as_ref()).await {
            eprintln!("strata: warning: could not remove this run's containers: {e}");
        }
    }
    drop(bus);
    let (record, listeners) = dispatcher.finish().await;

    print_stdout(&report::markdown::render(&record));
    let mut unwritten: Vec<String> = Vec::new();
    // A state that another run kept locked past the wait, or that was
    // damaged meanwhile, is a state problem (exit 4), not a failed write.
    let mut state_problem = None;
    match result {
        Err(e @ crate::state::StateError::Write { .. }) => unwritten.push(e.to_string()),
        Err(e) => state_problem = Some(e.to_string()),
        Ok(()) => {}
    }
    for listener in listeners {
        if let Err(e) = listener.finish() {
            unwritten.push(e.to_string());
        }
    }
    let written = match report::write_all(&record, &run_dir) {
        Ok(paths) => paths,
        Err(e) => {
            unwritten.push(format!(
                "could not write reports to {}: {e}",
                run_dir.display()
            ));
            vec![]
        }
    };
    eprint!(
        "{}",
        report::terminal::summary_with_reports(&record, &written)
    );
    match (signal, record.verdict()) {
        (Some(Signal::Terminate), _) => Ok(EXIT_TERMINATED),
        (Some(Signal::Interrupt), _) => Ok(EXIT_INTERRUPTED),
        // Results that were not kept fail the run, whatever it did.
        _ if !unwritten.is_empty() => Err(RunError::Results(unwritten.join("; "))),
        _ if state_problem.is_some() => Err(RunError::State(state_problem.unwrap_or_default())),
        (None, Verdict::Passed) => Ok(EXIT_OK),
        (None, _) => Ok(EXIT_FAILED),
    }
}

/// The signals that stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Interrupt,
    Terminate,
}

/// Waits for SIGINT or SIGTERM, then cancels `stop`; says which came.
async fn stop_on_signal(stop: tokio_util::sync::CancellationToken) -> Option<Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        std::future::pending::<()>().await;
        return None;
    };
    let which = tokio::select! {
        _ = int.recv() => Signal::Interrupt,
        _ = term.recv() => Signal::Terminate,
    };
    stop.cancel();
    Some(which)
}

/// Asks every registry the plan pushes to whether it answers and accepts
/// strata's credentials, before anything is pushed: a registry that is down
/// or refuses the login is an environment problem (exit 3), not a failed push.
async fn check_registries(
    plan: &Plan,
    registry: &dyn crate::registry::Registry,
) -> Result<(), RunError> {
    use crate::reference::registry_of;
    let mut seen = std::collections::BTreeSet::new();
    let names = plan
        .images
        .iter()
        .map(|i| i.name.as_str())
        .chain(plan.aliases.iter().map(|a| a.tag.as_str()));
    for name in names {
        if seen.insert(registry_of(name).to_string()) {
            registry
                .check(name)
                .await
                .map_err(|e| RunError::Environment(e.to_string()))?;
        }
    }
    Ok(())
}

/// What `push` would do with each image, judged from the state file alone
/// (the engine, at push time, also checks the image ID behind the name).
fn push_preview(plan: &Plan, state: &crate::state::State) -> String {
    let mut out = String::from("\nPush, from the recorded test results:\n");
    for image in &plan.images {
        let line = match state.recorded_pass(&image.name) {
            Ok(st) => format!(
                "ready      {}  (passed {} as {})",
                image.name,
                st.tested_at.format("%Y-%m-%d %H:%M UTC"),
                crate::state::short_id(&st.image_id)
            ),
            Err(reason) => format!("refused    {}  ({reason})", image.name),
        };
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// As many jobs as the machine has CPUs.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes to stdout, ignoring a closed pipe (`strata plan | head`).
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Creates `path`, refusing to overwrite a file that exists.
fn write_new_file(path: &Path, text: &str) -> Result<(), RunError> {
    use std::fs::OpenOptions;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            InputError::plain(format!("cannot create {}: {e}", path.display()))
                .with_help("choose a file that does not exist yet; strata never overwrites it")
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| RunError::Results(format!("cannot write {}: {e}", path.display())))
}

/// Writes a matrix plan's rendered files into the folder strata owns.
fn write_generated(plan: &Plan) -> Result<crate::generate::write::WriteSummary, RunError> {
    let Some(out) = plan.output.clone() else {
        return Ok(Default::default());
    };
    crate::generate::write(plan, &out).map_err(generate_error)
}

/// A refusal to write (someone else's folder or file) is the user's to fix;
/// a failed write (disk full, permissions) is not bad input.
fn generate_error(e: crate::generate::write::WriteError) -> RunError {
    use crate::generate::write::WriteError;
    match e {
        WriteError::Io { .. } => {
            RunError::Results(format!("cannot write the generated files: {e}"))
        }
        other => InputError::plain(other.to_string())
            .with_help("strata writes only into a folder it generated before, or an empty one")
            .into(),
    }
}
