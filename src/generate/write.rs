//! Writing a plan's generated tree to disk, safely and reproducibly.
//!
//! The output folder is meant to be committed, so anything in it may have
//! been planted: the rules are strict.
//!
//! - A manifest (`.strata-generated`, JSON) lists every file strata wrote
//!   there with the SHA-256 of what it wrote. A non-empty folder without it
//!   is refused.
//! - Only files the manifest lists are overwritten (and only when their
//!   bytes change). A file a later plan no longer has is removed only while
//!   it still holds what strata wrote; one changed since is left, and said.
//! - No symlink inside the output folder is ever followed, whether reading,
//!   writing or removing: a symlink where strata writes is refused, naming it.
//! - Files and the manifest are written to a temporary file and renamed.
//! - One run at a time: the folder is locked while it is written (see
//!   [`lock`]), so two runs in one folder never interleave.
//!
//! A manifest of the older line format (one path per line, no hashes) is
//! read once and replaced by the JSON one: its files the plan still has are
//! adopted; the ones it no longer has cannot be shown to be strata's and are
//! left in place (reported as kept).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Plan;

use super::MARKER;

/// The largest manifest read, in bytes (a tree of 100,000 files is ~15 MiB).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The version of the manifest's JSON format.
const MANIFEST_FORMAT: u32 = 2;

/// What a write did, for the CLI to report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Files created or whose content changed.
    pub written: Vec<PathBuf>,
    /// Files left alone because their content was already right.
    pub unchanged: Vec<PathBuf>,
    /// Files an earlier run wrote that this plan no longer has.
    pub removed: Vec<PathBuf>,
    /// Files the manifest listed that this plan no longer has, left in place
    /// because they changed since strata wrote them (or an older manifest
    /// kept no hash to show they did not). strata no longer owns them.
    pub kept: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{dir} is not empty and was not written by strata (no {MARKER} in it); refusing to write into it. Choose an empty or new output folder")]
    NotOurs { dir: PathBuf },
    #[error("{path} exists but strata did not write it; refusing to overwrite it. Move it away or choose another output folder")]
    UserFile { path: PathBuf },
    #[error("{path} is a symlink inside the output folder; strata never follows one there. Remove it (the generated tree holds only plain files and folders)")]
    Symlink { path: PathBuf },
    #[error(
        "{path} is not a plain file or folder; strata writes only plain files there. Remove it"
    )]
    NotPlain { path: PathBuf },
    #[error("{path} is damaged ({why}); strata cannot tell which files it wrote. Restore it from version control, or delete the output folder and generate it again")]
    BadManifest { path: PathBuf, why: String },
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

/// The output folder, locked for this process: no other strata run writes
/// it (or, holding it for a whole run, tests from it) until this is dropped.
pub struct OutputLock {
    dir: PathBuf,
    // The lock is the open folder's `flock`; it ends when the file closes.
    #[cfg(unix)]
    _held: std::fs::File,
}

