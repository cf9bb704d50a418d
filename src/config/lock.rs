//! `strata.lock`: the external bases pinned for reproducible runs.
//!
//! `strata pins update` writes it beside the config: each external base and
//! platform with the manifest digest its registry gave (or marked `local`:
//! made on this machine, used as it is). While it exists, `test` builds on
//! those digests whatever the tags upstream say now, and `plan --changes`
//! reports an upstream that moved as drift. It is input: read through the
//! capped reader, typed (unknown fields refused), and checked against the
//! config, naming the file and line of an entry the config does not use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// The lock file's name, beside the config.
pub const LOCK_FILE: &str = "strata.lock";

/// The largest lock file read: 1 MiB (a pin is about 200 bytes).
pub const MAX_LOCK_BYTES: u64 = 1024 * 1024;

/// The format version written and read.
pub const LOCK_VERSION: u32 = 1;

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    pub bases: Vec<Pin>,
}

/// One external base for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The base as the `FROM` line names it (build arguments replaced).
    pub reference: String,
    /// The platform; absent: the engine's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The manifest digest builds use; absent for a `local` base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<crate::reference::Digest>,
    /// Made on the machine (no registry has it): used as the engine holds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
}

/// A lock file read and checked.
#[derive(Debug, Clone)]
pub struct Lock {
    pub path: PathBuf,
    text: Arc<str>,
    pub pins: Vec<Pin>,
}

/// Where the lock file of `config` is.
pub fn path_for(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(LOCK_FILE)
}

fn help() -> &'static str {
    "run `strata pins update` to write it again from the config, or remove it to follow upstream"
}

impl Lock {
    /// Reads the lock file at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Lock>, InputError> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(None);
        }
        let text: Arc<str> =
            crate::config::read::read_text_capped(path, None, "lock file", MAX_LOCK_BYTES)?.into();
        let name = path.display().to_string();
        let file: LockFile = serde_json::from_str(&text).map_err(|e| {
            let at = offset(&text, e.line(), e.column());
            InputError::plain(format!("lock file {name} is not valid: {e}"))
                .at(&name, text.clone(), at..at, "here")
                .with_help(help())
        })?;
        if file.version != LOCK_VERSION {
            return Err(InputError::plain(format!(
                "lock file {name} has version {}, but this strata reads version {LOCK_VERSION}",
                file.version
            ))
            .with_help(help()));
        }
        let lock = Lock {
            path: path.to_owned(),
            text,
            pins: file.bases,
        };
        for pin in &lock.pins {
            let bad = match (&pin.digest, pin.local) {
                (Some(d), false) if is_digest(d) => None,
                (None, true) => None,
                (Some(_), false) => Some("its digest is not sha256: and 64 hex digits"),
                _ => Some("it needs either a digest or `\"local\": true`"),
            };
            let platform = pin
                .platform
                .as_deref()
                .map(str::parse::<crate::reference::Platform>);
            if let Some(Err(e)) = platform {
                return Err(lock.error(pin, format!("its platform is not valid: {e}")));
            }
            if let Some(bad) = bad {
                return Err(lock.error(pin, bad.to_string()));
            }
        }
        Ok(Some(lock))
    }

    /// The pin of `reference` for `platform`, if any.
    pub fn get(&self, reference: &str, platform: Option<&str>) -> Option<&Pin> {
        self.pins
            .iter()
            .find(|p| p.reference == reference && p.platform.as_deref() == platform)
    }

    /// Checks the lock against the bases the config builds on: every pin
    /// names one of them, and every one of them is pinned.
    pub fn check(&self, wanted: &[(String, Option<String>)]) -> Result<(), InputError> {
        for pin in &self.pins {
            let used = wanted
                .iter()
                .any(|(r, p)| *r == pin.reference && *p == pin.platform);
            if !used {
                return Err(self.error(
                    pin,
                    "the config builds on no such base (for this platform)".into(),
                ));
            }
        }
        for (reference, platform) in wanted {
            if self.get(reference, platform.as_deref()).is_none() {
                let for_platform = platform
                    .as_deref()
                    .map(|p| format!(" for {p}"))
                    .unwrap_or_default();
                return Err(InputError::plain(format!(
                    "lock file {} does not pin base image {reference}{for_platform}, which the config builds on",
                    self.path.display()
                ))
                .with_help(help()));
            }
        }
        Ok(())
    }

    /// An error at `pin`'s entry in the file.
    fn error(&self, pin: &Pin, why: String) -> InputError {
        let name = self.path.display().to_string();
        let needle = serde_json::to_string(&pin.reference).unwrap_or_default();
        let at = self.text.find(&needle).unwrap_or(0);
        InputError::plain(format!(
            "lock file {name}: base image {}: {why}",
            crate::text::escape(&crate::text::cut(&pin.reference, 200))
        ))
        .at(&name, self.text.clone(), at..at + needle.len(), "this pin")
        .with_help(help())
    }
}

/// The lock file's text for `pins`, sorted.
pub fn render(mut pins: Vec<Pin>) -> String {
    pins.sort_by(|a, b| (&a.reference, &a.platform).cmp(&(&b.reference, &b.platform)));
    let mut text = serde_json::to_string_pretty(&LockFile {
        version: LOCK_VERSION,
        bases: pins,
    })
    .expect("a lock file serializes");
    text.push('\n');
    text
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The byte offset of 1-based `line` and `column` in `text`.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn round_trips_and_checks_against_the_config() {
        let text = render(vec![Pin {
            reference: "up/base:1".into(),
            platform: None,
            digest: Some(crate::reference::Digest::new(D)),
            local: false,
        }]);
        let (_dir, path) = write(&text);
        let lock = Lock::load(&path).unwrap().unwrap();
        assert_eq!(
            lock.get("up/base:1", None).unwrap().digest.as_deref(),
            Some(D)
        );
        lock.check(&[("up/base:1".into(), None)]).unwrap();
        let err = crate::error::render(&lock.check(&[("up/other:1".into(), None)]).unwrap_err());
        assert!(err.contains("up/base:1"), "{err}");
        assert!(err.contains("strata.lock:5:"), "the line of the pin: {err}");
        assert!(err.contains("strata pins update"), "{err}");
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        let (_dir, path) = write(
            "{\"version\": 1, \"bases\": [\n {\"reference\": \"a\", \"digest\": \"sha256:x\"}]}",
        );
        let err = crate::error::render(&Lock::load(&path).unwrap_err());
        assert!(
            err.contains("64 hex digits") && err.contains(":2:"),
            "{err}"
        );
        let (_dir, path) = write("{\"version\": 1, \"bases\": [], \"extra\": 1}");
        let err = crate::error::render(&Lock::load(&path).unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
        let (_dir, path) = write(&"x".repeat(MAX_LOCK_BYTES as usize + 1));
        assert!(Lock::load(&path).is_err());
    }
}
