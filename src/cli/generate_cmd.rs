//! `strata generate`: a matrix config's rendered files, written.

use crate::error::{InputError, RunError, EXIT_OK};

use super::args::GenerateArgs;
use super::output::{write_generated, write_new_file};
use super::settings::{config_path, load_plan};

pub fn run(args: &GenerateArgs) -> Result<i32, RunError> {
    let plan = load_plan(&config_path(&args.config)?, args.config.as_of)?;
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
    if let Some(path) = &args.inventory {
        write_new_file(path, &crate::generate::inventory_yaml(&plan))?;
        eprintln!("strata: wrote {}", path.display());
    }
    Ok(EXIT_OK)
}
