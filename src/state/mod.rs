//! What was tested and pushed, kept between `strata test` and `strata push`.
//!
//! Written atomically (temp file in the same folder, fsync, rename), so a
//! crash never leaves a half-written state behind. `push` trusts only a pass
//! recorded for the image ID that is behind the name *now*.
//!
//! Several runs may share one state folder (shards of one plan on one
//! machine): every change is merged under an exclusive lock on
//! `state.json.lock`, into the state re-read from disk under that lock, so no
//! run overwrites what another recorded. A run waits for the lock at most
//! [`LOCK_WAIT`] (`STRATA_STATE_LOCK_WAIT` seconds), then says which process
//! holds it.
//!
//! A state file is checked when it is loaded: an unknown `version`, an image
//! ID or digest that is not `sha256:` and 64 hex digits, or damaged JSON is
//! refused with a message naming the file, never a panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod inputs;

pub use inputs::{ArtifactPart, InputParts};

use crate::reference::{Digest, ImageId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state file's format version; bumped on incompatible changes.
pub const STATE_VERSION: u32 = 1;

/// All images strata has recorded, by image name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Keyed by the image's name (one platform's image by its unit name,
    /// `<name>-linux-arm64`); a key that is no image reference makes the
    /// file one that does not parse.
    pub images: BTreeMap<crate::reference::ImageRef, ImageState>,
}

/// What strata knows of one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageState {
    /// The image ID that was built and tested.
    pub image_id: ImageId,
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
    /// The external bases this image was built on, each at the digest its
    /// registry resolved (see `exec::bases`); empty for bases used as the
    /// engine held them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<BaseState>,
    /// What the image was built from and when, for its provenance
    /// attestation; absent in records written before strata kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<BuildFacts>,
    /// What `inputs` was made of, part by part, so the next run can say
    /// why it rebuilds the image; absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<InputParts>,
}

/// What an image was built from and when, as `test` saw it: its SLSA
/// provenance (`attest::provenance`) is made of these.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildFacts {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `sha256:<hex>` of the Dockerfile as built.
    pub dockerfile: String,
    /// strata's digest of the build context (see `exec::fingerprint::Parts`).
    pub context: String,
    /// Each artifact added to the context, by where it came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactFact>,
    /// Each test folder and its digest (see `exec::fingerprint::Parts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<(PathBuf, String)>,
}

/// One artifact of a build: its file name in the context, where it came
/// from (a URL, or `pkg:npm/NAME@VERSION`), and the SHA-256 of the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactFact {
    pub file_name: String,
    pub uri: String,
    pub sha256: String,
}

/// One external base an image was built on, as it was resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BaseState {
    /// The base as the `FROM` line names it, such as `debian:bookworm-slim`.
    pub reference: String,
    /// The platform it was resolved for; absent: the engine's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The manifest digest built on (an index's entry for the platform).
    pub digest: crate::reference::Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestState {
    pub path: PathBuf,
    pub passed: bool,
    /// The image the test ran in: its layer on the tested image, or the
    /// tested image itself for a `run.yml` alone. Kept for attestations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<ImageId>,
    /// The `run.yml` checks, as `config::run_file::RunTest::describe` gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushState {
    /// The manifest digest the registry holds for the image's name.
    pub digest: Digest,
    pub pushed_at: DateTime<Utc>,
    /// Aliases pointed at this digest, verified by reading them back.
    pub aliases: Vec<crate::reference::ImageRef>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Refused by the file reader (not a regular file, over
    /// [`MAX_STATE_BYTES`], unreadable); the message names the file.
    #[error("{message}")]
    Read { path: PathBuf, message: String },
    #[error("state file {path} is not valid ({source}); move it aside to start afresh")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {path} has format version {found}, but this strata reads version {STATE_VERSION}; use the strata that wrote it, or move the file aside to start afresh")]
    Version { path: PathBuf, found: u32 },
    #[error("state file {path} is damaged: {damage}; move it aside to start afresh")]
    Invalid { path: PathBuf, damage: Damage },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is locked by another strata run ({holder}) for more than {waited:?}; wait for it to finish, or set STRATA_STATE_LOCK_WAIT to wait longer")]
    Locked {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

/// What is wrong in a state file that parses: a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error(
        "image {:?} has image_id {:?}, which is not sha256: and 64 hex digits",
        crate::text::cut(image, 200),
        crate::text::cut(id, 100)
    )]
    ImageId { image: String, id: String },
    #[error(
        "image {:?} has pushed digest {:?}, which is not sha256: and 64 hex digits",
        crate::text::cut(image, 200),
        crate::text::cut(digest, 100)
    )]
    PushedDigest { image: String, digest: String },
}

