//! Live output (terminal lines, JSON-lines event log) and the report files of a run folder.

mod report_fixture;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use report_fixture::*;
use strata::events::Listener;
use strata::report::json::EventLog;
use strata::report::terminal::{self, Terminal};
use strata::report::{self as report};

/// A writer the test reads back after the listener is done with it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn plain_terminal_prints_one_line_per_finished_step() {
    let out = Captured::default();
    let mut t = Terminal::plain(Box::new(out.clone()));
    for e in events() {
        t.on_event(&e);
    }
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "strata: testing 4 images (4 tests) on Docker Engine 20.10.24"
    );
    // An image rebuilt says why first, then how its build went.
    assert_eq!(
        lines[1],
        format!(
            "[1/4] rebuild {BOOKWORM} … base debian:bookworm-slim moved: sha256:{} → sha256:{}; \
             build argument changed: NODE_VERSION",
            "1".repeat(64),
            "2".repeat(64)
        )
    );
    assert_eq!(lines[2], format!("[1/4] build {BOOKWORM} … ok (12.3s)"));
    assert!(
        text.contains(&format!(
        "[2/4] build {ALPINE} … FAILED: temporary failure resolving dl-cdn.alpinelinux.org (4.0s)\n\
         [2/4] build {ALPINE} … attempt 2\n\
         [2/4] build {ALPINE} … ok on attempt 2 (9.0s)\n"
    )),
        "{text}"
    );
    assert!(
        text.contains(&format!("[3/4] skip {ALPINE_DEV} … {SKIP_REASON}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "[4/4] test 1 (tests/node) {NODE20} … ok on attempt 3 (1.0s)\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "alias acme/node:alpine withheld: {WITHHELD_REASON}\n"
    )));
    assert_eq!(*lines.last().unwrap(), "strata: finished in 1m 15s");
    // Log lines are not echoed: the files keep them.
    assert!(!text.contains("output line 01"));
}

#[test]
fn summary_fits_a_screen_and_names_the_first_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let written = report::write_all(&record(), dir.path()).unwrap();
    let s = terminal::summary_with_reports(&record(), &written);
    assert!(s.starts_with("strata test: FAILED in 1m 15s\n"), "{s}");
    assert!(
        s.contains("  images:  2 passed, 1 failed, 1 skipped (of 4)\n"),
        "{s}"
    );
    assert!(
        s.contains("  tests:   3/4 passed; 2 steps retried\n"),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "failed:\n  {ALPINE}  test 1 (tests/node): {FAIL_MESSAGE}\n"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!("skipped:\n  {ALPINE_DEV}  {SKIP_REASON}\n")),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "withheld aliases:\n  acme/node:alpine  {WITHHELD_REASON}\n"
        )),
        "{s}"
    );
    assert!(
        s.contains(&dir.path().join("report.html").display().to_string()),
        "{s}"
    );
    assert!(s.lines().count() < 25, "{s}");

    let clean = terminal::summary(&passing_record());
    assert!(clean.starts_with("strata test: PASSED"), "{clean}");
    assert!(!clean.contains("failed:"), "{clean}");
}

#[test]
fn write_all_puts_every_report_in_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs").join("2024-11-20T093000Z");
    let written = report::write_all(&record(), &run).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["report.md", "report.json", "junit.xml", "report.html"]
    );
    for p in &written {
        assert!(p.starts_with(&run));
        let text = std::fs::read_to_string(p).unwrap();
        // HTML escapes the slash in names.
        let shown = text.replace("&#x2f;", "/");
        assert!(
            shown.contains(ALPINE),
            "{} lacks the failed image",
            p.display()
        );
    }
}

#[test]
fn event_log_file_has_one_json_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let mut log = EventLog::create(&path).unwrap();
    let events = events();
    for e in &events {
        log.on_event(e);
    }
    log.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(parsed.len(), events.len());
    assert_eq!(parsed[0]["event"], "run_started");
    assert_eq!(parsed[0]["command"], "test");
    let failed = parsed
        .iter()
        .find(|v| {
            v["event"] == "step_finished"
                && v["outcome"]["status"] == "failed"
                && v["step"]["kind"] == "test"
                && v["image"] == ALPINE
        })
        .expect("the failed test's end");
    assert_eq!(failed["log"], failing_test_log());
    assert_eq!(parsed.last().unwrap()["event"], "run_finished");
}
