//! The Markdown report, in the shape Dante printed (a section per image with
//! its build log, a section per test, then a conclusion), with a summary table
//! on top so a reader sees the outcome before scrolling through logs.
//!
//! Logs are fenced with a fence longer than any backtick run inside them, so a
//! log that itself prints Markdown cannot close the block early.

use std::fmt::Write as _;

use crate::events::record::{ImageRecord, RunRecord, StepRecord, Verdict};
use crate::events::Step;

use super::grid::Grid;
use super::view::{self, Status, Totals, FAILURE_TAIL_LINES};

/// Which document is being written: the whole report, or the summary
/// without per-image sections (for a CI job's summary page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Full,
    Summary,
}

/// Renders the whole run as one Markdown document.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::new();
    header(&mut out, record);
    matrix(&mut out, record, Doc::Full);
    summary_table(&mut out, record, Doc::Full);
    for img in &record.images {
        image_section(&mut out, img, record);
    }
    aliases_section(&mut out, record);
    conclusion(&mut out, record, Doc::Full);
    out
}

/// The run without its per-image sections and full logs: the header, the
/// summary table, the aliases and the conclusion (failures with their last
/// log lines). What a CI job's summary page shows.
pub fn summary(record: &RunRecord) -> String {
    let mut out = String::new();
    header(&mut out, record);
    matrix(&mut out, record, Doc::Summary);
    summary_table(&mut out, record, Doc::Summary);
    aliases_section(&mut out, record);
    conclusion(&mut out, record, Doc::Summary);
    out
}

