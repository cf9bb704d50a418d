//! Reporters: they listen to events and render them.
//!
//! Live output comes from [`terminal::Terminal`] and [`json::EventLog`], which
//! are [`Listener`](crate::events::Listener)s. File reports render the finished
//! [`RunRecord`], so Markdown, JSON, JUnit and HTML always agree:
//!
//! * [`markdown`]: Dante's report shape (image sections, test sections, conclusion)
//!   with a summary table on top.
//! * [`json`]: a stable, versioned schema, plus the JSON-lines event log.
//! * [`junit`]: JUnit XML for CI test views.
//! * [`html`]: one self-contained page.
//!
//! [`logs::LogFiles`] keeps each step attempt's raw output as its own file.
//! [`view`] holds the wording they share.

pub mod html;
pub mod json;
pub mod junit;
pub mod logs;
pub mod markdown;
pub mod terminal;
pub mod view;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::events::record::RunRecord;

/// A file report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Markdown,
    Json,
    Junit,
    Html,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Markdown, Format::Json, Format::Junit, Format::Html];

    /// The file name this format is written to in a run's log folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Markdown => "report.md",
            Format::Json => "report.json",
            Format::Junit => "junit.xml",
            Format::Html => "report.html",
        }
    }

    /// The name used on the command line (`--report md,json,junit,html`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Html => "html",
        }
    }

    /// Renders `record` in this format.
    pub fn render(self, record: &RunRecord) -> String {
        match self {
            Format::Markdown => markdown::render(record),
            Format::Json => json::render(record),
            Format::Junit => junit::render(record),
            Format::Html => html::render(record),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "junit" | "xml" => Ok(Format::Junit),
            "html" => Ok(Format::Html),
            other => Err(format!(
                "unknown report format `{other}`; expected one of md, json, junit, html, all, none"
            )),
        }
    }
}

/// A selection of file reports, parsed from `--report md,json,junit,html`.
///
/// `all` selects every format and `none` (or an empty list) none; the order
/// and duplicates in the flag do not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats(Vec<Format>);

impl Formats {
    pub fn all() -> Formats {
        Formats(Format::ALL.to_vec())
    }

    pub fn none() -> Formats {
        Formats(Vec::new())
    }

    pub fn contains(&self, f: Format) -> bool {
        self.0.contains(&f)
    }

    pub fn iter(&self) -> impl Iterator<Item = Format> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for Formats {
    fn default() -> Self {
        Formats::all()
    }
}

impl FromIterator<Format> for Formats {
    fn from_iter<I: IntoIterator<Item = Format>>(iter: I) -> Self {
        let mut v: Vec<Format> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Formats(v)
    }
}

impl FromStr for Formats {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "all" => out.extend(Format::ALL),
                "none" => {}
                _ => out.push(part.parse()?),
            }
        }
        Ok(out.into_iter().collect())
    }
}

impl fmt::Display for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<_> = self.0.iter().map(|x| x.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Writes every file report into `dir` (created if missing); returns the paths written.
pub fn write_all(record: &RunRecord, dir: &Path) -> io::Result<Vec<PathBuf>> {
    write_selected(record, dir, &Formats::all())
}

/// Writes the reports in `formats` into `dir` (created if missing), in a
/// fixed order; returns the paths written.
pub fn write_selected(
    record: &RunRecord,
    dir: &Path,
    formats: &Formats,
) -> io::Result<Vec<PathBuf>> {
    if formats.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir)?;
    formats
        .iter()
        .map(|f| {
            let path = dir.join(f.file_name());
            std::fs::write(&path, f.render(record))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_from_a_flag() {
        let f: Formats = "json, md,json".parse().unwrap();
        assert_eq!(f.to_string(), "md,json");
        assert_eq!("all".parse::<Formats>().unwrap(), Formats::all());
        assert!("none".parse::<Formats>().unwrap().is_empty());
        let err = "md,pdf".parse::<Formats>().unwrap_err();
        assert!(err.contains("pdf"), "{err}");
    }
}
