//! One step of one image, tried up to `1 + retries` times with backoff.
//!
//! Every attempt is reported (`StepStarted`, `Log` lines, `StepFinished`), so
//! a report can say which attempt passed and keep the logs of the ones that
//! failed. An error no attempt can fix ([`StepError::retryable`]) ends the
//! step at once.

use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Bus, Options, StepError};
use crate::events::tail::{log_file, Tail, LOG_EVENT_BYTES};
use crate::events::{Event, Outcome, Step};
use crate::reference::{Digest, ImageId};

/// What a successful attempt produced.
#[derive(Debug, Clone, Default)]
pub struct Done {
    pub image_id: Option<ImageId>,
    pub digest: Option<Digest>,
}

/// Takes an attempt's output a line at a time: writes all of it to the
/// step's log file in the run folder, keeps its bounded [`Tail`] for
/// `StepFinished`, and forwards its first lines as `Log` events (about
/// [`LOG_EVENT_BYTES`], then one line saying where the rest is), so a step
/// printing gigabytes costs neither memory nor report size.
#[derive(Clone)]
pub struct Log {
    bus: Bus,
    image: String,
    step: Step,
    attempt: u32,
    kept: Arc<Mutex<Kept>>,
}

/// What a [`Log`] has kept so far.
#[derive(Default)]
struct Kept {
    tail: Tail,
    /// The log file, once the first line came.
    file: Option<BufWriter<File>>,
    /// Why the log file is incomplete, if it is.
    file_error: Option<String>,
    /// Bytes sent as `Log` events.
    sent: usize,
}

impl Log {
    fn new(bus: &Bus, image: &str, step: &Step, attempt: u32) -> Log {
        Log {
            bus: bus.clone(),
            image: image.to_owned(),
            step: step.clone(),
            attempt,
            kept: Arc::default(),
        }
    }

    /// Records one line (or several, separated by newlines).
    pub fn line(&self, line: &str) {
        let mut line = line.trim_end_matches(['\r', '\n']).to_owned();
        // Scrubbed before it is kept anywhere, as the bus does for events.
        crate::secret::redact_in_place(&mut line);
        let send = {
            let mut kept = self.kept.lock().expect("log lock");
            self.write(&mut kept, &line);
            kept.tail.push_line(&line);
            let before = kept.sent;
            kept.sent = before.saturating_add(line.len() + 1);
            match (before <= LOG_EVENT_BYTES, kept.sent <= LOG_EVENT_BYTES) {
                (true, true) => Some(line),
                (true, false) => Some(format!(
                    "[strata: more output follows; all of it is in {} in the run folder]",
                    log_file(&self.image, &self.step, self.attempt).display()
                )),
                _ => None,
            }
        };
        if let Some(line) = send {
            self.bus.emit(Event::Log {
                image: self.image.clone(),
                step: self.step.clone(),
                line,
            });
        }
    }

    /// Appends `line` to the step's log file, made at the first line.
    fn write(&self, kept: &mut Kept, line: &str) {
        let Some(run_dir) = self.bus.run_dir() else {
            return;
        };
        if kept.file_error.is_some() {
            return;
        }
        let path = run_dir.join(log_file(&self.image, &self.step, self.attempt));
        let mut written = Ok(());
        if kept.file.is_none() {
            written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| File::create(&path))
                .map(|f| kept.file = Some(BufWriter::new(f)));
        }
        if let (Ok(()), Some(file)) = (&written, kept.file.as_mut()) {
            written = file
                .write_all(line.as_bytes())
                .and_then(|()| file.write_all(b"\n"));
        }
        if let Err(e) = written {
            kept.file_error = Some(format!("cannot write {}: {e}", path.display()));
        }
    }

    fn take(&self) -> String {
        let mut kept = std::mem::take(&mut *self.kept.lock().expect("log lock"));
        if let Some(Err(e)) = kept.file.as_mut().map(Write::flush) {
            kept.file_error = Some(format!("cannot write the log file: {e}"));
        }
        if let Some(error) = kept.file_error.take() {
            kept.tail.push_line(&format!("[strata: {error}]"));
        }
        kept.tail
            .finish(&log_file(&self.image, &self.step, self.attempt))
    }
}

