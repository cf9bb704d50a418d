//! GitHub Actions: failures as workflow-command annotations, and the
//! Markdown summary for the job's summary page.
//!
//! An annotation is one stdout line, `::error file=F,line=L,title=T::MESSAGE`,
//! which GitHub shows on the pull request at that file and line. Its data and
//! property values are escaped as the runner expects (see [`escape_data`] and
//! [`escape_property`]), so a log line cannot end the command early or
//! start another one.
//!
//! Where a failure is (the Dockerfile, the test folder's file, the line of the
//! instruction that failed) is the caller's to say through [`Place`]s: this
//! module only reads the record and the build log.

use std::fmt::Write as _;

use crate::events::record::{ImageRecord, RunRecord, StepRecord};
use crate::events::Outcome;

use super::view;

/// GitHub refuses a job summary over 1 MiB; strata stays under it.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 4096;

/// How many trailing log lines an annotation carries.
pub const ANNOTATION_TAIL_LINES: usize = 12;

/// A file (relative to the repository root, `/`-separated) and, when known,
/// a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: Option<usize>,
}

/// One `::error` line per failed step, and one per withheld alias, in the
/// order of the record. `place` says where a failed step of an image is.
pub fn annotations(
    record: &RunRecord,
    place: &dyn Fn(&ImageRecord, &StepRecord) -> Option<Place>,
) -> String {
    let mut out = String::new();
    let command = view::command_name(record);
    for img in &record.images {
        for step in &img.steps {
            if !matches!(step.outcome, Outcome::Failed { .. }) {
                continue;
            }
            let title = format!(
                "strata {command}: {} {}",
                img.name,
                view::step_label(&step.step)
            );
            let mut message = view::step_verdict(step);
            let (tail, _) = view::tail(&step.log, ANNOTATION_TAIL_LINES);
            if !tail.trim().is_empty() {
                message.push_str("\n\n");
                message.push_str(tail.trim_end());
            }
            let at = place(img, step);
            let _ = writeln!(
                out,
                "{}",
                command_line("error", at.as_ref(), &title, &message)
            );
        }
    }
    for alias in view::sorted_aliases(record) {
        if let Some(reason) = &alias.withheld {
            let title = format!("strata {command}: alias {} withheld", alias.tag);
            let _ = writeln!(out, "{}", command_line("error", None, &title, reason));
        }
    }
    out
}

/// `::KIND file=…,line=…,title=…::MESSAGE`, every part escaped.
pub fn command_line(kind: &str, at: Option<&Place>, title: &str, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(at) = at {
        props.push(format!("file={}", escape_property(&at.file)));
        if let Some(line) = at.line {
            props.push(format!("line={line}"));
        }
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{kind} {}::{}", props.join(","), escape_data(message))
}

/// A command's message: `%`, CR and LF encoded, as the runner decodes them.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as [`escape_data`], and `:` and `,`, which end a
/// property.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The number of the build step a log says failed: the last `Step N/M`
/// (Docker's classic builder) or `STEP N/M:` (Buildah, Podman) line.
pub fn failing_step(log: &str) -> Option<usize> {
    log.lines().rev().find_map(|line| {
        let rest = line.trim_start();
        let rest = rest
            .strip_prefix("Step ")
            .or_else(|| rest.strip_prefix("STEP "))?;
        let (n, after) = rest.split_once('/')?;
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        (digits > 0).then_some(())?;
        n.trim().parse().ok()
    })
}

/// The line of `dockerfile` the engine's step `step` (1-based) ran, when the
/// engine counted `skipped` instructions in front of the file's own (1 for
/// a test, whose `FROM <image ID>` strata adds).
pub fn step_line(dockerfile: &str, step: usize, skipped: usize) -> Option<usize> {
    let index = step.checked_sub(1 + skipped)?;
    crate::dockerfile::instructions(dockerfile, crate::dockerfile::Heredocs::Lines)
        .get(index)
        .map(|i| i.line)
}

/// The line of `dockerfile` at which a build log says the build failed,
/// from Docker's classic builder, Buildah or BuildKit (see
/// [`failing_buildkit_step`]); `skipped` as for [`step_line`].
pub fn failing_line(log: &str, dockerfile: &str, skipped: usize) -> Option<usize> {
    match failing_buildkit_step(log) {
        Some((stage, step)) => buildkit_step_line(dockerfile, stage.as_deref(), step, skipped),
        None => failing_step(log).and_then(|n| step_line(dockerfile, n, skipped)),
    }
}

/// The step a BuildKit log (as strata writes it: `#N <vertex>` lines) says
/// failed: the vertex of the last `#N ERROR` line, read from its
/// `#N [<stage> <k>/<total>] <instruction>` line as (stage, k). The stage
/// is `None` in a file of one stage, else `stage-<i>` or its `AS` name;
/// BuildKit counts a stage's `FROM` as its step 1.
pub fn failing_buildkit_step(log: &str) -> Option<(Option<String>, usize)> {
    let vertex = |line: &str| -> Option<(usize, String)> {
        let (n, rest) = line.strip_prefix('#')?.split_once(' ')?;
        Some((n.parse().ok()?, rest.to_string()))
    };
    let failed = log.lines().rev().find_map(|line| {
        let (n, rest) = vertex(line)?;
        rest.starts_with("ERROR").then_some(n)
    })?;
    log.lines().find_map(|line| {
        let (n, rest) = vertex(line)?;
        (n == failed).then_some(())?;
        let (label, _) = rest.strip_prefix('[')?.split_once(']')?;
        let (stage, counts) = match label.rsplit_once(' ') {
            Some((stage, counts)) => (Some(stage.to_string()), counts),
            None => (None, label),
        };
        let (k, total) = counts.split_once('/')?;
        total.parse::<usize>().ok()?;
        Some((stage, k.parse().ok()?))
    })
}

/// The line of `dockerfile` BuildKit's step `step` of `stage` ran (see
/// [`failing_buildkit_step`]), when the engine's file had `skipped`
/// instructions (a test's `FROM`) in front of the file's own.
pub fn buildkit_step_line(
    dockerfile: &str,
    stage: Option<&str>,
    step: usize,
    skipped: usize,
) -> Option<usize> {
    use crate::dockerfile::{from_instructions, instructions, Heredocs};
    let all = instructions(dockerfile, Heredocs::Lines);
    let froms = from_instructions(dockerfile);
    let start_of = |from: &crate::dockerfile::From| all.iter().position(|i| i.line == from.line);
    let start = match stage {
        None if skipped > 0 => 0,
        None => start_of(froms.first()?)? + skipped,
        Some(name) => {
            let from = match name.strip_prefix("stage-").map(str::parse::<usize>) {
                Some(Ok(i)) => froms.get(i)?,
                _ => froms.iter().find(|f| {
                    f.stage
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(name))
                })?,
            };
            start_of(from)? + skipped
        }
    };
    // Step 1 is the stage's FROM: strata's own when it was skipped.
    let index = (start + step).checked_sub(1 + skipped)?;
    all.get(index).map(|i| i.line)
}

