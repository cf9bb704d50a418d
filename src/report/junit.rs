//! The JUnit XML report, for CI systems that show test results natively.
//!
//! One `<testsuite>` per image, with test cases `build`, `test <N> (<path>)`
//! and `push` in the order they ran. An image never attempted gets one skipped
//! `build` case carrying the reason. A step that passed after retries is a
//! success with `<flakyFailure>` elements; one that failed after retries
//! carries `<rerunFailure>` elements, so CI tools that understand flakiness
//! can show it. Aliases form a last suite: a withheld alias is a failure,
//! matching [`RunRecord::verdict`].

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use crate::events::record::{ImageRecord, RunRecord, StepRecord, Verdict};
use crate::events::Outcome;

use super::view;

/// Name of the suite holding one test case per alias.
pub const ALIAS_SUITE: &str = "aliases";

/// Renders the record as a JUnit XML document.
pub fn render(record: &RunRecord) -> String {
    let mut report = Report::new(format!("strata {}", view::command_name(record)));
    if let Some(at) = record.started_at {
        report.set_timestamp(at);
    }
    report.set_time(record.duration);
    for img in &record.images {
        report.add_test_suite(image_suite(img));
    }
    if !record.aliases.is_empty() {
        report.add_test_suite(alias_suite(record));
    }
    if record.verdict() == Verdict::Interrupted {
        report.add_test_suite(interrupted_suite());
    }
    report
        .to_string()
        .expect("serializing JUnit XML to memory cannot fail")
}

/// Name of the suite that marks an interrupted run.
pub const RUN_SUITE: &str = "run";

/// An interrupted run is never green in CI: one errored case says so.
fn interrupted_suite() -> TestSuite {
    let mut suite = TestSuite::new(RUN_SUITE);
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_message("the run was interrupted before it finished");
    status.set_type("interrupted");
    let mut case = TestCase::new("interrupted", status);
    case.set_classname(RUN_SUITE);
    suite.add_test_case(case);
    suite
}

fn image_suite(img: &ImageRecord) -> TestSuite {
    let mut suite = TestSuite::new(img.name.as_str());
    if let Some(reason) = &img.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_message(reason.as_str());
        let mut case = TestCase::new("build", status);
        case.set_classname(img.name.as_str());
        suite.add_test_case(case);
        return suite;
    }
    suite.set_time(view::image_duration(img));
    if let Some(id) = &img.image_id {
        suite.add_property(("image_id", id.as_str()));
    }
    if let Some(d) = &img.digest {
        suite.add_property(("digest", d.as_str()));
    }
    for step in &img.steps {
        suite.add_test_case(step_case(&img.name, step));
    }
    suite
}

fn step_case(image: &str, s: &StepRecord) -> TestCase {
    let mut status = match &s.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed { message } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(view::one_line(message));
            st.set_description(message.as_str());
            st.set_rerun_kind(FlakyOrRerun::Rerun);
            st
        }
        Outcome::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.as_str());
            st
        }
    };
    // Earlier attempts all failed (that is why there was another one).
    status.add_reruns(s.earlier_logs.iter().enumerate().map(|(i, log)| {
        let mut r = TestRerun::new(NonSuccessKind::Failure);
        r.set_message(format!("attempt {} failed", i + 1));
        r.set_system_out(log.as_str());
        r
    }));
    let mut case = TestCase::new(view::step_label(&s.step), status);
    case.set_classname(image);
    case.set_time(s.duration);
    if !s.log.is_empty() {
        case.set_system_out(s.log.as_str());
    }
    if s.attempts > 1 {
        case.add_property(("attempts", s.attempts.to_string().as_str()));
    }
    case
}

fn alias_suite(record: &RunRecord) -> TestSuite {
    let mut suite = TestSuite::new(ALIAS_SUITE);
    for a in view::sorted_aliases(record) {
        let status = match (&a.image, &a.withheld) {
            (Some(_), _) => TestCaseStatus::success(),
            (None, reason) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!(
                    "withheld: {}",
                    reason.as_deref().unwrap_or("no reason given")
                ));
                st
            }
        };
        let mut case = TestCase::new(a.tag.as_str(), status);
        case.set_classname(ALIAS_SUITE);
        if let Some(img) = &a.image {
            case.add_property(("image", img.as_str()));
        }
        if let Some(d) = &a.digest {
            case.add_property(("digest", d.as_str()));
        }
        suite.add_test_case(case);
    }
    suite
}
