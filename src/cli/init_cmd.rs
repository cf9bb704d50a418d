//! `strata init [DIR]`: a starter project (config, template, test, a
//! snapshot of the release feed) written into an empty or new folder.

use std::path::Path;

use crate::error::{Failure, InputError, RunError, EXIT_OK};

use super::args::InitArgs;

pub fn run(args: &InitArgs) -> Result<i32, RunError> {
    let dir = args.dir.as_path();
    check_empty(dir)?;
    let files = crate::init::runtimes::files_for(args.runtime);
    write_all(dir, &files)?;
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

/// Writes `files` into a temporary folder beside `dir`, then moves them in:
/// a write that fails (a full disk) leaves `dir` as it was, so a retry is
/// not refused as "not empty".
fn write_all(dir: &Path, files: &[(std::path::PathBuf, String)]) -> Result<(), RunError> {
    let failed = |what: &Path, e: std::io::Error| {
        RunError::Results(
            Failure::said(format!(
                "cannot write {}: {e}; {} was left as it was",
                what.display(),
                dir.display()
            ))
            .because(e),
        )
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| failed(parent, e))?;
    // Removed when dropped, so a failure below leaves nothing behind.
    let tmp = tempfile::Builder::new()
        .prefix(".strata-init-")
        .tempdir_in(parent)
        .map_err(|e| failed(parent, e))?;
    for (rel, text) in files {
        let path = tmp.path().join(rel);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| failed(folder, e))?;
        }
        std::fs::write(&path, text).map_err(|e| failed(&dir.join(rel), e))?;
    }
    if std::fs::symlink_metadata(dir).is_err() {
        #[cfg(unix)]
        {
            // A temporary folder is private (0700); the project is not.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| failed(tmp.path(), e))?;
        }
        let tmp = tmp.keep();
        return std::fs::rename(&tmp, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            failed(dir, e)
        });
    }
    // An existing empty folder (perhaps `.`): move each entry in. A rename
    // needs no space, so this cannot stop half way on a full disk.
    let entries = std::fs::read_dir(tmp.path()).map_err(|e| failed(tmp.path(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| failed(tmp.path(), e))?;
        let to = dir.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(|e| failed(&to, e))?;
    }
    Ok(())
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
