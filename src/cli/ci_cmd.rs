//! `strata ci github`: a GitHub Actions workflow for the plan, printed.

use crate::error::{InputError, RunError, EXIT_OK};
use crate::workflow::{self, GithubOptions};

use super::args::CiGithubArgs;
use super::output::print_stdout;
use super::settings::{config_path, load_plan, state_dir_for};

pub fn github(args: &CiGithubArgs) -> Result<i32, RunError> {
    let config = config_path(&args.config)?;
    // Read and checked, so a workflow is never written for a broken config.
    let plan = load_plan(&config, args.config.as_of)?;
    let options = GithubOptions {
        config: config.to_string_lossy().into_owned(),
        state_dir: state_dir_for(&config, None).to_string_lossy().into_owned(),
        shards: args.shards,
        runner: args.runner.clone(),
        install: args.install.clone(),
        public_key: args.public_key.clone(),
        registry: args.registry.clone(),
        machines: args.platform_runners.clone(),
    };
    let text = workflow::github(&plan, &options).map_err(|e| {
        // A path with a newline or an escape sequence is shown quoted.
        let shown = config.to_string_lossy();
        let shown = if shown.chars().any(char::is_control) {
            format!("{shown:?}")
        } else {
            shown.into_owned()
        };
        InputError::plain(format!("{shown}: {e}")).with_help("the workflow was not written")
    })?;
    print_stdout(&text);
    Ok(EXIT_OK)
}
