//! Folds an event stream into a [`RunRecord`]: the one value file reports render.
//!
//! Reporters for Markdown, JSON, JUnit and HTML all render a finished record,
//! so they agree with each other by construction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Command, Event, Listener, MatrixCell, Outcome, Reason, Step};
use crate::reference::{Digest, ImageId};

/// Everything a run did, per image, in the order images first appeared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunRecord {
    pub command: Option<Command>,
    pub engine: String,
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "super::duration_secs")]
    pub duration: Duration,
    pub images: Vec<ImageRecord>,
    pub aliases: Vec<AliasRecord>,
    /// True when the run was stopped before it finished.
    pub interrupted: bool,
    /// Where each image sits in the matrix (empty outside a native matrix).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matrix: Vec<MatrixCell>,
}

/// One image's build, tests and push.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord {
    pub name: String,
    pub image_id: Option<ImageId>,
    pub digest: Option<Digest>,
    /// Steps in the order they ran: build, tests, push.
    pub steps: Vec<StepRecord>,
    /// Set when the image was not attempted at all.
    pub skipped: Option<String>,
    /// Set when its inputs were unchanged since it passed (at this time),
    /// so nothing was built or tested again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_date: Option<DateTime<Utc>>,
    /// Why it was built again, when it was (see [`Reason`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// One step, after its last attempt.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub step: Step,
    pub outcome: Outcome,
    /// The attempt that produced `outcome` (1 = first try).
    pub attempts: u32,
    /// Output of the last attempt.
    pub log: String,
    /// Output of earlier, failed attempts, oldest first.
    pub earlier_logs: Vec<String>,
    #[serde(with = "super::duration_secs")]
    pub duration: Duration,
    pub image_id: Option<ImageId>,
}

/// Where an alias ended up.
#[derive(Debug, Clone, Serialize)]
pub struct AliasRecord {
    pub tag: String,
    /// The image it points at, when applied.
    pub image: Option<String>,
    pub digest: Option<Digest>,
    /// Why it was withheld, when not applied.
    pub withheld: Option<String>,
    /// The attempt that settled it, when moving it took more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why each attempt that failed did, oldest first (the last is also
    /// the reason, for an alias withheld after its retries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_attempts: Vec<String>,
}

impl ImageRecord {
    /// The build step, if it ran.
    pub fn build(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == Step::Build)
    }
    /// The test steps, in order.
    pub fn tests(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps
            .iter()
            .filter(|s| matches!(s.step, Step::Test { .. }))
    }
    /// The push step, if it ran.
    pub fn push(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == Step::Push)
    }
    /// True when the image was attempted and every step it ran passed.
    pub fn passed(&self) -> bool {
        self.skipped.is_none()
            && !self.steps.is_empty()
            && self.steps.iter().all(|s| s.outcome.passed())
    }
}

/// How a whole run ended: the one verdict the exit code and every reporter use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every image passed and no alias was withheld.
    Passed,
    /// An image, test or push failed or was refused, or an alias was withheld.
    Failed,
    /// The run was stopped before it finished, whatever had passed so far.
    Interrupted,
}

impl Verdict {
    /// The plain word.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Interrupted => "interrupted",
        }
    }
}

