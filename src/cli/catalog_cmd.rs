//! `strata catalog`: the published images and their tags, printed or put
//! into a README between its marker comments.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use crate::catalog::{self, Published, END_MARKER, START_MARKER};
use crate::error::{Failure, InputError, RunError, EXIT_OK};
use crate::registry::oci::OciRegistry;
use crate::registry::RegistryRead as _;

use super::args::{CatalogArgs, CatalogFormat};
use super::output::print_stdout;
use super::settings::{config_path, load_plan, state_dir_for};

pub async fn run(args: &CatalogArgs) -> Result<i32, RunError> {
    if args.write.is_some() && args.format == CatalogFormat::Json {
        return Err(
            InputError::plain("--write puts the Markdown catalog into a file")
                .with_help("leave out `--format json`, or print the JSON without `--write`")
                .into(),
        );
    }
    let config = config_path(&args.config)?;
    // The file to write is checked before anything else is read.
    let target = args.write.as_deref().map(read_target).transpose()?;
    let plan = load_plan(&config, args.config.as_of)?;
    let published = if args.registry {
        from_registry(&plan).await?
    } else {
        let state_file = state_dir_for(&config, args.state_dir.as_deref()).join("state.json");
        let state = crate::state::State::load(&state_file).map_err(RunError::state)?;
        Published::from_state(&plan, &state)
    };
    match target {
        None => {
            let catalog = catalog::build(&plan, &published, Path::new("."));
            print_stdout(&match args.format {
                CatalogFormat::Markdown => catalog::markdown(&catalog),
                CatalogFormat::Json => catalog::json(&catalog),
            });
        }
        Some((path, text)) => {
            let folder = path.parent().unwrap_or(Path::new("."));
            let catalog = catalog::build(&plan, &published, folder);
            let new = catalog::replace_between_markers(&text, &catalog::markdown(&catalog))
                .map_err(|e| marker_error(&path, e))?;
            // What is written must leave the file writable next time (the
            // catalog escapes marker-like text, so this only guards).
            if let Err(e) = catalog::replace_between_markers(&new, "") {
                return Err(RunError::Results(
                    Failure::said(format!(
                        "the catalog for {} would make the file unusable ({e}); nothing was written",
                        path.display()
                    ))
                    .because(e),
                ));
            }
            let (images, tags) = catalog.counts();
            if new == text {
                eprintln!(
                    "strata: {} is current ({images} images, {tags} tags)",
                    path.display()
                );
            } else {
                replace_file(&path, &new)?;
                eprintln!(
                    "strata: wrote the catalog into {} ({images} images, {tags} tags)",
                    path.display()
                );
            }
        }
    }
    Ok(EXIT_OK)
}

/// What the registry holds: the digest of every image name and alias tag
/// of the plan it has, asked a few at a time.
async fn from_registry(plan: &crate::plan::Plan) -> Result<Published, RunError> {
    use futures_util::StreamExt;
    if let Some(warning) = crate::registry::auth::environment_warning() {
        eprintln!("strata: warning: {warning}");
    }
    let registry = OciRegistry::new(crate::registry::auth::credentials_for);
    let registry = &registry;
    let answers: Vec<_> = futures_util::stream::iter(Published::references(plan))
        .map(|reference| async move {
            let digest = registry.digest(&reference).await;
            (reference, digest)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut digests = BTreeMap::new();
    for (reference, answer) in answers {
        match answer {
            Ok(Some(digest)) => {
                digests.insert(reference.to_string(), digest.to_string());
            }
            Ok(None) => {}
            Err(e) => return Err(RunError::environment(e)),
        }
    }
    Ok(Published::from_registry(plan, &digests))
}

/// The file `--write` names (links followed), and its text.
fn read_target(path: &Path) -> Result<(PathBuf, String), RunError> {
    let real = path.canonicalize().map_err(|e| {
        InputError::plain(format!(
            "cannot write the catalog into {}: {e}",
            path.display()
        ))
        .with_help(format!(
            "name an existing Markdown file holding the lines `{START_MARKER}` and `{END_MARKER}`"
        ))
    })?;
    // A regular file under the config cap: a FIFO or a device named here
    // would block or never end.
    let text = crate::config::read::read_text(&real, None, "catalog file")?;
    if let Err(e) = catalog::replace_between_markers(&text, "") {
        return Err(marker_error(path, e));
    }
    Ok((real, text))
}

fn marker_error(path: &Path, e: catalog::MarkerError) -> RunError {
    InputError::plain(format!("{} {e}; nothing was written", path.display()))
        .with_help(format!(
            "put the two lines `{START_MARKER}` and `{END_MARKER}` where the catalog goes, once each"
        ))
        .into()
}

/// Replaces `path` at once: a temporary file beside it, with the same
/// permissions, renamed over it. A reader sees the old file or the new one.
fn replace_file(path: &Path, text: &str) -> Result<(), RunError> {
    let failed = |e: std::io::Error| {
        RunError::Results(Failure::caused(
            format!("cannot write the catalog into {}", path.display()),
            e,
        ))
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(folder).map_err(failed)?;
    tmp.write_all(text.as_bytes()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    let permissions = std::fs::metadata(path).map_err(failed)?.permissions();
    std::fs::set_permissions(tmp.path(), permissions).map_err(failed)?;
    tmp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
