//! Build secrets (`secrets: [{id: NAME, env: VAR}]` or `[{id: NAME, file:
//! PATH}]`): what a `RUN --mount=type=secret,id=NAME` step may read, and
//! where its value comes from. The config and the plan name the source
//! only; the value is read just before the run ([`read`]), never printed,
//! never written, and only its hash enters an image's input fingerprint.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The largest secret strata reads: BuildKit's own limit (500 KiB).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;

/// Why a secret in a config is refused, or its value could not be read. The
/// words name the secret and where its value comes from, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "secret {id}: `env: {var}` is not an environment variable name \
         (letters, digits and `_`, not starting with a digit)",
        var = crate::text::escape(var)
    )]
    BadVariable { id: String, var: String },
    #[error("secret {id}: `file` is empty")]
    EmptyFile { id: String },
    #[error("secret {id}: give exactly one of `env: VARIABLE` or `file: PATH`")]
    Sources { id: String },
    #[error(
        "secret id {:?} must be 1 to 128 letters, digits, `_`, `-` or `.` \
         (not starting with `.`)",
        crate::text::escape(id)
    )]
    BadId { id: String },
    #[error("secret {id}: {place} is not set")]
    Unset { id: String, place: SecretSource },
    #[error("secret {id}: {place} is not UTF-8 text")]
    NotText { id: String, place: SecretSource },
    #[error("secret {id}: {}", reason.message)]
    Unreadable {
        id: String,
        #[source]
        reason: crate::error::InputError,
    },
    #[error(
        "secret {id}: {place} holds more than {} KiB, BuildKit's limit",
        MAX_SECRET_BYTES / 1024
    )]
    TooLarge { id: String, place: SecretSource },
}

/// One secret as written in a config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "RawSecret")]
#[schemars(deny_unknown_fields)]
pub struct SecretConfig {
    /// The ID a Dockerfile names: `RUN --mount=type=secret,id=<id>`.
    pub id: String,
    /// An environment variable holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the value, relative to the config's folder.
    #[serde(default)]
    pub file: Option<String>,
}

/// A build secret: `{id: NAME, env: VARIABLE}` or `{id: NAME, file: PATH}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    /// The ID a Dockerfile names: `RUN --mount=type=secret,id=<id>`.
    id: String,
    /// An environment variable holding the value.
    #[serde(default)]
    env: Option<String>,
    /// A file holding the value, relative to the config's folder.
    #[serde(default)]
    file: Option<String>,
}

impl TryFrom<RawSecret> for SecretConfig {
    type Error = SecretError;
    fn try_from(raw: RawSecret) -> Result<Self, SecretError> {
        let secret = SecretConfig {
            id: raw.id,
            env: raw.env,
            file: raw.file,
        };
        secret.check()?;
        Ok(secret)
    }
}

impl SecretConfig {
    /// Checks the ID and that exactly one source is named.
    pub fn check(&self) -> Result<(), SecretError> {
        check_id(&self.id)?;
        let id = self.id.clone();
        match (&self.env, &self.file) {
            (Some(var), None) if valid_env_name(var) => Ok(()),
            (Some(var), None) => Err(SecretError::BadVariable {
                id,
                var: var.clone(),
            }),
            (None, Some(file)) if !file.trim().is_empty() => Ok(()),
            (None, Some(_)) => Err(SecretError::EmptyFile { id }),
            _ => Err(SecretError::Sources { id }),
        }
    }

    /// The planned secret, a `file` joined onto `base` (the config's folder).
    pub fn plan(&self, base: &Path) -> SecretSpec {
        SecretSpec {
            id: self.id.clone(),
            source: match (&self.env, &self.file) {
                (Some(var), _) => SecretSource::Env(var.clone()),
                (None, Some(file)) => SecretSource::File(base.join(file)),
                (None, None) => SecretSource::Env(String::new()),
            },
        }
    }
}

