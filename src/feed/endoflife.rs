//! The endoflife.date product format (`https://endoflife.date/api/<product>.json`):
//! a JSON list of release cycles, each with `cycle`, `releaseDate`, `eol`
//! (a date or a boolean), `latest`, `latestReleaseDate`, `lts` (a date or a
//! boolean) and, for some products, `support` and `codename`.
//!
//! Each cycle gives one release: its `latest` version, released on
//! `latestReleaseDate`. A cycle with no `latest` yet is left out.

use serde_json::Value;

use super::generic::{parse_date, Entry, Flag};
use super::version::{FeedVersion, Scheme};
use super::FeedError;

const WHAT: &str = "endoflife.date product";

/// Reads an endoflife.date product document.
pub fn parse(text: &str) -> Result<Vec<Entry>, FeedError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| FeedError::Json {
        what: WHAT,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Array(cycles) = doc else {
        return Err(FeedError::Format(format!(
            "an {WHAT} is a JSON list of release cycles (`[{{\"cycle\": \"3.13\", …}}]`)"
        )));
    };
    let mut out = Vec::new();
    for (i, c) in cycles.iter().enumerate() {
        let cycle = match &c["cycle"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(entry_error(
                    format!("#{}", i + 1),
                    "has no `cycle` (a string such as \"3.13\")",
                ))
            }
        };
        let fail = |m: String| entry_error(format!("`{cycle}`"), m);
        let latest = match &c["latest"] {
            Value::String(s) if !s.trim().is_empty() => s,
            Value::Null => continue,
            other => return Err(fail(format!("`latest` must be a version, found {other}"))),
        };
        let version =
            FeedVersion::parse(latest, Scheme::Pep440).map_err(|e| fail(e.to_string()))?;
        let mut entry = Entry::new(version, cycle.clone());
        let date = |key: &str| -> Result<Option<chrono::NaiveDate>, FeedError> {
            match &c[key] {
                Value::Null => Ok(None),
                Value::String(s) => parse_date(s)
                    .map(Some)
                    .map_err(|m| fail(format!("`{key}`: {m}"))),
                other => Err(fail(format!("`{key}` must be a date, found {other}"))),
            }
        };
        entry.released = match date("latestReleaseDate")? {
            Some(d) => Some(d),
            None => date("releaseDate")?,
        };
        let flag = |key: &str| Flag::from_json(&c[key]).map_err(|m| fail(format!("`{key}`: {m}")));
        entry.eol = flag("eol")?;
        entry.lts = flag("lts")?;
        entry.support = flag("support")?;
        entry.codename = c["codename"].as_str().map(str::to_string);
        out.push(entry);
    }
    Ok(out)
}

fn entry_error(entry: String, message: impl Into<String>) -> FeedError {
    FeedError::Entry {
        what: WHAT,
        entry,
        message: message.into(),
    }
}
