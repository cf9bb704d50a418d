//! The tar build context: a folder filtered by `.dockerignore`, plus extra files.
//!
//! The engine API takes the context as a tar and does no filtering of its
//! own, so this module does what Docker's client does: walk the folder,
//! apply `.dockerignore` (see [`super::dockerignore`]), and pack what is left.
//! The walk is sorted so the same folder always gives the same tar. Symlinks
//! are stored as links, not followed; file modes and times are kept; owners
//! are set to root as Docker's client does.
//!
//! The user's folder is only ever read. An inline Dockerfile (a test layer,
//! `FROM <image id>` + the test's Dockerfile) replaces `Dockerfile` inside the
//! tar only, and artifacts downloaded on the host are added the same way.

use std::collections::BTreeSet;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use super::dockerignore::{self, DockerIgnore};
use super::{BuildContext, Dockerfile, EngineError};

/// The name an inline Dockerfile gets inside the context.
pub const INLINE_DOCKERFILE: &str = "Dockerfile";

/// A build context decided but not yet packed: [`Packing::write_to`] writes
/// the tar a file at a time, so a context is never held whole in memory
/// (the engine reads it as a stream).
#[derive(Debug)]
pub struct Packing {
    /// The context folder, named in errors.
    dir: PathBuf,
    entries: Vec<Entry>,
    /// The Dockerfile's path inside the archive, for the engine's `dockerfile`
    /// parameter.
    pub dockerfile: String,
}

/// One thing the walk decided to send.
#[derive(Debug, Clone)]
struct Entry {
    /// Path inside the context, `/`-separated, no leading `./`.
    name: String,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// A file, directory or symlink of the context folder (or an extra file).
    Host(PathBuf),
    /// The inline Dockerfile's text.
    Inline(String),
}

/// Decides what `context` will send: walks the folder and applies
/// `.dockerignore`, reading no file's contents. Every error about the
/// context's shape (no Dockerfile, bad patterns) comes from here, before
/// anything is sent.
pub fn prepare(context: &BuildContext) -> Result<Packing, EngineError> {
    let (entries, dockerfile) = plan(context)?;
    Ok(Packing {
        dir: context.dir.clone(),
        entries,
        dockerfile,
    })
}

impl Packing {
    /// Writes the tar to `out`, streaming each file's contents through a
    /// small buffer, flushes `out` and returns it.
    pub fn write_to<W: Write>(&self, out: W) -> Result<W, EngineError> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        for entry in &self.entries {
            append(&mut builder, entry)?;
        }
        let error = |e: io::Error| EngineError::Context {
            path: self.dir.clone(),
            message: format!("cannot write the context archive: {e}"),
        };
        let mut out = builder.into_inner().map_err(error)?;
        out.flush().map_err(error)?;
        Ok(out)
    }
}

/// A packed build context, in memory: for tests of the packing only.
#[cfg(test)]
#[derive(Debug)]
pub struct ContextTar {
    pub bytes: Vec<u8>,
    pub dockerfile: String,
}

/// Packs `context` into memory: for tests of the packing only (the engine
/// gets [`Packing::write_to`]'s stream).
#[cfg(test)]
pub fn pack(context: &BuildContext) -> Result<ContextTar, EngineError> {
    let packing = prepare(context)?;
    let bytes = packing.write_to(Vec::new())?;
    Ok(ContextTar {
        bytes,
        dockerfile: packing.dockerfile,
    })
}

/// The paths the context will hold, in archive order, without packing
/// anything: what [`Packing::write_to`] would send. Directories are listed too.
pub fn list(context: &BuildContext) -> Result<Vec<String>, EngineError> {
    Ok(plan(context)?.0.into_iter().map(|e| e.name).collect())
}

