//! Uploading an image the engine exported by ID (`docker save` format).
//!
//! `push` never hands the engine a name to push: a name can be re-tagged by
//! anyone between the test and the push. Instead the engine exports the
//! tested image **by its ID**, and strata uploads its config and layers and
//! puts a manifest naming them under the tag (or under no tag, by digest).
//! The manifest's config digest is the tested image ID by construction.
//!
//! Layers are uploaded as the archive holds them: uncompressed tars, with the
//! OCI media type for that. A layer or config the repository holds already is
//! not sent again.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The media types of what [`manifest`] writes.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// The read and write buffers of unpacking: large enough for few system
/// calls, small enough that several pushes at once stay small.
const BUFFER: usize = 128 * 1024;

/// The largest image config whose labels become the manifest's annotations.
const MAX_CONFIG: u64 = 16 << 20;

/// One blob of an unpacked archive: where it is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// Why an exported image could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot make a folder to unpack the image: {0}")]
    Folder(#[source] std::io::Error),
    #[error("cannot read the exported image: {0}")]
    Open(#[source] std::io::Error),
    #[error("the exported image is not a readable archive: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("the exported image holds a path outside it: {0:?}")]
    HoldsOutside(String),
    #[error("cannot unpack the exported image: {0}")]
    Write(#[source] std::io::Error),
    #[error("the exported image has no manifest.json: {0}")]
    NoManifest(#[source] std::io::Error),
    #[error("the exported image's manifest.json is not valid: {0}")]
    BadManifest(#[source] serde_json::Error),
    #[error("the exported archive holds {0} images, expected one")]
    Images(usize),
    #[error("the exported image names a path outside it: {0:?}")]
    NamesOutside(String),
    #[error("the exported image lacks {}: {source}", path.display())]
    Lacks {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exported image, unpacked: its config and its layers, bottom first.
#[derive(Debug)]
pub struct Saved {
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// The config's `org.opencontainers.image.*` labels, which the manifest
    /// carries as its annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Keeps the unpacked files until the upload is done.
    _dir: tempfile::TempDir,
}

impl Saved {
    /// Unpacks the `docker save` archive at `archive` (blocking: run it on a
    /// blocking thread) and checks it holds exactly one image.
    pub fn unpack(archive: &Path) -> Result<Saved, UnpackError> {
        let dir = tempfile::Builder::new()
            .prefix("strata-push-")
            .tempdir()
            .map_err(UnpackError::Folder)?;
        let file = std::fs::File::open(archive).map_err(UnpackError::Open)?;
        // One pass: each file is written out and hashed as it is read.
        let mut hashed: HashMap<PathBuf, (String, u64)> = HashMap::new();
        let unreadable = UnpackError::Unreadable;
        let mut tar = tar::Archive::new(std::io::BufReader::with_capacity(BUFFER, file));
        for entry in tar.entries().map_err(unreadable)? {
            let mut entry = entry.map_err(unreadable)?;
            let rel = entry.path().map_err(unreadable)?.into_owned();
            if !entry.header().entry_type().is_file() {
                // Folders (and anything else) as tar's own unpacking makes them.
                entry.unpack_in(dir.path()).map_err(unreadable)?;
                continue;
            }
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(UnpackError::HoldsOutside(rel.display().to_string()));
            }
            let path = dir.path().join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(UnpackError::Write)?;
            }
            let out = std::fs::File::create(&path).map_err(UnpackError::Write)?;
            let mut out = Hashing::new(std::io::BufWriter::with_capacity(BUFFER, out));
            std::io::copy(&mut entry, &mut out).map_err(unreadable)?;
            let (digest, size) = out.finish().map_err(unreadable)?;
            hashed.insert(rel, (digest, size));
        }

        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "Layers")]
            layers: Vec<String>,
        }
        let manifest =
            std::fs::read(dir.path().join("manifest.json")).map_err(UnpackError::NoManifest)?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&manifest).map_err(UnpackError::BadManifest)?;
        let [entry] = entries.as_slice() else {
            return Err(UnpackError::Images(entries.len()));
        };
        let inside = |rel: &str| -> Result<PathBuf, UnpackError> {
            // Names come from the engine; still, nothing outside the folder.
            if Path::new(rel)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(UnpackError::NamesOutside(rel.to_string()));
            }
            Ok(dir.path().join(rel))
        };
        // Digests from the unpacking pass; a file it did not see is read again.
        let known = |rel: &str| -> Result<Blob, UnpackError> {
            let path = inside(rel)?;
            match hashed.get(Path::new(rel)) {
                Some((digest, size)) => Ok(Blob {
                    path,
                    digest: digest.clone(),
                    size: *size,
                }),
                None => blob(&path),
            }
        };
        let config = known(&entry.config)?;
        let layers = entry
            .layers
            .iter()
            .map(|l| known(l))
            .collect::<Result<Vec<_>, _>>()?;
        let annotations = match config.size <= MAX_CONFIG {
            true => std::fs::read(&config.path)
                .map(|c| super::annotations::of_config(&c))
                .unwrap_or_default(),
            false => Default::default(),
        };
        Ok(Saved {
            config,
            layers,
            annotations,
            _dir: dir,
        })
    }

    /// The manifest naming the config and layers: deterministic, so the same
    /// image always gets the same manifest digest, on any registry.
    pub fn manifest(&self) -> Vec<u8> {
        let descriptor = |media_type: &str, b: &Blob| serde_json::json!({"mediaType": media_type, "digest": b.digest, "size": b.size});
        let mut json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(CONFIG_MEDIA_TYPE, &self.config),
            "layers": self.layers.iter().map(|l| descriptor(LAYER_MEDIA_TYPE, l)).collect::<Vec<_>>(),
        });
        if !self.annotations.is_empty() {
            json["annotations"] = serde_json::json!(self.annotations);
        }
        serde_json::to_vec(&json).expect("a manifest serializes")
    }
}

