//! ECDSA P-256 keys in PEM: made by `strata key generate`, used to sign on
//! `push` and to check on `verify`.
//!
//! The private key is written as PKCS#8 (`-----BEGIN PRIVATE KEY-----`), file
//! mode 0600, and is never printed: [`SigningKey`]'s `Debug` shows only its
//! key ID. A SEC1 key (`-----BEGIN EC PRIVATE KEY-----`, as `openssl ecparam
//! -genkey` writes it) is read too. The public key is PKIX
//! (`-----BEGIN PUBLIC KEY-----`), the form `cosign` uses for its public keys.
//!
//! A key's ID is the SHA-256 of its public key (DER), in hex: envelopes
//! carry it, so a verifier can tell "signed by another key" from "altered".

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};

/// A key that cannot be used, with the file (or variable) it came from.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct KeyError {
    /// The key file, or the variable that held the key.
    pub source_name: String,
    pub message: String,
}

/// A private key for signing. Prints as its key ID only.
#[derive(Clone)]
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
    id: String,
}

/// A public key for checking signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// The key ID of a public key: SHA-256 of its DER encoding, in hex.
fn key_id(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("a P-256 public key encodes as DER");
    hex::encode(Sha256::digest(der.as_bytes()))
}

impl SigningKey {
    /// A new random key, from the operating system's random source.
    pub fn generate() -> SigningKey {
        SigningKey::from_inner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
    }

    fn from_inner(key: p256::ecdsa::SigningKey) -> SigningKey {
        let id = key_id(key.verifying_key());
        SigningKey { key, id }
    }

    /// Reads a PEM private key (PKCS#8 or SEC1) from `pem`; `source_name`
    /// names where it came from in errors.
    pub fn from_pem(pem: &str, source_name: &str) -> Result<SigningKey, KeyError> {
        let err = |message: String| KeyError {
            source_name: source_name.to_string(),
            message,
        };
        let pem = without_bom(pem).trim();
        if pem.contains("ENCRYPTED") {
            return Err(err(
                "this private key is encrypted; strata reads unencrypted PEM keys \
                 (make one with `strata key generate`)"
                    .into(),
            ));
        }
        if pem.starts_with("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|_| err("not a valid P-256 EC private key".into()))?;
            return Ok(SigningKey::from_inner(secret.into()));
        }
        if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).map_err(|_| {
                err("not a valid ECDSA P-256 private key (PKCS#8 PEM); strata signs with P-256 keys only".into())
            })?;
            return Ok(SigningKey::from_inner(key));
        }
        Err(err(
            "not a PEM private key (expected `-----BEGIN PRIVATE KEY-----`); \
             make one with `strata key generate`"
                .into(),
        ))
    }

    /// Reads the private key at `path`.
    pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
        SigningKey::from_pem(&read_text(path)?, &path.display().to_string())
    }

    /// `STRATA_SIGNING_KEY`'s value: the PEM itself (as CI secrets hold it,
    /// a leading byte-order mark allowed), or the path of a key file.
    ///
    /// The value may be the key itself in some other form (base64 of the
    /// PEM, a PEM mangled on its way into a CI secret), so it is never
    /// echoed: an error names `variable` and says what was expected. Only a
    /// path that exists is named, as key files are.
    pub fn from_setting(value: &str, variable: &str) -> Result<SigningKey, KeyError> {
        let text = without_bom(value).trim_start();
        if text.starts_with("-----BEGIN") {
            return SigningKey::from_pem(text, variable);
        }
        let path = Path::new(value);
        // A path is one line; anything else is not looked up at all.
        let looks_like_path = !value.is_empty() && !value.contains(['\n', '\r', '\0']);
        if looks_like_path && std::fs::symlink_metadata(path).is_ok() {
            return SigningKey::read(path);
        }
        Err(KeyError {
            source_name: variable.to_string(),
            message: "neither a PEM key nor the path of a readable file (a PEM key starts \
                      with `-----BEGIN PRIVATE KEY-----`); the value is not shown, as it may be \
                      the key itself"
                .into(),
        })
    }

    /// The key ID (see the module's documentation).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
            id: self.id.clone(),
        }
    }

    /// An ASN.1 DER ECDSA signature over SHA-256 of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// The private key as PKCS#8 PEM, for writing to its file only.
    /// The memory is wiped when it is dropped.
    fn to_pem(&self) -> Zeroizing<String> {
        self.key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .expect("a P-256 key encodes as PKCS#8")
    }
}

impl PublicKey {
    /// Reads a PEM public key (PKIX); a private key file gives its public key.
    pub fn from_pem(pem: &str, source_name: &str) -> Result<PublicKey, KeyError> {
        let pem = without_bom(pem).trim();
        if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            let key = VerifyingKey::from_public_key_pem(pem).map_err(|_| KeyError {
                source_name: source_name.to_string(),
                message: "not a valid ECDSA P-256 public key (PKIX PEM)".into(),
            })?;
            let id = key_id(&key);
            return Ok(PublicKey { key, id });
        }
        if pem.contains("PRIVATE KEY-----") {
            return Ok(SigningKey::from_pem(pem, source_name)?.public());
        }
        Err(KeyError {
            source_name: source_name.to_string(),
            message: "not a PEM public key (expected `-----BEGIN PUBLIC KEY-----`)".into(),
        })
    }

    /// Reads the public key at `path`.
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        PublicKey::from_pem(&read_text(path)?, &path.display().to_string())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `signature` (ASN.1 DER, or the 64-byte fixed form) is this
    /// key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let parsed = Signature::from_der(signature).or_else(|_| Signature::from_slice(signature));
        parsed.is_ok_and(|s| self.key.verify(message, &s).is_ok())
    }

    /// The public key as PKIX PEM.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("a P-256 public key encodes as PEM")
    }
}

