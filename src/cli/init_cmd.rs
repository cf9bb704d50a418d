//! `strata init [DIR]`: a starter project (config, template, test, a
//! snapshot of the release feed) written into an empty or new folder.

use std::path::Path;

use crate::error::{InputError, RunError, EXIT_OK};

use super::args::InitArgs;
use super::output::write_new_file;

pub fn run(args: &InitArgs) -> Result<i32, RunError> {
    let dir = args.dir.as_path();
    check_empty(dir)?;
    let files = crate::init::runtimes::files_for(args.runtime);
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                RunError::Results(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        write_new_file(&path, text)?;
    }
    let shown = if dir == Path::new(".") {
        String::new()
    } else {
        format!(" {}", dir.display())
    };
    eprintln!(
        "strata: wrote a starter matrix into {} ({} files); next: strata plan{shown}",
        dir.display(),
        files.len()
    );
    Ok(EXIT_OK)
}

/// A folder that does not exist yet, or one that is empty; anything else is
/// refused before a file is written.
fn check_empty(dir: &Path) -> Result<(), RunError> {
    let refuse = |why: String| -> RunError {
        InputError::plain(format!("{}: {why}; nothing was written", dir.display()))
            .with_help("name a new or empty folder: `strata init my-images`")
            .into()
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refuse(format!("cannot read it ({e})"))),
        Ok(meta) if !meta.is_dir() => Err(refuse("is not a folder".into())),
        Ok(_) => {
            let mut entries =
                std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot list it ({e})")))?;
            match entries.next() {
                None => Ok(()),
                Some(entry) => {
                    let name = entry
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Err(refuse(format!("is not empty (it holds `{name}`)")))
                }
            }
        }
    }
}