/// Which file of a test folder a failed test points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFile {
    Dockerfile,
    RunFile,
}

/// Where a test failed, from its log and its folder's files (`None` for a
/// file the folder does not have): in `run.yml` (at its `command:` line) when
/// the log shows the command was started after the layer's last step, else
/// in the Dockerfile at the failing step's instruction.
pub fn test_failure(
    log: &str,
    dockerfile: Option<&str>,
    run_file: Option<&str>,
) -> Option<(TestFile, Option<usize>)> {
    let lines: Vec<&str> = log.lines().collect();
    let last_step = lines.iter().rposition(|l| {
        failing_step(l).is_some()
            || l.strip_prefix('#')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    });
    let started = lines
        .iter()
        .rposition(|l| l.starts_with("running ") && l.contains("(timeout "));
    let in_run = match (started, last_step) {
        (Some(run), Some(step)) => run > step,
        (Some(_), None) => true,
        (None, _) => false,
    };
    match (in_run, dockerfile, run_file) {
        (true, _, Some(run)) => {
            let line = run
                .lines()
                .position(|l| l.starts_with("command:"))
                .map(|i| i + 1);
            Some((TestFile::RunFile, line))
        }
        (_, Some(text), _) => {
            let line = failing_line(log, text, 1);
            Some((TestFile::Dockerfile, line))
        }
        (_, None, Some(_)) => Some((TestFile::RunFile, None)),
        (_, None, None) => None,
    }
}