/// `text` without a leading UTF-8 byte-order mark (editors on Windows
/// write one; PEM readers skip it).
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// A key file's text, at most 64 KiB (a PEM key is a few hundred bytes).
fn read_text(path: &Path) -> Result<String, KeyError> {
    let err = |message: String| KeyError {
        source_name: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read the key: {e}")))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if meta.len() > 64 * 1024 {
        return Err(err(format!(
            "{} bytes is too large for a PEM key",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read the key: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("not a PEM text file".into()))
}

/// The files `strata key generate --out PREFIX` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// `PREFIX.key`: the private key, mode 0600.
    pub private: PathBuf,
    /// `PREFIX.pub`: the public key.
    pub public: PathBuf,
}

impl KeyFiles {
    pub fn for_prefix(prefix: &Path) -> KeyFiles {
        let with = |ext: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(ext);
            PathBuf::from(name)
        };
        KeyFiles {
            private: with(".key"),
            public: with(".pub"),
        }
    }
}

/// Makes a key pair and writes it to `files`; neither may exist already.
/// The private key is created with mode 0600 before a byte is written.
pub fn generate(files: &KeyFiles) -> Result<PublicKey, KeyError> {
    for path in [&files.private, &files.public] {
        if path.exists() {
            return Err(KeyError {
                source_name: path.display().to_string(),
                message: "exists already; strata never overwrites a key (choose another --out)"
                    .into(),
            });
        }
    }
    let key = SigningKey::generate();
    let write = |path: &Path, mode: u32, text: &str| -> Result<(), KeyError> {
        let err = |e: std::io::Error| KeyError {
            source_name: path.display().to_string(),
            message: format!("cannot write the key: {e}"),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)
    };
    write(&files.private, 0o600, &key.to_pem())?;
    let public = key.public();
    if let Err(e) = write(&files.public, 0o644, &public.to_pem()) {
        // Half a pair is no use: take the private key back.
        let _ = std::fs::remove_file(&files.private);
        return Err(e);
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_keys_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::for_prefix(&dir.path().join("release"));
        assert!(files.private.ends_with("release.key"));
        let public = generate(&files).unwrap();
        let mode = std::fs::metadata(&files.private)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let private = SigningKey::read(&files.private).unwrap();
        let read_public = PublicKey::read(&files.public).unwrap();
        assert_eq!(read_public, public);
        assert_eq!(private.id(), public.id());
        let sig = private.sign(b"message");
        assert!(public.verifies(b"message", &sig));
        assert!(!public.verifies(b"messagE", &sig));
        let other = SigningKey::generate().public();
        assert!(!other.verifies(b"message", &sig));
        assert_ne!(other.id(), public.id());
        // A second generate never overwrites the pair.
        let e = generate(&files).unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
    }

    #[test]
    fn the_private_key_never_prints() {
        let key = SigningKey::generate();
        let pem = key.to_pem().to_string();
        let body: String = pem.lines().nth(1).unwrap().to_string();
        let shown = format!("{key:?} {:?}", key.public());
        assert!(!shown.contains(&body), "{shown}");
        assert!(shown.contains(key.id()));
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        let e = SigningKey::from_pem("hello", "k.pem")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("k.pem: not a PEM private key"), "{e}");
        let e = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
            "k.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("encrypted"), "{e}");
        let e = SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "k.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a valid"), "{e}");
        let e = PublicKey::from_pem("-----BEGIN CERTIFICATE-----", "p.pub")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a PEM public key"), "{e}");
    }

    #[test]
    fn reads_sec1_keys_and_private_keys_as_public() {
        let key = SigningKey::generate();
        let secret: p256::SecretKey = key.key.clone().into();
        let sec1 = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let again = SigningKey::from_pem(&sec1, "ec.pem").unwrap();
        assert_eq!(again.id(), key.id());
        let public = PublicKey::from_pem(&key.to_pem(), "k.pem").unwrap();
        assert_eq!(public.id(), key.id());
    }

    #[test]
    fn a_setting_is_a_pem_or_a_path() {
        let key = SigningKey::generate();
        let pem = key.to_pem().to_string();
        assert_eq!(
            SigningKey::from_setting(&pem, "STRATA_SIGNING_KEY")
                .unwrap()
                .id(),
            key.id()
        );
        let e = SigningKey::from_setting("/nonexistent/key", "STRATA_SIGNING_KEY").unwrap_err();
        assert!(
            e.to_string().starts_with("STRATA_SIGNING_KEY: neither"),
            "{e}"
        );
        assert!(!e.to_string().contains("/nonexistent"), "{e}");
    }

    #[test]
    fn a_setting_that_is_no_key_is_never_echoed() {
        use base64::Engine as _;
        let key = SigningKey::generate();
        let pem = key.to_pem().to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pem);
        let body = pem.lines().nth(1).unwrap().to_string();
        for value in [
            b64.clone(),
            pem.replace('\n', "\\n"),
            pem.replace("-----", ""),
        ] {
            let e = SigningKey::from_setting(&value, "STRATA_SIGNING_KEY")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("STRATA_SIGNING_KEY: "), "{e}");
            assert!(!e.contains(&b64[..20]) && !e.contains(&body[..20]), "{e}");
        }
    }

    #[test]
    fn a_pem_with_a_byte_order_mark_is_read() {
        let key = SigningKey::generate();
        let pem = format!("\u{feff}{}", key.to_pem().as_str());
        let again = SigningKey::from_setting(&pem, "STRATA_SIGNING_KEY").unwrap();
        assert_eq!(again.id(), key.id());
        let public = format!("\u{feff}{}", key.public().to_pem());
        assert_eq!(
            PublicKey::from_pem(&public, "p.pub").unwrap().id(),
            key.id()
        );
    }
}