/// A secret ID: what BuildKit accepts in `id=` and a file name can hold.
pub fn check_id(id: &str) -> Result<(), SecretError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !id.starts_with('.');
    match ok {
        true => Ok(()),
        false => Err(SecretError::BadId { id: id.to_string() }),
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A planned secret: its ID and where its value is read. Printed with the
/// plan (the source's name, never the value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

/// Where a secret's value is read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// An environment variable of strata's process.
    Env(String),
    /// A file on the host.
    File(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "environment variable {var}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// Reads a secret's value: the variable must be set, the file a readable
/// regular file under [`MAX_SECRET_BYTES`]; both must be UTF-8 text. The
/// value is registered with the process-wide redactor, so no printed text
/// carries it. The error names the source only.
pub fn read(spec: &SecretSpec) -> Result<Secret, SecretError> {
    let id = || spec.id.clone();
    let place = || spec.source.clone();
    let not_text = |_| SecretError::NotText {
        id: id(),
        place: place(),
    };
    let value = match &spec.source {
        SecretSource::Env(var) => match std::env::var_os(var) {
            None => {
                return Err(SecretError::Unset {
                    id: id(),
                    place: place(),
                })
            }
            Some(v) => v.into_string().map_err(|_| not_text(()))?,
        },
        SecretSource::File(path) => {
            let bytes = super::read::read_bytes(path, None, "secret file", MAX_SECRET_BYTES)
                .map_err(|reason| SecretError::Unreadable { id: id(), reason })?;
            String::from_utf8(bytes).map_err(|_| not_text(()))?
        }
    };
    if value.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            id: id(),
            place: place(),
        });
    }
    crate::secret::register_build_secret(&value);
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SecretConfig>, String> {
        serde_saphyr::from_str::<Vec<SecretConfig>>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn one_source_each() {
        let ok = parse("- {id: npm, env: NPM_TOKEN}\n- {id: key, file: keys/a.pem}\n").unwrap();
        assert_eq!(ok[0].env.as_deref(), Some("NPM_TOKEN"));
        assert_eq!(
            ok[1].plan(Path::new("/cfg")).source,
            SecretSource::File(PathBuf::from("/cfg/keys/a.pem"))
        );
        let both = parse("- {id: npm, env: A, file: b}\n").unwrap_err();
        assert!(both.contains("exactly one"), "{both}");
        let neither = parse("- {id: npm}\n").unwrap_err();
        assert!(neither.contains("exactly one"), "{neither}");
        let bad_id = parse("- {id: 'a b', env: A}\n").unwrap_err();
        assert!(bad_id.contains("secret id"), "{bad_id}");
        let bad_var = parse("- {id: a, env: 'A-B'}\n").unwrap_err();
        assert!(bad_var.contains("environment variable name"), "{bad_var}");
        let unknown = parse("- {id: a, env: A, value: x}\n").unwrap_err();
        assert!(unknown.contains("value"), "{unknown}");
    }

    #[test]
    fn reading_names_the_source_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SecretSpec {
            id: "tok".into(),
            source: SecretSource::Env("STRATA_TEST_SURELY_UNSET_VAR_42".into()),
        };
        let e = read(&spec).unwrap_err().to_string();
        assert!(
            e.contains("STRATA_TEST_SURELY_UNSET_VAR_42 is not set"),
            "{e}"
        );
        let file = dir.path().join("tok.txt");
        std::fs::write(&file, "s3cr3t-from-file").unwrap();
        let spec = SecretSpec {
            id: "tok".into(),
            source: SecretSource::File(file),
        };
        assert_eq!(read(&spec).unwrap().expose(), "s3cr3t-from-file");
        assert_eq!(
            crate::secret::redact("leaked s3cr3t-from-file here"),
            "leaked <redacted> here"
        );
        let missing = SecretSpec {
            id: "tok".into(),
            source: SecretSource::File(dir.path().join("nope")),
        };
        assert!(read(&missing).unwrap_err().to_string().contains("tok"));
    }
}