/// Decides what goes into the context, and the Dockerfile's name in it.
fn plan(context: &BuildContext) -> Result<(Vec<Entry>, String), EngineError> {
    let dir = &context.dir;
    if !dir.is_dir() {
        return Err(EngineError::Context {
            path: dir.clone(),
            message: "not a directory".into(),
        });
    }
    let mut ignore = read_dockerignore(dir)?;
    // The engine needs both files; Docker's client sends them even when
    // ignored (the engine drops them from the build afterwards).
    ignore.keep(".dockerignore");
    let dockerfile = match &context.dockerfile {
        Dockerfile::Path(path) => {
            let name = dockerignore::clean(path);
            if !dir.join(&name).is_file() {
                return Err(EngineError::Context {
                    path: dir.join(&name),
                    message: "the Dockerfile does not exist".into(),
                });
            }
            ignore.keep(&name);
            name
        }
        Dockerfile::Inline(_) => INLINE_DOCKERFILE.to_string(),
    };

    // Names that something else provides replace what the folder has there.
    let mut replaced: BTreeSet<String> = context
        .extra_files
        .iter()
        .map(|(name, _)| dockerignore::clean(name))
        .collect();
    if matches!(context.dockerfile, Dockerfile::Inline(_)) {
        replaced.insert(INLINE_DOCKERFILE.to_string());
    }

    let mut entries = Vec::new();
    walk(dir, "", &ignore, &replaced, &mut entries)?;
    if let Dockerfile::Inline(text) = &context.dockerfile {
        entries.push(Entry {
            name: INLINE_DOCKERFILE.to_string(),
            source: Source::Inline(text.clone()),
        });
    }
    for (name, host) in &context.extra_files {
        entries.push(Entry {
            name: dockerignore::clean(name),
            source: Source::Host(host.clone()),
        });
    }
    Ok((entries, dockerfile))
}

/// Reads `dir/.dockerignore`; a missing file means no patterns.
fn read_dockerignore(dir: &Path) -> Result<DockerIgnore, EngineError> {
    let path = dir.join(".dockerignore");
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DockerIgnore::default()),
        Err(e) => return Err(context_error(&path, e)),
        Ok(_) => {}
    }
    // A regular file under the config cap: a FIFO would block the read.
    let text =
        crate::read::read_text(&path, None, ".dockerignore").map_err(|e| EngineError::Context {
            path: path.clone(),
            message: e.message.clone(),
        })?;
    DockerIgnore::parse(&text).map_err(|e| EngineError::Context {
        path,
        message: e.to_string(),
    })
}

/// Walks `dir` (the folder at context path `prefix`) in sorted order, the way
/// Docker's client does: an excluded directory is skipped whole unless an
/// exception may re-include something below it, in which case its children
/// are considered one by one (the directory itself is not sent).
fn walk(
    dir: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    replaced: &BTreeSet<String>,
    out: &mut Vec<Entry>,
) -> Result<(), EngineError> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(|e| context_error(dir, e))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| context_error(dir, e))?;
    children.sort();
    for file_name in children {
        let Some(name_str) = file_name.to_str() else {
            return Err(EngineError::Context {
                path: dir.join(&file_name),
                message: "file name is not valid UTF-8".into(),
            });
        };
        let name = if prefix.is_empty() {
            name_str.to_string()
        } else {
            format!("{prefix}/{name_str}")
        };
        let host = dir.join(&file_name);
        if replaced.contains(&name) {
            continue;
        }
        let meta = fs::symlink_metadata(&host).map_err(|e| context_error(&host, e))?;
        if ignore.is_excluded(&name) {
            if meta.is_dir() && ignore.has_exceptions() && ignore.may_reinclude_below(&name) {
                walk(&host, &name, ignore, replaced, out)?;
            }
            continue;
        }
        let kind = meta.file_type();
        if kind.is_dir() {
            out.push(Entry {
                name: name.clone(),
                source: Source::Host(host.clone()),
            });
            walk(&host, &name, ignore, replaced, out)?;
        } else if kind.is_file() || kind.is_symlink() {
            out.push(Entry {
                name,
                source: Source::Host(host),
            });
        }
        // Sockets, fifos and devices have no place in a build context;
        // Docker's client skips them too.
    }
    Ok(())
}

