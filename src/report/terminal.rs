//! Progress on stderr while a run goes, and a one-screen summary at the end.
//!
//! On a terminal, an [`indicatif`] bar counts settled steps against the steps
//! the run announced and names the steps running now. Anywhere else (CI logs,
//! pipes) each step prints one plain line when it ends, such as
//! `[3/12] build acme/app:server … ok (12.3s)`, where `3/12` is the image's
//! position among the run's images, so lines of one image are easy to grep.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::events::record::RunRecord;
use crate::events::{Command, Event, Listener, Outcome, Step};

use super::view::{self, Status, Totals};

/// A [`Listener`] that shows progress on stderr (or any writer).
pub struct Terminal {
    out: Output,
    /// Images announced by the run, 0 until `RunStarted`.
    total_images: usize,
    /// Position of each image, in the order it first appeared.
    ordinal: HashMap<String, usize>,
    /// Steps that have ended at least once, so retries are not counted twice.
    settled: HashSet<(String, String)>,
    /// Steps running now, by image, for the bar's message.
    running: BTreeMap<String, String>,
    /// Print every output line as it comes (`--verbose`).
    verbose: bool,
}

enum Output {
    Bar(ProgressBar),
    Plain(Box<dyn Write + Send>),
}

impl Terminal {
    /// Also print each line of step output (`Event::Log`) as it comes.
    pub fn verbose(mut self, on: bool) -> Terminal {
        self.verbose = on;
        self
    }

    /// A bar when stderr is a terminal, plain lines otherwise: also when
    /// `NO_COLOR` is set (to anything but the empty string).
    pub fn stderr() -> Terminal {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if io::stderr().is_terminal() && !no_color {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} steps  {wide_msg}",
                )
                .expect("static template is valid")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Terminal::with_output(Output::Bar(bar))
        } else {
            Terminal::plain(Box::new(io::stderr()))
        }
    }

    /// Plain lines to `w`, whatever it is.
    pub fn plain(w: Box<dyn Write + Send>) -> Terminal {
        Terminal::with_output(Output::Plain(w))
    }

    fn with_output(out: Output) -> Terminal {
        Terminal {
            out,
            total_images: 0,
            ordinal: HashMap::new(),
            settled: HashSet::new(),
            running: BTreeMap::new(),
            verbose: false,
        }
    }

    fn position(&mut self, image: &str) -> String {
        let next = self.ordinal.len() + 1;
        let n = *self.ordinal.entry(image.to_owned()).or_insert(next);
        let total = self.total_images.max(self.ordinal.len());
        format!("[{n}/{total}]")
    }

    fn line(&mut self, text: String) {
        match &mut self.out {
            // Printed above the bar, so it stays readable after the bar ends.
            Output::Bar(bar) => bar.println(text),
            Output::Plain(w) => {
                let _ = writeln!(w, "{text}");
                let _ = w.flush();
            }
        }
    }

    fn refresh_message(&self) {
        if let Output::Bar(bar) = &self.out {
            let msg = self
                .running
                .iter()
                .map(|(img, step)| format!("{step} {img}"))
                .collect::<Vec<_>>()
                .join(", ");
            bar.set_message(msg);
        }
    }

    fn advance(&self, by: u64) {
        if let Output::Bar(bar) = &self.out {
            bar.inc(by);
        }
    }
}

impl Listener for Terminal {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                command,
                images,
                tests,
                engine,
                ..
            } => self.run_started(command, *images, *tests, engine),
            // An alias's attempts show only when one fails: where it ended
            // is the line that follows them.
            Event::StepStarted {
                image,
                step: step @ Step::Alias { .. },
                attempt,
            } => {
                if *attempt > 1 {
                    let label = view::step_label(step);
                    self.line(format!("{label} → {image} … attempt {attempt}"));
                }
            }
            Event::StepFinished {
                image,
                step: step @ Step::Alias { .. },
                attempt,
                outcome: Outcome::Failed { message },
                ..
            } => {
                let label = view::step_label(step);
                self.line(format!(
                    "{label} → {image} … attempt {attempt} FAILED: {}",
                    view::one_line(message)
                ));
            }
            Event::StepFinished {
                step: Step::Alias { .. },
                ..
            }
            | Event::Log {
                step: Step::Alias { .. },
                ..
            } => {}
            Event::StepStarted {
                image,
                step,
                attempt,
            } => self.step_started(image, step, *attempt),
            Event::Log { image, step, line } => self.log(image, step, line),
            Event::StepFinished {
                image,
                step,
                attempt,
                outcome,
                duration,
                ..
            } => self.step_finished(image, step, *attempt, outcome, *duration),
            Event::ImageSkipped { image, reason } => {
                let pos = self.position(image);
                self.line(format!("{pos} skip {image} … {}", view::one_line(reason)));
                self.advance(1);
            }
            Event::Rebuilding { image, reasons } => {
                let pos = self.position(image);
                let why = view::one_line(&crate::events::reasons_line(reasons));
                self.line(format!("{pos} rebuild {image} … {why}"));
            }
            Event::Matrix { .. } | Event::UpToDate { .. } => {}
            Event::AliasApplied { tag, image, .. } => {
                self.line(format!("alias {tag} → {image}"));
            }
            Event::AliasWithheld { tag, reason } => {
                self.line(format!("alias {tag} withheld: {}", view::one_line(reason)));
            }
            Event::Interrupted => {
                self.line("strata: interrupted; steps in flight were abandoned".to_string());
            }
            Event::RunFinished { duration } => self.run_finished(*duration),
        }
    }
}

