//! The command line's arguments, as clap reads them. Nothing here acts:
//! `settings` resolves them once, and each command file runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Push images whose recorded tests passed, attach a test attestation to
    /// each, then point their aliases at them.
    Push(PushArgs),
    /// Print the plan (images, parents, tests, aliases, exclusions) without an engine.
    Plan(PlanArgs),
    /// Write the Dockerfiles and tests a matrix config renders.
    Generate(GenerateArgs),
    /// Create an image from a root filesystem tarball (for base images where
    /// nothing can be pulled).
    Import(ImportArgs),
    /// List the published images and their tags (from the plan and the
    /// state), or write them into a README between marker comments.
    Catalog(CatalogArgs),
    /// Write a starter matrix (strata.yml, a template, a test, a release
    /// feed snapshot) into an empty or new folder, ready to `strata plan`.
    Init(InitArgs),
    /// Print the JSON Schema of the native matrix file (`strata.yml`), for
    /// editors and validators.
    Schema,
    /// Print a shell completion script: `source <(strata completions bash)`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a folder.
    Man(ManArgs),
    /// Make an ECDSA P-256 key pair for signing test attestations.
    Key(KeyArgs),
    /// Check, from the registry alone, that every platform of an image
    /// carries a valid test attestation saying it passed.
    Verify(VerifyArgs),
    /// Point every alias of the plan from what the registry holds: each at
    /// its newest image whose digest carries a valid passing test
    /// attestation; never backwards. Needs no engine.
    Publish(PublishArgs),
    /// Write a CI workflow for the plan: one job per shard, then one `publish`.
    #[command(subcommand)]
    Ci(CiCmd),
    /// Pin the external bases for reproducible runs (`strata.lock`).
    #[command(subcommand)]
    Pins(PinsCmd),
}

#[derive(Debug, Subcommand)]
pub enum PinsCmd {
    /// Write `strata.lock` beside the config: each external base and
    /// platform at the digest its registry gives now (a base made on this
    /// machine marked local). While it exists, `test` builds on those
    /// digests, and `plan --changes` reports upstream drift.
    Update(PinsUpdateArgs),
}

#[derive(Debug, Args)]
pub struct PinsUpdateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum CiCmd {
    /// Print a GitHub Actions workflow (save it as
    /// `.github/workflows/images.yml`): a job that plans the shards, one job
    /// per shard that tests and pushes its part and keeps its state and
    /// reports, and a `publish` job that points every alias.
    Github(CiGithubArgs),
}

#[derive(Debug, Args)]
pub struct CiGithubArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How many machines share the matrix.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: u32,
    /// The runner label of every job.
    #[arg(long, value_name = "LABEL", default_value = "ubuntu-latest")]
    pub runner: String,
    /// The shell command that installs strata on a runner (by default this
    /// very version, from crates.io, where its package is `strata-images`).
    #[arg(
        long,
        value_name = "COMMAND",
        default_value = concat!(
            "cargo install --locked ",
            env!("CARGO_PKG_NAME"),
            " --version ",
            env!("CARGO_PKG_VERSION")
        )
    )]
    pub install: String,
    /// Sign attestations with the `STRATA_SIGNING_KEY` secret, and have
    /// `publish` check them with this public key (a path in the repository).
    #[arg(long, value_name = "PUB")]
    pub public_key: Option<String>,
    /// Log in to this registry host with the `STRATA_REGISTRY_USERNAME` and
    /// `STRATA_REGISTRY_PASSWORD` secrets.
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
    /// A native runner for a platform, such as
    /// `linux/arm64=ubuntu-24.04-arm` (repeatable): every shard then runs
    /// once per platform on its runner (`--platform`), and `publish` puts
    /// the indexes together. Every platform of the plan needs one.
    #[arg(long = "platform-runner", value_name = "PLATFORM=LABEL",
          value_parser = parse_platform_runner)]
    pub platform_runners: Vec<(crate::reference::Platform, String)>,
}

/// Why a platform flag's value was refused; clap prints it after the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("`{0}`: write PLATFORM=LABEL, such as linux/arm64=ubuntu-24.04-arm")]
    RunnerForm(String),
    #[error("`{0}`: the runner label is empty")]
    EmptyLabel(String),
    #[error("`{0}`: write PLATFORM=HOST, such as linux/arm64=tcp://arm-builder:2375")]
    EngineForm(String),
    #[error("`{0}`: the engine address is empty")]
    EmptyHost(String),
    /// The platform's own words.
    #[error("{0}")]
    Platform(String),
    #[error("`{text}` is not a platform ({reason}): write os/arch, such as linux/arm64")]
    NotPlatform { text: String, reason: String },
}

