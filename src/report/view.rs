//! What every reporter says the same way: step names, statuses, counts, times.
//!
//! The Markdown, HTML, JUnit and terminal reporters all derive their wording
//! from these helpers, so "test 2 (tests/curl)" or "passed on attempt 2" reads
//! the same in every report of a run.

use std::time::Duration;

use serde::Serialize;

use crate::events::record::{AliasRecord, ImageRecord, RunRecord, StepRecord, Verdict};
use crate::events::{Command, Outcome, Step};

/// How many trailing log lines a failure summary shows.
pub const FAILURE_TAIL_LINES: usize = 30;

/// The status of an image or step, as reports show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    /// Only for a whole run: stopped before it finished.
    Interrupted,
}

impl Status {
    /// The plain word, readable without colour or symbols.
    pub fn word(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Interrupted => "interrupted",
        }
    }

    /// A symbol plus the word, for documents where a glance matters.
    pub fn badge(self) -> &'static str {
        match self {
            Status::Passed => "✅ passed",
            Status::Failed => "❌ FAILED",
            Status::Skipped => "⏭️ skipped",
            Status::Interrupted => "⏹️ INTERRUPTED",
        }
    }
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Passed => Status::Passed,
            Verdict::Failed => Status::Failed,
            Verdict::Interrupted => Status::Interrupted,
        }
    }
}

impl From<&Outcome> for Status {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Passed => Status::Passed,
            Outcome::Failed { .. } => Status::Failed,
            Outcome::Skipped { .. } => Status::Skipped,
        }
    }
}

/// `build`, `test 2 (tests/curl)`, `push` or `alias node:22`.
pub fn step_label(step: &Step) -> String {
    match step {
        Step::Build => "build".to_owned(),
        Step::Test { index, path } => format!("test {index} ({})", path.display()),
        Step::Push => "push".to_owned(),
        Step::Alias { tag } => format!("alias {tag}"),
    }
}

/// The failure message or skip reason of an outcome, if any.
pub fn outcome_reason(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Passed => None,
        Outcome::Failed { message } => Some(message),
        Outcome::Skipped { reason } => Some(reason),
    }
}

/// An alias as a summary table shows it: without the registry and
/// namespace it shares with its image (`127.0.0.1:5000/acme/node:22` next to
/// `127.0.0.1:5000/acme/bookworm:22.11.0` reads `node:22`). Full references
/// stay in the per-image sections.
pub fn short_alias<'a>(image: &str, alias: &'a str) -> &'a str {
    let common = image
        .bytes()
        .zip(alias.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    match alias[..common].rfind('/') {
        Some(slash) => &alias[slash + 1..],
        None => alias,
    }
}

/// A one-line description of how a step ended, including retries:
/// `passed`, `passed on attempt 2 (1 earlier attempt failed)`,
/// `failed after 3 attempts: RUN false returned 1`, `skipped: parent failed`.
pub fn step_verdict(s: &StepRecord) -> String {
    let earlier = s.earlier_logs.len();
    let reason = outcome_reason(&s.outcome).map(one_line);
    match (&s.outcome, s.attempts) {
        (Outcome::Passed, a) if a > 1 => format!(
            "passed on attempt {a} ({earlier} earlier attempt{} failed)",
            plural(earlier)
        ),
        (Outcome::Passed, _) => "passed".to_owned(),
        (Outcome::Failed { .. }, a) if a > 1 => {
            format!("failed after {a} attempts: {}", reason.unwrap_or_default())
        }
        (Outcome::Failed { .. }, _) => format!("failed: {}", reason.unwrap_or_default()),
        (Outcome::Skipped { .. }, _) => format!("skipped: {}", reason.unwrap_or_default()),
    }
}