/// A writer that hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Flushes, and returns the digest and size of what was written.
    fn finish(mut self) -> std::io::Result<(String, u64)> {
        self.inner.flush()?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.size,
        ))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Digest and size of the file at `path`, read in pieces.
fn blob(path: &Path) -> Result<Blob, UnpackError> {
    let mut file = std::fs::File::open(path).map_err(|source| UnpackError::Lacks {
        path: path.to_owned(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|source| UnpackError::Read {
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok(Blob {
        path: path.to_owned(),
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `docker save` archive with one image: config and two layers.
    fn archive(dir: &Path) -> PathBuf {
        let path = dir.join("saved.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add("abc.json", b"{\"config\":{}}");
        add("l1/layer.tar", b"layer one");
        add("l2/layer.tar", b"layer two");
        add(
            "manifest.json",
            br#"[{"Config":"abc.json","RepoTags":null,"Layers":["l1/layer.tar","l2/layer.tar"]}]"#,
        );
        b.finish().unwrap();
        path
    }

    #[test]
    fn unpacks_config_and_layers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let saved = Saved::unpack(&archive(dir.path())).unwrap();
        assert_eq!(saved.config.digest, sha256(b"{\"config\":{}}"));
        assert_eq!(saved.config.size, 13);
        let layers: Vec<_> = saved.layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(layers, [sha256(b"layer one"), sha256(b"layer two")]);
        // The same image always makes the same manifest.
        assert_eq!(saved.manifest(), saved.manifest());
        let m: serde_json::Value = serde_json::from_slice(&saved.manifest()).unwrap();
        assert_eq!(m["config"]["digest"], saved.config.digest.as_str());
        assert_eq!(m["layers"][1]["size"], 9);
    }

    #[test]
    fn refuses_paths_outside_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let data = br#"[{"Config":"../../etc/passwd","Layers":[]}]"#;
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "manifest.json", &data[..]).unwrap();
        b.finish().unwrap();
        let err = Saved::unpack(&path).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
    }
}
