//! Writing what a command produces: stdout that tolerates a closed pipe, and
//! files that are created, never overwritten.

use std::io::Write;
use std::path::Path;

use crate::error::{Failure, InputError, RunError};
use crate::generate::write::WriteSummary;
use crate::plan::Plan;

/// Writes to stdout, ignoring a closed pipe (`strata plan | head`). Every
/// secret strata has handed out is scrubbed first (`secret::redact`).
pub fn print_stdout(text: &str) {
    let text = crate::secret::redact(text);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Creates `path`, refusing to overwrite a file that exists.
pub fn write_new_file(path: &Path, text: &str) -> Result<(), RunError> {
    use std::fs::OpenOptions;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            InputError::plain(format!("cannot create {}: {e}", path.display()))
                .with_help("choose a file that does not exist yet; strata never overwrites it")
        })?;
    f.write_all(text.as_bytes()).map_err(|e| {
        RunError::Results(Failure::caused(
            format!("cannot write {}", path.display()),
            e,
        ))
    })
}

/// Writes a matrix plan's rendered files into the folder strata owns. The
/// folder stays locked while the returned lock is held: a run keeps it until
/// it ends, so two runs in one folder never write or build from it at once.
pub fn write_generated(
    plan: &Plan,
) -> Result<(WriteSummary, Option<crate::generate::write::OutputLock>), RunError> {
    let Some(out) = plan.output.clone() else {
        return Ok(Default::default());
    };
    let held = crate::generate::write::lock(&out).map_err(generate_error)?;
    let summary = crate::generate::write::write_locked(plan, &held).map_err(generate_error)?;
    Ok((summary, Some(held)))
}

/// A refusal to write (someone else's folder or file) is the user's to fix;
/// a failed write (disk full, permissions) is not bad input.
fn generate_error(e: crate::generate::write::WriteError) -> RunError {
    use crate::generate::write::WriteError;
    match e {
        // Paths come from the tree and the templates: shown, never acted on.
        WriteError::Io { .. } => RunError::Results(
            Failure::said(format!(
                "cannot write the generated files: {}",
                crate::text::escape(&e.to_string())
            ))
            .because(e),
        ),
        other => InputError::plain(crate::text::escape(&other.to_string()))
            .with_help("strata writes only into a folder it generated before, or an empty one")
            .into(),
    }
}