fn platform_of(text: &str) -> Result<crate::reference::Platform, FlagError> {
    text.trim()
        .parse::<crate::reference::Platform>()
        .map_err(|e| FlagError::Platform(e.to_string()))
}

fn parse_platform_runner(text: &str) -> Result<(crate::reference::Platform, String), FlagError> {
    let (platform, label) = text
        .split_once('=')
        .ok_or_else(|| FlagError::RunnerForm(text.to_string()))?;
    let label = label.trim();
    if label.is_empty() {
        return Err(FlagError::EmptyLabel(text.to_string()));
    }
    Ok((platform_of(platform)?, label.to_string()))
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
    /// Retry a failed build, test, push or alias move N times, with backoff.
    #[arg(short = 'r', long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Alias tags (globs, repeatable) that may move to an older image when
    /// their newest did not pass (`test`) or was not pushed (`push`); every
    /// other alias is held where it is.
    #[arg(long, value_name = "TAG")]
    pub fallback: Vec<String>,
    /// Print what would be done, without an engine.
    #[arg(long)]
    pub dry_run: bool,
    /// Run everything again: no skipping of unchanged images or of images
    /// the registry already holds, and no engine layer cache, so every test
    /// step runs even on an image it passed on before.
    #[arg(long)]
    pub no_cache: bool,
    /// `test`: when to resolve and pull the images `FROM` lines name that
    /// the config does not build: `always` (resolve each to its digest in
    /// its registry, pull when the engine lacks it, build on that digest),
    /// `missing` (pull only absent ones) or `never` (air-gapped).
    /// Default: the config's `pull:`, else `always`.
    #[arg(long, env = "STRATA_PULL", value_name = "POLICY", value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
    /// Where the state file, caches and run logs live. Default: `.strata`
    /// beside the config file.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
    /// Build and test one platform's images on another engine, such as
    /// `linux/arm64=tcp://arm-builder:2375` (a `DOCKER_HOST`-style address);
    /// repeat for more platforms. Other platforms use the default engine,
    /// emulating where need be.
    #[arg(long = "platform-engine", value_name = "PLATFORM=HOST",
          env = "STRATA_PLATFORM_ENGINES", value_delimiter = ',',
          value_parser = parse_platform_engine)]
    pub platform_engines: Vec<(crate::reference::Platform, String)>,
    /// Run only these platforms of each image (repeatable, or
    /// comma-separated), such as `linux/arm64` on a native arm64 machine.
    /// An image without platforms counts as the engine's own. Indexes and
    /// aliases of images whose other platforms run elsewhere are left to
    /// `strata publish --from`.
    #[arg(long = "platform", value_name = "PLATFORM", env = "STRATA_PLATFORMS",
          value_delimiter = ',', value_parser = parse_platform)]
    pub platforms: Vec<crate::reference::Platform>,
    /// Which of Docker's builders builds the images and their test layers:
    /// `buildkit` (`RUN --mount` and the other syntax written for BuildKit;
    /// the default on a Docker engine that offers it) or `classic` (the
    /// default elsewhere, such as Podman). Overrides the config's `builder:`.
    #[arg(long, value_name = "BUILDER", env = "STRATA_BUILDER", value_enum)]
    pub builder: Option<crate::config::builder::Builder>,
}

/// A platform such as `linux/arm64`, checked.
fn parse_platform(text: &str) -> Result<crate::reference::Platform, FlagError> {
    text.parse::<crate::reference::Platform>()
        .map_err(|e| FlagError::NotPlatform {
            text: text.to_string(),
            reason: e.to_string(),
        })
}

