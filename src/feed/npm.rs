//! An npm registry package document (`https://registry.npmjs.org/<package>`):
//! `versions` (each version's manifest), `time` (when each was published)
//! and `dist-tags` (`latest`, `canary`). Bun, Deno and Node itself are
//! published there.
//!
//! Versions are semver. The Linux platforms a release has binaries for come
//! from its `optionalDependencies` (Bun's `@oven/bun-linux-x64`,
//! `@oven/bun-linux-aarch64`), as npm picks the one for the machine.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::generic::{cycle_of, parse_date, Entry};
use super::version::{FeedVersion, Scheme};
use super::FeedError;
use crate::config::native::CycleBy;

const WHAT: &str = "npm package document";

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    versions: BTreeMap<String, Manifest>,
    #[serde(default)]
    time: BTreeMap<String, String>,
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default, rename = "optionalDependencies")]
    optional_dependencies: BTreeMap<String, Value>,
}

/// Reads a package document; a release line is what `cycle` says.
pub fn parse(text: &str, cycle: CycleBy) -> Result<Vec<Entry>, FeedError> {
    let doc: Document = serde_json::from_str(text).map_err(|e| FeedError::Json {
        what: WHAT,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if doc.versions.is_empty() {
        return Err(FeedError::Format(format!(
            "the {WHAT} lists no `versions`; is it the package's document (https://registry.npmjs.org/<package>)?"
        )));
    }
    let mut out = Vec::new();
    for (text, manifest) in &doc.versions {
        let fail = |m: String| FeedError::Entry {
            what: WHAT,
            entry: format!("`{text}`"),
            message: m,
        };
        let version = FeedVersion::parse(text, Scheme::Semver).map_err(|e| fail(e.to_string()))?;
        let line = cycle_of(&version.order, cycle);
        let mut entry = Entry::new(version, line);
        entry.released = doc
            .time
            .get(text)
            .map(|t| parse_date(t).map_err(|m| fail(format!("`time`: {m}"))))
            .transpose()?;
        entry.dist_tags = doc
            .dist_tags
            .iter()
            .filter(|(_, v)| *v == text)
            .map(|(tag, _)| tag.clone())
            .collect();
        if !manifest.optional_dependencies.is_empty() {
            entry.platforms = Some(linux_platforms(manifest.optional_dependencies.keys()));
        }
        out.push(entry);
    }
    Ok(out)
}

/// The OCI platforms of per-platform packages by their names' endings
/// (`…-linux-x64` is `linux/amd64`; `-musl`, `-baseline` builds are not the
/// glibc binary and count not).
fn linux_platforms<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    const ENDINGS: &[(&str, &str)] = &[
        ("linux-x64", "linux/amd64"),
        ("linux-aarch64", "linux/arm64"),
        ("linux-arm64", "linux/arm64"),
        ("linux-arm", "linux/arm/v7"),
    ];
    let names: Vec<&String> = names.collect();
    let mut out: Vec<String> = Vec::new();
    for (ending, platform) in ENDINGS {
        if names.iter().any(|n| n.ends_with(ending)) && !out.iter().any(|p| p == platform) {
            out.push(platform.to_string());
        }
    }
    out
}
