//! File reports rendered from a realistic run: their structure, escaping and counts.

mod report_fixture;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use report_fixture::*;
use strata::report::{html, json, junit, markdown};

/// Headings and fenced blocks of a Markdown document, read the way CommonMark
/// does: a fence closes only on a line of at least as many backticks.
struct Scan {
    headings: Vec<String>,
    blocks: Vec<String>,
}

fn scan(md: &str) -> Scan {
    let (mut headings, mut blocks) = (vec![], vec![]);
    let mut open: Option<(usize, String)> = None;
    for line in md.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match &mut open {
            Some((n, body)) => {
                if ticks >= *n && line.trim_end().chars().all(|c| c == '`') {
                    blocks.push(std::mem::take(body));
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None if ticks >= 3 => open = Some((ticks, String::new())),
            None if line.starts_with('#') => headings.push(line.to_owned()),
            None => {}
        }
    }
    assert!(open.is_none(), "a fence was left open:\n{md}");
    Scan { headings, blocks }
}

fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in\n{md}"));
    let rest = &md[start + heading.len()..];
    let end = rest.find("\n## ").map(|i| i + 1).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn markdown_sections_come_in_dante_order() {
    let md = markdown::render(&record());
    let s = scan(&md);
    let expected = [
        "# strata test report".to_owned(),
        "## Matrix".into(),
        "## Summary".into(),
        format!("## Image: {BOOKWORM}"),
        "### Build".into(),
        "### Test 1: tests/node".into(),
        "### Test 2: tests/npm".into(),
        "### Push".into(),
        format!("## Image: {ALPINE}"),
        "### Build".into(),
        "### Test 1: tests/node".into(),
        format!("## Image: {ALPINE_DEV}"),
        format!("## Image: {NODE20}"),
        "### Build".into(),
        "### Test 1: tests/node".into(),
        "## Aliases".into(),
        "## Conclusion".into(),
        "### Failures".into(),
        format!("#### {ALPINE} — test 1 (tests/node)"),
        "### Skipped images".into(),
        "### Withheld aliases".into(),
    ];
    assert_eq!(s.headings, expected, "\n{md}");
}

#[test]
fn markdown_fence_survives_a_log_with_backticks() {
    let md = markdown::render(&record());
    let s = scan(&md);
    // The whole failing log is one block, so its fake heading stays inside it.
    let log = failing_test_log();
    assert!(
        s.blocks.iter().any(|b| b == &log),
        "the failing log is not one intact block:\n{md}"
    );
    assert!(!s.headings.iter().any(|h| h.contains("not a heading")));
}

#[test]
fn markdown_summary_table_has_a_row_per_image() {
    let md = markdown::render(&record());
    let summary = section(&md, "## Summary");
    let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with("| [")).collect();
    assert_eq!(rows.len(), 4, "{summary}");
    assert!(
        rows[0].contains(BOOKWORM) && rows[0].contains("| 2/2 |"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("`sha256:9f86d081884c`"), "{}", rows[0]);
    // The table drops the namespace an alias shares with its image; the
    // image's own section gives the full references.
    assert!(rows[0].contains("`node:22`, `node:lts`"), "{}", rows[0]);
    assert!(
        md.contains("`acme/node:lts`"),
        "full references in the image section"
    );
    assert!(
        rows[1].contains("passed (attempt 2)") && rows[1].contains("| 0/1 |"),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains("skipped"), "{}", rows[2]);
    // Every row has as many cells as the header.
    let header_cells = summary.lines().nth(2).unwrap().matches('|').count();
    for r in rows {
        assert_eq!(r.matches('|').count(), header_cells, "{r}");
    }
}

#[test]
fn markdown_tells_which_attempt_passed() {
    let md = markdown::render(&record());
    let alpine = section(&md, &format!("## Image: {ALPINE}\n"));
    assert!(
        alpine.contains("**passed** on attempt 2 (1 earlier attempt failed) · 13.0s"),
        "{alpine}"
    );
    assert!(alpine.contains("Attempt 1 (failed)"), "{alpine}");
    let node20 = section(&md, &format!("## Image: {NODE20}\n"));
    assert!(
        node20.contains("**passed** on attempt 3 (2 earlier attempts failed) · 3.0s"),
        "{node20}"
    );
}

#[test]
fn markdown_conclusion_shows_the_last_lines_skips_and_withheld_aliases() {
    let md = markdown::render(&record());
    let conclusion = section(&md, "## Conclusion");
    assert!(
        conclusion.starts_with("\n\n2 of 4 images passed; 1 failed, 1 skipped."),
        "{conclusion}"
    );
    assert!(conclusion.contains(FAIL_MESSAGE));
    // 30 last lines: the error, the step line and output lines 13..=40.
    assert!(conclusion.contains("output line 13\n"), "{conclusion}");
    assert!(!conclusion.contains("output line 12\n"), "{conclusion}");
    assert!(
        conclusion.contains("Last 30 lines (18 earlier lines"),
        "{conclusion}"
    );
    assert!(conclusion.contains(&format!("- `{ALPINE_DEV}`: {SKIP_REASON}")));
    assert!(conclusion.contains(&format!("- `acme/node:alpine`: {WITHHELD_REASON}")));
}

#[test]
fn markdown_of_a_clean_run_says_so() {
    let md = markdown::render(&passing_record());
    assert!(md.contains("**Result: ✅ passed**"), "{md}");
    assert!(
        section(&md, "## Conclusion").contains("All 1 image passed and 2 aliases were applied.")
    );
    assert!(!md.contains("### Failures"));
}

#[test]
fn json_round_trips_with_schema_and_counts() {
    let text = json::render(&record());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let again: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
    assert_eq!(v, again);

    assert_eq!(v["schema_version"], json::SCHEMA_VERSION);
    assert_eq!(v["passed"], false);
    let s = &v["summary"];
    assert_eq!(
        (
            s["images"].as_u64(),
            s["images_passed"].as_u64(),
            s["images_failed"].as_u64(),
            s["images_skipped"].as_u64()
        ),
        (Some(4), Some(2), Some(1), Some(1))
    );
    assert_eq!(
        (s["tests_passed"].as_u64(), s["tests_total"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(s["steps_retried"], 2);
    assert_eq!(
        (
            s["aliases_applied"].as_u64(),
            s["aliases_withheld"].as_u64()
        ),
        (Some(2), Some(1))
    );

    assert_eq!(v["command"], "test");
    assert_eq!(v["started_at"], "2024-11-20T09:30:00Z");
    assert_eq!(v["duration"], 75.0);
    let images = v["images"].as_array().unwrap();
    assert_eq!(images[0]["digest"], DIGEST);
    assert_eq!(images[1]["steps"][0]["attempts"], 2);
    assert_eq!(
        images[1]["steps"][0]["earlier_logs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(images[1]["steps"][1]["outcome"]["status"], "failed");
    assert_eq!(images[1]["steps"][1]["outcome"]["message"], FAIL_MESSAGE);
    assert_eq!(images[1]["steps"][1]["step"]["path"], "tests/node");
    assert_eq!(images[2]["skipped"], SKIP_REASON);
}

#[test]
fn junit_parses_back_with_one_suite_per_image() {
    let xml = junit::render(&record());
    let report = Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [BOOKWORM, ALPINE, ALPINE_DEV, NODE20, junit::ALIAS_SUITE]
    );

    let cases = |i: usize| -> Vec<String> {
        report.test_suites[i]
            .test_cases
            .iter()
            .map(|c| c.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        cases(0),
        ["build", "test 1 (tests/node)", "test 2 (tests/npm)", "push"]
    );

    // The retried build passed with one flaky run; the test failed with its log.
    let alpine = &report.test_suites[1];
    match &alpine.test_cases[0].status {
        TestCaseStatus::Success { flaky_runs } => assert_eq!(flaky_runs.len(), 1),
        other => panic!("retried build: {other:?}"),
    }
    let test = &alpine.test_cases[1];
    match &test.status {
        TestCaseStatus::NonSuccess { kind, message, .. } => {
            assert_eq!(*kind, NonSuccessKind::Failure);
            assert_eq!(message.as_ref().unwrap().as_str(), FAIL_MESSAGE);
        }
        other => panic!("failed test: {other:?}"),
    }
    let out = test.system_out.as_ref().expect("log as system-out");
    assert!(out.as_str().contains("<script>alert(1)</script>"));
    assert_eq!(alpine.failures, 1);

    // The skipped image is one skipped build with the reason.
    match &report.test_suites[2].test_cases[0].status {
        TestCaseStatus::Skipped { message, .. } => {
            assert_eq!(message.as_ref().unwrap().as_str(), SKIP_REASON)
        }
        other => panic!("skipped image: {other:?}"),
    }

    // The flaky test keeps both failed attempts.
    match &report.test_suites[3].test_cases[1].status {
        TestCaseStatus::Success { flaky_runs } => {
            assert_eq!(flaky_runs.len(), 2);
            assert_eq!(
                flaky_runs[1].system_out.as_ref().unwrap().as_str().trim(),
                "attempt two"
            );
        }
        other => panic!("flaky test: {other:?}"),
    }

    // The withheld alias fails the alias suite.
    let aliases = &report.test_suites[4];
    assert_eq!(aliases.tests, 3);
    assert_eq!(aliases.failures, 1);
    assert_eq!(report.failures, 2);
}

/// The text a browser shows for escaped markup (enough entities for these tests).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[test]
fn html_escapes_logs_and_needs_nothing_external() {
    let page = html::render(&record());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        unescape(&page).contains("<script>alert(1)</script>"),
        "log missing"
    );
    assert!(!page.contains("<script"), "the page must not carry scripts");
    for external in ["src=", "<link", "@import", "url("] {
        assert!(!page.contains(external), "external asset via {external}");
    }
    assert!(!page.contains("href=\"http"));
}

#[test]
fn html_shows_every_image_with_chips_and_details() {
    let page = html::render(&record());
    let shown = unescape(&page);
    for name in [BOOKWORM, ALPINE, ALPINE_DEV, NODE20] {
        assert!(shown.contains(&format!("<code>{name}</code>")), "{name}");
    }
    // One expandable section per image, the failed one open.
    assert_eq!(page.matches("<details class=\"image").count(), 4);
    assert!(
        page.contains("<details class=\"image failed\" id=\"image-2\" open>"),
        "{page}"
    );
    assert!(page.contains("<span class=\"chip failed\">"));
    assert!(page.contains("<span class=\"chip skipped\">"));
    assert!(shown.contains("passed on attempt 3 (2 earlier attempts failed)"));
    assert!(shown.contains(WITHHELD_REASON));
    assert!(shown.contains(&format!(
        "<code title=\"{DIGEST}\">sha256:9f86d081884c</code>"
    )));
    // Balanced structure: every opened details and pre closes.
    for tag in ["details", "pre", "table", "summary"] {
        assert_eq!(
            page.matches(&format!("<{tag}")).count(),
            page.matches(&format!("</{tag}>")).count(),
            "<{tag}> unbalanced"
        );
    }
}
