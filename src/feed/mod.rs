//! Release feeds: which runtime versions exist, and their schedule.
//!
//! Node.js publishes its release index as `index.json` and `index.tab`, and
//! its schedule (majors, LTS dates, codenames) as `schedule.json`. Both are
//! read from a file or an https URL into the plain values below. Other
//! runtimes come from an endoflife.date product (`endoflife.rs`), an npm
//! package document (`npm.rs`) or a written list (`list.rs`), each read into
//! [`generic::Entry`] values; `kind.rs` dispatches on `feed.kind`.

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

pub mod endoflife;
pub mod facts;
pub mod generic;
pub mod index;
pub mod kind;
pub mod list;
pub mod load;
pub mod npm;
pub mod release_schedule;
pub mod select;
pub mod version;

pub use facts::facts;
pub use load::load;

/// Why a feed could not be read or understood.
///
/// Every variant says where the problem is (a line of `index.tab`, a position
/// in a JSON document, a schedule key, a file or URL) so that a user can fix a
/// hand-edited or truncated feed without guessing.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A row of `index.tab` is malformed.
    #[error("release index (tab format), line {line}: {message}")]
    Tab { line: usize, message: String },
    /// An `index.json` or `schedule.json` document is malformed.
    #[error("{what}, line {line} column {column}: {message}")]
    Json {
        what: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    /// A schedule entry parsed as JSON but its content makes no sense.
    #[error("release schedule, entry `{key}`: {message}")]
    Schedule { key: String, message: String },
    /// One entry of a feed (a cycle, a version) makes no sense.
    #[error("{what}, entry {entry}: {message}")]
    Entry {
        what: &'static str,
        entry: String,
        message: String,
    },
    /// The text is neither an `index.tab` nor an `index.json`.
    #[error("release index: {0}")]
    Format(String),
    /// A feed file was refused or could not be read; the message names the
    /// file and the rule, never its content.
    #[error("{message}")]
    Read { message: String },
    /// A feed URL could not be fetched: the network or the server failed.
    #[error("cannot fetch feed {url}: {message}; check the network (or a proxy via HTTPS_PROXY), or download the file and point the config at the local copy")]
    Fetch { url: String, message: String },
    /// A feed URL answered, but not with a feed strata reads (a 4xx, too
    /// long, not text).
    #[error("feed {url} is refused: {message}; check the URL, or download the file and point the config at the local copy")]
    Refused { url: String, message: String },
}

impl FeedError {
    /// True when the network or the server is at fault (exit 3), not what
    /// the config says.
    pub fn is_environment(&self) -> bool {
        matches!(self, FeedError::Fetch { .. })
    }
}

/// The line a version belongs to: `(major, None)`, or `(0, Some(minor))` for
/// 0.x, where every minor was its own release line.
pub fn line_key(version: &semver::Version) -> (u64, Option<u64>) {
    if version.major == 0 {
        (0, Some(version.minor))
    } else {
        (version.major, None)
    }
}

/// The line's display name: `22`, or `0.12` for 0.x lines.
pub fn line_name(version: &semver::Version) -> String {
    match line_key(version) {
        (major, None) => major.to_string(),
        (major, Some(minor)) => format!("{major}.{minor}"),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod kinds_tests;