/// Writes one entry to the archive.
fn append<W: Write>(builder: &mut tar::Builder<W>, entry: &Entry) -> Result<(), EngineError> {
    match &entry.source {
        Source::Inline(text) => {
            let mut header = Header::new_gnu();
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(text.len() as u64);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            builder
                .append_data(&mut header, &entry.name, text.as_bytes())
                .map_err(|e| context_error(Path::new(&entry.name), e))
        }
        Source::Host(path) => {
            let meta = fs::symlink_metadata(path).map_err(|e| context_error(path, e))?;
            let mut header = header_for(&meta);
            let result = if meta.file_type().is_symlink() {
                let target = fs::read_link(path).map_err(|e| context_error(path, e))?;
                builder.append_link(&mut header, &entry.name, target)
            } else if meta.is_dir() {
                builder.append_data(&mut header, format!("{}/", entry.name), io::empty())
            } else if meta.is_file() {
                let file = File::open(path).map_err(|e| context_error(path, e))?;
                builder.append_data(&mut header, &entry.name, file)
            } else {
                // Listed as a file, now a FIFO or device (swapped in since the
                // walk): opening it could block forever or never end.
                return Err(context_error(
                    path,
                    io::Error::other(
                        "is no longer a regular file; strata never reads pipes or devices",
                    ),
                ));
            };
            result.map_err(|e| context_error(path, e))
        }
    }
}

/// A header carrying the file's type, mode, size and time, owned by root.
fn header_for(meta: &Metadata) -> Header {
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    // Names are cleared, as Docker's client does; ids alone say root.
    let _ = header.set_username("");
    let _ = header.set_groupname("");
    if meta.file_type().is_symlink() {
        header.set_size(0);
    }
    header
}

