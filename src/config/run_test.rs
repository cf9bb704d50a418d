//! A test folder's `run.yml`: a command run in a container from the image
//! under test, and what its exit code and output must be.
//!
//! ```yaml
//! command: ["node", "-e", "console.log(process.version)"]  # or a string, run with `sh -c`
//! expect:
//!   exit: 0                  # default 0
//!   stdout: "v22.11.0\n"     # exact, optional
//!   stdout_contains: ["v22"] # each must appear
//!   stderr_contains: []
//! timeout: 60                # seconds, default 300
//! ```
//!
//! The file is parsed when the config is checked, so a typo is reported with
//! its line and column before anything is built; [`RunTest::check`] judges a
//! run's output against it once the container has run.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::yaml::Source;
use crate::engine::{RunCommand, RunOutput};
use crate::error::InputError;

/// The file that makes a folder a run test.
pub const RUN_FILE: &str = "run.yml";

/// How long a command may run when `timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// How much of an expected or actual output a failure message quotes.
const PREVIEW_CHARS: usize = 200;

/// A parsed and checked `run.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTest {
    pub command: RunCommand,
    pub expect: Expect,
    pub timeout: Duration,
}

/// What a run must produce. Every field is optional; the default expects
/// exit code 0 and nothing about the output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub exit: i64,
    /// The whole of stdout, exactly.
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    #[serde(default)]
    pub stderr_contains: Vec<String>,
}

/// The file as written, with the places needed to point at bad values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunTest {
    command: Spanned<CommandField>,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    timeout: Option<Spanned<u64>>,
}

/// `command`: a string or a list of strings.
#[derive(Debug)]
struct CommandField(RunCommand);

impl<'de> Deserialize<'de> for CommandField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings (run as is) or a string (run with `sh -c`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandField, E> {
                Ok(CommandField(RunCommand::Shell(v.to_string())))
            }
            // YAML reads a bare `true` (the shell command) as a boolean.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<CommandField, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandField, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    args.push(arg);
                }
                Ok(CommandField(RunCommand::Exec(args)))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

impl RunTest {
    /// Parses `text`, the `run.yml` shown to the user as `name`. Every error
    /// points at its line and column in that file.
    pub fn parse(name: &str, text: &str) -> Result<RunTest, InputError> {
        let source = Source { name, text };
        let raw: RawRunTest = source.parse().map_err(suggest_key)?;
        let command = raw.command.value.0;
        let empty = match &command {
            RunCommand::Exec(args) => args.first().is_none_or(|a| a.trim().is_empty()),
            RunCommand::Shell(line) => line.trim().is_empty(),
        };
        if empty {
            return Err(source
                .error(
                    source.span(&raw.command.referenced),
                    format!("{name}: `command` is empty"),
                    "nothing to run",
                )
                .with_help("give a program and its arguments, such as [\"node\", \"--version\"]"));
        }
        let timeout = match raw.timeout {
            Some(t) if t.value == 0 => {
                return Err(source.error(
                    source.span(&t.referenced),
                    format!("{name}: `timeout` must be at least 1 second"),
                    "zero",
                ))
            }
            Some(t) => t.value,
            None => DEFAULT_TIMEOUT_SECS,
        };
        Ok(RunTest {
            command,
            expect: raw.expect,
            timeout: Duration::from_secs(timeout),
        })
    }

    /// Reads `folder/run.yml`; `None` when the folder has none.
    pub fn load(folder: &Path) -> Result<Option<RunTest>, InputError> {
        let file = folder.join(RUN_FILE);
        if !file.exists() {
            return Ok(None);
        }
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| {
            InputError::plain(format!("cannot read `{name}`: {e}"))
                .with_help("make the file readable (and UTF-8 text)")
        })?;
        RunTest::parse(&name, &text).map(Some)
    }

    /// Judges a run: `Err` lists every expectation `output` missed, each
    /// with what was expected and what came (quoted, and cut when long).
    pub fn check(&self, output: &RunOutput) -> Result<(), String> {
        let Some(code) = output.exit_code else {
            return Err(format!(
                "the command did not finish within {}s and was killed (its output so far is in the log)",
                self.timeout.as_secs()
            ));
        };
        let e = &self.expect;
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
        Err(misses.join("; "))
    }
}

