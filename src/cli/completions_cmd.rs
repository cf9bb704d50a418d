//! `strata completions SHELL`: a completion script from the clap definitions.

use clap::CommandFactory;

use crate::error::{RunError, EXIT_OK};

use super::args::{Cli, CompletionsArgs};
use super::output::print_stdout;

pub fn run(args: &CompletionsArgs) -> Result<i32, RunError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "strata", &mut script);
    print_stdout(&String::from_utf8_lossy(&script));
    Ok(EXIT_OK)
}
