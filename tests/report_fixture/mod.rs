//! A realistic run, as the executor would emit it, shared by the report tests.
//!
//! Four images: one passes everything and is pushed, one builds on its second
//! attempt and then fails a test whose log contains Markdown and HTML, one is
//! skipped because that image is its parent, one passes a flaky test on its
//! third attempt. Two aliases are applied, one is withheld.

#![allow(dead_code)]

use std::time::Duration;

use chrono::TimeZone;
use strata::events::record::{Recorder, RunRecord};
use strata::events::{Command, Event, Listener, MatrixCell, Outcome, Reason, ReasonKind, Step};

pub const BOOKWORM: &str = "acme/node:22-bookworm";
pub const ALPINE: &str = "acme/node:22-alpine";
pub const ALPINE_DEV: &str = "acme/node:22-alpine-dev";
pub const NODE20: &str = "acme/node:20-bookworm";
pub const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
pub const SKIP_REASON: &str = "parent acme/node:22-alpine did not pass";
pub const WITHHELD_REASON: &str = "no candidate passed: acme/node:22-alpine failed test 1";
pub const FAIL_MESSAGE: &str =
    "The command '/bin/sh -c node -e \"process.exit(3)\"' returned a non-zero code: 3";

pub const BASE_MOVED: &str = "base debian:bookworm-slim moved: sha256:1111111111111111111111111111111111111111111111111111111111111111 → sha256:2222222222222222222222222222222222222222222222222222222222222222";

pub fn reason(kind: ReasonKind, text: &str) -> Reason {
    Reason {
        kind,
        text: text.into(),
    }
}

pub fn test_step(index: usize, path: &str) -> Step {
    Step::Test {
        index,
        path: path.into(),
    }
}

fn started(image: &str, step: &Step, attempt: u32) -> Event {
    Event::StepStarted {
        image: image.into(),
        step: step.clone(),
        attempt,
    }
}

fn finished(image: &str, step: &Step, attempt: u32, outcome: Outcome, log: &str, ms: u64) -> Event {
    Event::StepFinished {
        image: image.into(),
        step: step.clone(),
        attempt,
        outcome,
        log: log.into(),
        duration: Duration::from_millis(ms),
        image_id: match step {
            Step::Push => None,
            _ => Some(format!("sha256:{:0>64}", attempt).into()),
        },
        digest: match step {
            Step::Push => Some(DIGEST.into()),
            _ => None,
        },
    }
}

/// Emits `log` line by line, then the step's end, as the executor does.
fn step(
    events: &mut Vec<Event>,
    image: &str,
    s: &Step,
    attempt: u32,
    outcome: Outcome,
    log: &str,
    ms: u64,
) {
    events.push(started(image, s, attempt));
    for line in log.lines() {
        events.push(Event::Log {
            image: image.into(),
            step: s.clone(),
            line: line.into(),
        });
    }
    events.push(finished(image, s, attempt, outcome, log, ms));
}

/// The log of the failing test: 40 numbered lines, a Markdown fence, a fake
/// heading and an HTML script tag, then the engine's error.
pub fn failing_test_log() -> String {
    let mut log = String::from("Step 1/3 : FROM sha256:0000\n ---> 0000\n");
    log.push_str("Step 2/3 : RUN printf '```\\n# not a heading\\n<script>alert(1)</script>\\n'\n");
    log.push_str("```\n# not a heading\n<script>alert(1)</script>\n");
    for i in 1..=40 {
        log.push_str(&format!("output line {i:02}\n"));
    }
    log.push_str("Step 3/3 : RUN node -e \"process.exit(3)\"\n");
    log.push_str(FAIL_MESSAGE);
    log.push('\n');
    log
}

/// A cell of the grid for an image without platforms.
fn cell(row: &str, column: &str, image: &str) -> MatrixCell {
    MatrixCell {
        row: row.into(),
        column: column.into(),
        platform: None,
        image: image.into(),
        unit: image.into(),
    }
}

