//! The facts a release contributes to templates and alias rules.
//!
//! Facts are plain JSON so that the Dockerfile templates and the alias rules
//! see exactly the same names, and so that a plan can print them. Every key
//! is always present (`null` when there is no value): templates run with
//! strict undefined, and `{% if codename %}` must work for a Current line.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{line_key, line_name, Release, Schedule};

/// Who sees a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A fact of the release, the same on every image of that version.
    Release,
    /// A fact of one matrix cell: its axis values and what was rendered for it.
    Image,
}

/// One fact templates and `when` conditions may use, as the reference
/// documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact {
    /// The name templates use; `<axis>` stands for every axis name.
    pub name: &'static str,
    pub example: &'static str,
    pub meaning: &'static str,
    pub scope: Scope,
}

const fn fact(name: &'static str, example: &'static str, meaning: &'static str) -> Fact {
    Fact {
        name,
        example,
        meaning,
        scope: Scope::Release,
    }
}

const fn cell(name: &'static str, example: &'static str, meaning: &'static str) -> Fact {
    Fact {
        name,
        example,
        meaning,
        scope: Scope::Image,
    }
}

/// The base image an image is built on; seen by the image's templates.
pub const BASE: &str = "base";
/// The artifacts' file names, by artifact name.
pub const ARTIFACTS: &str = "artifacts";
/// The image's own name.
pub const IMAGE: &str = "image";
/// The platform a `platforms` entry's `when` is asked about.
pub const PLATFORM: &str = "platform";

/// Every fact, in the order the reference lists them: what [`facts`] gives
/// for a release, then what each image of the matrix adds. The guide's
/// reference table (`docs/src/config/facts.md`) is [`reference_table`] of this list, and tests hold the
/// list, [`facts`] and the generator to each other.
pub const FACTS: &[Fact] = &[
    fact("version", "`\"22.11.0\"`", "the full version, without `v`"),
    fact("major", "`22`", "the major version, a number"),
    fact("minor", "`11`", "the minor version, a number"),
    fact("patch", "`0`", "the patch version, a number"),
    fact("line", "`\"22\"`, `\"0.12\"`", "the release line: the major, or `0.<minor>` for 0.x, where each minor was a line of its own"),
    fact("codename", "`\"jod\"` or `null`", "the line's LTS codename in lower case, once the line has entered LTS (the schedule names lines months ahead; the codename counts only from the LTS date, or when the index published this release as LTS)"),
    fact("lts", "`true`", "this release was published as an LTS release (the index's `lts` column)"),
    fact("is_current", "`false`", "the line is Node's *Current* line at `as_of`: the newest line that has started and has not yet entered LTS. Between an even line's LTS date and the next line's release there is none"),
    fact("is_active_lts", "`true`", "the line is the *active LTS* line at `as_of`: the newest line whose LTS date has come and whose end has not. Older LTS lines still in maintenance are not active; this is what the official images tag `lts`"),
    fact("is_supported", "`true` or `null`", "the line is supported at `as_of`: it has started and its end-of-life date has not come (Current, active LTS or maintenance). `null` when the schedule does not list the line"),
    fact("is_eol", "`false` or `null`", "the line has reached its end of life at `as_of` (the schedule's `end` date has come). `null` when the schedule does not list the line"),
    fact("date", "`\"2024-10-29\"`", "the release date"),
    fact("npm", "`\"10.9.0\"` or `null`", "the npm version bundled with the release"),
    fact("security", "`false`", "the release was published as a security release"),
    fact("platforms", "`[\"linux/amd64\", \"linux/arm64\"]`", "the Linux platforms Node ships binaries of this release for (from the index's `files`; npm: from the package's per-platform `optionalDependencies`; list: as written)"),
    fact("prerelease", "`\"a1\"`, `\"\"`", "the pre-release part of the version as the feed writes it (`a1`, `rc2`, `canary.20240101.1`); empty for a final release"),
    fact("cycle", "`\"3.13\"`, `\"22\"`", "the release line: endoflife.date's `cycle`; for node and npm the major (`0.<minor>` for 0.x), or with `feed.cycle: minor` `major.minor`; list: the entry's `cycle` or the same rule"),
    fact("released", "`\"2024-10-07\"` or `null`", "the release date (node: the index's date; endoflife: `latestReleaseDate`; npm: `time`; list: `released`)"),
    fact("eol", "`\"2029-10-31\"`, `true` or `null`", "the line's end of life as the feed gives it: a date, a boolean, or `null` when unknown"),
    fact("support", "`\"2026-10-01\"`, `false` or `null`", "the end of the line's active support: endoflife.date's `support`, node's maintenance date, a list's `support`"),
    fact("is_lts", "`true` or `null`", "the line is a long-term-support line at `as_of` (node: its LTS date has come; endoflife and list: `lts` is true or a date that has come); `null` when unknown"),
    fact("is_prerelease", "`false`", "the version is a pre-release (`3.14.0a1`, `1.2.0-canary.1`)"),
    fact("is_newest", "`true`", "the release belongs to the newest line with a final release out by `as_of` (its pre-releases included)"),
    fact("dist_tags", "`[\"latest\"]`", "npm's dist-tags that name this version; empty for other kinds"),
    cell("os", "`{name: \"bookworm\", default: true, from: \"debian:bookworm\", debian_version: 12}`", "the OS value of the image: its `name`, `default`, `from` (when set) and free `attrs`; base templates see only this"),
    cell("<axis>", "`variant.name`", "every further axis under `axes`, by its name, with the same fields as `os`"),
    cell(BASE, "`\"acme/base:bookworm\"` or `null`", "the image this one is built on: the OS's base image when `base` is set, else the OS's `from`"),
    cell(ARTIFACTS, "`artifacts.node`", "each artifact's file name in the build context, by artifact name (not in exclusion or platform conditions, which come first)"),
    cell(IMAGE, "`\"acme/node:22.11.0-bookworm\"`", "the image's own name (in its Dockerfile, tests and alias rules)"),
    cell(PLATFORM, "`\"linux/arm64\"`", "only in a `platforms` entry's `when`: the platform the entry names"),
];

