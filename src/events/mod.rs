//! What happened during a run, as a stream of plain values.
//!
//! The executor emits [`Event`]s; reporters only listen. [`record::RunRecord`]
//! folds the stream into one value that the file reporters render.

pub mod record;
pub mod tail;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::reference::{Digest, ImageId};

/// Which command a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Test,
    Push,
}

/// One step of one image's pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Build,
    /// Test number `index` (1-based), from folder `path`.
    Test {
        index: usize,
        path: PathBuf,
    },
    /// Pushing the image itself under its own name.
    Push,
    /// Pointing the alias `tag` at the image. Its attempts are reported
    /// like any step's; where it ended is the `AliasApplied` or
    /// `AliasWithheld` that follows.
    Alias {
        tag: String,
    },
}

/// How a step (or attempt) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed {
        message: String,
    },
    /// Not attempted; `reason` says why (a parent failed, a test result is missing…).
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }
}

/// Where an image of a native matrix sits: its row (the runtime version),
/// its column (the OS value, with any other axis values) and, for an image
/// of several platforms, one cell per platform. Reports draw the grid from
/// these; an image outside a matrix (a base, an inventory image) has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixCell {
    /// The runtime version: the grid's row.
    pub row: String,
    /// The OS value (and other axis values, after it): the grid's column.
    pub column: String,
    /// The platform, for an image of several platforms: a column of its own
    /// under the OS value.
    pub platform: Option<String>,
    /// The image's name, which its tags and aliases belong to.
    pub image: String,
    /// The name the run reports this cell's steps under: the image's, or
    /// its platform's build (`<name>-linux-arm64`).
    pub unit: String,
}

/// Why an image is rebuilt (or, said by `plan --changes`, would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// A stable word a scheduler can match on.
    pub kind: ReasonKind,
    /// The reason in words, naming what changed, from what to what (a
    /// build argument by its name only, never its value).
    pub text: String,
}

/// The kinds of [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonKind {
    /// Nothing recorded for the image: never built here.
    FirstBuild,
    /// Its last build or a test failed.
    LastFailed,
    /// The image or a test tag is no longer on the engine.
    Missing,
    /// `--no-cache`.
    NoCache,
    Dockerfile,
    /// A context file changed (named, up to a few).
    Context,
    Test,
    Artifact,
    /// An external base moved in its registry (from digest to digest).
    BaseMoved,
    /// An image a `FROM` line reads is another image now (a parent rebuilt).
    Base,
    BuildArgs,
    /// A build secret's value changed (named by ID, never its value).
    Secrets,
    Labels,
    StrataVersion,
    /// Its inputs changed, and the record is too old to say which.
    Inputs,
}

impl ReasonKind {
    /// A few words for where there is no room for the whole reason (the
    /// matrix grid's cells).
    pub fn label(self) -> &'static str {
        match self {
            ReasonKind::FirstBuild => "first build",
            ReasonKind::LastFailed => "last run failed",
            ReasonKind::Missing => "not on the engine",
            ReasonKind::NoCache => "--no-cache",
            ReasonKind::Dockerfile => "Dockerfile",
            ReasonKind::Context => "context files",
            ReasonKind::Test => "tests",
            ReasonKind::Artifact => "artifacts",
            ReasonKind::BaseMoved => "base moved upstream",
            ReasonKind::Base => "base rebuilt",
            ReasonKind::BuildArgs => "build arguments",
            ReasonKind::Secrets => "secrets",
            ReasonKind::Labels => "labels",
            ReasonKind::StrataVersion => "strata version",
            ReasonKind::Inputs => "inputs",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Reasons joined into one line: `a; b; c`.
pub fn reasons_line(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Something that happened. Emitted in order per image; images interleave.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        command: Command,
        images: usize,
        tests: usize,
        engine: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The plan's images laid out as a matrix; emitted after `RunStarted`
    /// when the plan came from a native matrix file.
    Matrix { cells: Vec<MatrixCell> },
    StepStarted {
        image: String,
        step: Step,
        attempt: u32,
    },
    /// A line of build, test or push output.
    Log {
        image: String,
        step: Step,
        line: String,
    },
    StepFinished {
        image: String,
        step: Step,
        attempt: u32,
        outcome: Outcome,
        /// The whole output of this attempt.
        log: String,
        #[serde(with = "duration_secs")]
        duration: Duration,
        /// The image ID built (for builds and tests).
        image_id: Option<ImageId>,
        /// The registry digest (for pushes).
        digest: Option<Digest>,
    },
    /// An image was not attempted at all.
    ImageSkipped { image: String, reason: String },
    /// An image's inputs are unchanged since it passed at `since`: its
    /// steps are reported as passed without being run again.
    UpToDate {
        image: String,
        since: chrono::DateTime<chrono::Utc>,
    },
    /// The image is built (again), and why; emitted before its build.
    Rebuilding { image: String, reasons: Vec<Reason> },
    /// An alias now points at `image` (locally after `test`, in the registry after `push`).
    AliasApplied {
        tag: String,
        image: String,
        image_id: Option<ImageId>,
        digest: Option<Digest>,
    },
    /// An alias was not moved, and why.
    AliasWithheld { tag: String, reason: String },
    /// The run was stopped (Ctrl-C) before it finished; steps in flight
    /// were abandoned and later ones never started.
    Interrupted,
    RunFinished {
        #[serde(with = "duration_secs")]
        duration: Duration,
    },
}

impl Event {
    /// Every text the event carries, so secrets can be scrubbed before it
    /// reaches a listener. A new text field must be listed here.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        fn outcome(o: &mut Outcome) -> Option<&mut String> {
            match o {
                Outcome::Passed => None,
                Outcome::Failed { message } => Some(message),
                Outcome::Skipped { reason } => Some(reason),
            }
        }
        match self {
            Event::RunStarted { engine, .. } => vec![engine],
            Event::Matrix { cells } => cells
                .iter_mut()
                .flat_map(|c| [&mut c.row, &mut c.column, &mut c.image, &mut c.unit])
                .collect(),
            Event::StepStarted { image, .. } => vec![image],
            Event::Log { image, line, .. } => vec![image, line],
            Event::StepFinished {
                image,
                outcome: o,
                log,
                ..
            } => {
                let mut texts = vec![image, log];
                texts.extend(outcome(o));
                texts
            }
            Event::ImageSkipped { image, reason } => vec![image, reason],
            Event::UpToDate { image, .. } => vec![image],
            Event::Rebuilding { image, reasons } => std::iter::once(image)
                .chain(reasons.iter_mut().map(|r| &mut r.text))
                .collect(),
            Event::AliasApplied { tag, image, .. } => vec![tag, image],
            Event::AliasWithheld { tag, reason } => vec![tag, reason],
            Event::Interrupted | Event::RunFinished { .. } => vec![],
        }
    }
}

/// Anything that wants to hear events: reporters, the recorder, tests.
pub trait Listener: Send {
    fn on_event(&mut self, event: &Event);

    /// Called once after the last event: flushes what the listener writes
    /// and returns the first write error it met, which fails the run.
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes a duration as seconds with millisecond precision.
pub(crate) mod duration_secs {
    use serde::Serializer;
    pub fn serialize<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}