impl RunRecord {
    /// The run's verdict. An interrupted run is never "passed", even when
    /// everything it got to passed.
    pub fn verdict(&self) -> Verdict {
        if self.interrupted {
            Verdict::Interrupted
        } else if self.images.iter().all(ImageRecord::passed)
            && self.aliases.iter().all(|a| a.withheld.is_none())
        {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    }

    /// (passed, failed, skipped) over steps of every image; skipped images count once.
    pub fn step_counts(&self) -> (usize, usize, usize) {
        let (mut p, mut f, mut s) = (0, 0, 0);
        for img in &self.images {
            if img.skipped.is_some() {
                s += 1;
            }
            for st in &img.steps {
                match st.outcome {
                    Outcome::Passed => p += 1,
                    Outcome::Failed { .. } => f += 1,
                    Outcome::Skipped { .. } => s += 1,
                }
            }
        }
        (p, f, s)
    }

    fn image_mut(&mut self, name: &str) -> &mut ImageRecord {
        if let Some(i) = self.images.iter().position(|r| r.name == name) {
            return &mut self.images[i];
        }
        self.images.push(ImageRecord {
            name: name.to_owned(),
            image_id: None,
            digest: None,
            steps: vec![],
            skipped: None,
            up_to_date: None,
            reasons: vec![],
        });
        self.images.last_mut().expect("just pushed")
    }
}

/// A [`Listener`] that builds a [`RunRecord`].
#[derive(Debug, Default)]
pub struct Recorder {
    pub record: RunRecord,
    /// Each alias's attempts so far (last attempt, failures), until the
    /// event that says where it ended.
    alias_attempts: std::collections::HashMap<String, (u32, Vec<String>)>,
}

/// The attempts an alias took, for its record (`None` for one), taken out
/// of the ones gathered so far.
fn attempts_of(
    gathered: &mut std::collections::HashMap<String, (u32, Vec<String>)>,
    tag: &str,
) -> (Option<u32>, Vec<String>) {
    match gathered.remove(tag) {
        Some((n, failed)) if n > 1 || !failed.is_empty() => (Some(n), failed),
        _ => (None, vec![]),
    }
}

impl Recorder {
    /// Gathers an alias's finished attempt (its number, and why it failed)
    /// until the event that says where the alias ended.
    fn alias_attempt(&mut self, tag: &str, attempt: u32, outcome: &Outcome) {
        let entry = self.alias_attempts.entry(tag.to_owned()).or_default();
        entry.0 = attempt;
        if let Outcome::Failed { message } = outcome {
            entry.1.push(message.clone());
        }
    }

    /// Records where an alias ended, with the attempts it took, in place of
    /// any earlier record of the same tag.
    fn alias_settled(&mut self, mut alias: AliasRecord) {
        (alias.attempts, alias.failed_attempts) = attempts_of(&mut self.alias_attempts, &alias.tag);
        self.record.aliases.retain(|a| a.tag != alias.tag);
        self.record.aliases.push(alias);
    }
}

impl AliasRecord {
    /// An alias moved to `image` (at `digest`), its attempts not yet filled in.
    fn applied(tag: &str, image: &str, digest: &Option<Digest>) -> AliasRecord {
        AliasRecord {
            tag: tag.to_owned(),
            image: Some(image.to_owned()),
            digest: digest.clone(),
            withheld: None,
            attempts: None,
            failed_attempts: vec![],
        }
    }

