//! Reporters: they listen to events and render them.
//!
//! Live output comes from [`terminal::Terminal`] and [`json::EventLog`], which
//! are [`Listener`](crate::events::Listener)s. File reports render the finished
//! [`RunRecord`], so Markdown, JSON, JUnit and HTML always agree:
//!
//! * [`markdown`]: Dante's report shape (image sections, test sections, conclusion)
//!   with a summary table on top.
//! * [`json`]: a stable, versioned schema, plus the JSON-lines event log.
//! * [`junit`]: JUnit XML for CI test views.
//! * [`html`]: one self-contained page.
//! * [`github`]: GitHub Actions annotations for failures, and the job summary.
//!
//! [`logs::LogFiles`] keeps each step attempt's raw output as its own file.
//! [`view`] holds the wording they share.

pub mod github;
pub mod grid;
pub mod html;
pub mod json;
pub mod junit;
pub mod logs;
pub mod markdown;
pub mod terminal;
pub mod view;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::events::record::RunRecord;

/// A file report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportFormat {
    Markdown,
    Json,
    Junit,
    Html,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Markdown,
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Html,
    ];

    /// The file name this format is written to in a run's log folder.
    pub fn file_name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "report.md",
            ReportFormat::Json => "report.json",
            ReportFormat::Junit => "junit.xml",
            ReportFormat::Html => "report.html",
        }
    }

    /// A short name for the format.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
            ReportFormat::Html => "html",
        }
    }

    /// Renders `record` in this format.
    pub fn render(self, record: &RunRecord) -> String {
        match self {
            ReportFormat::Markdown => markdown::render(record),
            ReportFormat::Json => json::render(record),
            ReportFormat::Junit => junit::render(record),
            ReportFormat::Html => html::render(record),
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Writes every file report into `dir` (created if missing); returns the paths written.
pub fn write_all(record: &RunRecord, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    ReportFormat::ALL
        .iter()
        .map(|f| {
            let path = dir.join(f.file_name());
            std::fs::write(&path, f.render(record))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::record::{Recorder, Verdict};
    use crate::events::{Command, Event, Listener, Outcome, Step};

    /// A run where everything it reached passed, and that was then stopped.
    fn interrupted_record() -> RunRecord {
        let mut r = Recorder::default();
        r.on_event(&Event::RunStarted {
            command: Command::Test,
            images: 2,
            tests: 0,
            engine: "fake".into(),
            at: chrono::Utc::now(),
        });
        r.on_event(&Event::StepFinished {
            image: "acme/app:1".into(),
            step: Step::Build,
            attempt: 1,
            outcome: Outcome::Passed,
            log: String::new(),
            duration: Duration::from_millis(5),
            image_id: Some("sha256:1".into()),
            digest: None,
        });
        r.on_event(&Event::AliasApplied {
            tag: "acme/app:latest".into(),
            image: "acme/app:1".into(),
            image_id: Some("sha256:1".into()),
            digest: None,
        });
        r.on_event(&Event::Interrupted);
        r.record
    }

    #[test]
    fn an_interrupted_run_is_interrupted_in_every_report() {
        let record = interrupted_record();
        assert_eq!(record.verdict(), Verdict::Interrupted);

        let md = markdown::render(&record);
        assert!(md.contains("**Result: ⏹️ INTERRUPTED**"), "{md}");
        assert!(!md.contains("Result: ✅"), "{md}");
        assert!(
            md.contains("Interrupted: 1 of 1 image passed before the stop"),
            "{md}"
        );

        let json: serde_json::Value = serde_json::from_str(&json::render(&record)).unwrap();
        assert_eq!(json["passed"], false);
        assert_eq!(json["verdict"], "interrupted");

        let xml = junit::render(&record);
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(xml.contains(r#"type="interrupted""#), "{xml}");

        let html = html::render(&record);
        assert!(
            html.contains(r#"<span class="verdict interrupted">"#),
            "{html}"
        );

        let summary = terminal::summary(&record);
        assert!(summary.contains(": INTERRUPTED in"), "{summary}");
    }

    #[test]
    fn the_alias_that_moved_before_the_stop_is_reported_as_applied() {
        let record = interrupted_record();
        let md = markdown::render(&record);
        assert!(md.contains("acme/app:latest"), "{md}");
        assert!(
            md.contains("lists every alias that moved before the stop"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&json::render(&record)).unwrap();
        assert_eq!(json["aliases"][0]["tag"], "acme/app:latest");
        assert_eq!(json["aliases"][0]["image"], "acme/app:1");
    }
}
