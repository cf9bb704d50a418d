//! The HTML report: one self-contained page (inline CSS, no scripts, no
//! external assets) that can be attached to a CI run or opened from disk.
//!
//! The page is a [`minijinja`] template with HTML auto-escaping, so every log
//! line, message and name is escaped by the template engine rather than by
//! hand; the template only ever sees the plain view built here.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::events::record::{ImageRecord, RunRecord, StepRecord};

use super::grid::Grid;
use super::view::{self, Status, Totals, FAILURE_TAIL_LINES};

const TEMPLATE: &str = include_str!("report.html.j2");

/// Renders the record as a complete HTML document.
pub fn render(record: &RunRecord) -> String {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report", TEMPLATE)
        .expect("the built-in report template parses");
    env.get_template("report")
        .and_then(|t| t.render(context(&PageView::of(record))))
        .expect("the built-in report template renders any run record")
}

/// Turns the view into a template value through its JSON form.
///
/// minijinja only accepts serde types behind its optional `serde` feature;
/// going through `serde_json::Value` keeps this reporter independent of it.
fn context(view: &PageView) -> Value {
    to_value(serde_json::to_value(view).expect("the page view always serializes"))
}

fn to_value(j: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::from(s),
        J::Array(a) => a.into_iter().map(to_value).collect(),
        J::Object(o) => Value::from_pairs(o.into_iter().map(|(k, v)| (k, to_value(v)))),
    }
}

#[derive(Serialize)]
struct PageView {
    title: String,
    status: Status,
    totals: Totals,
    engine: String,
    started: Option<String>,
    duration: String,
    /// The matrix at a glance, for a run of a native matrix.
    grid: Option<Grid>,
    images: Vec<ImageView>,
    aliases: Vec<AliasView>,
}

#[derive(Serialize)]
struct ImageView {
    name: String,
    /// HTML id for links from the summary table.
    anchor: String,
    status: Status,
    skipped: Option<String>,
    build: Option<Status>,
    build_note: Option<String>,
    tests_passed: usize,
    tests_total: usize,
    push: Option<Status>,
    aliases: Vec<String>,
    image_id: Option<String>,
    digest: Option<String>,
    /// Why it was built again, each in words.
    reasons: Vec<String>,
    short_digest: Option<String>,
    duration: String,
    failure: Option<FailureView>,
    steps: Vec<StepView>,
}

#[derive(Serialize)]
struct FailureView {
    step: String,
    verdict: String,
    tail: String,
    cut: usize,
}

#[derive(Serialize)]
struct StepView {
    label: String,
    status: Status,
    verdict: String,
    duration: String,
    log: String,
    earlier_logs: Vec<String>,
    retried: bool,
}

#[derive(Serialize)]
struct AliasView {
    tag: String,
    applied: bool,
    /// `applied`, `applied on attempt 2`, `withheld after 3 attempts`.
    status: String,
    image: Option<String>,
    anchor: Option<String>,
    digest: Option<String>,
    reason: Option<String>,
}

impl PageView {
    fn of(record: &RunRecord) -> PageView {
        let status = Status::from(record.verdict());
        PageView {
            title: format!("strata {} report", view::command_name(record)),
            status,
            totals: Totals::of(record),
            engine: record.engine.clone(),
            started: record
                .started_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
            duration: view::human_duration(record.duration),
            grid: Grid::of(record),
            images: record
                .images
                .iter()
                .enumerate()
                .map(|(i, img)| ImageView::of(i, img, record))
                .collect(),
            aliases: view::sorted_aliases(record)
                .into_iter()
                .map(|a| AliasView {
                    tag: a.tag.clone(),
                    applied: a.image.is_some(),
                    status: view::alias_status(a),
                    image: a.image.clone(),
                    anchor: a.image.as_deref().and_then(|n| {
                        record
                            .images
                            .iter()
                            .position(|i| i.name == n)
                            .map(image_anchor)
                    }),
                    digest: a.digest.as_deref().map(str::to_owned),
                    reason: a.withheld.clone(),
                })
                .collect(),
        }
    }
}

fn image_anchor(index: usize) -> String {
    format!("image-{}", index + 1)
}

impl ImageView {
    fn of(index: usize, img: &ImageRecord, record: &RunRecord) -> ImageView {
        let (tests_passed, tests_total) = view::test_counts(img);
        ImageView {
            name: img.name.clone(),
            anchor: image_anchor(index),
            status: view::image_status(img),
            skipped: img.skipped.clone(),
            build: view::step_status(img.build()),
            build_note: img
                .build()
                .filter(|b| b.attempts > 1)
                .map(|b| format!("attempt {}", b.attempts)),
            tests_passed,
            tests_total,
            push: view::step_status(img.push()),
            aliases: view::aliases_of(record, &img.name)
                .into_iter()
                .map(|a| view::short_alias(&img.name, &a.tag).to_string())
                .collect(),
            image_id: img.image_id.as_deref().map(str::to_owned),
            digest: img.digest.as_deref().map(str::to_owned),
            reasons: img.reasons.iter().map(|r| r.text.clone()).collect(),
            short_digest: img.digest.as_deref().map(view::short_digest),
            duration: view::human_duration(view::image_duration(img)),
            failure: view::first_failure(img).map(|s| {
                let (tail, cut) = view::tail(&s.log, FAILURE_TAIL_LINES);
                FailureView {
                    step: view::step_label(&s.step),
                    verdict: view::step_verdict(s),
                    tail: tail.to_owned(),
                    cut,
                }
            }),
            steps: img.steps.iter().map(StepView::of).collect(),
        }
    }
}

impl StepView {
    fn of(s: &StepRecord) -> StepView {
        StepView {
            label: view::step_label(&s.step),
            status: Status::from(&s.outcome),
            verdict: view::step_verdict(s),
            duration: view::human_duration(s.duration),
            log: s.log.trim_end_matches('\n').to_owned(),
            earlier_logs: s
                .earlier_logs
                .iter()
                .map(|l| l.trim_end_matches('\n').to_owned())
                .collect(),
            retried: s.attempts > 1,
        }
    }
}