/// Every key a `run.yml` may have, at either level.
const KEYS: &[&str] = &[
    "command",
    "expect",
    "timeout",
    "exit",
    "stdout",
    "stdout_contains",
    "stderr_contains",
];

/// Adds a "did you mean" to an unknown-key error when a known key is close.
fn suggest_key(mut err: InputError) -> InputError {
    let unknown = err
        .message
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(word, _)| word.to_string());
    if let Some(near) = unknown.and_then(|w| super::yaml::suggest(&w, KEYS)) {
        err.help = Some(format!("did you mean `{near}`?"));
    }
    err
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
    fn parses_both_command_forms_and_defaults() {
        let t = RunTest::parse("run.yml", "command: [node, -p, \"1+1\"]\n").unwrap();
        assert_eq!(
            t.command,
            RunCommand::Exec(vec!["node".into(), "-p".into(), "1+1".into()])
        );
        assert_eq!(t.expect, Expect::default());
        assert_eq!(t.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));

        let text = "command: echo hi | tr a-z A-Z\nexpect:\n  exit: 3\n  stdout: \"HI\\n\"\n  stderr_contains: [warn]\ntimeout: 5\n";
        let t = RunTest::parse("run.yml", text).unwrap();
        assert_eq!(t.command.argv(), ["sh", "-c", "echo hi | tr a-z A-Z"]);
        assert_eq!(t.expect.exit, 3);
        assert_eq!(t.expect.stdout.as_deref(), Some("HI\n"));
        assert_eq!(t.expect.stderr_contains, ["warn"]);
        assert_eq!(t.timeout, Duration::from_secs(5));
    }

    #[test]
    fn unknown_keys_and_bad_values_point_at_their_place() {
        let cases = [
            (
                "command: [a]\nexpect:\n  stdot: x\n",
                "3:3",
                "did you mean `stdout`?",
            ),
            ("command: [a]\ntimeot: 3\n", "2:1", "timeot"),
            ("command: []\n", "1:10", "`command` is empty"),
            ("command: [a]\ntimeout: 0\n", "2:10", "at least 1 second"),
            ("command: {a: 1}\n", "1:10", "invalid YAML"),
        ];
        for (text, place, phrase) in cases {
            let err = RunTest::parse("t/run.yml", text).unwrap_err();
            let out = crate::error::render_with(&err, false);
            assert!(out.contains(&format!("t/run.yml:{place}")), "{out}");
            assert!(out.contains(phrase), "{out}");
        }
    }

    #[test]
    fn check_passes_what_was_expected() {
        let t = RunTest::parse(
            "run.yml",
            "command: [x]\nexpect:\n  stdout: \"v1\\n\"\n  stdout_contains: [v]\n  stderr_contains: [w]\n",
        )
        .unwrap();
        assert_eq!(t.check(&output(Some(0), "v1\n", "a warning")), Ok(()));
    }

    #[test]
    fn check_reports_every_miss_with_expected_and_actual() {
        let t = RunTest::parse(
            "run.yml",
            "command: [x]\nexpect:\n  stdout: \"v22\\n\"\n  stderr_contains: [ok]\n",
        )
        .unwrap();
        let err = t.check(&output(Some(2), "v20\n", "")).unwrap_err();
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
        let err = t.check(&output(None, "", "")).unwrap_err();
        assert!(err.contains("within 7s"), "{err}");

        let long = "x".repeat(10_000);
        let t = RunTest::parse("run.yml", "command: [x]\nexpect:\n  stdout: y\n").unwrap();
        let err = t.check(&output(Some(0), &long, "")).unwrap_err();
        assert!(err.contains("(10000 characters in all)"), "{err}");
        assert!(err.len() < 600, "{err}");
    }

    #[test]
    fn load_reads_the_folder_or_says_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunTest::load(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(RUN_FILE), "command: true\n").unwrap();
        let t = RunTest::load(dir.path()).unwrap().unwrap();
        assert_eq!(t.command, RunCommand::Shell("true".into()));
    }
}
