//! `strata import`: a base image from a root filesystem tarball.
//!
//! The tarball is read twice, never held: first its headers alone (each
//! file's contents are skipped with a seek), to refuse what the engine would
//! refuse or misread (not a tar, a compressed tar, an entry or link leading
//! outside the root) with exit 2 before anything is sent; then it is
//! streamed to the engine a chunk at a time.

use std::io::Read;
use std::path::{Component, Path};

use tar::EntryType;

use crate::engine::docker::DockerEngine;
use crate::engine::{BuildContext, BuildRequest, Dockerfile, Engine};
use crate::error::{Failure, InputError, RunError, EXIT_OK};

use super::args::ImportArgs;

/// The most a GNU long name or a PAX header may hold (Linux's PATH_MAX is
/// 4 KiB; PAX headers also carry times and owners).
const MAX_NAME_HEADER: u64 = 64 * 1024;

pub async fn run(args: &ImportArgs) -> Result<i32, RunError> {
    let reference = crate::reference::ImageRef::parse(&args.reference).map_err(|m| {
        InputError::plain(format!(
            "`{}` is not a valid image reference: {m}",
            args.reference
        ))
    })?;
    if !args.rootfs.is_file() {
        return Err(InputError::plain(format!(
            "{} is not a file: give a tar of a root filesystem",
            args.rootfs.display()
        ))
        .into());
    }
    let rootfs = args.rootfs.clone();
    tokio::task::spawn_blocking(move || check_rootfs(&rootfs))
        .await
        .map_err(|e| RunError::Environment(Failure::caused("checking the tarball failed", e)))??;
    let engine = DockerEngine::connect()
        .await
        .map_err(RunError::environment)?;
    let id = match &args.platform {
        None => engine.import(args.rootfs.clone(), &reference).await,
        // The import call records the engine's own architecture whatever it
        // is told; a build from scratch with the platform set records it.
        Some(platform) => {
            let empty = tempfile::tempdir()
                .map_err(|e| RunError::Environment(Failure::caused("cannot make a folder", e)))?;
            let request = BuildRequest {
                context: BuildContext {
                    dir: empty.path().to_owned(),
                    dockerfile: Dockerfile::Inline("FROM scratch\nADD rootfs.tar /\n".into()),
                    extra_files: vec![("rootfs.tar".into(), args.rootfs.clone())],
                },
                tag: Some(reference),
                build_args: Default::default(),
                labels: Default::default(),
                no_cache: false,
                timeout: None,
                platform: Some(platform.clone()),
                builder: None,
                secrets: Vec::new(),
            };
            engine.build(request, &|_| {}).await
        }
    }
    .map_err(RunError::environment)?;
    println!("{id}");
    Ok(EXIT_OK)
}

/// Reads the headers of the tarball at `path` (contents are skipped) and
/// refuses, naming the file and the entry, what is not a plain tar of a
/// root filesystem.
fn check_rootfs(path: &Path) -> Result<(), InputError> {
    let fail = |message: String| InputError::plain(format!("{}: {message}", path.display()));
    let mut file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if let Some(kind) = compression(&magic[..n]) {
        return Err(fail(format!(
            "a {kind}-compressed file; strata imports a plain tar: decompress it first"
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    check_tar(file).map_err(|e| fail(e.to_string()))
}

/// Why a tarball is not a root filesystem strata imports; the words follow
/// the tarball's path.
#[derive(Debug, thiserror::Error)]
enum RootfsError {
    #[error(
        "not a tar archive (no valid tar header after {0} entries); \
         give a tar of a root filesystem"
    )]
    NotTar(usize),
    #[error("holds no files; give a tar of a root filesystem")]
    Empty,
    #[error("cannot read it: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error(
        "a long-name or PAX header over {} KiB: not a root filesystem",
        MAX_NAME_HEADER / 1024
    )]
    LongHeader,
    #[error("entry `{0}` leads outside the root; give a tar of a root filesystem")]
    Outside(String),
    #[error("entry `{name}` links to `{link}`, outside the root; give a tar of a root filesystem")]
    LinksOutside { name: String, link: String },
}

fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The compression a file's first bytes announce.
fn compression(magic: &[u8]) -> Option<&'static str> {
    [
        (&b"\x1f\x8b"[..], "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\0", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ]
    .into_iter()
    .find(|(m, _)| magic.starts_with(m))
    .map(|(_, kind)| kind)
}

/// Walks the tar's headers: every one must be a valid tar header, there must
/// be at least one entry, and no entry's name, hard link or symbolic link may
/// lead above the root (the engine refuses those as a "breakout").
fn check_tar<R: Read + std::io::Seek>(reader: R) -> Result<(), RootfsError> {
    // The tar crate's words quote the bad header's bytes: not shown.
    let not_tar = RootfsError::NotTar;
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive
        .entries_with_seek()
        .map_err(|_| not_tar(0))?
        .raw(true);
    let (mut long_name, mut long_link) = (None::<Vec<u8>>, None::<Vec<u8>>);
    let mut count = 0usize;
    for entry in &mut entries {
        let mut entry = entry.map_err(|_| not_tar(count))?;
        let kind = entry.header().entry_type();
        match kind {
            EntryType::GNULongName => long_name = Some(read_name_header(&mut entry)?),
            EntryType::GNULongLink => long_link = Some(read_name_header(&mut entry)?),
            EntryType::XHeader => {
                let data = read_name_header(&mut entry)?;
                for ext in tar::PaxExtensions::new(&data) {
                    let ext = ext.map_err(|_| not_tar(count))?;
                    match ext.key_bytes() {
                        b"path" => long_name = Some(ext.value_bytes().to_vec()),
                        b"linkpath" => long_link = Some(ext.value_bytes().to_vec()),
                        _ => {}
                    }
                }
            }
            EntryType::XGlobalHeader => {}
            _ => {
                count += 1;
                let header = entry.header();
                let name = long_name
                    .take()
                    .unwrap_or_else(|| header.path_bytes().into_owned());
                let link = long_link
                    .take()
                    .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
                check_entry(&name, kind, link.as_deref())?;
            }
        }
    }
    if count == 0 {
        return Err(RootfsError::Empty);
    }
    Ok(())
}

/// The contents of a long-name or PAX header, at most [`MAX_NAME_HEADER`] bytes.
fn read_name_header(entry: &mut impl Read) -> Result<Vec<u8>, RootfsError> {
    let mut data = Vec::new();
    entry
        .take(MAX_NAME_HEADER + 1)
        .read_to_end(&mut data)
        .map_err(RootfsError::Unreadable)?;
    if data.len() as u64 > MAX_NAME_HEADER {
        return Err(RootfsError::LongHeader);
    }
    while data.last() == Some(&0) {
        data.pop();
    }
    Ok(data)
}

/// Refuses an entry whose name leads above the root, a hard link whose
/// target does, or a symbolic link whose target does from the link's folder
/// (what the engine checks when it unpacks).
fn check_entry(name: &[u8], kind: EntryType, link: Option<&[u8]>) -> Result<(), RootfsError> {
    let show = |b: &[u8]| String::from_utf8_lossy(b).escape_debug().to_string();
    if climbs_out(0, bytes_path(name)) {
        return Err(RootfsError::Outside(show(name)));
    }
    let Some(link) = link else { return Ok(()) };
    let escapes = match kind {
        EntryType::Link => climbs_out(0, bytes_path(link)),
        EntryType::Symlink => {
            let folder = bytes_path(name).parent().unwrap_or(Path::new(""));
            climbs_out(depth(folder), bytes_path(link))
        }
        _ => false,
    };
    if escapes {
        return Err(RootfsError::LinksOutside {
            name: show(name),
            link: show(link),
        });
    }
    Ok(())
}

fn bytes_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// How many folders deep `path` is, after `.` and `..`; 0 at the root.
fn depth(path: &Path) -> usize {
    path.components().fold(0usize, |d, c| match c {
        Component::Normal(_) => d + 1,
        Component::ParentDir => d.saturating_sub(1),
        _ => d,
    })
}

