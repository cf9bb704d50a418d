//! Reading a file strata is given, safely: the one way strata reads config
//! files, `run.yml`s, templates, Dockerfiles, release feeds, the state file,
//! the README `catalog --write` fills in, and its own lock and cache files.
//!
//! Each file must be a regular file, inside the config's folder once every
//! symlink is followed (where there is a config folder to keep to), and at
//! most a cap long. Anything else is refused *before* it is opened: a FIFO
//! would block the read forever, a device such as `/dev/zero` never ends, and
//! a symlink to `~/.docker/config.json` would quote a credential in an error
//! snippet. A refusal names the file and the rule, never its content.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::InputError;

/// The largest file strata reads as config (YAML, templates, Dockerfiles,
/// `run.yml`): 4 MiB, far above any real one (NodeSource's 718-image
/// inventory is 40 KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The largest release feed (`index.json`/`index.tab`, `schedule.json`) or
/// `SHASUMS256.txt` strata reads, from a file or a URL: 16 MiB. Node's own
/// `index.json` is under 1 MiB.
pub const MAX_FEED_BYTES: u64 = 16 * 1024 * 1024;

/// The largest state file strata reads: 64 MiB. A state of 700 images is a
/// few hundred KiB.
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// The largest small bookkeeping file (a lock's holder, a cache index entry):
/// 64 KiB.
pub const MAX_SMALL_BYTES: u64 = 64 * 1024;

/// Reads `path` as UTF-8 text. `what` names the file in messages (`config
/// file`, `test Dockerfile`, …). With `tree`, the file (every symlink
/// followed) must lie inside that folder.
pub fn read_text(path: &Path, tree: Option<&Path>, what: &str) -> Result<String, InputError> {
    read_capped(path, tree, what, MAX_FILE_BYTES)
}

/// Like [`read_text`], with another cap (one of the `MAX_*` constants).
pub fn read_text_capped(
    path: &Path,
    tree: Option<&Path>,
    what: &str,
    cap: u64,
) -> Result<String, InputError> {
    read_capped(path, tree, what, cap)
}

/// `bytes` for messages: `16 MiB`, `64 KiB`, or a plain count.
pub fn show_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads `path` as bytes under the same rules as [`read_text`], with `cap`.
pub fn read_bytes(
    path: &Path,
    tree: Option<&Path>,
    what: &str,
    cap: u64,
) -> Result<Vec<u8>, InputError> {
    let shown = path.display();
    let refuse = |problem: String, help: &str| {
        Err(InputError::plain(format!("{what} `{shown}` {problem}")).with_help(help.to_string()))
    };
    let too_long = || {
        format!(
            "keep it under {}, or check that it is the file you meant",
            show_size(cap)
        )
    };
    if let Some(tree) = tree {
        if let Some(outside) = leaves_tree(path, tree) {
            return refuse(
                format!(
                    "leads outside the config's folder `{}` (to `{}`)",
                    tree.display(),
                    outside.display()
                ),
                "copy the file into the config's folder instead of linking to it",
            );
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return refuse(
                "not found".into(),
                "create it, or fix the path that names it",
            )
        }
        Err(e) => return refuse(format!("cannot be read: {e}"), "make it readable"),
    };
    if meta.is_dir() {
        return refuse(
            "is a folder".into(),
            "name the file inside it, not the folder",
        );
    }
    if !meta.is_file() {
        return refuse(
            format!("is not a regular file (it is {})", kind_of(&meta)),
            "give a regular file; strata never reads pipes, devices or sockets",
        );
    }
    if meta.len() > cap {
        return refuse(
            format!(
                "is {} bytes long; at most {cap} are read ({})",
                meta.len(),
                show_size(cap)
            ),
            &too_long(),
        );
    }
    // Opened without blocking: a FIFO swapped in after the check above
    // must not hang the open, and is refused below.
    let file = match open_nonblocking(path) {
        Ok(file) => file,
        Err(e) => return refuse(format!("cannot be read: {e}"), "make it readable"),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(m) => {
            return refuse(
                format!("is not a regular file (it is {})", kind_of(&m)),
                "give a regular file; strata never reads pipes, devices or sockets",
            )
        }
        Err(e) => return refuse(format!("cannot be read: {e}"), "make it readable"),
    }
    // The size was checked, but a file can grow: never read past the cap.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = file.take(cap + 1).read_to_end(&mut bytes) {
        return refuse(format!("cannot be read: {e}"), "make it readable");
    }
    if bytes.len() as u64 > cap {
        return refuse(
            format!(
                "is longer than {} ({cap} bytes), the most that is read",
                show_size(cap)
            ),
            &too_long(),
        );
    }
    Ok(bytes)
}

