//! One step of one image, tried up to `1 + retries` times with backoff.
//!
//! Every attempt is reported (`StepStarted`, `Log` lines, `StepFinished`), so
//! a report can say which attempt passed and keep the logs of the ones that
//! failed. An error no attempt can fix ([`StepError::retryable`]) ends the
//! step at once.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Bus, Options, StepError};
use crate::events::{Event, Outcome, Step};
use crate::reference::{Digest, ImageId};

/// What a successful attempt produced.
#[derive(Debug, Clone, Default)]
pub struct Done {
    pub image_id: Option<ImageId>,
    pub digest: Option<Digest>,
}

/// Collects an attempt's output and forwards each line as a `Log` event.
#[derive(Clone)]
pub struct Log {
    bus: Bus,
    image: String,
    step: Step,
    text: Arc<Mutex<String>>,
}

impl Log {
    fn new(bus: &Bus, image: &str, step: &Step) -> Log {
        Log {
            bus: bus.clone(),
            image: image.to_owned(),
            step: step.clone(),
            text: Arc::default(),
        }
    }

    /// Records one line (or several, separated by newlines).
    pub fn line(&self, line: &str) {
        let line = line.trim_end_matches(['\r', '\n']);
        {
            let mut text = self.text.lock().expect("log lock");
            text.push_str(line);
            text.push('\n');
        }
        self.bus.emit(Event::Log {
            image: self.image.clone(),
            step: self.step.clone(),
            line: line.to_owned(),
        });
    }

    fn take(&self) -> String {
        std::mem::take(&mut *self.text.lock().expect("log lock"))
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
        let log = Log::new(bus, image, &step);
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