fn header(out: &mut String, record: &RunRecord) {
    let t = Totals::of(record);
    let verdict = Status::from(record.verdict());
    let _ = writeln!(out, "# strata {} report\n", view::command_name(record));
    let _ = writeln!(
        out,
        "**Result: {}** · {} image{}: {} passed, {} failed, {} skipped · tests {}/{} passed · aliases: {} applied, {} withheld",
        verdict.badge(),
        t.images,
        view::plural(t.images),
        t.images_passed,
        t.images_failed,
        t.images_skipped,
        t.tests_passed,
        t.tests_total,
        t.aliases_applied,
        t.aliases_withheld,
    );
    if record.interrupted {
        out.push_str(
            "\n**Interrupted:** the run was stopped before it finished. Steps in flight were \
             abandoned and images not listed below were not attempted. The aliases section \
             lists every alias that moved before the stop; no other alias moved.\n",
        );
    }
    let mut facts = Vec::new();
    if !record.engine.is_empty() {
        facts.push(format!("Engine: {}", record.engine));
    }
    if let Some(at) = record.started_at {
        facts.push(format!("Started: {}", at.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    facts.push(format!("Took: {}", view::human_duration(record.duration)));
    if t.steps_retried > 0 {
        facts.push(format!("Retried steps: {}", t.steps_retried));
    }
    let _ = writeln!(out, "\n{}\n", facts.join(" · "));
}

/// The matrix at a glance: rows = versions, columns = OS values (one per
/// platform where an image has several); each cell its result, the failing
/// step, and the image's tags, linked to the image's section.
fn matrix(out: &mut String, record: &RunRecord, doc: Doc) {
    let Some(grid) = Grid::of(record) else {
        return;
    };
    out.push_str("## Matrix\n\n| Version |");
    for c in &grid.columns {
        let head = match &c.platform {
            Some(p) => format!("{} {}", c.name, code(p)),
            None => c.name.clone(),
        };
        let _ = write!(out, " {} |", cell(&head));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(grid.columns.len()));
    out.push('\n');
    for row in &grid.rows {
        let _ = write!(out, "| {} |", code(&row.version));
        for c in &row.cells {
            let Some(c) = c else {
                out.push_str(" – |");
                continue;
            };
            let badge = c.state.badge(record.command);
            let mut parts = vec![match (doc, c.index) {
                (Doc::Full, Some(_)) => {
                    format!("[{badge}](#{})", anchor(&format!("image: {}", c.unit)))
                }
                _ => badge,
            }];
            if let Some(d) = &c.detail {
                parts.push(cell(d));
            }
            parts.push(c.tags.iter().map(|t| code(t)).collect::<Vec<_>>().join(" "));
            let _ = write!(out, " {} |", parts.join(" · "));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nRows: versions, newest first. Columns: OS values{}. 💤 up to date: inputs unchanged since it passed, not rebuilt. – not in the matrix.\n",
        if grid.platforms { " and platforms" } else { "" }
    );
}

fn summary_table(out: &mut String, record: &RunRecord, doc: Doc) {
    if record.images.is_empty() {
        out.push_str("_No images were run._\n\n");
        return;
    }
    out.push_str("## Summary\n\n");
    out.push_str("| Image | Result | Build | Tests | Push | Aliases | Digest | Time |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for img in &record.images {
        let status = view::image_status(img);
        let build = step_cell(img.build());
        let (passed, total) = view::test_counts(img);
        let tests = if total == 0 {
            "–".to_owned()
        } else {
            format!("{passed}/{total}")
        };
        let push = step_cell(img.push());
        let aliases = view::aliases_of(record, &img.name)
            .iter()
            .map(|a| code(view::short_alias(&img.name, &a.tag)))
            .collect::<Vec<_>>()
            .join(", ");
        let digest = img
            .digest
            .as_deref()
            .map(|d| code(&view::short_digest(d)))
            .unwrap_or_else(|| "–".into());
        // The summary has no image sections to link to.
        let name = match doc {
            Doc::Full => format!(
                "[{}](#{})",
                cell(&img.name),
                anchor(&format!("image: {}", img.name))
            ),
            Doc::Summary => code(&img.name),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            status.badge(),
            build,
            tests,
            push,
            if aliases.is_empty() {
                "–".into()
            } else {
                aliases
            },
            digest,
            if img.skipped.is_some() {
                "–".to_owned()
            } else {
                view::human_duration(view::image_duration(img))
            },
        );
    }
    out.push('\n');
}

/// A table cell for an optional step: its status, with the attempt when retried.
fn step_cell(step: Option<&StepRecord>) -> String {
    match step {
        None => "–".into(),
        Some(s) => {
            let word = Status::from(&s.outcome).word();
            if s.attempts > 1 {
                format!("{word} (attempt {})", s.attempts)
            } else {
                word.to_owned()
            }
        }
    }
}

fn image_section(out: &mut String, img: &ImageRecord, record: &RunRecord) {
    let _ = writeln!(out, "## Image: {}\n", img.name);
    let _ = writeln!(out, "**{}**\n", view::image_status(img).badge());
    if let Some(reason) = &img.skipped {
        let _ = writeln!(out, "\nNot attempted: {}\n", inline(reason));
        return;
    }
    let mut facts = Vec::new();
    if let Some(id) = &img.image_id {
        facts.push(format!("Image ID: {}", code(id)));
    }
    if let Some(d) = &img.digest {
        facts.push(format!("Digest: {}", code(d)));
    }
    if !img.reasons.is_empty() {
        let why: Vec<String> = img.reasons.iter().map(|r| inline(&r.text)).collect();
        facts.push(format!("Rebuilt because: {}", why.join("; ")));
    }
    let aliases = view::aliases_of(record, &img.name);
    if !aliases.is_empty() {
        facts.push(format!(
            "Aliases: {}",
            aliases
                .iter()
                .map(|a| code(&a.tag))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for f in facts {
        let _ = writeln!(out, "- {f}");
    }
    out.push('\n');
    for step in &img.steps {
        step_section(out, step);
    }
}

fn step_section(out: &mut String, s: &StepRecord) {
    match &s.step {
        Step::Build => out.push_str("### Build\n\n"),
        Step::Test { index, path } => {
            let _ = writeln!(
                out,
                "### Test {index}: {}\n",
                inline(&path.display().to_string())
            );
            let _ = writeln!(out, "- Folder: {}", code(&path.display().to_string()));
        }
        Step::Push => out.push_str("### Push\n\n"),
        Step::Alias { tag } => {
            let _ = writeln!(out, "### Alias {}\n", code(tag));
        }
    }
    // The verdict starts with the status word; bold just that word.
    let word = Status::from(&s.outcome).word();
    let verdict = inline(&view::step_verdict(s));
    let rest = verdict.strip_prefix(word).unwrap_or(&verdict);
    let _ = writeln!(
        out,
        "- Result: **{word}**{rest} · {}",
        view::human_duration(s.duration),
    );
    if let Some(id) = &s.image_id {
        let _ = writeln!(out, "- Image ID: {}", code(id));
    }
    out.push('\n');
    if !s.log.trim().is_empty() {
        out.push_str(&fenced(&s.log));
        out.push('\n');
    }
    for (i, earlier) in s.earlier_logs.iter().enumerate() {
        let _ = writeln!(
            out,
            "<details><summary>Attempt {} (failed)</summary>\n",
            i + 1
        );
        out.push_str(&fenced(earlier));
        out.push_str("\n</details>\n\n");
    }
}

fn aliases_section(out: &mut String, record: &RunRecord) {
    let aliases = view::sorted_aliases(record);
    if aliases.is_empty() {
        return;
    }
    out.push_str(
        "## Aliases\n\n| Alias | Status | Points at | Digest / reason |\n|---|---|---|---|\n",
    );
    for a in aliases {
        let status = view::alias_status(a);
        let (status, target, note) = match (&a.image, &a.withheld) {
            (Some(img), _) => (
                status,
                code(img),
                a.digest.as_deref().map(code).unwrap_or_else(|| "–".into()),
            ),
            (None, reason) => (
                format!("**{status}**"),
                "–".to_owned(),
                cell(reason.as_deref().unwrap_or("no reason given")),
            ),
        };
        let _ = writeln!(out, "| {} | {status} | {target} | {note} |", code(&a.tag));
    }
    out.push('\n');
}

fn conclusion(out: &mut String, record: &RunRecord, doc: Doc) {
    let t = Totals::of(record);
    out.push_str("## Conclusion\n\n");
    let verdict = record.verdict();
    if verdict == Verdict::Interrupted {
        let _ = writeln!(
            out,
            "Interrupted: {} of {} image{} passed before the stop; {} failed, {} skipped.\n",
            t.images_passed,
            t.images,
            view::plural(t.images),
            t.images_failed,
            t.images_skipped
        );
        return;
    }
    if verdict == Verdict::Passed {
        let _ = writeln!(
            out,
            "All {} image{} passed{}.\n",
            t.images,
            view::plural(t.images),
            if t.aliases_applied > 0 {
                format!(
                    " and {} alias{} applied",
                    t.aliases_applied,
                    if t.aliases_applied == 1 {
                        " was"
                    } else {
                        "es were"
                    }
                )
            } else {
                String::new()
            }
        );
        return;
    }
    let _ = writeln!(
        out,
        "{} of {} image{} passed; {} failed, {} skipped.\n",
        t.images_passed,
        t.images,
        view::plural(t.images),
        t.images_failed,
        t.images_skipped
    );

    let failed: Vec<_> = record
        .images
        .iter()
        .filter_map(|i| view::first_failure(i).map(|s| (i, s)))
        .collect();
    if !failed.is_empty() {
        out.push_str("### Failures\n\n");
        for (img, step) in failed {
            let _ = writeln!(
                out,
                "#### {} — {}\n\n{}\n",
                img.name,
                view::step_label(&step.step),
                inline(&view::step_verdict(step)),
            );
            let (tail, cut) = view::tail(&step.log, FAILURE_TAIL_LINES);
            if !tail.is_empty() {
                if cut > 0 {
                    let place = match doc {
                        Doc::Full => "in the section above",
                        Doc::Summary => "in the run folder's report.md",
                    };
                    let _ = writeln!(
                        out,
                        "Last {FAILURE_TAIL_LINES} lines ({cut} earlier line{} {place}):\n",
                        view::plural(cut)
                    );
                }
                out.push_str(&fenced(tail));
                out.push('\n');
            }
        }
    }

    let skipped: Vec<_> = record
        .images
        .iter()
        .filter_map(|i| i.skipped.as_deref().map(|r| (i, r)))
        .collect();
    if !skipped.is_empty() {
        out.push_str("### Skipped images\n\n");
        for (img, reason) in skipped {
            let _ = writeln!(out, "- {}: {}", code(&img.name), inline(reason));
        }
        out.push('\n');
    }

    let withheld: Vec<_> = view::sorted_aliases(record)
        .into_iter()
        .filter_map(|a| a.withheld.as_deref().map(|r| (a, r)))
        .collect();
    if !withheld.is_empty() {
        out.push_str("### Withheld aliases\n\n");
        for (a, reason) in withheld {
            let _ = writeln!(out, "- {}: {}", code(&a.tag), inline(reason));
        }
        out.push('\n');
    }
}

/// A fenced code block whose fence is longer than any backtick run in `text`.
pub fn fenced(text: &str) -> String {
    let longest = longest_run(text, '`');
    let fence = "`".repeat(longest.max(2) + 1);
    let body = text.trim_end_matches('\n');
    format!("{fence}text\n{body}\n{fence}\n")
}

/// An inline code span that survives backticks in `text` (CommonMark rule:
/// a longer backtick string, padded with spaces when the text touches one).
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{ticks} {text} {ticks}")
    } else {
        format!("{ticks}{text}{ticks}")
    }
}

/// Text from a log or message placed in running prose: one line, no HTML.
fn inline(text: &str) -> String {
    view::one_line(text)
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text inside a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in text.chars() {
        if ch == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// The anchor GitHub gives a heading: lowercase, spaces to dashes, most
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_outgrows_backticks_in_the_log() {
        let f = fenced("a\n````\nb");
        assert!(f.starts_with("`````text\n"), "{f}");
        assert!(f.ends_with("\n`````\n"), "{f}");
        assert!(fenced("plain").starts_with("```text\n"));
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn anchors_match_github() {
        assert_eq!(anchor("Image: acme/app:server"), "image-acmeappserver");
    }
}