/// True when `path`, followed from `start` folders deep, goes above the root
/// at any point. A leading `/` counts for nothing, as the engine joins every
/// name and link target onto a folder inside the root.
fn climbs_out(start: usize, path: &Path) -> bool {
    let mut d = start;
    for c in path.components() {
        match c {
            Component::Normal(_) => d += 1,
            Component::ParentDir if d == 0 => return true,
            Component::ParentDir => d -= 1,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A tar of the given (name, type, link target) entries, all empty.
    fn tar_of(entries: &[(&str, EntryType, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(0);
            header.set_mode(0o755);
            match link {
                Some(target) => builder.append_link(&mut header, name, target).unwrap(),
                None => builder
                    .append_data(&mut header, name, std::io::empty())
                    .unwrap(),
            }
        }
        builder.into_inner().unwrap()
    }

    fn check(bytes: Vec<u8>) -> Result<(), String> {
        check_tar(Cursor::new(bytes)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_root_filesystem_with_inward_links_passes() {
        let long = format!("usr/{}/file", "d".repeat(200));
        let bytes = tar_of(&[
            ("bin/", EntryType::Directory, None),
            ("bin/busybox", EntryType::Regular, None),
            ("bin/sh", EntryType::Symlink, Some("busybox")),
            ("bin/ls", EntryType::Symlink, Some("/bin/busybox")),
            ("usr/bin/env", EntryType::Symlink, Some("../../bin/busybox")),
            ("bin/cat", EntryType::Link, Some("bin/busybox")),
            ("./etc/hostname", EntryType::Regular, None),
            (&long, EntryType::Regular, None),
        ]);
        assert_eq!(check(bytes), Ok(()));
    }

    #[test]
    fn links_and_names_leading_outside_are_refused() {
        for (entry, what) in [
            (
                ("bin/sh", EntryType::Symlink, Some("../../etc/passwd")),
                "links to `../../etc/passwd`",
            ),
            (
                ("etc/x", EntryType::Link, Some("../host/secret")),
                "links to `../host/secret`",
            ),
            (("a", EntryType::Symlink, Some("/../../x")), "links to"),
        ] {
            let err = check(tar_of(&[("bin/", EntryType::Directory, None), entry])).unwrap_err();
            assert!(err.contains(what), "{err}");
            assert!(err.contains("outside the root"), "{err}");
        }
        // A name the tar crate would refuse to write, made by hand.
        let mut bytes = tar_of(&[("xx/evil", EntryType::Regular, None)]);
        bytes[..7].copy_from_slice(b"../evil");
        let mut header = tar::Header::from_byte_slice(&bytes[..512]).clone();
        header.set_cksum();
        bytes[..512].copy_from_slice(header.as_bytes());
        let err = check(bytes).unwrap_err();
        assert!(err.contains("entry `../evil` leads outside"), "{err}");
    }

    #[test]
    fn what_is_not_a_tar_is_refused() {
        let err = check(b"FROM scratch\n".repeat(100)).unwrap_err();
        assert!(err.starts_with("not a tar archive"), "{err}");
        let err = check(Vec::new()).unwrap_err();
        assert!(err.contains("holds no files"), "{err}");
        assert_eq!(compression(b"\x1f\x8b\x08\0"), Some("gzip"));
        assert_eq!(compression(b"\xfd7zXZ\0"), Some("xz"));
        assert_eq!(compression(b"bin/\0\0"), None);
    }

    #[test]
    fn oversized_name_headers_are_refused_without_reading_them_whole() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(EntryType::GNULongName);
        header.set_size(MAX_NAME_HEADER + 10);
        let name = vec![b'a'; (MAX_NAME_HEADER + 10) as usize];
        builder
            .append_data(&mut header, "././@LongLink", &name[..])
            .unwrap();
        let err = check(builder.into_inner().unwrap()).unwrap_err();
        assert!(err.contains("over 64 KiB"), "{err}");
    }
}
