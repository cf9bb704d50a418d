//! Node's `schedule.json` and the questions asked of it at a given date.
//!
//! The schedule is keyed `v0.10`, `v0.12`, `v4`, … with `start`, `lts`,
//! `maintenance`, `end` dates and an LTS `codename`. Which major is "current"
//! and which is "active LTS" depends on the day, so every query takes `as_of`
//! explicitly: a plan computed twice on the same day is the same plan.

use chrono::NaiveDate;
use serde::Deserialize;

use super::index::{json_error_for, parse_date};
use super::{line_key, FeedError, Line, Schedule};

/// One schedule entry as published; dates are checked after parsing so the
/// error can name the entry. Unknown fields (such as the newer `alpha` date)
/// are ignored: the schedule grows fields over time.
#[derive(Deserialize)]
struct Entry {
    start: String,
    #[serde(default)]
    lts: Option<String>,
    #[serde(default)]
    maintenance: Option<String>,
    end: String,
    #[serde(default)]
    codename: Option<String>,
}

/// Parses `schedule.json` into lines sorted oldest first.
pub fn parse(text: &str) -> Result<Schedule, FeedError> {
    let what = "release schedule (JSON)";
    let entries: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| json_error_for(what, &e))?;
    let mut lines = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let fail = |message: String| FeedError::Schedule {
            key: key.clone(),
            message,
        };
        let (major, minor) = parse_key(&key).ok_or_else(|| {
            fail("key is not a release line; expected `v<major>` or `v0.<minor>`".into())
        })?;
        let entry: Entry = serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
        let date =
            |field: &str, text: &str| parse_date(text).map_err(|m| fail(format!("{field}: {m}")));
        let optional = |field: &str, text: &Option<String>| {
            text.as_deref().map(|t| date(field, t)).transpose()
        };
        let line = Line {
            major,
            minor,
            start: date("start", &entry.start)?,
            lts: optional("lts", &entry.lts)?,
            maintenance: optional("maintenance", &entry.maintenance)?,
            end: date("end", &entry.end)?,
            codename: entry.codename.filter(|c| !c.is_empty()),
        };
        if line.end < line.start {
            return Err(fail(format!(
                "its end {} comes before its start {}; fix the dates",
                line.end, line.start
            )));
        }
        lines.push(line);
    }
    lines.sort_by_key(|l| (l.major, l.minor));
    Ok(Schedule { lines })
}

/// `v4` → `(4, None)`; `v0.12` → `(0, Some(12))`.
fn parse_key(key: &str) -> Option<(u64, Option<u64>)> {
    let rest = key.strip_prefix('v')?;
    match rest.split_once('.') {
        Some(("0", minor)) => Some((0, Some(minor.parse().ok()?))),
        Some(_) => None,
        None => Some((rest.parse().ok()?, None)),
    }
}

impl Line {
    /// The line's name as users write it: `22`, or `0.12`.
    pub fn name(&self) -> String {
        match self.minor {
            Some(minor) => format!("{}.{minor}", self.major),
            None => self.major.to_string(),
        }
    }

    /// True once the line has entered LTS (on or after its LTS date).
    pub fn is_lts_at(&self, as_of: NaiveDate) -> bool {
        self.lts.is_some_and(|lts| lts <= as_of)
    }
}

impl Schedule {
    /// The line `version` belongs to; 0.x versions are matched by minor.
    pub fn line_of(&self, version: &semver::Version) -> Option<&Line> {
        let key = line_key(version);
        self.lines.iter().find(|l| (l.major, l.minor) == key)
    }

    /// The newest line that has started by `as_of`, if it has not yet moved
    /// to LTS: that is what Node calls "Current". Between an even major's
    /// LTS date and the next major's release there is no Current line.
    pub fn current_line(&self, as_of: NaiveDate) -> Option<&Line> {
        self.lines
            .iter()
            .filter(|l| l.start <= as_of)
            .max_by_key(|l| (l.major, l.minor))
            .filter(|l| !l.is_lts_at(as_of) && as_of < l.end)
    }

    /// The major of [`Schedule::current_line`].
    pub fn current_major(&self, as_of: NaiveDate) -> Option<u64> {
        self.current_line(as_of).map(|l| l.major)
    }

    /// The newest line whose LTS has started and whose end has not come.
    /// Older LTS lines still in maintenance are not "active".
    pub fn active_lts_line(&self, as_of: NaiveDate) -> Option<&Line> {
        self.lines
            .iter()
            .filter(|l| l.is_lts_at(as_of) && as_of < l.end)
            .max_by_key(|l| (l.major, l.minor))
    }

    /// The major of [`Schedule::active_lts_line`].
    pub fn active_lts_major(&self, as_of: NaiveDate) -> Option<u64> {
        self.active_lts_line(as_of).map(|l| l.major)
    }

    /// The LTS codename of `major` as the schedule spells it (`Jod`).
    pub fn codename(&self, major: u64) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.major == major && l.minor.is_none())
            .and_then(|l| l.codename.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_before_the_start_is_refused() {
        let text = r#"{"v22": {"start": "2024-04-24", "end": "2024-01-01"}}"#;
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("`v22`")
                && err.contains("end 2024-01-01 comes before its start 2024-04-24"),
            "{err}"
        );
        // The same day is a (very short) line, not an error.
        let text = r#"{"v22": {"start": "2024-04-24", "end": "2024-04-24"}}"#;
        assert_eq!(parse(text).unwrap().lines.len(), 1);
    }
}
