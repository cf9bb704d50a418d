//! `strata plan`: the plan, printed, without an engine.

use crate::error::{RunError, EXIT_OK};

use super::args::{PlanArgs, PlanFormat};
use super::output::print_stdout;
use super::settings::{apply_shard, config_path, load_plan};

pub fn run(args: &PlanArgs) -> Result<i32, RunError> {
    let plan = load_plan(&config_path(&args.config)?, args.config.as_of)?;
    let plan = apply_shard(plan, args.shard.shard);
    print_stdout(&match args.format {
        PlanFormat::Text => crate::plan::print::text(&plan),
        PlanFormat::Json => crate::plan::print::json(&plan),
    });
    Ok(EXIT_OK)
}