/// The overall status of an image: skipped if never attempted, failed if any
/// step failed, skipped if steps were only skipped, passed otherwise.
pub fn image_status(img: &ImageRecord) -> Status {
    if img.skipped.is_some() {
        return Status::Skipped;
    }
    if img
        .steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Failed { .. }))
    {
        return Status::Failed;
    }
    if img.passed() {
        Status::Passed
    } else {
        Status::Skipped
    }
}

/// The status of a single step kind of an image, `None` when it did not run.
pub fn step_status(step: Option<&StepRecord>) -> Option<Status> {
    step.map(|s| Status::from(&s.outcome))
}

/// (passed, total) over the image's test steps.
pub fn test_counts(img: &ImageRecord) -> (usize, usize) {
    let total = img.tests().count();
    let passed = img.tests().filter(|t| t.outcome.passed()).count();
    (passed, total)
}

/// The image's first step that did not pass, the one that explains a failure.
pub fn first_failure(img: &ImageRecord) -> Option<&StepRecord> {
    img.steps
        .iter()
        .find(|s| matches!(s.outcome, Outcome::Failed { .. }))
}

/// Time spent on an image: the sum of its steps (including retries).
pub fn image_duration(img: &ImageRecord) -> Duration {
    img.steps.iter().map(|s| s.duration).sum()
}

/// Aliases that ended up pointing at `image`, by tag.
pub fn aliases_of<'a>(record: &'a RunRecord, image: &str) -> Vec<&'a AliasRecord> {
    let mut v: Vec<_> = record
        .aliases
        .iter()
        .filter(|a| a.image.as_deref() == Some(image))
        .collect();
    v.sort_by(|a, b| a.tag.cmp(&b.tag));
    v
}

/// An alias's status word, with its attempts when it took more than one:
/// `applied`, `applied on attempt 2`, `withheld after 3 attempts`.
pub fn alias_status(alias: &AliasRecord) -> String {
    let word = if alias.image.is_some() {
        "applied"
    } else {
        "withheld"
    };
    match (alias.attempts, alias.image.is_some()) {
        (Some(n), true) if n > 1 => format!("{word} on attempt {n}"),
        (Some(n), false) if n > 1 => format!("{word} after {n} attempts"),
        _ => word.to_string(),
    }
}

/// Aliases sorted by tag: reports list them deterministically.
pub fn sorted_aliases(record: &RunRecord) -> Vec<&AliasRecord> {
    let mut v: Vec<_> = record.aliases.iter().collect();
    v.sort_by(|a, b| a.tag.cmp(&b.tag));
    v
}

/// Counts shown at the top of every report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub images: usize,
    pub images_passed: usize,
    pub images_failed: usize,
    pub images_skipped: usize,
    pub steps_passed: usize,
    pub steps_failed: usize,
    /// Skipped steps plus images never attempted (as [`RunRecord::step_counts`]).
    pub steps_skipped: usize,
    /// Steps that needed more than one attempt, whatever their final outcome.
    pub steps_retried: usize,
    pub tests_passed: usize,
    pub tests_total: usize,
    pub aliases_applied: usize,
    pub aliases_withheld: usize,
}

impl Totals {
    pub fn of(record: &RunRecord) -> Totals {
        let mut t = Totals {
            images: record.images.len(),
            ..Totals::default()
        };
        for img in &record.images {
            match image_status(img) {
                Status::Passed => t.images_passed += 1,
                Status::Failed => t.images_failed += 1,
                Status::Skipped | Status::Interrupted => t.images_skipped += 1,
            }
            let (p, n) = test_counts(img);
            t.tests_passed += p;
            t.tests_total += n;
            t.steps_retried += img.steps.iter().filter(|s| s.attempts > 1).count();
        }
        (t.steps_passed, t.steps_failed, t.steps_skipped) = record.step_counts();
        t.aliases_applied = record.aliases.iter().filter(|a| a.image.is_some()).count();
        t.aliases_withheld = record.aliases.len() - t.aliases_applied;
        t
    }
}