pub fn events() -> Vec<Event> {
    let build = Step::Build;
    let mut ev = vec![Event::RunStarted {
        command: Command::Test,
        images: 4,
        tests: 4,
        engine: "Docker Engine 20.10.24".into(),
        at: chrono::Utc
            .with_ymd_and_hms(2024, 11, 20, 9, 30, 0)
            .unwrap(),
    }];
    // The images of a native matrix: rows 22.11.0 and 20.18.0, columns
    // bookworm, alpine, and alpine's dev variant (20.18.0 has neither).
    ev.push(Event::Matrix {
        cells: vec![
            cell("22.11.0", "bookworm", BOOKWORM),
            cell("22.11.0", "alpine", ALPINE),
            cell("22.11.0", "alpine · dev", ALPINE_DEV),
            cell("20.18.0", "bookworm", NODE20),
        ],
    });
    let ok = || Outcome::Passed;
    let failed = |m: &str| Outcome::Failed { message: m.into() };
    ev.push(Event::Rebuilding {
        image: BOOKWORM.into(),
        reasons: vec![
            reason(ReasonKind::BaseMoved, BASE_MOVED),
            reason(
                ReasonKind::BuildArgs,
                "build argument changed: NODE_VERSION",
            ),
        ],
    });

    // 1. Passes, then pushed with a digest.
    step(
        &mut ev,
        BOOKWORM,
        &build,
        1,
        ok(),
        "Step 1/2 : FROM debian:bookworm\nSuccessfully built 1\n",
        12_300,
    );
    step(
        &mut ev,
        BOOKWORM,
        &test_step(1, "tests/node"),
        1,
        ok(),
        "v22.11.0\n",
        2_100,
    );
    step(
        &mut ev,
        BOOKWORM,
        &test_step(2, "tests/npm"),
        1,
        ok(),
        "10.9.0\n",
        3_400,
    );
    step(&mut ev, BOOKWORM, &Step::Push, 1, ok(), "Pushed\n", 5_000);

    // 2. Build retried once, then a test fails.
    step(
        &mut ev,
        ALPINE,
        &build,
        1,
        failed("temporary failure resolving dl-cdn.alpinelinux.org"),
        "fetch https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nERROR: temporary failure\n",
        4_000,
    );
    step(
        &mut ev,
        ALPINE,
        &build,
        2,
        ok(),
        "Step 1/2 : FROM alpine\nSuccessfully built 2\n",
        9_000,
    );
    step(
        &mut ev,
        ALPINE,
        &test_step(1, "tests/node"),
        1,
        failed(FAIL_MESSAGE),
        &failing_test_log(),
        1_500,
    );

    // 3. Never attempted.
    ev.push(Event::ImageSkipped {
        image: ALPINE_DEV.into(),
        reason: SKIP_REASON.into(),
    });

    // 4. A flaky test passes on its third attempt.
    step(
        &mut ev,
        NODE20,
        &build,
        1,
        ok(),
        "Successfully built 3\n",
        11_000,
    );
    let t = test_step(1, "tests/node");
    step(
        &mut ev,
        NODE20,
        &t,
        1,
        failed("timeout"),
        "attempt one\n",
        1_000,
    );
    step(
        &mut ev,
        NODE20,
        &t,
        2,
        failed("timeout"),
        "attempt two\n",
        1_000,
    );
    step(&mut ev, NODE20, &t, 3, ok(), "v20.18.0\n", 1_000);

    ev.push(Event::AliasApplied {
        tag: "acme/node:lts".into(),
        image: BOOKWORM.into(),
        image_id: Some("sha256:1".into()),
        digest: Some(DIGEST.into()),
    });
    ev.push(Event::AliasWithheld {
        tag: "acme/node:alpine".into(),
        reason: WITHHELD_REASON.into(),
    });
    ev.push(Event::AliasApplied {
        tag: "acme/node:22".into(),
        image: BOOKWORM.into(),
        image_id: Some("sha256:1".into()),
        digest: None,
    });
    ev.push(Event::RunFinished {
        duration: Duration::from_secs(75),
    });
    ev
}

/// The record the [`Recorder`] folds the events into.
pub fn record() -> RunRecord {
    feed(&events())
}

pub fn feed(events: &[Event]) -> RunRecord {
    let mut r = Recorder::default();
    for e in events {
        r.on_event(e);
    }
    r.record
}

/// A run where everything passed.
pub fn passing_record() -> RunRecord {
    let ev: Vec<Event> = events()
        .into_iter()
        .filter(|e| match e {
            Event::StepStarted { image, .. }
            | Event::Log { image, .. }
            | Event::StepFinished { image, .. }
            | Event::Rebuilding { image, .. }
            | Event::ImageSkipped { image, .. } => image == BOOKWORM,
            Event::AliasWithheld { .. } => false,
            _ => true,
        })
        .map(|e| match e {
            Event::Matrix { cells } => Event::Matrix {
                cells: cells.into_iter().filter(|c| c.image == BOOKWORM).collect(),
            },
            e => e,
        })
        .collect();
    feed(&ev)
}