/// Runs `attempt` until it succeeds or the retries are used up.
///
/// Returns the last attempt's result. The delay before retry `k` (1-based) is
/// `backoff * 2^(k-1)`. Builds, tests, pushes and alias moves all go
/// through here, so each of their attempts is reported the same way.
pub async fn run_step<F, Fut>(
    bus: &Bus,
    options: &Options,
    image: &str,
    step: Step,
    mut attempt: F,
) -> Result<Done, StepError>
where
    F: FnMut(Log) -> Fut,
    Fut: Future<Output = Result<Done, StepError>>,
{
    let tries = options.retries + 1;
    let mut last = Err(StepError::Input("no attempt was made".into()));
    for n in 1..=tries {
        if n > 1 {
            tokio::time::sleep(options.backoff * 2u32.saturating_pow(n - 2)).await;
        }
        bus.emit(Event::StepStarted {
            image: image.to_owned(),
            step: step.clone(),
            attempt: n,
        });
        let log = Log::new(bus, image, &step, n);
        let started = Instant::now();
        last = attempt(log.clone()).await;
        let (outcome, done) = match &last {
            Ok(done) => (Outcome::Passed, done.clone()),
            Err(e) => (
                Outcome::Failed {
                    message: e.to_string(),
                },
                Done::default(),
            ),
        };
        bus.emit(Event::StepFinished {
            image: image.to_owned(),
            step: step.clone(),
            attempt: n,
            outcome,
            log: log.take(),
            duration: started.elapsed(),
            image_id: done.image_id,
            digest: done.digest,
        });
        if last.as_ref().map_or_else(|e| !e.retryable(), |_| true) {
            break;
        }
    }
    if let Err(e) = &last {
        options.failures.record(e);
    }
    last
}

/// Backoff for tests and impatient users: `STRATA_RETRY_BACKOFF_MS` overrides
/// the default wait before the first retry.
pub fn backoff_from_env(default: Duration) -> Duration {
    std::env::var("STRATA_RETRY_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::record::RunRecord;

    async fn record_of(retries: u32, fail_times: u32) -> (Result<Done, StepError>, RunRecord) {
        record_of_failing(retries, fail_times, |n| {
            StepError::Check(format!("boom {n}"))
        })
        .await
    }

    async fn record_of_failing(
        retries: u32,
        fail_times: u32,
        error: fn(u32) -> StepError,
    ) -> (Result<Done, StepError>, RunRecord) {
        let (bus, dispatcher) = Bus::start(vec![]);
        let options = Options {
            jobs: 1,
            retries,
            backoff: Duration::from_millis(1),
            ..Options::default()
        };
        let mut calls = 0;
        let res = run_step(&bus, &options, "a:1", Step::Build, |log| {
            calls += 1;
            let n = calls;
            async move {
                log.line(&format!("try {n}"));
                if n <= fail_times {
                    Err(error(n))
                } else {
                    Ok(Done {
                        image_id: Some("sha256:1".into()),
                        digest: None,
                    })
                }
            }
        })
        .await;
        let (record, _) = dispatcher.finish().await;
        (res, record)
    }

    #[tokio::test]
    async fn retries_until_a_pass_and_says_which_attempt() {
        let (res, record) = record_of(3, 2).await;
        assert!(res.is_ok());
        let build = record.images[0].build().unwrap();
        assert_eq!(build.attempts, 3);
        assert_eq!(build.log, "try 3\n");
        assert_eq!(build.earlier_logs, vec!["try 1\n", "try 2\n"]);
    }

    #[tokio::test]
    async fn a_long_output_goes_whole_to_the_log_file_and_as_a_tail_to_events() {
        use crate::events::tail::LOG_TAIL_BYTES;
        let dir = tempfile::tempdir().unwrap();
        let (bus, dispatcher) = Bus::start_in(dir.path(), vec![]);
        let options = Options {
            jobs: 1,
            ..Options::default()
        };
        run_step(&bus, &options, "a:1", Step::Build, |log| async move {
            for n in 0..200_000 {
                log.line(&format!("output line {n}"));
            }
            Ok(Done::default())
        })
        .await
        .unwrap();
        let (record, _) = dispatcher.finish().await;
        let log = &record.images[0].build().unwrap().log;
        assert!(log.len() < LOG_TAIL_BYTES + 200, "{} bytes kept", log.len());
        assert!(log.ends_with("output line 199999\n"));
        let first = log.lines().next().unwrap();
        assert!(first.contains("logs/a%3A1/build.attempt1.log"), "{first}");
        let full =
            std::fs::read_to_string(dir.path().join("logs/a%3A1/build.attempt1.log")).unwrap();
        assert_eq!(full.lines().count(), 200_000);
        assert!(full.starts_with("output line 0\n"));
    }

    #[tokio::test]
    async fn gives_up_after_the_retries() {
        let (res, record) = record_of(1, 5).await;
        assert_eq!(res.unwrap_err().to_string(), "boom 2");
        let build = record.images[0].build().unwrap();
        assert_eq!(build.attempts, 2);
        assert!(!build.outcome.passed());
    }

    #[tokio::test]
    async fn an_error_no_attempt_can_fix_is_not_retried() {
        let (res, record) =
            record_of_failing(3, 5, |_| StepError::Input("nothing to run".into())).await;
        assert!(matches!(res, Err(StepError::Input(_))));
        let build = record.images[0].build().unwrap();
        assert_eq!(build.attempts, 1);
        assert_eq!(build.earlier_logs.len(), 0);
    }
}
