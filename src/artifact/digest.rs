//! Checksums of artifacts: npm's Subresource Integrity strings and plain SHA-256.

use base64::Engine as _;
use sha2::Digest as _;

/// A hash algorithm an artifact is checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// An expected digest: algorithm and raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub algorithm: Algorithm,
    pub bytes: Vec<u8>,
}

impl Expected {
    /// Parses an SRI string (`sha512-<base64>`, possibly several separated by
    /// spaces) and keeps the strongest hash, as browsers and npm do.
    pub fn from_sri(sri: &str) -> Option<Expected> {
        sri.split_whitespace()
            .filter_map(|part| {
                let (alg, b64) = part.split_once('-')?;
                let algorithm = match alg {
                    "sha256" => Algorithm::Sha256,
                    "sha384" => Algorithm::Sha384,
                    "sha512" => Algorithm::Sha512,
                    _ => return None,
                };
                // Options after `?` are allowed by SRI and ignored.
                let b64 = b64.split('?').next()?;
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
                Some(Expected { algorithm, bytes })
            })
            .max_by_key(|e| e.algorithm)
    }

    /// A hex SHA-256 such as those in `SHASUMS256.txt`.
    pub fn sha256_hex(hex_digest: &str) -> Option<Expected> {
        let bytes = hex::decode(hex_digest.trim()).ok()?;
        (bytes.len() == 32).then_some(Expected {
            algorithm: Algorithm::Sha256,
            bytes,
        })
    }

    /// The hex form, used as the cache file name.
    pub fn hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    /// How the digest is shown in messages: SRI form for SHA-384/512, hex for SHA-256.
    pub fn display(&self) -> String {
        display(self.algorithm, &self.bytes)
    }
}

fn display(algorithm: Algorithm, bytes: &[u8]) -> String {
    match algorithm {
        Algorithm::Sha256 => format!("sha256:{}", hex::encode(bytes)),
        _ => format!(
            "{}-{}",
            algorithm.name(),
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

/// A running hash, fed while a download streams.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Hashes a file on disk with `algorithm`; returns its digest shown as in messages.
pub fn file_digest(path: &std::path::Path, algorithm: Algorithm) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Only a regular file is a cached artifact: a FIFO or a device in its
    // place would block or never end.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file; remove it from the cache",
        ));
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

/// Shows `bytes` of `algorithm` the way [`Expected::display`] does.
pub fn show(algorithm: Algorithm, bytes: &[u8]) -> String {
    display(algorithm, bytes)
}

/// A checksum list that names a file twice with different sums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lists {file} twice with different sums ({first} and {second}); fix the list")]
pub struct TwoSums {
    pub file: String,
    pub first: String,
    pub second: String,
}

/// The SHA-256 listed for `file_name` in a `SHASUMS256.txt` (`<hex>  <name>`
/// lines). A name listed twice with different sums is an error (which one
/// is right cannot be known), not "the first wins".
pub fn from_shasums(text: &str, file_name: &str) -> Result<Option<Expected>, TwoSums> {
    let mut found: Option<Expected> = None;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(hex_digest), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        if name.trim_start_matches('*') != file_name {
            continue;
        }
        let Some(expected) = Expected::sha256_hex(hex_digest) else {
            continue;
        };
        match &found {
            Some(first) if first.bytes != expected.bytes => {
                return Err(TwoSums {
                    file: file_name.to_string(),
                    first: first.hex(),
                    second: expected.hex(),
                })
            }
            Some(_) => {}
            None => found = Some(expected),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri_keeps_strongest() {
        let sha256 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let sha512 = base64::engine::general_purpose::STANDARD.encode([2u8; 64]);
        let e = Expected::from_sri(&format!("sha256-{sha256} sha512-{sha512}")).unwrap();
        assert_eq!(e.algorithm, Algorithm::Sha512);
        assert_eq!(e.bytes, vec![2u8; 64]);
        assert!(Expected::from_sri("md5-abc").is_none());
    }

    #[test]
    fn hashes_known_value() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"abc");
        assert_eq!(
            hex::encode(h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn finds_file_in_shasums() {
        let text = format!(
            "{}  node-v1.tar.gz\n{}  other\n",
            "ab".repeat(32),
            "cd".repeat(32)
        );
        assert_eq!(
            from_shasums(&text, "node-v1.tar.gz")
                .unwrap()
                .unwrap()
                .hex(),
            "ab".repeat(32)
        );
        assert!(from_shasums(&text, "missing").unwrap().is_none());
    }

    #[test]
    fn a_name_listed_twice_with_different_sums_is_refused() {
        let text = format!(
            "{}  node-v1.tar.gz\n{}  *node-v1.tar.gz\n",
            "ab".repeat(32),
            "cd".repeat(32)
        );
        let err = from_shasums(&text, "node-v1.tar.gz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice with different sums"), "{err}");
        // The same sum twice is only a repetition.
        let text = format!("{0}  a.tgz\n{0}  a.tgz\n", "ab".repeat(32));
        assert!(from_shasums(&text, "a.tgz").unwrap().is_some());
    }
}
