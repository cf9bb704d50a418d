//! Parsers for Node.js's release index, in both published formats.
//!
//! `index.tab` is tab-separated with a header row and `-` for "none";
//! `index.json` is an array of objects where `lts` is `false` or a codename.
//! Both describe the same releases, so both parse into [`Release`].

use chrono::NaiveDate;
use serde::Deserialize;

use super::version::ValueError;
use super::{FeedError, Release};

/// Parses either format, telling them apart by the first non-blank character:
/// a JSON index is an array (`[`); a tab index starts with its header row.
pub fn parse(text: &str) -> Result<Vec<Release>, FeedError> {
    match text.trim_start().chars().next() {
        Some('[') => parse_json(text),
        Some(_) => parse_tab(text),
        None => Err(FeedError::Format(
            "the index is empty; expected index.tab or index.json content".into(),
        )),
    }
}

/// Columns `index.tab` must have; the others (`v8`, `uv`, …) are ignored.
const TAB_COLUMNS: [&str; 6] = ["version", "date", "files", "npm", "lts", "security"];

/// Parses Node's `index.tab`. Columns are located by the header's names,
/// so an added column in a future index does not break parsing.
pub fn parse_tab(text: &str) -> Result<Vec<Release>, FeedError> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| FeedError::Format("the index is empty".into()))?;
    let names: Vec<&str> = header.split('\t').map(str::trim).collect();
    let column = |wanted: &str| names.iter().position(|n| *n == wanted);
    let mut at = [0usize; TAB_COLUMNS.len()];
    for (slot, wanted) in at.iter_mut().zip(TAB_COLUMNS) {
        *slot = column(wanted).ok_or_else(|| FeedError::Tab {
            line: 1,
            message: format!(
                "header has no `{wanted}` column (found: {}); expected Node's index.tab header \
                 `version date files npm v8 uv zlib openssl modules lts security`",
                names.join(" ")
            ),
        })?;
    }
    let [version, date, files, npm, lts, security] = at;

    let mut releases = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let fail = |message: String| FeedError::Tab {
            line: number,
            message,
        };
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(fail(format!(
                "has {} columns, the header has {}",
                cells.len(),
                names.len()
            )));
        }
        let none_if_dash = |s: &str| (s != "-" && !s.is_empty()).then(|| s.to_string());
        releases.push(Release {
            version: parse_version(cells[version]).map_err(|e| fail(e.to_string()))?,
            date: parse_date(cells[date]).map_err(|e| fail(e.to_string()))?,
            lts: none_if_dash(cells[lts]),
            security: match cells[security] {
                "-" | "" | "false" => false,
                "true" => true,
                other => {
                    return Err(fail(format!(
                        "security column is `{other}`, expected `true` or `-`"
                    )))
                }
            },
            npm: none_if_dash(cells[npm]),
            files: split_files(cells[files]),
        });
    }
    Ok(releases)
}

/// One entry of `index.json`, as published. Unknown fields (`v8`, `uv`, …)
/// are ignored on purpose: the index grows fields over time.
#[derive(Deserialize)]
struct JsonRelease {
    version: String,
    date: String,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    npm: Option<String>,
    #[serde(default)]
    lts: JsonLts,
    #[serde(default)]
    security: bool,
}

/// `lts` is `false` for a Current release and the codename otherwise.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum JsonLts {
    #[default]
    None,
    Flag(bool),
    Codename(String),
}

/// Parses Node's `index.json`.
pub fn parse_json(text: &str) -> Result<Vec<Release>, FeedError> {
    // Deserializing straight into the entry type keeps serde_json's line and
    // column in type errors (a date that is a number, a missing `version`).
    let entries: Vec<JsonRelease> = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let fail = |message: String| {
                FeedError::Format(format!(
                    "index.json entry #{} ({}): {message}",
                    i + 1,
                    entry.version
                ))
            };
            let lts = match &entry.lts {
                JsonLts::None | JsonLts::Flag(false) => None,
                JsonLts::Codename(name) => Some(name.clone()),
                JsonLts::Flag(true) => {
                    return Err(fail(
                        "`lts` is `true`; expected `false` or the LTS codename".into(),
                    ))
                }
            };
            Ok(Release {
                version: parse_version(&entry.version).map_err(|e| fail(e.to_string()))?,
                date: parse_date(&entry.date).map_err(|e| fail(e.to_string()))?,
                lts,
                security: entry.security,
                npm: entry.npm.clone().filter(|n| !n.is_empty()),
                files: entry.files.clone(),
            })
        })
        .collect()
}

/// Turns a serde_json error into one naming its position in the document.
pub(crate) fn json_error_for(what: &'static str, e: &serde_json::Error) -> FeedError {
    FeedError::Json {
        what,
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    }
}

fn json_error(e: &serde_json::Error) -> FeedError {
    json_error_for("release index (JSON format)", e)
}

/// serde_json appends " at line L column C"; the error names them itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn parse_version(text: &str) -> Result<semver::Version, ValueError> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    semver::Version::parse(bare).map_err(|reason| ValueError::IndexVersion {
        text: text.to_string(),
        reason,
    })
}

pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, ValueError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|reason| ValueError::IndexDate {
        text: text.to_string(),
        reason,
    })
}

fn split_files(cell: &str) -> Vec<String> {
    cell.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "-")
        .map(String::from)
        .collect()
}