    /// An alias withheld for `reason`, its attempts not yet filled in.
    fn withheld(tag: &str, reason: &str) -> AliasRecord {
        AliasRecord {
            tag: tag.to_owned(),
            image: None,
            digest: None,
            withheld: Some(reason.to_owned()),
            attempts: None,
            failed_attempts: vec![],
        }
    }
}

impl RunRecord {
    /// Folds a finished attempt of an image's step (`event`, a
    /// `StepFinished`; any other event is ignored) into the image's record:
    /// a passed build sets its image ID, a digest is kept, and a step tried
    /// again keeps the earlier attempts' logs and adds up their durations.
    fn step_finished(&mut self, event: &Event) {
        let Event::StepFinished {
            image,
            step,
            attempt,
            outcome,
            log,
            duration,
            image_id,
            digest,
        } = event
        else {
            return;
        };
        let img = self.image_mut(image);
        if *step == Step::Build && outcome.passed() {
            img.image_id = image_id.clone();
        }
        if digest.is_some() {
            img.digest = digest.clone();
        }
        match img.steps.iter_mut().find(|s| s.step == *step) {
            Some(s) => {
                let old = std::mem::take(&mut s.log);
                s.earlier_logs.push(old);
                s.outcome = outcome.clone();
                s.attempts = *attempt;
                s.log = log.clone();
                s.duration += *duration;
                s.image_id = image_id.clone();
            }
            None => img.steps.push(StepRecord {
                step: step.clone(),
                outcome: outcome.clone(),
                attempts: *attempt,
                log: log.clone(),
                earlier_logs: vec![],
                duration: *duration,
                image_id: image_id.clone(),
            }),
        }
    }
}

impl Listener for Recorder {
    fn on_event(&mut self, event: &Event) {
        let rec = &mut self.record;
        match event {
            // An alias's attempts belong to the alias, not to its image's steps.
            Event::StepStarted {
                step: Step::Alias { .. },
                ..
            }
            | Event::Log {
                step: Step::Alias { .. },
                ..
            } => {}
            Event::StepFinished {
                step: Step::Alias { tag },
                attempt,
                outcome,
                ..
            } => self.alias_attempt(tag, *attempt, outcome),
            Event::RunStarted {
                command,
                engine,
                at,
                ..
            } => {
                rec.command = Some(*command);
                rec.engine = engine.clone();
                rec.started_at = Some(*at);
            }
            Event::Matrix { cells } => {
                rec.matrix = cells.clone();
            }
            Event::StepStarted { image, .. } => {
                rec.image_mut(image);
            }
            Event::UpToDate { image, since } => {
                rec.image_mut(image).up_to_date = Some(*since);
            }
            Event::Rebuilding { image, reasons } => {
                rec.image_mut(image).reasons = reasons.clone();
            }
            Event::Log { .. } => {}
            Event::StepFinished { .. } => rec.step_finished(event),
            Event::ImageSkipped { image, reason } => {
                rec.image_mut(image).skipped = Some(reason.clone());
            }
            Event::AliasApplied {
                tag, image, digest, ..
            } => self.alias_settled(AliasRecord::applied(tag, image, digest)),
            Event::AliasWithheld { tag, reason } => {
                self.alias_settled(AliasRecord::withheld(tag, reason))
            }
            Event::Interrupted => rec.interrupted = true,
            Event::RunFinished { duration } => rec.duration = *duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(image: &str, step: Step, attempt: u32, outcome: Outcome) -> Event {
        Event::StepFinished {
            image: image.into(),
            step,
            attempt,
            outcome,
            log: format!("attempt {attempt}"),
            duration: Duration::from_millis(10),
            image_id: Some("sha256:1".into()),
            digest: None,
        }
    }

    #[test]
    fn retries_keep_earlier_logs_and_the_passing_attempt() {
        let mut r = Recorder::default();
        let fail = Outcome::Failed {
            message: "x".into(),
        };
        r.on_event(&finished("a:1", Step::Build, 1, fail));
        r.on_event(&finished("a:1", Step::Build, 2, Outcome::Passed));
        let img = &r.record.images[0];
        let b = img.build().unwrap();
        assert_eq!(b.attempts, 2);
        assert_eq!(b.earlier_logs, vec!["attempt 1".to_string()]);
        assert_eq!(b.log, "attempt 2");
        assert!(img.passed());
        assert_eq!(img.image_id.as_deref(), Some("sha256:1"));
    }

    #[test]
    fn a_failed_test_or_skip_fails_the_run() {
        let mut r = Recorder::default();
        r.on_event(&finished("a:1", Step::Build, 1, Outcome::Passed));
        let t = Step::Test {
            index: 1,
            path: "t".into(),
        };
        r.on_event(&finished(
            "a:1",
            t,
            1,
            Outcome::Failed {
                message: "RUN false".into(),
            },
        ));
        r.on_event(&Event::ImageSkipped {
            image: "b:1".into(),
            reason: "parent failed".into(),
        });
        assert_eq!(r.record.verdict(), Verdict::Failed);
        assert_eq!(r.record.step_counts(), (1, 1, 1));
    }
}