impl OutputLock {
    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Creates `out_dir` if needed and locks it, waiting for another run that
/// holds it (saying so once). The folder itself must not be a symlink.
pub fn lock(out_dir: &Path) -> Result<OutputLock, WriteError> {
    match std::fs::symlink_metadata(out_dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(WriteError::Symlink {
                path: out_dir.to_path_buf(),
            })
        }
        Ok(m) if !m.is_dir() => {
            return Err(WriteError::NotPlain {
                path: out_dir.to_path_buf(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
        }
        Err(e) => return Err(io(out_dir)(e)),
    }
    #[cfg(unix)]
    {
        let file = std::fs::File::open(out_dir).map_err(io(out_dir))?;
        let mut lock = fd_lock::RwLock::new(file);
        let waited = match lock.try_write() {
            Ok(guard) => {
                // The lock lives as long as the open file, not the guard.
                std::mem::forget(guard);
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(e) => return Err(io(out_dir)(e)),
        };
        if waited {
            eprintln!(
                "strata: waiting for another strata run writing {}",
                out_dir.display()
            );
            let guard = lock.write().map_err(io(out_dir))?;
            std::mem::forget(guard);
        }
        Ok(OutputLock {
            dir: out_dir.to_path_buf(),
            _held: lock.into_inner(),
        })
    }
    #[cfg(not(unix))]
    Ok(OutputLock {
        dir: out_dir.to_path_buf(),
    })
}

/// Writes `plan.files` under `out_dir` (see the module docs for the rules),
/// holding the folder's lock while it does.
pub fn write(plan: &Plan, out_dir: &Path) -> Result<WriteSummary, WriteError> {
    check_paths(plan)?;
    let held = lock(out_dir)?;
    write_locked(plan, &held)
}

/// [`write`] into a folder this process has already locked.
pub fn write_locked(plan: &Plan, held: &OutputLock) -> Result<WriteSummary, WriteError> {
    check_paths(plan)?;
    let out_dir = held.dir();
    let marker = out_dir.join(MARKER);
    let previous = read_manifest(out_dir, &marker)?;

    let wanted: BTreeMap<PathBuf, String> = plan
        .files
        .iter()
        .map(|f| (f.path.clone(), sha256(f.content.as_bytes())))
        .collect();

    // Check everything before changing anything: a refusal leaves the tree as it was.
    let mut present: BTreeMap<&Path, bool> = BTreeMap::new();
    for f in &plan.files {
        let exists = inspect(out_dir, &f.path)?;
        if exists && !previous.contains_key(&f.path) {
            return Err(WriteError::UserFile {
                path: out_dir.join(&f.path),
            });
        }
        present.insert(&f.path, exists);
    }
    for stale in previous.keys().filter(|p| !wanted.contains_key(*p)) {
        inspect(out_dir, stale)?;
    }

    // The manifest is written first with old ∪ new, so an interrupted write
    // still knows every file it may have created.
    let mut union: BTreeMap<PathBuf, Option<String>> = previous.clone();
    for (path, hash) in &wanted {
        union.insert(path.clone(), Some(hash.clone()));
    }
    write_manifest(&marker, &union)?;

    let mut summary = WriteSummary::default();
    for f in &plan.files {
        let target = out_dir.join(&f.path);
        if present[f.path.as_path()]
            && read_capped(&target, f.content.len() as u64)?.as_deref()
                == Some(f.content.as_bytes())
        {
            summary.unchanged.push(f.path.clone());
            continue;
        }
        create_dirs(out_dir, &f.path)?;
        write_atomic(&target, f.content.as_bytes())?;
        summary.written.push(f.path.clone());
    }

    for (stale, hash) in previous.iter().filter(|(p, _)| !wanted.contains_key(*p)) {
        if !inspect(out_dir, stale)? {
            continue;
        }
        let target = out_dir.join(stale);
        let still_ours = match hash {
            Some(hash) => {
                let limit = std::fs::symlink_metadata(&target)
                    .map_err(io(&target))?
                    .len();
                read_capped(&target, limit.min(MAX_MANIFEST_BYTES))?
                    .is_some_and(|bytes| sha256(&bytes) == *hash)
            }
            None => false,
        };
        if !still_ours {
            summary.kept.push(stale.clone());
            continue;
        }
        match std::fs::remove_file(&target) {
            Ok(()) => summary.removed.push(stale.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&target)(e)),
        }
        remove_empty_parents(out_dir, &target);
    }
    let last: BTreeMap<PathBuf, Option<String>> =
        wanted.into_iter().map(|(p, h)| (p, Some(h))).collect();
    write_manifest(&marker, &last)?;
    Ok(summary)
}

/// Every generated path is relative, plain and not the manifest's.
fn check_paths(plan: &Plan) -> Result<(), WriteError> {
    for f in &plan.files {
        if !is_plain_relative(&f.path) || f.path == Path::new(MARKER) {
            return Err(WriteError::BadPath {
                path: f.path.clone(),
            });
        }
    }
    Ok(())
}

fn is_plain_relative(path: &Path) -> bool {
    path.is_relative()
        && path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Whether `rel` exists under `out_dir` as a plain file, looking at each
/// component without following a symlink: a symlink (or anything but a
/// folder on the way, or a plain file at the end) is an error naming it.
fn inspect(out_dir: &Path, rel: &Path) -> Result<bool, WriteError> {
    let mut path = out_dir.to_path_buf();
    let count = rel.components().count();
    for (i, part) in rel.components().enumerate() {
        path.push(part);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(&path)(e)),
        };
        let t = meta.file_type();
        if t.is_symlink() {
            return Err(WriteError::Symlink { path });
        }
        let last = i + 1 == count;
        if (last && !t.is_file()) || (!last && !t.is_dir()) {
            return Err(WriteError::NotPlain { path });
        }
    }
    Ok(true)
}

/// Creates the folders of `rel` under `out_dir`, one at a time, none of them
/// through a symlink (checked by [`inspect`] before; `create_dir` never
/// follows one at the last component).
fn create_dirs(out_dir: &Path, rel: &Path) -> Result<(), WriteError> {
    let mut path = out_dir.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for part in parent.components() {
        path.push(part);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let t = std::fs::symlink_metadata(&path)
                    .map_err(io(&path))?
                    .file_type();
                if t.is_symlink() {
                    return Err(WriteError::Symlink { path });
                }
                if !t.is_dir() {
                    return Err(WriteError::NotPlain { path });
                }
            }
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(())
}

/// At most `limit` bytes of the plain file `path` (checked by [`inspect`]);
/// `None` if it is longer, so it cannot equal content of that length.
fn read_capped(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, WriteError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Writes `bytes` to a new temporary file beside `target` and renames it
/// over `target` (a rename replaces a symlink rather than following it).
fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".strata-tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(tmp.path()))?;
    #[cfg(unix)]
    {
        // Mode 0644 like any file a user writes (a temporary file is 0600).
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io(tmp.path()))?;
    }
    tmp.persist(target).map_err(|e| io(target)(e.error))?;
    Ok(())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The manifest as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// Says what the file is to someone who opens it.
    #[serde(default)]
    about: String,
    format: u32,
    /// Path (`/`-separated, relative to the folder) → `sha256:<hex>` of the
    /// bytes written (`null` only for a file an older manifest listed).
    files: BTreeMap<String, Option<String>>,
}

type Listed = BTreeMap<PathBuf, Option<String>>;

/// The files an earlier run wrote, or an empty set for a new or empty folder.
fn read_manifest(out_dir: &Path, marker: &Path) -> Result<Listed, WriteError> {
    let meta = match std::fs::symlink_metadata(marker) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entries = std::fs::read_dir(out_dir).map_err(io(out_dir))?;
            if entries.next().is_some() {
                return Err(WriteError::NotOurs {
                    dir: out_dir.to_path_buf(),
                });
            }
            return Ok(Listed::new());
        }
        Err(e) => return Err(io(marker)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(WriteError::Symlink {
            path: marker.to_path_buf(),
        });
    }
    let bad = |why: String| WriteError::BadManifest {
        path: marker.to_path_buf(),
        why,
    };
    if !meta.is_file() {
        return Err(WriteError::NotPlain {
            path: marker.to_path_buf(),
        });
    }
    let bytes = read_capped(marker, MAX_MANIFEST_BYTES)?
        .ok_or_else(|| bad(format!("larger than {MAX_MANIFEST_BYTES} bytes")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    if !text.trim_start().starts_with('{') {
        return Ok(legacy_manifest(&text));
    }
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(bad(format!(
            "format {} is not the {MANIFEST_FORMAT} this strata reads",
            manifest.format
        )));
    }
    let mut out = Listed::new();
    for (path, hash) in manifest.files {
        let rel = PathBuf::from(&path);
        if !is_plain_relative(&rel) || rel == Path::new(MARKER) {
            return Err(bad(format!(
                "it lists {} (not a plain path inside the folder)",
                serde_json::to_string(&path).unwrap_or_default()
            )));
        }
        if let Some(h) = &hash {
            let ok = h
                .strip_prefix("sha256:")
                .is_some_and(|x| x.len() == 64 && x.bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                return Err(bad(format!(
                    "{} is not a sha256: digest",
                    crate::text::escape(h)
                )));
            }
        }
        out.insert(rel, hash);
    }
    Ok(out)
}

/// The older line format: one path per line, `#` comments. Its entries have
/// no hash, so a file of it the plan no longer has is never removed.
fn legacy_manifest(text: &str) -> Listed {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .filter(|p| is_plain_relative(p) && p != Path::new(MARKER))
        .map(|p| (p, None))
        .collect()
}

fn write_manifest(marker: &Path, files: &Listed) -> Result<(), WriteError> {
    let manifest = Manifest {
        about: "Files written by `strata generate`, with the SHA-256 of what was written. \
                strata overwrites or removes only these."
            .into(),
        format: MANIFEST_FORMAT,
        files: files
            .iter()
            .map(|(p, h)| (p.to_string_lossy().replace('\\', "/"), h.clone()))
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| io(marker)(e.into()))?;
    text.push('\n');
    write_atomic(marker, text.as_bytes())
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

    #[cfg(unix)]
    #[test]
    fn never_deletes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("important.txt"), "precious").unwrap();
        let out = dir.path().join("gen");
        write(&plan(&[("a/Dockerfile", "one")]), &out).unwrap();
        // A planted link, and the manifest edited to list a file behind it
        // (with the right hash, so only the link stands in the way).
        std::os::unix::fs::symlink(&outside, out.join("evil")).unwrap();
        let manifest = std::fs::read_to_string(out.join(MARKER)).unwrap();
        let mut m: Manifest = serde_json::from_str(&manifest).unwrap();
        m.files
            .insert("evil/important.txt".into(), Some(sha256(b"precious")));
        std::fs::write(out.join(MARKER), serde_json::to_string(&m).unwrap()).unwrap();
        let err = write(&plan(&[("a/Dockerfile", "one")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("evil"), "{err}");
        assert_eq!(
            std::fs::read_to_string(outside.join("important.txt")).unwrap(),
            "precious"
        );
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let out = dir.path().join("gen");
        write(&plan(&[("keep", "k")]), &out).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("images")).unwrap();
        let err = write(&plan(&[("keep", "k"), ("images/a/Dockerfile", "x")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::Symlink { .. }), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);

        // A link at the file itself, listed as strata's, is refused too.
        std::fs::remove_file(out.join("images")).unwrap();
        let target = outside.join("victim");
        std::fs::write(&target, "theirs").unwrap();
        std::fs::remove_file(out.join("keep")).unwrap();
        std::os::unix::fs::symlink(&target, out.join("keep")).unwrap();
        let err = write(&plan(&[("keep", "new")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::Symlink { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");

        // The output folder itself as a link.
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&outside, &linked).unwrap();
        let err = write(&plan(&[("a", "1")]), &linked).unwrap_err();
        assert!(matches!(err, WriteError::Symlink { .. }), "{err}");
    }

    #[test]
    fn a_stale_file_changed_since_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        write(&plan(&[("a", "1"), ("b", "2")]), &out).unwrap();
        std::fs::write(out.join("b"), "edited by hand").unwrap();
        let s = write(&plan(&[("a", "1")]), &out).unwrap();
        assert_eq!(s.kept, vec![PathBuf::from("b")]);
        assert!(s.removed.is_empty());
        assert_eq!(
            std::fs::read_to_string(out.join("b")).unwrap(),
            "edited by hand"
        );
        // No longer strata's: a plan wanting it again is refused.
        let err = write(&plan(&[("a", "1"), ("b", "2")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::UserFile { .. }), "{err}");
    }

    #[test]
    fn the_manifest_is_json_and_a_name_cannot_forge_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        std::fs::create_dir_all(&out).unwrap();
        write(&plan(&[("x\nuser.txt", "1")]), &out).unwrap();
        std::fs::write(out.join("user.txt"), "mine").unwrap();
        let text = std::fs::read_to_string(out.join(MARKER)).unwrap();
        let m: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(m.files.keys().collect::<Vec<_>>(), vec!["x\nuser.txt"]);
        let s = write(&plan(&[]), &out).unwrap();
        assert_eq!(s.removed, vec![PathBuf::from("x\nuser.txt")]);
        assert_eq!(
            std::fs::read_to_string(out.join("user.txt")).unwrap(),
            "mine"
        );
        assert!(!out.read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".strata-tmp")));
    }

    #[test]
    fn an_old_line_manifest_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        std::fs::create_dir_all(out.join("a")).unwrap();
        std::fs::write(out.join("a/Dockerfile"), "one").unwrap();
        std::fs::write(out.join("old"), "was generated").unwrap();
        std::fs::write(
            out.join(MARKER),
            "# Files written by `strata generate`. strata overwrites or removes only these.\na/Dockerfile\nold\n",
        )
        .unwrap();
        let s = write(&plan(&[("a/Dockerfile", "two")]), &out).unwrap();
        assert_eq!(s.written, vec![PathBuf::from("a/Dockerfile")]);
        assert_eq!(s.kept, vec![PathBuf::from("old")], "no hash: not removed");
        assert!(out.join("old").exists());
        let text = std::fs::read_to_string(out.join(MARKER)).unwrap();
        let m: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(m.format, MANIFEST_FORMAT);
        assert_eq!(m.files["a/Dockerfile"], Some(sha256(b"two")));
    }

    #[test]
    fn a_damaged_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        write(&plan(&[("a", "1")]), &out).unwrap();
        std::fs::write(
            out.join(MARKER),
            r#"{"format": 2, "files": {"../../x": null}}"#,
        )
        .unwrap();
        let err = write(&plan(&[("a", "1")]), &out).unwrap_err();
        assert!(matches!(err, WriteError::BadManifest { .. }), "{err}");
    }
}
