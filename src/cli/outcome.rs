//! How a finished run becomes an exit code. Pure, so every combination is
//! unit-tested: a signal wins, then results that were not kept, then a state
//! that could not be merged, then the verdict. A failed run whose every
//! failed step failed because the engine or a registry could not be reached
//! (or did not answer in time) exits 3, as when that is found before the
//! first build; any other failure makes it 1.

use crate::error::{Failure, RunError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED};
use crate::events::record::Verdict;

use super::signal::Signal;

/// What a run left to decide its exit code by.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The signal that stopped the run, if one did.
    pub signal: Option<Signal>,
    /// Results that could not be written: the state file, a report, a log.
    pub unwritten: Unwritten,
    /// A state that another run kept locked past the wait, or that was
    /// damaged meanwhile.
    pub state_problem: Option<crate::state::StateError>,
    /// Every step that failed failed for the environment (the engine or a
    /// registry unreachable): `exec::Failures::environment_only`.
    pub environment_only: bool,
}

impl Outcome {
    /// Sorts the executor's error: a failed write of the state is a result
    /// not kept (exit 5); anything else about the state is a state problem (4).
    pub fn state_result(&mut self, result: Result<(), crate::state::StateError>) {
        match result {
            Err(e @ crate::state::StateError::Write { .. }) => self.unwritten.push(Failure::of(e)),
            Err(e) => self.state_problem = Some(e),
            Ok(()) => {}
        }
    }

    pub fn exit_code(self, verdict: Verdict) -> Result<i32, RunError> {
        match self.signal {
            Some(Signal::Terminate) => return Ok(EXIT_TERMINATED),
            Some(Signal::Interrupt) => return Ok(EXIT_INTERRUPTED),
            None => {}
        }
        // Results that were not kept fail the run, whatever it did.
        if !self.unwritten.is_empty() {
            return Err(RunError::results(self.unwritten));
        }
        if let Some(problem) = self.state_problem {
            return Err(RunError::state(problem));
        }
        match verdict {
            Verdict::Passed => Ok(EXIT_OK),
            Verdict::Failed if self.environment_only => Err(RunError::Environment(Failure::said(
                "every step that failed could not reach the engine or a registry, or got no \
                 answer in time (see above); run again once they answer",
            ))),
            _ => Ok(EXIT_FAILED),
        }
    }
}

/// Every result a run could not write, in the order found; said together,
/// joined by `; `, with the first as the source.
#[derive(Debug, Default)]
pub struct Unwritten(Vec<Failure>);

impl Unwritten {
    /// Adds a result not written: a [`Failure`] keeping its cause, or a
    /// message that says it all.
    pub fn push(&mut self, failure: impl Into<Failure>) {
        self.0.push(failure.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Unwritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Unwritten {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.first().map(|f| f as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_ENVIRONMENT, EXIT_RESULTS, EXIT_STATE};
    use crate::state::StateError;

    fn code(outcome: Outcome, verdict: Verdict) -> i32 {
        match outcome.exit_code(verdict) {
            Ok(code) => code,
            Err(e) => e.exit_code(),
        }
    }

    fn unwritten(message: &str) -> Unwritten {
        let mut all = Unwritten::default();
        all.push(message.to_string());
        all
    }

    fn damaged() -> StateError {
        StateError::Invalid {
            path: "state.json".into(),
            damage: crate::state::Damage::ImageId {
                image: "a".into(),
                id: "damaged".into(),
            },
        }
    }

    fn write_error() -> StateError {
        StateError::Write {
            path: "state.json".into(),
            source: std::io::Error::other("No space left on device"),
        }
    }

    #[test]
    fn a_passed_run_exits_0_and_a_failed_one_1() {
        assert_eq!(code(Outcome::default(), Verdict::Passed), EXIT_OK);
        assert_eq!(code(Outcome::default(), Verdict::Failed), EXIT_FAILED);
    }

    #[test]
    fn a_run_failed_only_by_the_environment_exits_3() {
        let outcome = Outcome {
            environment_only: true,
            ..Outcome::default()
        };
        assert_eq!(code(outcome, Verdict::Failed), EXIT_ENVIRONMENT);
        // Results not kept and signals still outrank it.
        let outcome = Outcome {
            environment_only: true,
            unwritten: unwritten("report.md"),
            ..Outcome::default()
        };
        assert_eq!(code(outcome, Verdict::Failed), EXIT_RESULTS);
        let outcome = Outcome {
            environment_only: true,
            signal: Some(Signal::Interrupt),
            ..Outcome::default()
        };
        assert_eq!(code(outcome, Verdict::Interrupted), EXIT_INTERRUPTED);
    }

    #[test]
    fn a_state_write_failure_fails_a_run_whose_steps_all_passed() {
        let mut outcome = Outcome::default();
        outcome.state_result(Err(write_error()));
        let err = outcome.exit_code(Verdict::Passed).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_RESULTS);
        assert!(err.render().contains("No space left"), "{}", err.render());
    }

    #[test]
    fn the_errors_behind_an_exit_code_are_kept_as_its_source() {
        use std::error::Error as _;
        let mut outcome = Outcome::default();
        outcome.state_result(Err(damaged()));
        let err = outcome.exit_code(Verdict::Passed).unwrap_err();
        assert_eq!(
            err.render(),
            "strata: state file state.json is damaged: image \"a\" has image_id \"damaged\", \
             which is not sha256: and 64 hex digits; move it aside to start afresh\n"
        );
        let cause = err.source().and_then(|s| s.downcast_ref::<StateError>());
        assert!(matches!(cause, Some(StateError::Invalid { .. })), "{err:?}");

        let mut outcome = Outcome::default();
        outcome.state_result(Err(write_error()));
        outcome
            .unwritten
            .push("could not write report.md".to_string());
        let err = outcome.exit_code(Verdict::Passed).unwrap_err();
        assert_eq!(
            err.render(),
            "strata: cannot write state file state.json: No space left on device; \
             could not write report.md\n"
        );
        // The first result not written, then the state error under it, then
        // the I/O error under that.
        let first = err.source().and_then(|s| s.source()).unwrap();
        let state = first.source().and_then(|s| s.downcast_ref::<StateError>());
        assert!(matches!(state, Some(StateError::Write { .. })), "{err:?}");
        assert!(state.unwrap().source().unwrap().is::<std::io::Error>());
    }

    #[test]
    fn a_state_that_could_not_be_merged_is_a_state_problem() {
        let mut outcome = Outcome::default();
        outcome.state_result(Err(StateError::Locked {
            path: "state.json".into(),
            holder: "pid 42".into(),
            waited: std::time::Duration::from_secs(60),
        }));
        assert_eq!(code(outcome, Verdict::Passed), EXIT_STATE);
    }

    #[test]
    fn an_unwritten_report_outranks_a_state_problem_and_a_failure() {
        let mut outcome = Outcome::default();
        outcome.unwritten.push("cannot write report.md".to_string());
        outcome.state_problem = Some(damaged());
        assert_eq!(code(outcome, Verdict::Failed), EXIT_RESULTS);
    }

    #[test]
    fn a_signal_decides_the_exit_code_whatever_else_happened() {
        for (signal, expected) in [
            (Signal::Interrupt, EXIT_INTERRUPTED),
            (Signal::Terminate, EXIT_TERMINATED),
        ] {
            let outcome = Outcome {
                signal: Some(signal),
                unwritten: unwritten("x"),
                state_problem: Some(damaged()),
                environment_only: true,
            };
            assert_eq!(code(outcome, Verdict::Interrupted), expected);
        }
    }
}
