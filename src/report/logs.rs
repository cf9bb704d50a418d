//! One plain log file per step attempt, kept in the run folder.
//!
//! Reports quote logs, but a CI job that keeps artifacts, or a person with
//! `less`, wants the raw output of a single build or test. Each attempt's
//! output is in `logs/<image>/<step>.attempt<N>.log` (image names made
//! file-safe). A step's output is written there line by line as it comes,
//! by the executor's step log (`exec::retry::Log`, see
//! [`crate::events::tail`]): that file is the only place it is kept whole.
//! This listener writes the file of an attempt that printed nothing that
//! way (what its `StepFinished` says is all there is), and removes the ones
//! nothing should be written for.
//!
//! Nothing is written for what did not run or has nothing to tell: the
//! steps of an image that was up to date, and an alias moved at its first
//! attempt (its failed attempts are written). A run with nothing to do
//! leaves no log files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::events::tail::log_file;
use crate::events::{Event, Listener, Outcome, Step};

/// Writes every step attempt's output under `dir/logs/`.
pub struct LogFiles {
    dir: PathBuf,
    /// The first write that failed; later ones are not retried.
    pub error: Option<std::io::Error>,
    /// Images reported up to date: their steps did not run.
    up_to_date: HashSet<String>,
}

impl LogFiles {
    /// Logs go under `run_dir/logs/`.
    pub fn new(run_dir: &Path) -> LogFiles {
        LogFiles {
            dir: run_dir.join("logs"),
            error: None,
            up_to_date: HashSet::new(),
        }
    }

    /// Where the log of `image`'s `step`, attempt `attempt`, is written.
    pub fn path(&self, image: &str, step: &Step, attempt: u32) -> PathBuf {
        // `dir` is `<run folder>/logs`, and the name starts with `logs/`.
        let run_dir = self.dir.parent().unwrap_or(Path::new(""));
        run_dir.join(log_file(image, step, attempt))
    }
}

impl Listener for LogFiles {
    fn on_event(&mut self, event: &Event) {
        if let Event::UpToDate { image, .. } = event {
            self.up_to_date.insert(image.clone());
        }
        let Event::StepFinished {
            image,
            step,
            attempt,
            log,
            outcome,
            ..
        } = event
        else {
            return;
        };
        let quiet_alias = matches!(step, Step::Alias { .. })
            && *attempt == 1
            && matches!(outcome, Outcome::Passed);
        if self.error.is_some() {
            return;
        }
        let path = self.path(image, step, *attempt);
        let skip = quiet_alias || self.up_to_date.contains(image);
        let written = match (skip, path.exists()) {
            (true, true) => std::fs::remove_file(&path),
            (true, false) => Ok(()),
            // Streamed already: `log` is only its tail.
            (false, true) => Ok(()),
            (false, false) => path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, log)),
        };
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        match self.error {
            Some(e) => Err(std::io::Error::new(
                e.kind(),
                format!(
                    "could not write step logs under {}: {e}",
                    self.dir.display()
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Outcome;

    #[test]
    fn writes_each_attempt_to_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = LogFiles::new(dir.path());
        for (attempt, text) in [(1, "first try\n"), (2, "second try\n")] {
            logs.on_event(&Event::StepFinished {
                image: "127.0.0.1:5000/acme/app:1.0".into(),
                step: Step::Test {
                    index: 2,
                    path: "t".into(),
                },
                attempt,
                outcome: Outcome::Passed,
                log: text.into(),
                duration: Default::default(),
                image_id: None,
                digest: None,
            });
        }
        let base = dir.path().join("logs/127.0.0.1%3A5000%2Facme%2Fapp%3A1.0");
        assert_eq!(
            std::fs::read_to_string(base.join("test2.attempt1.log")).unwrap(),
            "first try\n"
        );
        assert_eq!(
            std::fs::read_to_string(base.join("test2.attempt2.log")).unwrap(),
            "second try\n"
        );
        assert!(logs.error.is_none());
    }

    #[test]
    fn a_streamed_log_is_kept_whole_or_removed_when_nothing_should_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = LogFiles::new(dir.path());
        let alias = Step::Alias {
            tag: "a:latest".into(),
        };
        for step in [Step::Build, alias.clone()] {
            let path = logs.path("a:1", &step, 1);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "all of the output\n").unwrap();
            logs.on_event(&Event::StepFinished {
                image: "a:1".into(),
                step,
                attempt: 1,
                outcome: Outcome::Passed,
                log: "the tail\n".into(),
                duration: Default::default(),
                image_id: None,
                digest: None,
            });
        }
        let read = |step: &Step| std::fs::read_to_string(logs.path("a:1", step, 1));
        assert_eq!(read(&Step::Build).unwrap(), "all of the output\n");
        assert!(read(&alias).is_err(), "an alias moved at once has no log");
        assert!(logs.error.is_none());
    }

    #[test]
    fn nothing_is_written_for_an_up_to_date_image_or_an_alias_moved_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = LogFiles::new(dir.path());
        let finished =
            |image: &str, step: Step, attempt: u32, outcome: Outcome| Event::StepFinished {
                image: image.into(),
                step,
                attempt,
                outcome,
                log: "x\n".into(),
                duration: Default::default(),
                image_id: None,
                digest: None,
            };
        logs.on_event(&Event::UpToDate {
            image: "a:1".into(),
            since: chrono::Utc::now(),
        });
        logs.on_event(&finished("a:1", Step::Build, 1, Outcome::Passed));
        let alias = || Step::Alias {
            tag: "a:latest".into(),
        };
        logs.on_event(&finished("b:1", alias(), 1, Outcome::Passed));
        assert!(!dir.path().join("logs").exists());
        // A failed alias attempt, and the one after it, are written.
        let failed = Outcome::Failed {
            message: "503".into(),
        };
        logs.on_event(&finished("b:1", alias(), 1, failed));
        logs.on_event(&finished("b:1", alias(), 2, Outcome::Passed));
        let base = dir.path().join("logs/b%3A1");
        assert!(base.join("alias-a%3Alatest.attempt1.log").is_file());
        assert!(base.join("alias-a%3Alatest.attempt2.log").is_file());
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 2);
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn different_images_never_share_a_log_folder() {
        let logs = LogFiles::new(Path::new("run"));
        let a = logs.path("rel/x_y:1", &Step::Build, 1);
        let b = logs.path("rel/x/y:1", &Step::Build, 1);
        assert_ne!(a, b);
        assert_eq!(a, Path::new("run/logs/rel%2Fx_y%3A1/build.attempt1.log"));
        assert_ne!(
            logs.path("a%2Fb:1", &Step::Build, 1),
            logs.path("a/b:1", &Step::Build, 1)
        );
    }
}