/// Why the state lets no image be pushed under a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPassed {
    #[error("no test result recorded; run `strata test` first")]
    Untested,
    #[error("its build or tests failed in the last `strata test`")]
    Failed,
    #[error(
        "the image now behind this name ({}) is not the one tested ({}); run `strata test` again",
        short_id(current),
        short_id(tested)
    )]
    Changed { current: String, tested: String },
}

/// The largest state file strata reads: 64 MiB (a state of 700 images is a
/// few hundred KiB). A bigger one, a FIFO or a device is refused, never read.
pub const MAX_STATE_BYTES: u64 = crate::config::read::MAX_STATE_BYTES;

/// How long a run waits for another run's lock on the state file by default.
/// Locks are held only while one change is merged (milliseconds), so a long
/// wait means the other run is stuck.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The variable that sets [`LOCK_WAIT`], in seconds.
pub const LOCK_WAIT_VAR: &str = "STRATA_STATE_LOCK_WAIT";

impl State {
    /// Reads the state at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, StateError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    ..State::default()
                })
            }
            _ => {}
        }
        let text = crate::config::read::read_text_capped(path, None, "state file", MAX_STATE_BYTES)
            .map_err(|e| StateError::Read {
                path: path.to_owned(),
                message: match &e.help {
                    Some(help) => format!("{}; {help}", e.message),
                    None => e.message.clone(),
                },
            })?;
        // The version is read first, so a newer format gets its own message
        // rather than a complaint about a field it renamed.
        #[derive(Deserialize)]
        struct Version {
            version: Option<u32>,
        }
        let parse_err = |source| StateError::Parse {
            path: path.to_owned(),
            source,
        };
        let version: Version = serde_json::from_str(&text).map_err(parse_err)?;
        if version.version != Some(STATE_VERSION) {
            return Err(StateError::Version {
                path: path.to_owned(),
                found: version.version.unwrap_or(0),
            });
        }
        let state: State = serde_json::from_str(&text).map_err(parse_err)?;
        state.validate().map_err(|damage| StateError::Invalid {
            path: path.to_owned(),
            damage,
        })?;
        Ok(state)
    }

    /// Checks what `serde` cannot: IDs and digests have their one shape.
    fn validate(&self) -> Result<(), Damage> {
        for (name, image) in &self.images {
            // A build that failed produced no image: its ID is empty.
            let no_image = image.image_id.is_empty() && !image.passed;
            if !no_image && !is_sha256(&image.image_id) {
                return Err(Damage::ImageId {
                    image: name.to_string(),
                    id: image.image_id.to_string(),
                });
            }
            if let Some(pushed) = &image.pushed {
                if !is_sha256(&pushed.digest) {
                    return Err(Damage::PushedDigest {
                        image: name.to_string(),
                        digest: pushed.digest.to_string(),
                    });
                }
            }
        }
        Ok(())
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

    /// The recorded pass for `name`, whatever image is behind the name now
    /// (what `push --dry-run` can judge without an engine).
    ///
    /// Returns `Err(reason)` saying why the image may not be pushed.
    pub fn recorded_pass(&self, name: &str) -> Result<&ImageState, NotPassed> {
        let Some(st) = self.images.get(name) else {
            return Err(NotPassed::Untested);
        };
        if !st.passed {
            return Err(NotPassed::Failed);
        }
        Ok(st)
    }

    /// The recorded pass for `name`, if its image ID is `current_id`.
    ///
    /// Returns `Err(reason)` saying why the image may not be pushed.
    pub fn tested_pass(&self, name: &str, current_id: &str) -> Result<&ImageState, NotPassed> {
        let st = self.recorded_pass(name)?;
        if st.image_id != current_id {
            return Err(NotPassed::Changed {
                current: current_id.to_string(),
                tested: st.image_id.to_string(),
            });
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

    /// Applies `change` to the state on disk, under the file lock, and
    /// writes it: what other runs recorded meanwhile is kept.
    pub fn update(&self, change: impl FnOnce(&mut State)) {
        let mut st = self.state.lock().expect("state lock");
        if let Err(e) = merge(&self.path, lock_wait(), change, &mut st) {
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

/// Re-reads the state at `path` under its lock, applies `change`, writes it,
/// and leaves the merged state in `memory`.
fn merge(
    path: &Path,
    wait: Duration,
    change: impl FnOnce(&mut State),
    memory: &mut State,
) -> Result<(), StateError> {
    let lock_path = lock_path(path);
    let err = |source| StateError::Write {
        path: lock_path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(err)?;
    // A FIFO or a device in the lock's place would take the lock's writes
    // (or block reading who holds it): only a regular file is a lock.
    if !file.metadata().map_err(err)?.is_file() {
        return Err(StateError::Read {
            path: lock_path.clone(),
            message: format!(
                "state lock file {} is not a regular file; remove it (strata makes a new one)",
                lock_path.display()
            ),
        });
    }
    let mut lock = fd_lock::RwLock::new(file);
    let start = Instant::now();
    let mut guard = loop {
        match lock.try_write() {
            Ok(guard) => break guard,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let holder = crate::config::read::read_text_capped(
                    &lock_path,
                    None,
                    "state lock file",
                    crate::config::read::MAX_SMALL_BYTES,
                )
                .unwrap_or_default();
                let holder = match holder.trim() {
                    "" => "a process that did not say which".to_string(),
                    pid => format!("process {}", crate::text::cut(pid, 40)),
                };
                return Err(StateError::Locked {
                    path: path.to_owned(),
                    holder,
                    waited: wait,
                });
            }
            Err(e) => return Err(err(e)),
        }
    };
    // Say who holds the lock, for a run that gives up waiting.
    {
        use std::io::Seek;
        let file: &mut std::fs::File = &mut guard;
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
    }
    let mut on_disk = State::load(path)?;
    change(&mut on_disk);
    on_disk.save(path)?;
    *memory = on_disk;
    drop(guard);
    Ok(())
}

/// The file whose lock guards `state`: beside it, never renamed over.
fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    state.with_file_name(name)
}

/// [`LOCK_WAIT`], or what `STRATA_STATE_LOCK_WAIT` says (seconds).
fn lock_wait() -> Duration {
    std::env::var(LOCK_WAIT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(LOCK_WAIT)
}

/// Whether `id` is `sha256:` and 64 lowercase hex digits.
fn is_sha256(id: &str) -> bool {
    id.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The first 12 characters of an ID's hex, as Docker shows them. Safe on any
/// text: it never cuts inside a character.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    match hex.char_indices().nth(12) {
        Some((end, _)) => &hex[..end],
        None => hex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed image ID made of one repeated hex digit.
    fn id(digit: char) -> String {
        format!("sha256:{}", digit.to_string().repeat(64))
    }

    fn sample(id: &str, passed: bool) -> ImageState {
        ImageState {
            image_id: id.into(),
            passed,
            tested_at: Utc::now(),
            tests: vec![],
            pushed: None,
            inputs: None,
            bases: vec![],
            built: None,
            parts: None,
        }
    }

    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let mut st = State::load(&path).unwrap();
        assert!(st.images.is_empty());
        st.images
            .insert("a:1".parse().unwrap(), sample(&id('a'), true));
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
        st.images
            .insert("a:1".parse().unwrap(), sample("sha256:aaa", true));
        st.images
            .insert("b:1".parse().unwrap(), sample("sha256:bbb", false));
        assert!(st.tested_pass("a:1", "sha256:aaa").is_ok());
        assert!(st
            .tested_pass("a:1", "sha256:zzz")
            .unwrap_err()
            .to_string()
            .contains("not the one tested"));
        assert!(st
            .tested_pass("b:1", "sha256:bbb")
            .unwrap_err()
            .to_string()
            .contains("failed"));
        assert!(st
            .tested_pass("c:1", "sha256:ccc")
            .unwrap_err()
            .to_string()
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

    fn load_err(json: &str) -> StateError {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, json).unwrap();
        State::load(&path).unwrap_err()
    }

    fn state_json(version: u32, image_id: &str) -> String {
        serde_json::json!({
            "version": version,
            "images": {"a:1": {
                "image_id": image_id, "passed": true,
                "tested_at": "2026-01-01T00:00:00Z", "tests": [], "pushed": null
            }}
        })
        .to_string()
    }

    #[test]
    fn unknown_version_is_refused() {
        let e = load_err(&state_json(999, &id('a')));
        assert!(matches!(e, StateError::Version { found: 999, .. }), "{e}");
        assert!(e.to_string().contains("state.json"), "{e}");
        let e = load_err(r#"{"images":{}}"#);
        assert!(matches!(e, StateError::Version { found: 0, .. }), "{e}");
    }

    #[test]
    fn non_ascii_image_id_is_refused_not_a_panic() {
        let bad = format!("sha256:{}", "é".repeat(40));
        let e = load_err(&state_json(STATE_VERSION, &bad));
        assert!(matches!(e, StateError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("a:1"), "{e}");
        // Showing such an ID never panics either.
        assert_eq!(short_id(&bad).chars().count(), 12);
    }

    #[test]
    fn a_failed_build_without_an_image_loads() {
        let json = state_json(STATE_VERSION, "").replace("\"passed\":true", "\"passed\":false");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, json).unwrap();
        let state = State::load(&path).expect("a failed build has no image ID");
        assert!(!state.images["a:1"].passed);
        // A pass always names its image.
        load_err(&state_json(STATE_VERSION, ""));
    }

    #[test]
    fn a_lock_file_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let made = std::process::Command::new("mkfifo")
            .arg(lock_path(&path))
            .status()
            .unwrap();
        assert!(made.success());
        let file = StateFile::open(&path).unwrap();
        file.update(|state| {
            state
                .images
                .insert("a:1".parse().unwrap(), sample(&id('a'), true));
        });
        let e = file.first_error().unwrap_err().to_string();
        assert!(
            e.contains("state.json.lock") && e.contains("not a regular file"),
            "{e}"
        );
        assert!(!path.exists(), "nothing is written without a lock");
    }

    #[test]
    fn an_image_name_that_is_no_reference_is_refused_saying_what_to_do() {
        let json = state_json(STATE_VERSION, &id('a'));
        for key in ["Acme/App:1", "a:1\u{1b}[2J", &"z/".repeat(300_000)] {
            let bad = json.replace("\"a:1\"", &serde_json::to_string(key).unwrap());
            let e = load_err(&bad);
            let text = e.to_string();
            assert!(matches!(e, StateError::Parse { .. }), "{text}");
            assert!(text.contains("move it aside"), "{text}");
            assert!(text.len() < 1_000 && !text.contains('\u{1b}'), "{text}");
        }
    }

    #[test]
    fn huge_values_are_cut_in_the_message() {
        let bad = "z".repeat(2_500_000);
        let e = load_err(&state_json(STATE_VERSION, &bad)).to_string();
        assert!(e.len() < 1_000, "{} bytes", e.len());
    }

    #[test]
    fn two_runs_on_one_state_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // Two runs open the same (empty) state, then record interleaved.
        let a = StateFile::open(&path).unwrap();
        let b = StateFile::open(&path).unwrap();
        let threads: Vec<_> = [(a, 'a'), (b, 'b')]
            .into_iter()
            .map(|(file, tag)| {
                std::thread::spawn(move || {
                    for n in 0..20 {
                        file.update(|st| {
                            st.images.insert(
                                format!("{tag}{n}:1").parse().unwrap(),
                                sample(&id('c'), true),
                            );
                        });
                    }
                    file.first_error().unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let st = State::load(&path).unwrap();
        assert_eq!(st.images.len(), 40, "{:?}", st.images.keys());
    }

    #[test]
    fn a_held_lock_is_waited_for_then_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path(&path))
            .unwrap();
        let mut lock = fd_lock::RwLock::new(file);
        let mut guard = lock.write().unwrap();
        writeln!(&mut *guard, "4242").unwrap();
        let mut memory = State::default();
        let start = Instant::now();
        let err = merge_with_wait(&path, Duration::from_millis(300), &mut memory).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("process 4242"), "{err}");
        drop(guard);
        merge_with_wait(&path, Duration::from_millis(300), &mut memory).unwrap();
    }

    fn merge_with_wait(path: &Path, wait: Duration, memory: &mut State) -> Result<(), StateError> {
        merge(path, wait, |st| st.version = STATE_VERSION, memory)
    }
}
