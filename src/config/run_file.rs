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
//! its line and column before anything is built; the executor judges a run's
//! output against it once the container has run.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::yaml::Source;
pub use crate::engine::RunCommand;
use crate::error::InputError;

/// The file that makes a folder a run test.
pub const RUN_FILE: &str = "run.yml";

/// How long a command may run when `timeout` is not given, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// The longest `timeout` a `run.yml` may give, in seconds: a day. Larger
/// values are almost certainly mistakes, and would overflow time arithmetic.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

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
        let source = Source::new(name, text);
        let raw: RawRunTest = source.parse(KEYS)?;
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
            Some(t) if t.value > MAX_TIMEOUT_SECS => {
                return Err(source
                    .error(
                        source.span(&t.referenced),
                        format!(
                            "{name}: `timeout` is {} seconds, more than the limit of {MAX_TIMEOUT_SECS} (a day)",
                            t.value
                        ),
                        "too long",
                    )
                    .with_help("give the seconds the command may run, at most 86400"))
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

    /// What the test checks, as a record keeps it (the state file and the
    /// test attestation): the container's command, exec or shell form, what
    /// its exit code and output had to be, and the time it had.
    pub fn describe(&self) -> serde_json::Value {
        let (form, command) = match &self.command {
            RunCommand::Exec(args) => ("exec", args.clone()),
            RunCommand::Shell(line) => ("shell", vec![line.clone()]),
        };
        let mut expect = serde_json::json!({ "exit": self.expect.exit });
        if let Some(stdout) = &self.expect.stdout {
            expect["stdout"] = serde_json::json!(stdout);
        }
        if !self.expect.stdout_contains.is_empty() {
            expect["stdoutContains"] = serde_json::json!(self.expect.stdout_contains);
        }
        if !self.expect.stderr_contains.is_empty() {
            expect["stderrContains"] = serde_json::json!(self.expect.stderr_contains);
        }
        serde_json::json!({
            "form": form,
            "command": command,
            "expect": expect,
            "timeoutSeconds": self.timeout.as_secs(),
        })
    }

    /// Reads `folder/run.yml`; `None` when the folder has none. With
    /// `tree`, the file must be inside that folder (see [`super::read`]).
    pub fn load(folder: &Path, tree: Option<&Path>) -> Result<Option<RunTest>, InputError> {
        let file = folder.join(RUN_FILE);
        if std::fs::symlink_metadata(&file).is_err() {
            return Ok(None);
        }
        let name = file.display().to_string();
        let text = super::read::read_text(&file, tree, RUN_FILE)?;
        RunTest::parse(&name, &text).map(Some)
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

#[cfg(test)]
mod tests {
    use super::*;

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
            (
                "command: [a]\ntimeout: 18446744073709551615\n",
                "2:10",
                "more than the limit",
            ),
            (
                "command: [a]\ntimeout: 86401\n",
                "2:10",
                "more than the limit",
            ),
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
    fn load_reads_the_folder_or_says_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunTest::load(dir.path(), None).unwrap(), None);
        std::fs::write(dir.path().join(RUN_FILE), "command: true\n").unwrap();
        let t = RunTest::load(dir.path(), Some(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(t.command, RunCommand::Shell("true".into()));
    }
}
