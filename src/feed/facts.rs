//! The facts a release contributes to templates and alias rules.
//!
//! Facts are plain JSON so that the Dockerfile templates and the alias rules
//! see exactly the same names, and so that a plan can print them. Every key
//! is always present (`null` when there is no value): templates run with
//! strict undefined, and `{% if codename %}` must work for a Current line.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{line_key, line_name, Release, Schedule};

/// The facts of `release` as of `as_of`:
///
/// | key | example | meaning |
/// |---|---|---|
/// | `version` | `"22.11.0"` | full version, no `v` |
/// | `major`, `minor`, `patch` | `22`, `11`, `0` | numbers |
/// | `line` | `"22"`, `"0.12"` | release line (0.x by minor) |
/// | `codename` | `"jod"` / `null` | lowercase LTS codename of the line, once it is LTS |
/// | `lts` | `true` | this release was published as LTS |
/// | `is_current` | `false` | its line is the Current line at `as_of` |
/// | `is_active_lts` | `true` | its line is the active LTS line at `as_of` |
/// | `date` | `"2024-10-29"` | release date |
/// | `npm` | `"10.9.0"` / `null` | bundled npm |
/// | `security` | `false` | published as a security release |
/// | `platforms` | `["linux/amd64", "linux/arm64"]` | the Linux platforms Node ships binaries of this release for (from the index's `files`) |
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