/// `strata test` / `strata push` / `strata run` when the command is unknown.
pub fn command_name(record: &RunRecord) -> &'static str {
    match record.command {
        Some(Command::Test) => "test",
        Some(Command::Push) => "push",
        None => "run",
    }
}

/// A duration for people: `850ms`, `12.3s`, `4m 05s`, `1h 02m`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = d.as_secs();
    if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The last `n` lines of `log` (all of it when shorter), and how many lines were cut.
pub fn tail(log: &str, n: usize) -> (&str, usize) {
    let trimmed = log.trim_end_matches('\n');
    let total = trimmed.lines().count();
    if total <= n {
        return (trimmed, 0);
    }
    let skip = total - n;
    // Byte offset of the start of line `skip`.
    let start = trimmed
        .match_indices('\n')
        .nth(skip - 1)
        .map(|(i, _)| i + 1)
        .unwrap_or(0);
    (&trimmed[start..], skip)
}

/// Shortens a digest or image ID for tables: `sha256:4f2a9c1b3d5e`.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}", &hex[..12]),
        _ => d.to_owned(),
    }
}

/// Collapses a multi-line message to its first non-empty line, for tables and summaries.
pub fn one_line(s: &str) -> String {
    let first = s.lines().map(str::trim).find(|l| !l.is_empty());
    let more = s.lines().filter(|l| !l.trim().is_empty()).count() > 1;
    match first {
        Some(l) if more => format!("{l} …"),
        Some(l) => l.to_owned(),
        None => String::new(),
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_status_says_how_many_attempts_it_took() {
        let alias = |image: Option<&str>, attempts| AliasRecord {
            tag: "node:22".into(),
            image: image.map(str::to_string),
            digest: None,
            withheld: image.is_none().then(|| "503".to_string()),
            attempts,
            failed_attempts: vec![],
        };
        assert_eq!(alias_status(&alias(Some("node:22.1"), None)), "applied");
        assert_eq!(
            alias_status(&alias(Some("node:22.1"), Some(2))),
            "applied on attempt 2"
        );
        assert_eq!(alias_status(&alias(None, None)), "withheld");
        assert_eq!(
            alias_status(&alias(None, Some(3))),
            "withheld after 3 attempts"
        );
    }

    #[test]
    fn short_alias_drops_the_shared_registry_and_namespace() {
        let img = "127.0.0.1:5000/acme/bookworm:22.11.0";
        assert_eq!(short_alias(img, "127.0.0.1:5000/acme/node:22"), "node:22");
        assert_eq!(
            short_alias(img, "127.0.0.1:5000/acme/bookworm:22"),
            "bookworm:22"
        );
        assert_eq!(short_alias(img, "other.io/x/node:22"), "other.io/x/node:22");
        assert_eq!(short_alias("acme/app:1", "acme/app:latest"), "app:latest");
        assert_eq!(short_alias("app:1", "app:latest"), "app:latest");
    }

    #[test]
    fn tail_keeps_last_lines_and_counts_the_cut() {
        let log = "1\n2\n3\n4\n5\n";
        assert_eq!(tail(log, 2), ("4\n5", 3));
        assert_eq!(tail(log, 10), ("1\n2\n3\n4\n5", 0));
        assert_eq!(tail("", 3), ("", 0));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m 05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn verdict_names_the_passing_attempt() {
        let s = StepRecord {
            step: Step::Build,
            outcome: Outcome::Passed,
            attempts: 2,
            log: String::new(),
            earlier_logs: vec!["boom".into()],
            duration: Duration::ZERO,
            image_id: None,
        };
        assert_eq!(
            step_verdict(&s),
            "passed on attempt 2 (1 earlier attempt failed)"
        );
    }

    #[test]
    fn digests_shorten_only_when_long() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn one_line_marks_dropped_lines() {
        assert_eq!(one_line("\n first \nsecond"), "first …");
        assert_eq!(one_line("only"), "only");
    }
}