/// Opens `path` for reading with `O_NONBLOCK`, so that opening a FIFO
/// swapped in after the checks never waits for a writer. Reads of a regular
/// file ignore the flag.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn read_capped(
    path: &Path,
    tree: Option<&Path>,
    what: &str,
    cap: u64,
) -> Result<String, InputError> {
    let bytes = read_bytes(path, tree, what, cap)?;
    String::from_utf8(bytes).map_err(|e| {
        InputError::plain(format!(
            "{what} `{}` is not UTF-8 text: {}",
            path.display(),
            e.utf8_error()
        ))
        .with_help("save the file as UTF-8 text")
    })
}

/// Where `path` really is, if that is outside `tree` (both with every
/// symlink followed). A path that does not resolve is left to the reader,
/// which names it as missing.
fn leaves_tree(path: &Path, tree: &Path) -> Option<PathBuf> {
    let tree = if tree.as_os_str().is_empty() {
        Path::new(".")
    } else {
        tree
    };
    let real = std::fs::canonicalize(path).ok()?;
    let root = std::fs::canonicalize(tree).ok()?;
    (!real.starts_with(&root)).then_some(real)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = meta;
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<String, InputError>) -> String {
        let err = result.expect_err("must be refused");
        format!("{} ({})", err.message, err.help.clone().unwrap_or_default())
    }

    #[test]
    fn reads_a_regular_file_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yml");
        std::fs::write(&file, "x: 1\n").unwrap();
        assert_eq!(
            read_text(&file, Some(dir.path()), "config file").unwrap(),
            "x: 1\n"
        );
        // A symlink that stays inside the tree is fine.
        let link = dir.path().join("b.yml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            read_text(&link, Some(dir.path()), "config file").unwrap(),
            "x: 1\n"
        );
    }

    #[test]
    fn refuses_symlinks_out_of_the_tree() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("config.json");
        std::fs::write(&secret, "{\"auth\": \"c2VjcmV0\"}").unwrap();
        let tree = tempfile::tempdir().unwrap();
        let link = tree.path().join("run.yml");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let m = message(read_text(&link, Some(tree.path()), "run.yml"));
        assert!(m.contains("leads outside the config's folder"), "{m}");
        assert!(!m.contains("c2VjcmV0"), "{m}");
        // A linked folder is followed too.
        std::os::unix::fs::symlink(outside.path(), tree.path().join("t")).unwrap();
        let m = message(read_text(
            &tree.path().join("t/config.json"),
            Some(tree.path()),
            "x",
        ));
        assert!(m.contains("leads outside"), "{m}");
    }

    #[test]
    fn refuses_fifos_and_devices_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("inventory.yml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let m = message(read_text(&fifo, Some(dir.path()), "config file"));
        assert!(m.contains("is not a regular file (it is a FIFO)"), "{m}");
        let m = message(read_text(Path::new("/dev/zero"), None, "config file"));
        assert!(m.contains("(it is a device)"), "{m}");
    }

    #[test]
    fn caps_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yml");
        std::fs::write(&big, "a".repeat(101)).unwrap();
        let m = message(read_capped(&big, None, "config file", 100));
        assert!(m.contains("101 bytes long; at most 100 are read"), "{m}");
        assert_eq!(read_capped(&big, None, "x", 101).unwrap().len(), 101);
    }

    #[test]
    fn sizes_are_shown_in_units() {
        assert_eq!(show_size(MAX_FEED_BYTES), "16 MiB");
        assert_eq!(show_size(MAX_SMALL_BYTES), "64 KiB");
        assert_eq!(show_size(100), "100 bytes");
    }

    #[test]
    fn names_missing_folders_and_non_text() {
        let dir = tempfile::tempdir().unwrap();
        let m = message(read_text(&dir.path().join("nope"), None, "config file"));
        assert!(m.contains("not found"), "{m}");
        let m = message(read_text(dir.path(), None, "config file"));
        assert!(m.contains("is a folder"), "{m}");
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"\xff\xfe").unwrap();
        let m = message(read_text(&bin, None, "config file"));
        assert!(m.contains("not UTF-8"), "{m}");
    }
}