/// The job summary: the Markdown summary, cut to GitHub's limit at a line
/// boundary with a note saying where the whole report is.
pub fn step_summary(markdown: &str) -> String {
    if markdown.len() <= SUMMARY_LIMIT {
        return markdown.to_string();
    }
    let note = "\n\n_The summary was cut here to fit GitHub's limit; the run folder's `report.md` has all of it._\n";
    let mut end = SUMMARY_LIMIT - note.len();
    while !markdown.is_char_boundary(end) {
        end -= 1;
    }
    let cut = markdown[..end].rfind('\n').unwrap_or(end);
    format!("{}{note}", &markdown[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_runner_decodes() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("tests/a,b:c%"), "tests/a%2Cb%3Ac%25");
        // A message cannot start a new command on a line of its own.
        let line = command_line("error", None, "t", "x\n::error::forged");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.ends_with("::x%0A::error::forged"), "{line}");
    }

    #[test]
    fn names_file_line_and_title() {
        let at = Place {
            file: "app/Dockerfile".into(),
            line: Some(3),
        };
        assert_eq!(
            command_line("error", Some(&at), "strata test: a:1 build", "failed"),
            "::error file=app/Dockerfile,line=3,title=strata test%3A a%3A1 build::failed"
        );
    }

    #[test]
    fn finds_the_failing_step_in_docker_and_podman_logs() {
        let docker = "Step 1/3 : FROM x\n ---> 1\nStep 2/3 : RUN false\nThe command returned 1\n";
        assert_eq!(failing_step(docker), Some(2));
        let podman = "STEP 1/2: FROM x\nSTEP 2/2: RUN exit 3\nError: exit status 3\n";
        assert_eq!(failing_step(podman), Some(2));
        assert_eq!(failing_step("no steps here"), None);
        assert_eq!(failing_step("Step up/down"), None);
    }

    #[test]
    fn maps_a_step_to_its_line() {
        let file = "# escape=\\\nFROM a\n\n# note\nRUN one \\\n  two\nRUN three\n";
        assert_eq!(step_line(file, 1, 0), Some(2));
        assert_eq!(step_line(file, 3, 0), Some(7));
        // A test: the engine's step 1 is strata's FROM.
        let test = "RUN true\nRUN false\n";
        assert_eq!(step_line(test, 3, 1), Some(2));
        assert_eq!(step_line(test, 1, 1), None);
        assert_eq!(step_line(test, 9, 1), None);
    }

    #[test]
    fn finds_the_failing_line_in_buildkit_logs() {
        let file = "# syntax note\nFROM a AS build\nRUN make\n\nRUN false\nFROM b\nCOPY --from=build /x /\nRUN check\n";
        let log = "#1 [internal] load remote build context\n#1 DONE\n#5 [build 3/3] RUN false\n#6 [stage-1 2/3] COPY --from=build /x /\n#5 oops\n#5 ERROR: executor failed running [/bin/sh -c false]: exit code: 1\n";
        assert_eq!(failing_buildkit_step(log), Some((Some("build".into()), 3)));
        assert_eq!(failing_line(log, file, 0), Some(5));
        let second = "#7 [stage-1 3/3] RUN check\n#7 ERROR: exit code: 2\n";
        assert_eq!(failing_line(second, file, 0), Some(8));
        // One stage: no stage name; a test's FROM is strata's.
        let single = "#4 [1/3] FROM docker.io/strata-pin/ab:cd\n#6 [3/3] RUN false\n#6 ERROR: exit code: 1\n";
        assert_eq!(failing_line(single, "RUN true\nRUN false\n", 1), Some(2));
        assert_eq!(
            failing_line(single, "FROM x\nRUN a\nRUN false\n", 0),
            Some(3)
        );
        // An error outside the Dockerfile's steps has no line.
        let internal = "#1 [internal] load metadata for x\n#1 ERROR: not found\n";
        assert_eq!(failing_line(internal, file, 0), None);
        // Classic logs still read as before.
        assert_eq!(
            failing_line(
                "Step 1/2 : FROM x\nStep 2/2 : RUN false\n",
                "FROM x\nRUN false\n",
                0
            ),
            Some(2)
        );
    }

    #[test]
    fn a_test_fails_in_its_dockerfile_or_its_run_file() {
        let dockerfile = "RUN true\nRUN false\n";
        let run = "# checks\ncommand: [node, -v]\n";
        let layer_failed =
            "Step 1/3 : FROM sha256:1\nStep 2/3 : RUN true\nStep 3/3 : RUN false\nreturned 1\n";
        assert_eq!(
            test_failure(layer_failed, Some(dockerfile), Some(run)),
            Some((TestFile::Dockerfile, Some(2)))
        );
        let run_failed = "Step 1/3 : FROM sha256:1\nStep 3/3 : RUN false\nSuccessfully built 2\nrunning node -v in 2 (timeout 300s)\nexit code 1\n";
        assert_eq!(
            test_failure(run_failed, Some(dockerfile), Some(run)),
            Some((TestFile::RunFile, Some(2)))
        );
        assert_eq!(
            test_failure("running x (timeout 5s)\n", None, Some(run)),
            Some((TestFile::RunFile, Some(2)))
        );
        assert_eq!(test_failure("boom", None, None), None);
    }

    #[test]
    fn a_long_summary_is_cut_at_a_line_with_a_note() {
        let line = "| a | b |\n";
        let long = line.repeat(SUMMARY_LIMIT / line.len() + 10);
        let cut = step_summary(&long);
        assert!(cut.len() <= SUMMARY_LIMIT, "{}", cut.len());
        assert!(cut.contains("was cut here"));
        assert!(cut.trim_end().lines().rev().nth(2).unwrap().ends_with('|'));
        assert_eq!(step_summary("short\n"), "short\n");
    }
}
