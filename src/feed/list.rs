//! Versions written by hand, for runtimes with no feed of their own: in
//! `feed.versions`, or in a YAML or JSON file (`feed.source`) holding a list.
//!
//! Each entry is a map with `version` (required; PEP 440-like such as
//! `3.14.0a1`, or semver). `cycle`, `released`, `eol`, `lts`, `support`,
//! `codename` and `platforms` fill the facts of those names; any other key
//! becomes a fact as written. Facts computed from the version (`major`,
//! `prerelease`, `is_newest`, …) cannot be set.

use std::collections::BTreeMap;

use serde_json::Value;

use super::generic::{cycle_of, parse_date, Entry, Flag};
use super::version::{FeedVersion, Scheme};
use super::FeedError;
use crate::config::native::CycleBy;

const WHAT: &str = "list of versions";

/// Facts strata works out itself: a list entry may not set them.
const COMPUTED: &[&str] = &[
    "major",
    "minor",
    "patch",
    "prerelease",
    "line",
    "date",
    "is_current",
    "is_active_lts",
    "is_supported",
    "is_eol",
    "is_lts",
    "is_prerelease",
    "is_newest",
    "dist_tags",
];

/// Reads a YAML or JSON file holding a list of version maps.
pub fn parse_text(text: &str, cycle: CycleBy) -> Result<Vec<Entry>, FeedError> {
    let entries: Vec<BTreeMap<String, Value>> = serde_saphyr::from_str(text).map_err(|e| {
        FeedError::Format(format!(
            "a {WHAT} is a YAML or JSON list of maps, each with `version`: {e}"
        ))
    })?;
    parse(&entries, cycle)
}

/// Reads version maps (as `feed.versions` holds them).
pub fn parse(entries: &[BTreeMap<String, Value>], cycle: CycleBy) -> Result<Vec<Entry>, FeedError> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, map) in entries.iter().enumerate() {
        let name = match map.get("version") {
            Some(Value::String(s)) => format!("`{s}`"),
            Some(Value::Number(n)) => format!("`{n}`"),
            _ => format!("#{}", i + 1),
        };
        let fail = |m: String| FeedError::Entry {
            what: WHAT,
            entry: name.clone(),
            message: m,
        };
        let text = match map.get("version") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(fail(
                    "has no `version` (write it as a string: `version: \"3.13.0\"`)".into(),
                ))
            }
        };
        let version = FeedVersion::parse(&text, Scheme::Pep440)
            .or_else(|e| FeedVersion::parse(&text, Scheme::Semver).map_err(|_| e))
            .map_err(|e| fail(e.to_string()))?;
        if let Some(other) = out.iter().find(|e| e.version.order == version.order) {
            return Err(fail(format!(
                "is listed twice (as `{}` before)",
                other.version.text
            )));
        }
        let line = match map.get("cycle") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            None | Some(Value::Null) => cycle_of(&version.order, cycle),
            Some(other) => return Err(fail(format!("`cycle` must be a string, found {other}"))),
        };
        let mut entry = Entry::new(version, line);
        for (key, value) in map {
            let fact = |m: String| fail(format!("`{key}`: {m}"));
            match key.as_str() {
                "version" | "cycle" => {}
                "released" => {
                    entry.released = match value {
                        Value::Null => None,
                        Value::String(s) => Some(parse_date(s).map_err(|e| fact(e.to_string()))?),
                        other => return Err(fact(format!("expected a date, found {other}"))),
                    }
                }
                "eol" => entry.eol = Flag::from_json(value).map_err(|e| fact(e.to_string()))?,
                "lts" => entry.lts = Flag::from_json(value).map_err(|e| fact(e.to_string()))?,
                "support" => {
                    entry.support = Flag::from_json(value).map_err(|e| fact(e.to_string()))?
                }
                "codename" => {
                    entry.codename = match value {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        other => return Err(fact(format!("expected a name, found {other}"))),
                    }
                }
                "platforms" => {
                    let list = value
                        .as_array()
                        .filter(|l| l.iter().all(Value::is_string))
                        .ok_or_else(|| {
                            fact("expected a list such as [linux/amd64, linux/arm64]".into())
                        })?;
                    entry.platforms = Some(
                        list.iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect(),
                    );
                }
                computed if COMPUTED.contains(&computed) => {
                    return Err(fact(
                        "is worked out from `version` and the dates; remove it".into(),
                    ))
                }
                _ => {
                    entry.extra.insert(key.clone(), value.clone());
                }
            }
        }
        out.push(entry);
    }
    if out.is_empty() {
        return Err(FeedError::Format(format!(
            "the {WHAT} is empty; list at least one `version`"
        )));
    }
    Ok(out)
}
