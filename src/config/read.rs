//! Reading a file the user wrote, safely: the one way strata reads config
//! files, `run.yml`s, templates and Dockerfiles.
//!
//! Each file must be a regular file, inside the config's folder once every
//! symlink is followed, and at most [`MAX_FILE_BYTES`] long. Anything else is
//! refused *before* it is opened: a FIFO would block the read forever, a
//! device such as `/dev/zero` never ends, and a symlink to `~/.docker/config.json`
//! would quote a credential in an error snippet.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::InputError;

/// The largest file strata reads as config (YAML, templates, Dockerfiles,
/// `run.yml`): 4 MiB, far above any real one (NodeSource's 718-image
/// inventory is 40 KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads `path` as UTF-8 text. `what` names the file in messages (`config
/// file`, `test Dockerfile`, …). With `tree`, the file (every symlink
/// followed) must lie inside that folder.
pub fn read_text(path: &Path, tree: Option<&Path>, what: &str) -> Result<String, InputError> {
    read_capped(path, tree, what, MAX_FILE_BYTES)
}

fn read_capped(
    path: &Path,
    tree: Option<&Path>,
    what: &str,
    cap: u64,
) -> Result<String, InputError> {
    let shown = path.display();
    let refuse = |problem: String, help: &str| {
        Err(InputError::plain(format!("{what} `{shown}` {problem}")).with_help(help.to_string()))
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
            "give a regular text file; strata never reads pipes, devices or sockets",
        );
    }
    if meta.len() > cap {
        return refuse(
            format!("is {} bytes long; at most {cap} are read", meta.len()),
            "config files, templates and Dockerfiles must be under 4 MiB; split the file",
        );
    }
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return refuse(format!("cannot be read: {e}"), "make it readable"),
    };
    // The size was checked, but a file can grow: never read past the cap.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = file.take(cap + 1).read_to_end(&mut bytes) {
        return refuse(format!("cannot be read: {e}"), "make it readable");
    }
    if bytes.len() as u64 > cap {
        return refuse(
            format!("is longer than {cap} bytes"),
            "config files, templates and Dockerfiles must be under 4 MiB; split the file",
        );
    }
    String::from_utf8(bytes).or_else(|e| {
        refuse(
            format!("is not UTF-8 text: {}", e.utf8_error()),
            "save the file as UTF-8 text",
        )
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
        assert!(m.contains("101 bytes long; at most 100"), "{m}");
        assert_eq!(read_capped(&big, None, "x", 101).unwrap().len(), 101);
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
