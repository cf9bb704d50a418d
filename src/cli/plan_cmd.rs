//! `strata plan`: the plan, printed, without an engine.

use crate::error::{InputError, RunError, EXIT_OK};

use super::args::{PlanArgs, PlanFormat};
use super::output::print_stdout;
use super::settings::{apply_shard, config_path, load_plan};

pub fn run(args: &PlanArgs) -> Result<i32, RunError> {
    // Checked before the config is read: a usage error needs no plan.
    let shards = match (args.format, args.shards) {
        (PlanFormat::GithubMatrix, Some(n)) => n as usize,
        (PlanFormat::GithubMatrix, None) => {
            return Err(InputError::plain("--format github-matrix needs --shards N")
                .with_help("say how many CI jobs share the plan, such as `--shards 4`")
                .into())
        }
        (_, Some(_)) => {
            return Err(InputError::plain("--shards is for --format github-matrix")
                .with_help("to see one shard's part, use `--shard K/N`")
                .into())
        }
        (_, None) => 0,
    };
    let plan = load_plan(&config_path(&args.config)?, args.config.as_of)?;
    if args.format == PlanFormat::GithubMatrix {
        print_stdout(&crate::plan::print::github_matrix(&plan, shards));
        return Ok(EXIT_OK);
    }
    let plan = apply_shard(plan, args.shard.shard);
    print_stdout(&match args.format {
        PlanFormat::Json => crate::plan::print::json(&plan),
        _ => crate::plan::print::text(&plan),
    });
    Ok(EXIT_OK)
}
