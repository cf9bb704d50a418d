//! What was tested and pushed, kept between `strata test` and `strata push`.
//!
//! Written atomically (temp file in the same folder, fsync, rename), so a
//! crash never leaves a half-written state behind. `push` trusts only a pass
//! recorded for the image ID that is behind the name *now*.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state file's format version; bumped on incompatible changes.
pub const STATE_VERSION: u32 = 1;

/// All images strata has recorded, by image name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    pub images: BTreeMap<String, ImageState>,
}

/// What strata knows of one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageState {
    /// The image ID that was built and tested.
    pub image_id: String,
    /// Whether the build and every test passed.
    pub passed: bool,
    pub tested_at: DateTime<Utc>,
    /// Test folders and whether each passed, in order.
    pub tests: Vec<TestState>,
    /// Set once the image was pushed.
    pub pushed: Option<PushState>,
    /// Digest of everything the result depends on (see `exec::fingerprint`);
    /// a later `strata test` with the same inputs skips the image.
    #[serde(default)]
    pub inputs: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestState {
    pub path: PathBuf,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushState {
    /// The manifest digest the registry holds for the image's name.
    pub digest: String,
    pub pushed_at: DateTime<Utc>,
    /// Aliases pointed at this digest, verified by reading them back.
    pub aliases: Vec<String>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not valid ({source}); move it aside to start afresh")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl State {
    /// Reads the state at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    ..State::default()
                })
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|source| StateError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the state to `path` atomically, creating its folder.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        let mut json = serde_json::to_vec_pretty(self).expect("state serializes");
        json.push(b'\n');
        tmp.write_all(&json).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// The recorded pass for `name`, if its image ID is `current_id`.
    ///
    /// Returns `Err(reason)` saying why the image may not be pushed.
    pub fn tested_pass(&self, name: &str, current_id: &str) -> Result<&ImageState, String> {
        let Some(st) = self.images.get(name) else {
            return Err("no test result recorded; run `strata test` first".into());
        };
        if !st.passed {
            return Err("its build or tests failed in the last `strata test`".into());
        }
        if st.image_id != current_id {
            return Err(format!(
                "the image now behind this name ({}) is not the one tested ({}); run `strata test` again",
                short_id(current_id),
                short_id(&st.image_id)
            ));
        }
        Ok(st)
    }
}

/// The state of a run in progress, shared by the executor's tasks.
///
/// Every change is written to disk at once (atomically), so a run that is
/// killed keeps every result recorded before it. A failed write does not stop
/// the run; the first one is kept and reported at the end.
#[derive(Clone)]
pub struct StateFile {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    first_error: Arc<Mutex<Option<StateError>>>,
}

impl StateFile {
    /// Loads the state at `path` (empty if missing).
    pub fn open(path: &Path) -> Result<StateFile, StateError> {
        Ok(StateFile {
            state: Arc::new(Mutex::new(State::load(path)?)),
            path: path.to_owned(),
            first_error: Arc::default(),
        })
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().expect("state lock"))
    }

    /// Applies `change` and writes the file.
    pub fn update(&self, change: impl FnOnce(&mut State)) {
        let mut st = self.state.lock().expect("state lock");
        change(&mut st);
        if let Err(e) = st.save(&self.path) {
            self.first_error.lock().expect("lock").get_or_insert(e);
        }
    }

    /// The first write that failed, if any.
    pub fn first_error(&self) -> Result<(), StateError> {
        match self.first_error.lock().expect("lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The first 12 hex digits of an ID, as Docker shows them.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, passed: bool) -> ImageState {
        ImageState {
            image_id: id.into(),
            passed,
            tested_at: Utc::now(),
            tests: vec![],
            pushed: None,
            inputs: None,
        }
    }

    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let mut st = State::load(&path).unwrap();
        assert!(st.images.is_empty());
        st.images.insert("a:1".into(), sample("sha256:abc", true));
        st.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), st);
        // Only the state file is left behind, no temp files.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn push_needs_a_pass_for_the_current_id() {
        let mut st = State::default();
        st.images.insert("a:1".into(), sample("sha256:aaa", true));
        st.images.insert("b:1".into(), sample("sha256:bbb", false));
        assert!(st.tested_pass("a:1", "sha256:aaa").is_ok());
        assert!(st
            .tested_pass("a:1", "sha256:zzz")
            .unwrap_err()
            .contains("not the one tested"));
        assert!(st
            .tested_pass("b:1", "sha256:bbb")
            .unwrap_err()
            .contains("failed"));
        assert!(st
            .tested_pass("c:1", "sha256:ccc")
            .unwrap_err()
            .contains("no test result"));
    }

    #[test]
    fn corrupt_state_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = State::load(&path).unwrap_err().to_string();
        assert!(e.contains("move it aside"), "{e}");
    }
}
