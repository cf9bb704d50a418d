//! How a finished run becomes an exit code. Pure, so every combination is
//! unit-tested: a signal wins, then results that were not kept, then a state
//! that could not be merged, then the verdict. A failed run whose every
//! failed step failed because the engine or a registry could not be reached
//! (or did not answer in time) exits 3, as when that is found before the
//! first build; any other failure makes it 1.

use crate::error::{RunError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED};
use crate::events::record::Verdict;

use super::signal::Signal;

/// What a run left to decide its exit code by.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The signal that stopped the run, if one did.
    pub signal: Option<Signal>,
    /// Results that could not be written: the state file, a report, a log.
    pub unwritten: Vec<String>,
    /// A state that another run kept locked past the wait, or that was
    /// damaged meanwhile.
    pub state_problem: Option<String>,
    /// Every step that failed failed for the environment (the engine or a
    /// registry unreachable): `exec::Failures::environment_only`.
    pub environment_only: bool,
}

impl Outcome {
    /// Sorts the executor's error: a failed write of the state is a result
    /// not kept (exit 5); anything else about the state is a state problem (4).
    pub fn state_result(&mut self, result: Result<(), crate::state::StateError>) {
        match result {
            Err(e @ crate::state::StateError::Write { .. }) => self.unwritten.push(e.to_string()),
            Err(e) => self.state_problem = Some(e.to_string()),
            Ok(()) => {}
        }
    }

    pub fn exit_code(self, verdict: Verdict) -> Result<i32, RunError> {
        match (self.signal, verdict) {
            (Some(Signal::Terminate), _) => Ok(EXIT_TERMINATED),
            (Some(Signal::Interrupt), _) => Ok(EXIT_INTERRUPTED),
            // Results that were not kept fail the run, whatever it did.
            _ if !self.unwritten.is_empty() => Err(RunError::Results(self.unwritten.join("; "))),
            (None, _) if self.state_problem.is_some() => {
                Err(RunError::State(self.state_problem.unwrap_or_default()))
            }
            (None, Verdict::Passed) => Ok(EXIT_OK),
            (None, Verdict::Failed) if self.environment_only => Err(RunError::Environment(
                "every step that failed could not reach the engine or a registry, or got no \
                 answer in time (see above); run again once they answer"
                    .into(),
            )),
            (None, _) => Ok(EXIT_FAILED),
        }
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
            unwritten: vec!["report.md".into()],
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
        outcome.unwritten.push("cannot write report.md".into());
        outcome.state_problem = Some("damaged".into());
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
                unwritten: vec!["x".into()],
                state_problem: Some("y".into()),
                environment_only: true,
            };
            assert_eq!(code(outcome, Verdict::Interrupted), expected);
        }
    }
}
