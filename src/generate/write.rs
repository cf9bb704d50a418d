//! Writing a plan's generated tree to disk, safely and reproducibly.
//!
//! The output folder is shared with the user's own files only by mistake, so
//! the rules are strict: a manifest (`.strata-generated`) lists every file
//! strata wrote there; a non-empty folder without it is refused; only files
//! the manifest lists are overwritten (and only when their bytes change) or
//! removed when a later plan no longer has them. A user's file is never
//! touched, even one sitting inside the output folder.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::plan::Plan;

use super::MARKER;

/// What a write did, for the CLI to report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Files created or whose content changed.
    pub written: Vec<PathBuf>,
    /// Files left alone because their content was already right.
    pub unchanged: Vec<PathBuf>,
    /// Files an earlier run wrote that this plan no longer has.
    pub removed: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{dir} is not empty and was not written by strata (no {MARKER} in it); refusing to write into it. Choose an empty or new output folder")]
    NotOurs { dir: PathBuf },
    #[error("{path} exists but strata did not write it; refusing to overwrite it. Move it away or choose another output folder")]
    UserFile { path: PathBuf },
    #[error("generated file path {path} must be relative and stay inside the output folder")]
    BadPath { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `plan.files` under `out_dir` (see the module docs for the rules).
pub fn write(plan: &Plan, out_dir: &Path) -> Result<WriteSummary, WriteError> {
    for f in &plan.files {
        let ok = f.path.is_relative()
            && f.path
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
            && f.path != Path::new(MARKER);
        if !ok {
            return Err(WriteError::BadPath {
                path: f.path.clone(),
            });
        }
    }
    let marker = out_dir.join(MARKER);
    let previous = read_manifest(out_dir, &marker)?;

    // Check everything before changing anything: a refusal leaves the tree as it was.
    for f in &plan.files {
        let target = out_dir.join(&f.path);
        if !previous.contains(&f.path) && std::fs::symlink_metadata(&target).is_ok() {
            return Err(WriteError::UserFile { path: target });
        }
    }

    let mut summary = WriteSummary::default();
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let wanted: BTreeSet<PathBuf> = plan.files.iter().map(|f| f.path.clone()).collect();
    // The manifest is written first with old ∪ new, so an interrupted write
    // still knows every file it may have created.
    let union: BTreeSet<PathBuf> = previous.union(&wanted).cloned().collect();
    write_manifest(&marker, &union)?;

    for f in &plan.files {
        let target = out_dir.join(&f.path);
        if std::fs::read(&target).ok().as_deref() == Some(f.content.as_bytes()) {
            summary.unchanged.push(f.path.clone());
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // Write to a temporary file and rename, so a reader never sees half a file.
        let tmp = target.with_extension("strata-tmp");
        std::fs::write(&tmp, f.content.as_bytes()).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        summary.written.push(f.path.clone());
    }

    for stale in previous.difference(&wanted) {
        let target = out_dir.join(stale);
        match std::fs::remove_file(&target) {
            Ok(()) => summary.removed.push(stale.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&target)(e)),
        }
        remove_empty_parents(out_dir, &target);
    }
    write_manifest(&marker, &wanted)?;
    Ok(summary)
}

/// The files an earlier run wrote, or an empty set for a new or empty folder.
fn read_manifest(out_dir: &Path, marker: &Path) -> Result<BTreeSet<PathBuf>, WriteError> {
    match std::fs::read_to_string(marker) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(PathBuf::from)
            .filter(|p| p.components().all(|c| matches!(c, Component::Normal(_))))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::read_dir(out_dir) {
                Ok(mut entries) => {
                    if entries.next().is_some() {
                        return Err(WriteError::NotOurs {
                            dir: out_dir.to_path_buf(),
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(out_dir)(e)),
            }
            Ok(BTreeSet::new())
        }
        Err(e) => Err(io(marker)(e)),
    }
}

fn write_manifest(marker: &Path, files: &BTreeSet<PathBuf>) -> Result<(), WriteError> {
    let mut text = String::from(
        "# Files written by `strata generate`. strata overwrites or removes only these.\n",
    );
    for f in files {
        text.push_str(&f.to_string_lossy().replace('\\', "/"));
        text.push('\n');
    }
    std::fs::write(marker, text).map_err(io(marker))
}

/// Removes folders left empty by removing `file`, up to (not including) `root`.
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::GeneratedFile;

    fn plan(files: &[(&str, &str)]) -> Plan {
        Plan {
            files: files
                .iter()
                .map(|(p, c)| GeneratedFile {
                    path: PathBuf::from(p),
                    content: c.to_string(),
                })
                .collect(),
            ..Plan::default()
        }
    }

    #[test]
    fn writes_then_updates_and_removes_only_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        let s = write(
            &plan(&[("a/Dockerfile", "one"), ("b/Dockerfile", "two")]),
            &out,
        )
        .unwrap();
        assert_eq!(s.written.len(), 2);
        // A user's file dropped into the tree later is kept.
        std::fs::write(out.join("a/notes.txt"), "mine").unwrap();
        let s = write(&plan(&[("a/Dockerfile", "one!")]), &out).unwrap();
        assert_eq!(s.written, vec![PathBuf::from("a/Dockerfile")]);
        assert_eq!(s.removed, vec![PathBuf::from("b/Dockerfile")]);
        assert!(
            !out.join("b").exists(),
            "empty folder of a stale file is removed"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a/notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a/Dockerfile")).unwrap(),
            "one!"
        );
        let s = write(&plan(&[("a/Dockerfile", "one!")]), &out).unwrap();
        assert!(s.written.is_empty());
        assert_eq!(s.unchanged.len(), 1);
    }

    #[test]
    fn refuses_foreign_folder_and_user_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
        let err = write(&plan(&[("a", "1")]), dir.path()).unwrap_err();
        assert!(matches!(err, WriteError::NotOurs { .. }), "{err}");

        let out = dir.path().join("gen");
        write(&plan(&[("a", "1")]), &out).unwrap();
        std::fs::write(out.join("b"), "user").unwrap();
        let err = write(&plan(&[("a", "1"), ("b", "2")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::UserFile { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "user");
    }

    #[test]
    fn rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(&plan(&[("../x", "1")]), dir.path()).unwrap_err();
        assert!(matches!(err, WriteError::BadPath { .. }));
    }
}
