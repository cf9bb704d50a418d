//! The JSON report and the JSON-lines event log.
//!
//! # `report.json` schema (version 1)
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "passed": bool,                 // every image passed and no alias was withheld
//!   "summary": {                    // counts, so consumers need not recompute them
//!     "images", "images_passed", "images_failed", "images_skipped",
//!     "steps_passed", "steps_failed", "steps_skipped", "steps_retried",
//!     "tests_passed", "tests_total", "aliases_applied", "aliases_withheld"
//!   },
//!   "command": "test" | "push" | null,
//!   "engine": string,
//!   "started_at": RFC 3339 string | null,
//!   "duration": seconds (float, millisecond precision),
//!   "images": [{
//!     "name", "image_id" | null, "digest" | null, "skipped": reason | null,
//!     "up_to_date": RFC 3339 string (when it passed; only when not rebuilt),
//!     "reasons": [{"kind", "text"}] (only when it was rebuilt: why; `kind` is
//!                first-build, last-failed, missing, no-cache, dockerfile, context,
//!                test, artifact, base-moved, base, build-args, labels,
//!                strata-version or inputs),
//!     "steps": [{
//!       "step": {"kind": "build"} | {"kind": "test", "index", "path"} | {"kind": "push"},
//!       "outcome": {"status": "passed"} | {"status": "failed", "message"}
//!                | {"status": "skipped", "reason"},
//!       "attempts": n, "log", "earlier_logs": [..], "duration", "image_id" | null
//!     }]
//!   }],
//!   "aliases": [{"tag", "image" | null, "digest" | null, "withheld": reason | null}],
//!   "matrix": [{                    // only for a native matrix: the grid's cells
//!     "row": version, "column": OS value (and other axis values),
//!     "platform": string | null, "image": its name, "unit": the name its steps are under
//!   }]
//! }
//! ```
//!
//! Fields are only ever added within a schema version; a removal or change of
//! meaning bumps [`SCHEMA_VERSION`].
//!
//! # Event log
//!
//! [`EventLog`] writes every [`Event`] as one JSON object per line (the
//! serde form of [`Event`], tagged by `"event"`), flushed line by line so a run
//! that crashes still leaves its log behind.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::events::record::{RunRecord, Verdict};
use crate::events::{Event, Listener};

use super::view::Totals;

/// Version of the `report.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    passed: bool,
    /// `passed`, `failed` or `interrupted`: the one verdict every report gives.
    verdict: Verdict,
    summary: Totals,
    #[serde(flatten)]
    record: &'a RunRecord,
}

/// Renders the record as pretty-printed JSON in the documented schema.
pub fn render(record: &RunRecord) -> String {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        passed: record.verdict() == Verdict::Passed,
        verdict: record.verdict(),
        summary: Totals::of(record),
        record,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("a run record always serializes");
    s.push('\n');
    s
}

/// A [`Listener`] that appends each event to a JSON-lines file.
///
/// Listeners cannot return errors, so the first write error is kept, later
/// events are dropped, and [`EventLog::finish`] reports it.
pub struct EventLog {
    out: LineWriter<Box<dyn Write + Send>>,
    error: Option<io::Error>,
}

impl EventLog {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<EventLog> {
        Ok(EventLog::to_writer(Box::new(File::create(path)?)))
    }

    /// Writes to any writer; used by tests and for streaming to a pipe.
    pub fn to_writer(w: Box<dyn Write + Send>) -> EventLog {
        EventLog {
            out: LineWriter::new(w),
            error: None,
        }
    }

    /// Flushes and returns the first error met while writing, if any.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn write(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")
    }
}

impl Listener for EventLog {
    fn on_event(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write(event) {
            self.error = Some(e);
        }
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        EventLog::finish(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A writer the test can read back after the log is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_parseable_line() {
        let buf = Shared::default();
        let mut log = EventLog::to_writer(Box::new(buf.clone()));
        log.on_event(&Event::Log {
            image: "a:1".into(),
            step: crate::events::Step::Build,
            line: "Step 1/2 : RUN echo \"hi\"\nwith newline".into(),
        });
        log.on_event(&Event::RunFinished {
            duration: Duration::from_millis(1500),
        });
        log.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["event"], "log");
        assert_eq!(first["step"]["kind"], "build");
        let last: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(last["event"], "run_finished");
        assert_eq!(last["duration"], 1.5);
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_surfaces_at_finish() {
        let mut log = EventLog::to_writer(Box::new(Broken));
        log.on_event(&Event::RunFinished {
            duration: Duration::ZERO,
        });
        let err = log.finish().unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}