fn context_error(path: &Path, error: io::Error) -> EngineError {
    EngineError::Context {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;

    #[test]
    fn a_dockerignore_that_is_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(".dockerignore"))
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_dockerignore(dir.path()).unwrap_err().to_string();
        assert!(err.contains("it is a FIFO"), "{err}");
    }

    fn context(dir: &Path, dockerfile: Dockerfile) -> BuildContext {
        BuildContext {
            dir: dir.to_path_buf(),
            dockerfile,
            extra_files: Vec::new(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Unpacks a tar into name → (entry type, mode, contents or link target).
    fn read_tar(bytes: &[u8]) -> BTreeMap<String, (EntryType, u32, String)> {
        let mut archive = tar::Archive::new(bytes);
        let mut out = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let kind = entry.header().entry_type();
            let mode = entry.header().mode().unwrap();
            assert_eq!(entry.header().uid().unwrap(), 0);
            let body = match entry.link_name().unwrap() {
                Some(target) => target.to_string_lossy().into_owned(),
                None => {
                    let mut s = String::new();
                    entry.read_to_string(&mut s).unwrap();
                    s
                }
            };
            out.insert(name.trim_end_matches('/').to_string(), (kind, mode, body));
        }
        out
    }

    /// A file listed by the walk and replaced by a FIFO before it is packed
    /// fails the packing at once instead of blocking on the open.
    #[test]
    fn a_file_swapped_for_a_fifo_after_the_walk_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("data");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let entry = Entry {
            name: "data".into(),
            source: Source::Host(fifo),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut builder = tar::Builder::new(Vec::new());
            let _ = tx.send(append(&mut builder, &entry).is_err());
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("packing a FIFO blocked");
        assert!(refused);
    }

    #[test]
    fn packs_filtered_sorted_tree_with_modes_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "Dockerfile", "FROM scratch\n");
        write(dir, ".dockerignore", "*.log\nnode_modules\n");
        write(dir, "b.txt", "b");
        write(dir, "a.txt", "a");
        write(dir, "debug.log", "noise");
        write(dir, "node_modules/x.js", "x");
        write(dir, "sub/node_modules/y.js", "y");
        write(dir, "run.sh", "#!/bin/sh\n");
        fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("a.txt", dir.join("link")).unwrap();

        let ctx = context(dir, Dockerfile::Path("Dockerfile".into()));
        let names = list(&ctx).unwrap();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "b.txt",
                "link",
                "run.sh",
                "sub",
                "sub/node_modules",
                "sub/node_modules/y.js"
            ]
        );
        let packed = pack(&ctx).unwrap();
        assert_eq!(packed.dockerfile, "Dockerfile");
        let files = read_tar(&packed.bytes);
        assert_eq!(files["a.txt"].2, "a");
        assert_eq!(files["run.sh"].1 & 0o777, 0o755);
        assert_eq!(files["link"].0, EntryType::Symlink);
        assert_eq!(files["link"].2, "a.txt");
        assert_eq!(files["sub"].0, EntryType::Directory);
        // Same folder, same bytes.
        assert_eq!(pack(&ctx).unwrap().bytes, packed.bytes);
    }

    #[test]
    fn ignored_dockerfile_and_dockerignore_are_still_sent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "build/app.Dockerfile", "FROM scratch\n");
        write(dir, "build/other", "o");
        write(dir, ".dockerignore", "*\n");
        write(dir, "x", "x");
        let ctx = context(dir, Dockerfile::Path("./build/app.Dockerfile".into()));
        assert_eq!(
            list(&ctx).unwrap(),
            [".dockerignore", "build/app.Dockerfile"]
        );
        assert_eq!(pack(&ctx).unwrap().dockerfile, "build/app.Dockerfile");
    }

    #[test]
    fn inline_dockerfile_replaces_the_folder_one_and_extras_are_added() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "Dockerfile", "RUN true\n");
        write(dir, "test.sh", "echo ok");
        let extra_dir = tempfile::tempdir().unwrap();
        write(extra_dir.path(), "node.tar.gz", "payload");
        let mut ctx = context(
            dir,
            Dockerfile::Inline("FROM sha256:abc\nRUN true\n".into()),
        );
        ctx.extra_files
            .push(("node.tar.gz".into(), extra_dir.path().join("node.tar.gz")));
        let packed = pack(&ctx).unwrap();
        assert_eq!(packed.dockerfile, INLINE_DOCKERFILE);
        let files = read_tar(&packed.bytes);
        assert_eq!(files["Dockerfile"].2, "FROM sha256:abc\nRUN true\n");
        assert_eq!(files["node.tar.gz"].2, "payload");
        assert_eq!(files.len(), 3);
        // The user's tree is untouched.
        assert_eq!(
            fs::read_to_string(dir.join("Dockerfile")).unwrap(),
            "RUN true\n"
        );
        assert!(!dir.join("node.tar.gz").exists());
    }

    #[test]
    fn exceptions_reinclude_inside_excluded_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "Dockerfile", "FROM scratch\n");
        write(
            dir,
            ".dockerignore",
            "docs\n!docs/keep.md\nvendor\n!**/keep.md\n",
        );
        write(dir, "docs/drop.md", "");
        write(dir, "docs/keep.md", "");
        write(dir, "vendor/keep.md", "");
        let ctx = context(dir, Dockerfile::Path("Dockerfile".into()));
        // `vendor` is skipped whole: no exception names a path inside it.
        assert_eq!(
            list(&ctx).unwrap(),
            [".dockerignore", "Dockerfile", "docs/keep.md"]
        );
    }

    #[test]
    fn missing_dockerfile_and_bad_patterns_are_context_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let err = pack(&context(dir, Dockerfile::Path("Dockerfile".into()))).unwrap_err();
        assert!(matches!(err, EngineError::Context { .. }), "{err}");
        write(dir, "Dockerfile", "FROM scratch\n");
        write(dir, ".dockerignore", "ok\n[oops\n");
        let err = pack(&context(dir, Dockerfile::Path("Dockerfile".into()))).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn unreadable_file_is_a_context_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "Dockerfile", "FROM scratch\n");
        // A dangling path given as an extra file cannot be read.
        let mut ctx = context(dir, Dockerfile::Path("Dockerfile".into()));
        ctx.extra_files
            .push(("artifact.tgz".into(), dir.join("missing.tgz")));
        match pack(&ctx).unwrap_err() {
            EngineError::Context { path, .. } => assert!(path.ends_with("missing.tgz")),
            other => panic!("unexpected error: {other}"),
        }
    }
}
