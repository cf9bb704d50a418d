//! Releases of any runtime, as the `endoflife`, `npm` and `list` feed kinds
//! read them, and the facts each gives.
//!
//! Every kind gives the same fact names as Node's feed (see
//! [`super::facts::FACTS`]), `null` where it has no value, so a template or an
//! alias rule reads the same way whatever the feed.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::version::{FeedVersion, ValueError};
use crate::config::native::CycleBy;

/// A fact that is a date, a plain yes or no, or unknown: endoflife.date's
/// `eol`, `lts` and `support`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flag {
    #[default]
    Unknown,
    Bool(bool),
    /// From this date on.
    Date(NaiveDate),
}

impl Flag {
    /// Reads `true`/`false`, a `YYYY-MM-DD` date or `null`.
    pub fn from_json(value: &Value) -> Result<Flag, ValueError> {
        match value {
            Value::Null => Ok(Flag::Unknown),
            Value::Bool(b) => Ok(Flag::Bool(*b)),
            Value::String(s) => parse_date(s).map(Flag::Date),
            other => Err(ValueError::Flag(other.clone())),
        }
    }

    /// Whether it holds at `as_of`; `None` when unknown.
    pub fn at(self, as_of: NaiveDate) -> Option<bool> {
        match self {
            Flag::Unknown => None,
            Flag::Bool(b) => Some(b),
            Flag::Date(d) => Some(d <= as_of),
        }
    }

    /// As the fact shows it: the date, the boolean, or `null`.
    pub fn to_value(self) -> Value {
        match self {
            Flag::Unknown => Value::Null,
            Flag::Bool(b) => b.into(),
            Flag::Date(d) => d.to_string().into(),
        }
    }
}

/// Reads a `YYYY-MM-DD` date (a longer timestamp is cut to its date).
pub fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    let day = text.get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|reason| ValueError::Date {
        text: text.to_string(),
        reason,
    })
}

/// One release of a generic feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub version: FeedVersion,
    /// The release line: `3.13`, `22`, `1.1`.
    pub cycle: String,
    pub released: Option<NaiveDate>,
    pub eol: Flag,
    pub lts: Flag,
    /// End of active support (endoflife.date's `support`).
    pub support: Flag,
    pub codename: Option<String>,
    /// OCI platforms binaries exist for, when the feed says.
    pub platforms: Option<Vec<String>>,
    /// npm's dist-tags naming this version (`latest`, `canary`).
    pub dist_tags: Vec<String>,
    /// Further facts a `list` entry gives, by name.
    pub extra: Map<String, Value>,
}

impl Entry {
    /// A release with only its version and line known.
    pub fn new(version: FeedVersion, cycle: String) -> Entry {
        Entry {
            version,
            cycle,
            released: None,
            eol: Flag::Unknown,
            lts: Flag::Unknown,
            support: Flag::Unknown,
            codename: None,
            platforms: None,
            dist_tags: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// The release line of `version` when the feed does not name it.
pub fn cycle_of(version: &semver::Version, by: CycleBy) -> String {
    match by {
        CycleBy::Major => super::line_name(version),
        CycleBy::Minor => format!("{}.{}", version.major, version.minor),
    }
}

/// The newest final release's line among `versions` (each with its line and
/// release date) that had come out by `as_of`.
pub fn newest_line<'a>(
    versions: impl Iterator<Item = (&'a semver::Version, String, Option<NaiveDate>)>,
    as_of: NaiveDate,
) -> Option<String> {
    versions
        .filter(|(v, _, released)| v.pre.is_empty() && released.is_none_or(|r| r <= as_of))
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, line, _)| line)
}

/// The facts of `entry` as of `as_of`: every release fact of
/// [`super::facts::FACTS`], then a `list` entry's own. `newest` is the
/// newest final line ([`newest_line`]).
pub fn facts(entry: &Entry, newest: Option<&str>, as_of: NaiveDate) -> Map<String, Value> {
    let v = &entry.version.order;
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::from);
    let is_eol = entry.eol.at(as_of);
    let is_lts = entry.lts.at(as_of);
    let released = entry.released.map(|d| d.to_string());
    let mut map = Map::new();
    map.insert("version".into(), entry.version.text.clone().into());
    map.insert("major".into(), v.major.into());
    map.insert("minor".into(), v.minor.into());
    map.insert("patch".into(), v.patch.into());
    map.insert("line".into(), entry.cycle.clone().into());
    map.insert(
        "codename".into(),
        opt(entry.codename.as_ref().map(|c| c.to_lowercase())),
    );
    map.insert("lts".into(), (is_lts == Some(true)).into());
    map.insert("is_current".into(), Value::Null);
    map.insert("is_active_lts".into(), Value::Null);
    let supported = is_eol.map(|eol| !eol && entry.released.is_none_or(|r| r <= as_of));
    map.insert(
        "is_supported".into(),
        supported.map_or(Value::Null, Value::from),
    );
    map.insert("is_eol".into(), is_eol.map_or(Value::Null, Value::from));
    map.insert("date".into(), opt(released.clone()));
    map.insert("npm".into(), Value::Null);
    map.insert("security".into(), Value::Null);
    map.insert(
        "platforms".into(),
        entry.platforms.clone().map_or(Value::Null, |p| p.into()),
    );
    map.insert("prerelease".into(), entry.version.prerelease.clone().into());
    map.insert("cycle".into(), entry.cycle.clone().into());
    map.insert("released".into(), opt(released));
    map.insert("eol".into(), entry.eol.to_value());
    map.insert("support".into(), entry.support.to_value());
    map.insert("is_lts".into(), is_lts.map_or(Value::Null, Value::from));
    map.insert("is_prerelease".into(), entry.version.is_prerelease().into());
    map.insert(
        "is_newest".into(),
        (newest == Some(entry.cycle.as_str())).into(),
    );
    map.insert("dist_tags".into(), entry.dist_tags.clone().into());
    for (k, value) in &entry.extra {
        map.entry(k.clone()).or_insert_with(|| value.clone());
    }
    map
}
