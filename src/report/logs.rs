//! One plain log file per step attempt, kept in the run folder.
//!
//! Reports quote logs, but a CI job that keeps artifacts, or a person with
//! `less`, wants the raw output of a single build or test. This listener
//! writes each finished attempt to
//! `logs/<image>/<step>.attempt<N>.log` (image names made file-safe).

use std::path::{Path, PathBuf};

use crate::events::{Event, Listener, Step};

/// Writes every step attempt's output under `dir/logs/`.
pub struct LogFiles {
    dir: PathBuf,
    /// The first write that failed; later ones are not retried.
    pub error: Option<std::io::Error>,
}

impl LogFiles {
    /// Logs go under `run_dir/logs/`.
    pub fn new(run_dir: &Path) -> LogFiles {
        LogFiles {
            dir: run_dir.join("logs"),
            error: None,
        }
    }

    /// Where the log of `image`'s `step`, attempt `attempt`, is written.
    pub fn path(&self, image: &str, step: &Step, attempt: u32) -> PathBuf {
        let step = match step {
            Step::Build => "build".to_string(),
            Step::Test { index, .. } => format!("test{index}"),
            Step::Push => "push".to_string(),
        };
        self.dir
            .join(file_safe(image))
            .join(format!("{step}.attempt{attempt}.log"))
    }
}

/// `127.0.0.1:5000/acme/app:1.0` → `127.0.0.1_5000_acme_app_1.0`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

impl Listener for LogFiles {
    fn on_event(&mut self, event: &Event) {
        let Event::StepFinished {
            image,
            step,
            attempt,
            log,
            ..
        } = event
        else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        let path = self.path(image, step, *attempt);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, log));
        if let Err(e) = written {
            self.error = Some(e);
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
        let base = dir.path().join("logs/127.0.0.1_5000_acme_app_1.0");
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
}
