//! The exact text of every report for the fixture run, as snapshots: a
//! reordered, duplicated or missing section fails here even where the
//! structural tests in `report_render.rs` would not look.
//!
//! After an intended change, review the new text and accept it with
//! `INSTA_UPDATE=always cargo test --test report_snapshots` (or `cargo insta review`).

mod report_fixture;

use report_fixture::*;
use strata::report::{html, json, junit, markdown, terminal};

#[test]
fn markdown_report() {
    insta::assert_snapshot!(markdown::render(&record()));
}

#[test]
fn markdown_report_of_a_passing_run() {
    insta::assert_snapshot!(markdown::render(&passing_record()));
}

#[test]
fn markdown_summary_for_a_ci_job() {
    insta::assert_snapshot!(markdown::summary(&record()));
}

#[test]
fn terminal_summary() {
    insta::assert_snapshot!(terminal::summary(&record()));
}

#[test]
fn terminal_summary_naming_the_reports() {
    let reports = [
        std::path::PathBuf::from(".strata/runs/latest/report.md"),
        std::path::PathBuf::from(".strata/runs/latest/report.html"),
    ];
    insta::assert_snapshot!(terminal::summary_with_reports(&passing_record(), &reports));
}

#[test]
fn html_report() {
    insta::assert_snapshot!(html::render(&record()));
}

#[test]
fn json_report() {
    insta::assert_snapshot!(json::render(&record()));
}

#[test]
fn junit_report() {
    insta::assert_snapshot!(junit::render(&record()));
}

#[test]
fn markdown_summary_of_a_matrix_with_platforms() {
    insta::assert_snapshot!(markdown::summary(&platform_matrix_record()));
}

#[test]
fn html_report_of_a_matrix_with_platforms() {
    insta::assert_snapshot!(html::render(&platform_matrix_record()));
}