pub const PLATFORM_IMAGE: &str = "acme/bookworm:22.11.0";
pub const UP_TO_DATE_IMAGE: &str = "acme/bookworm:20.18.0";
pub const BULLSEYE_22: &str = "acme/bullseye:22.11.0";
pub const BULLSEYE_20: &str = "acme/bullseye:20.18.0";
pub const ARM_FAILURE: &str =
    "RUN node -e \"process.arch === 'arm64' || process.exit(1)\" returned 1";
pub const UP_TO_DATE_NOTE: &str =
    "up to date: inputs unchanged since the pass of 2024-11-19 08:00:00 UTC; not rebuilt (--no-cache rebuilds)";

/// The build of `image` for `platform`, as the executor names it.
pub fn unit(image: &str, platform: &str) -> String {
    format!("{image}-{}", platform.replace('/', "-"))
}

/// A run of a matrix whose bookworm images have two platforms each:
/// 22.11.0 passes on amd64 and fails a test on arm64; 20.18.0 is up to date
/// on both and carries two aliases; bullseye 22.11.0 passes, bullseye
/// 20.18.0 is skipped.
pub fn platform_matrix_events() -> Vec<Event> {
    let mut ev = vec![Event::RunStarted {
        command: Command::Test,
        images: 6,
        tests: 6,
        engine: "Docker Engine 20.10.24".into(),
        at: chrono::Utc
            .with_ymd_and_hms(2024, 11, 20, 9, 30, 0)
            .unwrap(),
    }];
    let on = |row: &str, image: &str, platform: &str| MatrixCell {
        row: row.into(),
        column: "bookworm".into(),
        platform: Some(platform.into()),
        image: image.into(),
        unit: unit(image, platform),
    };
    ev.push(Event::Matrix {
        cells: vec![
            on("22.11.0", PLATFORM_IMAGE, "linux/amd64"),
            on("22.11.0", PLATFORM_IMAGE, "linux/arm64"),
            cell("22.11.0", "bullseye", BULLSEYE_22),
            on("20.18.0", UP_TO_DATE_IMAGE, "linux/amd64"),
            on("20.18.0", UP_TO_DATE_IMAGE, "linux/arm64"),
            cell("20.18.0", "bullseye", BULLSEYE_20),
        ],
    });
    let node = test_step(1, "tests/node");
    let amd = unit(PLATFORM_IMAGE, "linux/amd64");
    let arm = unit(PLATFORM_IMAGE, "linux/arm64");
    step(
        &mut ev,
        &amd,
        &Step::Build,
        1,
        Outcome::Passed,
        "built\n",
        9_000,
    );
    step(&mut ev, &amd, &node, 1, Outcome::Passed, "v22.11.0\n", 900);
    step(
        &mut ev,
        &arm,
        &Step::Build,
        1,
        Outcome::Passed,
        "built\n",
        40_000,
    );
    step(
        &mut ev,
        &arm,
        &node,
        1,
        Outcome::Failed {
            message: ARM_FAILURE.into(),
        },
        "x64\n",
        3_000,
    );
    for platform in ["linux/amd64", "linux/arm64"] {
        let u = unit(UP_TO_DATE_IMAGE, platform);
        ev.push(Event::UpToDate {
            image: u.clone(),
            since: chrono::Utc.with_ymd_and_hms(2024, 11, 19, 8, 0, 0).unwrap(),
        });
        for s in [&Step::Build, &node] {
            step(&mut ev, &u, s, 1, Outcome::Passed, UP_TO_DATE_NOTE, 0);
        }
    }
    ev.push(Event::Rebuilding {
        image: BULLSEYE_22.into(),
        reasons: vec![reason(
            ReasonKind::Context,
            "context file changed: rootfs.tar",
        )],
    });
    step(
        &mut ev,
        BULLSEYE_22,
        &Step::Build,
        1,
        Outcome::Passed,
        "built\n",
        8_000,
    );
    step(
        &mut ev,
        BULLSEYE_22,
        &node,
        1,
        Outcome::Passed,
        "v22.11.0\n",
        800,
    );
    ev.push(Event::ImageSkipped {
        image: BULLSEYE_20.into(),
        reason: "parent acme/base:bullseye did not pass".into(),
    });
    for tag in ["acme/bookworm:20", "acme/node:lts"] {
        ev.push(Event::AliasApplied {
            tag: tag.into(),
            image: UP_TO_DATE_IMAGE.into(),
            image_id: None,
            digest: None,
        });
    }
    ev.push(Event::AliasWithheld {
        tag: "acme/bookworm:latest".into(),
        reason: format!("no candidate passed: {arm} failed test 1"),
    });
    ev.push(Event::RunFinished {
        duration: Duration::from_secs(61),
    });
    ev
}

pub fn platform_matrix_record() -> RunRecord {
    feed(&platform_matrix_events())
}