impl Terminal {
    /// Sizes the progress bar to the run's steps and says what the run does
    /// and on which engine.
    fn run_started(&mut self, command: &Command, images: usize, tests: usize, engine: &str) {
        self.total_images = images;
        let steps = match command {
            Command::Test => images + tests,
            Command::Push => images,
        };
        if let Output::Bar(bar) = &self.out {
            bar.set_length(steps as u64);
        }
        let what = match command {
            Command::Test => format!(
                "testing {images} image{} ({tests} test{})",
                view::plural(images),
                view::plural(tests)
            ),
            Command::Push => {
                format!("pushing {images} image{}", view::plural(images))
            }
        };
        self.line(format!("strata: {what} on {engine}"));
    }

    /// A step (not an alias's) started: a line for a retry, and the step
    /// shown as running.
    fn step_started(&mut self, image: &str, step: &Step, attempt: u32) {
        let pos = self.position(image);
        let label = view::step_label(step);
        if attempt > 1 {
            self.line(format!("{pos} {label} {image} … attempt {attempt}"));
        }
        self.running.insert(image.to_string(), label);
        self.refresh_message();
    }

    /// A step's output line, shown only when verbose.
    fn log(&mut self, image: &str, step: &Step, line: &str) {
        if self.verbose {
            let pos = self.position(image);
            let label = view::step_label(step);
            self.line(format!("{pos} {label} {image} | {}", line.trim_end()));
        }
    }

    /// A step (not an alias's) finished: its result and duration, and the
    /// progress bar advanced the first time the step settles.
    fn step_finished(
        &mut self,
        image: &str,
        step: &Step,
        attempt: u32,
        outcome: &Outcome,
        duration: Duration,
    ) {
        let pos = self.position(image);
        let label = view::step_label(step);
        let result = match outcome {
            Outcome::Passed if attempt > 1 => format!("ok on attempt {attempt}"),
            Outcome::Passed => "ok".to_owned(),
            Outcome::Failed { message } => {
                format!("FAILED: {}", view::one_line(message))
            }
            Outcome::Skipped { reason } => format!("skipped: {}", view::one_line(reason)),
        };
        self.line(format!(
            "{pos} {label} {image} … {result} ({})",
            view::human_duration(duration)
        ));
        self.running.remove(image);
        if self.settled.insert((image.to_string(), label)) {
            self.advance(1);
        }
        self.refresh_message();
    }

    /// The run finished: the bar cleared and the run's duration.
    fn run_finished(&mut self, duration: Duration) {
        if let Output::Bar(bar) = &self.out {
            bar.finish_and_clear();
        }
        self.line(format!(
            "strata: finished in {}",
            view::human_duration(duration)
        ));
    }
}

/// A one-screen summary of a finished run: counts, each failed image with its
/// first failing step and a one-line reason, skipped images, withheld aliases.
pub fn summary(record: &RunRecord) -> String {
    summary_with_reports(record, &[])
}