fn parse_platform_engine(text: &str) -> Result<(crate::reference::Platform, String), FlagError> {
    let (platform, host) = text
        .split_once('=')
        .ok_or_else(|| FlagError::EngineForm(text.to_string()))?;
    let platform = platform_of(platform)?;
    let host = host.trim();
    if host.is_empty() {
        return Err(FlagError::EmptyHost(text.to_string()));
    }
    Ok((platform, host.to_string()))
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Sign each image's test attestation with this ECDSA P-256 private key
    /// (PEM file, or the PEM itself in the variable). Without it the
    /// attestation is attached unsigned.
    #[arg(
        long = "key",
        env = "STRATA_SIGNING_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub key: Option<String>,
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
pub(crate) const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// The shards as a GitHub Actions matrix (needs `--shards N`).
    GithubMatrix,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// With `--format github-matrix`: how many shards (CI jobs) to split
    /// the plan into.
    #[arg(long, value_name = "N", conflicts_with = "shard",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub shards: Option<u64>,
    /// List which images `strata test` would rebuild and why, without
    /// building (no engine needed; external bases are asked of their
    /// registries). `--format json` for schedulers.
    #[arg(long, conflicts_with = "shards")]
    pub changes: bool,
    /// With `--changes`: where the state file is. Default: `.strata`
    /// beside the config file.
    #[arg(long, value_name = "DIR", requires = "changes")]
    pub state_dir: Option<PathBuf>,
    /// With `--changes`: the pull policy `test` would run under (`never`:
    /// no registry asked). Default: the config's, else `always`.
    #[arg(long, env = "STRATA_PULL", value_name = "POLICY", value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
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
    /// The platform the root filesystem is for, such as `linux/arm64`; the
    /// image records it (the engine's import call would record its own).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<crate::reference::Platform>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long, value_enum, default_value_t = CatalogFormat::Markdown)]
    pub format: CatalogFormat,
    /// Put the Markdown catalog into FILE between the lines
    /// `<!-- strata:catalog:start -->` and `<!-- strata:catalog:end -->`,
    /// leaving the rest of the file as it is.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Where the state file is. Default: `.strata` beside the config file.
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    pub state_dir: Option<PathBuf>,
    /// Read what is published from the registry (each image's and alias's
    /// digest) rather than from the state file: aliases moved by `strata
    /// publish` or by another machine are listed where they point.
    #[arg(long)]
    pub registry: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into: new, or empty.
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// The runtime the starter is for: Node.js (its release index), Bun
    /// (its npm package) or a list of versions written in the config.
    #[arg(long, value_enum, default_value = "node")]
    pub runtime: crate::init::runtimes::Runtime,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `strata.1` and a page per command (`strata-test.1`, …) into
    /// this folder instead of printing `strata.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// As many jobs as the machine has CPUs.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCmd,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Write PREFIX.key (the private key, PKCS#8 PEM, mode 0600) and
    /// PREFIX.pub (the public key, PEM); neither may exist. The private key
    /// is never printed.
    Generate {
        /// Where to write the pair: PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX", default_value = "strata")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image to verify, such as `registry.example.com/acme/app:22`
    /// (a tag, or `@sha256:…`; an index is verified platform by platform).
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// Check signatures with this public key (PEM); without it, the
    /// attestations' content is checked but not who signed them.
    #[arg(long, env = "STRATA_VERIFY_KEY", value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Fail unless every attestation found says the image was tested as
    /// NAME (for an index, as NAME's image for that platform).
    #[arg(long, value_name = "NAME")]
    pub expect_name: Option<String>,
    /// `text` for people, `json` for programs (the same findings).
    #[arg(long, value_enum, default_value_t = VerifyFormat::Text)]
    pub format: VerifyFormat,
    /// Seconds to wait for the registry to accept a connection.
    #[arg(long, env = "STRATA_CONNECT_TIMEOUT", value_name = "SECS",
          default_value_t = crate::registry::oci::DEFAULT_CONNECT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub connect_timeout: u64,
    /// Seconds the registry may stay silent in a request.
    #[arg(long, env = "STRATA_IO_TIMEOUT", value_name = "SECS",
          default_value_t = crate::registry::oci::DEFAULT_IO_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub io_timeout: u64,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Check attestation signatures with this public key (PEM). Required,
    /// unless `--allow-unsigned`.
    #[arg(long, env = "STRATA_VERIFY_KEY", value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Without `--key`, trust attestations no signature vouches for (anyone
    /// who can push to the registry can write one); the report says so.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// State files of the shards (repeatable): an image qualifies only if
    /// its attestation is for the image ID and inputs its shard recorded.
    #[arg(long = "from", value_name = "STATE")]
    pub from: Vec<PathBuf>,
    /// Alias tags (globs, repeatable) that may fall back to an older
    /// candidate when the newest did not pass; others are held where they are.
    #[arg(long, value_name = "TAG")]
    pub fallback: Vec<String>,
    /// Say what would be pointed where, and move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sign the test result and provenance of each index `publish` puts
    /// together with this private key (PEM file, or the PEM itself in the
    /// variable), as `push --key` signs them; without it the index gets
    /// none (its platforms' images carry theirs).
    #[arg(
        long = "sign-key",
        env = "STRATA_SIGNING_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub sign_key: Option<String>,
}
