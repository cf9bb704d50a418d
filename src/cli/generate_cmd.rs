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
    let (summary, _held) = write_generated(&plan)?;
    eprintln!(
        "strata: {} file(s) written, {} unchanged, {} stale removed",
        summary.written.len(),
        summary.unchanged.len(),
        summary.removed.len()
    );
    if !summary.kept.is_empty() {
        let out = plan.output.as_deref().unwrap_or(std::path::Path::new("."));
        eprintln!(
            "strata: warning: {} file(s) this plan no longer has were left in {} because they changed since strata wrote them (or an older manifest kept no hash); strata no longer owns them, remove them by hand if unwanted:",
            summary.kept.len(),
            out.display()
        );
        for path in &summary.kept {
            eprintln!("  {}", crate::text::escape(&path.to_string_lossy()));
        }
    }
    if let Some(path) = &args.inventory {
        write_new_file(path, &crate::generate::inventory_yaml(&plan))?;
        eprintln!("strata: wrote {}", path.display());
    }
    Ok(EXIT_OK)
}
