//! The command line: parses arguments once, hands each command its resolved
//! settings, and maps the outcome to an exit code.
//!
//! Every command is a short sequence of stage calls:
//! `load` → (`plan::print` | `generate::write` | the executor with reporters).
//! The folder holds one file per command plus what they share:
//!
//! | file | holds |
//! |---|---|
//! | `args.rs` | the clap definitions, nothing else |
//! | `settings.rs` | arguments resolved once into `RunSettings` (state and run folders, jobs, backoff, timeouts) |
//! | `run.rs` | `test` and `push`: connect, execute with reporters, conclude |
//! | `outcome.rs` | how a finished run's verdict, signal and write errors become an exit code |
//! | `ci.rs` | GitHub Actions: annotations for failures, the job summary |
//! | `signal.rs` | the SIGINT/SIGTERM watcher that cancels the stop token |
//! | `plan_cmd.rs`, `generate_cmd.rs`, `import_cmd.rs`, `init_cmd.rs`, `catalog_cmd.rs`, `ci_cmd.rs`, `schema_cmd.rs`, `completions_cmd.rs`, `man_cmd.rs`, `key_cmd.rs`, `verify_cmd.rs`, `publish_cmd.rs` | the commands without an engine |
//! | `output.rs` | stdout that tolerates a closed pipe; files created, never overwritten |

mod args;
mod catalog_cmd;
mod ci;
mod ci_cmd;
mod completions_cmd;
mod generate_cmd;
mod import_cmd;
mod init_cmd;
mod key_cmd;
mod man_cmd;
mod outcome;
mod output;
mod pins_cmd;
mod plan_cmd;
mod publish_cmd;
mod run;
mod schema_cmd;
mod settings;
mod signal;
mod verify_cmd;

pub use args::{Cli, Cmd};

use clap::Parser;

use crate::error::{RunError, EXIT_INPUT, EXIT_OK};
use crate::events::Command;

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_INPUT } else { EXIT_OK };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let e = RunError::Environment(crate::error::Failure::caused("cannot start", e));
            eprint!("{}", e.render());
            return e.exit_code();
        }
    };
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
        Cmd::Test(args) => run::run(settings::RunSettings::resolve(Command::Test, args)?).await,
        Cmd::Push(args) => {
            let settings = settings::RunSettings::resolve(Command::Push, args.run)?
                .with_signing_key(args.key.as_deref())?;
            run::run(settings).await
        }
        Cmd::Plan(args) if args.changes => plan_cmd::changes(&args).await,
        Cmd::Plan(args) => plan_cmd::run(&args),
        Cmd::Generate(args) => generate_cmd::run(&args),
        Cmd::Import(args) => import_cmd::run(&args).await,
        Cmd::Catalog(args) => catalog_cmd::run(&args).await,
        Cmd::Ci(args::CiCmd::Github(args)) => ci_cmd::github(&args),
        Cmd::Init(args) => init_cmd::run(&args),
        Cmd::Schema => schema_cmd::run(),
        Cmd::Completions(args) => completions_cmd::run(&args),
        Cmd::Man(args) => man_cmd::run(&args),
        Cmd::Key(args) => key_cmd::run(&args),
        Cmd::Verify(args) => verify_cmd::run(&args).await,
        Cmd::Publish(args) => publish_cmd::run(&args).await,
        Cmd::Pins(args::PinsCmd::Update(args)) => pins_cmd::update(&args).await,
    }
}