/// Which feed kinds fill a fact with a value (the others give `null`, or
/// `[]`/`false` as the table says); facts not listed are filled by every kind.
const KINDS: &[(&str, &str)] = &[
    ("codename", "node, endoflife, list"),
    ("lts", "node, endoflife, list"),
    ("is_current", "node"),
    ("is_active_lts", "node"),
    ("is_supported", "node, endoflife, list"),
    ("is_eol", "node, endoflife, list"),
    ("date", "node, endoflife, npm, list"),
    ("npm", "node"),
    ("security", "node"),
    ("platforms", "node, npm, list"),
    ("released", "node, endoflife, npm, list"),
    ("eol", "node, endoflife, list"),
    ("support", "node, endoflife, list"),
    ("is_lts", "node, endoflife, list"),
    ("dist_tags", "npm"),
];

/// The feed kinds that fill `fact` (see [`KINDS`]).
pub fn kinds_of(fact: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(name, _)| *name == fact)
        .map_or("all", |(_, kinds)| kinds)
}

/// The names of every fact (with `<axis>` left out): an axis or attribute
/// may not take one.
pub fn names() -> impl Iterator<Item = &'static str> {
    FACTS.iter().map(|f| f.name).filter(|n| !n.starts_with('<'))
}

/// The reference table of [`FACTS`], as the guide shows it.
pub fn reference_table() -> String {
    let mut out = String::from("| fact | kinds | example | meaning |\n|---|---|---|---|\n");
    for scope in [Scope::Release, Scope::Image] {
        for f in FACTS.iter().filter(|f| f.scope == scope) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                f.name,
                kinds_of(f.name),
                f.example,
                f.meaning
            ));
        }
    }
    out
}

/// Node's own facts of `release` as of `as_of`; `kind::Feed::select` adds
/// the ones every kind gives, so that a selected release has one key for
/// every [`FACTS`] entry of [`Scope::Release`] (see [`reference_table`]).
pub fn facts(release: &Release, schedule: &Schedule, as_of: NaiveDate) -> Map<String, Value> {
    let v = &release.version;
    let line = schedule.line_of(v);
    let same_line =
        |other: Option<&super::Line>| other.is_some_and(|o| (o.major, o.minor) == line_key(v));
    // The schedule lists codenames ahead of time (Krypton months before v24
    // went LTS); a codename tag must not appear before Node uses the name, so
    // the line's codename counts only once the line has entered LTS. A
    // release published as LTS carries its codename in the index itself.
    let codename = release
        .lts
        .clone()
        .or_else(|| {
            line.filter(|l| l.is_lts_at(as_of))
                .and_then(|l| l.codename.clone())
        })
        .map(|c| c.to_lowercase());

    let mut map = Map::new();
    map.insert("version".into(), v.to_string().into());
    map.insert("major".into(), v.major.into());
    map.insert("minor".into(), v.minor.into());
    map.insert("patch".into(), v.patch.into());
    map.insert("line".into(), line_name(v).into());
    map.insert("codename".into(), codename.map_or(Value::Null, Value::from));
    map.insert("lts".into(), release.lts.is_some().into());
    map.insert(
        "is_current".into(),
        same_line(schedule.current_line(as_of)).into(),
    );
    map.insert(
        "is_active_lts".into(),
        same_line(schedule.active_lts_line(as_of)).into(),
    );
    map.insert("date".into(), release.date.to_string().into());
    map.insert(
        "npm".into(),
        release.npm.clone().map_or(Value::Null, Value::from),
    );
    // A line the schedule does not list: neither supported nor known to
    // have ended, so a `when` on these decides nothing by accident.
    let (supported, eol) = match line {
        Some(l) => (
            Value::from(l.start <= as_of && as_of < l.end),
            Value::from(l.end <= as_of),
        ),
        None => (Value::Null, Value::Null),
    };
    map.insert("is_supported".into(), supported);
    map.insert("is_eol".into(), eol);
    map.insert("security".into(), release.security.into());
    map.insert("platforms".into(), linux_platforms(&release.files).into());
    map
}

/// The OCI platforms of the Linux binaries in an index's `files` column
/// (`linux-x64` is `linux/amd64`, `linux-armv7l` is `linux/arm/v7`).
pub fn linux_platforms(files: &[String]) -> Vec<String> {
    const NAMES: &[(&str, &str)] = &[
        ("linux-x64", "linux/amd64"),
        ("linux-arm64", "linux/arm64"),
        ("linux-armv7l", "linux/arm/v7"),
        ("linux-armv6l", "linux/arm/v6"),
        ("linux-ppc64le", "linux/ppc64le"),
        ("linux-s390x", "linux/s390x"),
        ("linux-x86", "linux/386"),
    ];
    NAMES
        .iter()
        .filter(|(file, _)| files.iter().any(|f| f == file))
        .map(|(_, platform)| platform.to_string())
        .collect()
}