/// [`summary`], ending with where the written reports are.
pub fn summary_with_reports(record: &RunRecord, reports: &[PathBuf]) -> String {
    let t = Totals::of(record);
    let verdict = record.verdict().word().to_uppercase();
    let mut lines = vec![
        format!(
            "strata {}: {verdict} in {}",
            view::command_name(record),
            view::human_duration(record.duration)
        ),
        format!(
            "  images:  {} passed, {} failed, {} skipped (of {})",
            t.images_passed, t.images_failed, t.images_skipped, t.images
        ),
        format!(
            "  aliases: {} applied, {} withheld",
            t.aliases_applied, t.aliases_withheld
        ),
    ];
    // A push runs no tests: a tests line would only say 0/0.
    if record.command != Some(Command::Push) {
        lines.insert(
            2,
            format!(
                "  tests:   {}/{} passed{}",
                t.tests_passed,
                t.tests_total,
                if t.steps_retried > 0 {
                    format!(
                        "; {} step{} retried",
                        t.steps_retried,
                        view::plural(t.steps_retried)
                    )
                } else {
                    String::new()
                }
            ),
        );
    }

    let failed: Vec<_> = record
        .images
        .iter()
        .filter(|i| view::image_status(i) == Status::Failed)
        .collect();
    if !failed.is_empty() {
        lines.push("failed:".into());
        for img in failed {
            let why = match view::first_failure(img) {
                Some(s) => format!(
                    "{}: {}",
                    view::step_label(&s.step),
                    view::outcome_reason(&s.outcome)
                        .map(view::one_line)
                        .unwrap_or_default()
                ),
                None => "failed".into(),
            };
            lines.push(format!("  {}  {why}", img.name));
        }
    }
    let skipped: Vec<_> = record
        .images
        .iter()
        .filter_map(|i| i.skipped.as_deref().map(|r| (&i.name, r)))
        .collect();
    if !skipped.is_empty() {
        lines.push("skipped:".into());
        for (name, reason) in skipped {
            lines.push(format!("  {name}  {}", view::one_line(reason)));
        }
    }
    let withheld: Vec<_> = view::sorted_aliases(record)
        .into_iter()
        .filter_map(|a| a.withheld.as_deref().map(|r| (&a.tag, r)))
        .collect();
    if !withheld.is_empty() {
        lines.push("withheld aliases:".into());
        for (tag, reason) in withheld {
            lines.push(format!("  {tag}  {}", view::one_line(reason)));
        }
    }
    if !reports.is_empty() {
        lines.push("reports:".into());
        for p in reports {
            lines.push(format!("  {}", p.display()));
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Step;

    fn finished(image: &str, step: Step, attempt: u32, outcome: Outcome) -> Event {
        Event::StepFinished {
            image: image.into(),
            step,
            attempt,
            outcome,
            log: String::new(),
            duration: Duration::from_millis(5),
            image_id: None,
            digest: None,
        }
    }

    #[test]
    fn bar_counts_each_step_once_and_names_running_ones() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let mut t = Terminal::with_output(Output::Bar(bar.clone()));
        let test = Step::Test {
            index: 1,
            path: "tests/node".into(),
        };
        t.on_event(&Event::RunStarted {
            command: Command::Test,
            images: 2,
            tests: 1,
            engine: "test".into(),
            at: chrono::Utc::now(),
        });
        assert_eq!(bar.length(), Some(3));
        t.on_event(&Event::StepStarted {
            image: "a:1".into(),
            step: Step::Build,
            attempt: 1,
        });
        assert_eq!(bar.message(), "build a:1");
        t.on_event(&finished("a:1", Step::Build, 1, Outcome::Passed));
        let fail = Outcome::Failed {
            message: "x".into(),
        };
        t.on_event(&finished("a:1", test.clone(), 1, fail));
        t.on_event(&finished("a:1", test, 2, Outcome::Passed));
        t.on_event(&Event::ImageSkipped {
            image: "b:1".into(),
            reason: "parent failed".into(),
        });
        assert_eq!(bar.position(), 3, "a retried step counts once");
        assert_eq!(bar.message(), "");
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log_line() -> Event {
        Event::Log {
            image: "a:1".into(),
            step: Step::Build,
            line: "Step 1/2 : FROM busybox\n".into(),
        }
    }

    #[test]
    fn verbose_prints_output_lines_and_default_does_not() {
        let out = Shared::default();
        let mut quiet = Terminal::plain(Box::new(out.clone()));
        quiet.on_event(&log_line());
        assert!(out.0.lock().unwrap().is_empty());
        let mut loud = Terminal::plain(Box::new(out.clone())).verbose(true);
        loud.on_event(&log_line());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "[1/1] build a:1 | Step 1/2 : FROM busybox\n");
    }

    #[test]
    fn a_rebuilt_image_gets_a_line_with_its_reasons() {
        let out = Shared::default();
        let mut t = Terminal::plain(Box::new(out.clone()));
        t.on_event(&Event::Rebuilding {
            image: "a:1".into(),
            reasons: vec![
                crate::events::Reason {
                    kind: crate::events::ReasonKind::BaseMoved,
                    text: "base up/b:1 moved: sha256:1 → sha256:2".into(),
                },
                crate::events::Reason {
                    kind: crate::events::ReasonKind::Dockerfile,
                    text: "Dockerfile changed".into(),
                },
            ],
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "[1/1] rebuild a:1 … base up/b:1 moved: sha256:1 → sha256:2; Dockerfile changed\n"
        );
    }
}
