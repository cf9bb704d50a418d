//! Judging a `run.yml` test: what the container did against what the file expects.

use crate::engine::RunOutput;
use crate::plan::RunTest;

/// How much of an expected or actual output a failure message quotes.
const PREVIEW_CHARS: usize = 200;

/// Why a run did not pass its `run.yml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missed {
    /// The command outlived its timeout (seconds) and was killed.
    #[error(
        "the command did not finish within {0}s and was killed (its output so far is in the log)"
    )]
    TimedOut(u64),
    /// Each expectation missed, with what was expected and what came.
    #[error("{}", .0.join("; "))]
    Expectations(Vec<String>),
}

/// Judges a run: `Err` lists every expectation `output` missed, each
/// with what was expected and what came (quoted, and cut when long).
pub fn judge(test: &RunTest, output: &RunOutput) -> Result<(), Missed> {
    let Some(code) = output.exit_code else {
        return Err(Missed::TimedOut(test.timeout.as_secs()));
    };
    let e = &test.expect;
    let mut misses = Vec::new();
    if code != e.exit {
        misses.push(format!("exit code: expected {}, got {code}", e.exit));
    }
    if let Some(want) = e.stdout.as_ref().filter(|w| **w != output.stdout) {
        misses.push(format!(
            "stdout: expected {}, got {}",
            preview(want),
            preview(&output.stdout)
        ));
    }
    for (stream, wanted, got) in [
        ("stdout", &e.stdout_contains, &output.stdout),
        ("stderr", &e.stderr_contains, &output.stderr),
    ] {
        for want in wanted.iter().filter(|w| !got.contains(w.as_str())) {
            misses.push(format!(
                "{stream}: expected it to contain {}, got {}",
                preview(want),
                preview(got)
            ));
        }
    }
    if misses.is_empty() {
        return Ok(());
    }
    if output.truncated {
        misses.push(format!(
            "(the output was cut at {} bytes per stream)",
            crate::engine::docker::MAX_OUTPUT
        ));
    }
    Err(Missed::Expectations(misses))
}

/// `text` quoted with escapes (so a missing newline shows), cut to
/// [`PREVIEW_CHARS`] characters with the full length noted.
fn preview(text: &str) -> String {
    let count = text.chars().count();
    if count <= PREVIEW_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(PREVIEW_CHARS).collect();
    format!("{head:?}… ({count} characters in all)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(code: Option<i64>, stdout: &str, stderr: &str) -> RunOutput {
        RunOutput {
            exit_code: code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
        }
    }

    #[test]
    fn check_passes_what_was_expected() {
        let t = RunTest::parse(
            "run.yml",
            "command: [x]\nexpect:\n  stdout: \"v1\\n\"\n  stdout_contains: [v]\n  stderr_contains: [w]\n",
        )
        .unwrap();
        assert_eq!(judge(&t, &output(Some(0), "v1\n", "a warning")), Ok(()));
    }

    #[test]
    fn check_reports_every_miss_with_expected_and_actual() {
        let t = RunTest::parse(
            "run.yml",
            "command: [x]\nexpect:\n  stdout: \"v22\\n\"\n  stderr_contains: [ok]\n",
        )
        .unwrap();
        let err = judge(&t, &output(Some(2), "v20\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exit code: expected 0, got 2"), "{err}");
        assert!(
            err.contains(r#"stdout: expected "v22\n", got "v20\n""#),
            "{err}"
        );
        assert!(
            err.contains(r#"stderr: expected it to contain "ok", got """#),
            "{err}"
        );
    }

    #[test]
    fn timeouts_fail_and_long_output_is_cut() {
        let t = RunTest::parse("run.yml", "command: [x]\ntimeout: 7\n").unwrap();
        let err = judge(&t, &output(None, "", "")).unwrap_err().to_string();
        assert!(err.contains("within 7s"), "{err}");

        let long = "x".repeat(10_000);
        let t = RunTest::parse("run.yml", "command: [x]\nexpect:\n  stdout: y\n").unwrap();
        let err = judge(&t, &output(Some(0), &long, ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("(10000 characters in all)"), "{err}");
        assert!(err.len() < 600, "{err}");
    }
}
