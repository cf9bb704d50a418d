//! Release feeds: which runtime versions exist, and their schedule.
//!
//! Node.js publishes its release index as `index.json` and `index.tab`, and
//! its schedule (majors, LTS dates, codenames) as `schedule.json`. Both are
//! read from a file or an https URL into the plain values below.

use chrono::NaiveDate;
use serde::Serialize;

/// One release from the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The version without its `v`, such as `22.11.0`.
    pub version: semver::Version,
    pub date: NaiveDate,
    /// The LTS codename this release was published under (`Jod`), or `None`
    /// for a Current release. From the index's `lts` column.
    pub lts: Option<String>,
    /// True when the index marks it a security release.
    pub security: bool,
    /// Bundled npm version, when the index gives one.
    pub npm: Option<String>,
    /// Platform files published for it (`linux-x64`, `src`, …).
    pub files: Vec<String>,
}

/// One major line from the release schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The major, such as `22`; for `v0.12` this is 0 and `minor` is 12.
    pub major: u64,
    /// Set only for 0.x lines, which the schedule keys by minor.
    pub minor: Option<u64>,
    pub start: NaiveDate,
    pub lts: Option<NaiveDate>,
    pub maintenance: Option<NaiveDate>,
    pub end: NaiveDate,
    pub codename: Option<String>,
}

/// The release schedule: every line, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub lines: Vec<Line>,
}
