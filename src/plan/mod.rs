//! The plan: a pure value saying what a run will do.
//!
//! A plan is computed from the config alone (no engine, no network beyond the
//! release feed) and is what `--dry-run` and `strata plan` print. The executor
//! reads it and never changes it.

pub mod order;
pub mod platforms;
pub mod print;
pub mod shard;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::reference::ImageRef;

pub use crate::config::pull::PullPolicy;
pub use crate::config::run_file::{Expect, RunCommand, RunTest};
pub use crate::config::secrets::SecretSpec;

/// Everything a run will build, test, tag and push, in order.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Plan {
    /// The config file the plan was computed from.
    pub source: PathBuf,
    /// Images in build order: every image an image needs comes before it.
    pub images: Vec<ImagePlan>,
    /// Moving tags, sorted by tag. Each lists the images that may carry it,
    /// preferred first; the first one that passed its tests gets it.
    pub aliases: Vec<AliasPlan>,
    /// Matrix cells left out, and why.
    pub excluded: Vec<Excluded>,
    /// Files the plan needs on disk before it runs (rendered Dockerfiles and
    /// tests). `strata generate` writes exactly these; empty for a Dante inventory.
    pub files: Vec<GeneratedFile>,
    /// Things that are allowed but probably mistakes, such as an exclusion
    /// that leaves nothing out. Printed with the plan and before a run.
    pub warnings: Vec<String>,
    /// The folder `files` are written to, relative paths joined onto it;
    /// `None` for a Dante inventory.
    pub output: Option<PathBuf>,
    /// The config's `pull:` policy, if it sets one (`--pull` wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// The config's `builder:`; `--builder` overrides it, and without
    /// either the classic builder builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<crate::engine::Builder>,
}

/// One image to build.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImagePlan {
    /// Full image reference the image is tagged with, such as `acme/app:server`.
    pub name: crate::reference::ImageRef,
    /// The build context folder.
    pub context: PathBuf,
    /// The Dockerfile's path relative to `context`; usually `Dockerfile`.
    pub dockerfile: String,
    /// Every image of this plan that a `FROM` line of this one names: all
    /// are built before this one, and if one fails, this one is skipped. The
    /// one its final stage is built on (its base, see [`ImagePlan::base`])
    /// comes first.
    pub needs: Vec<String>,
    /// Tests to build on top of this image, in order.
    pub tests: Vec<TestPlan>,
    /// Build arguments passed to the engine.
    pub build_args: BTreeMap<String, String>,
    /// Files downloaded on the host and added to the build context.
    pub artifacts: Vec<Artifact>,
    /// The labels the image is built with (for a matrix cell: its OS value,
    /// version, other axes' values, role and platform, as written on the
    /// image). strata reads the cell from [`ImagePlan::cell`], never from these.
    pub labels: BTreeMap<String, String>,
    /// The matrix cell a native matrix made this image for; `None` for an
    /// image of a Dante inventory.
    #[serde(skip)]
    pub cell: Option<Cell>,
    /// Seconds one build of this image may take; `None`: `--step-timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The platforms to build for; empty: the engine's own, as one image.
    /// With platforms, each is built and tested on its own (see
    /// [`platforms::expand`]) and published under `name` as one index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<crate::reference::Platform>,
    /// Images some `FROM` lines name, and the local name to build on
    /// instead: one platform's image is built on the same platform's build
    /// of its parent. Set by [`platforms::expand`] only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rename_bases: BTreeMap<String, String>,
    /// Build secrets `RUN --mount=type=secret` steps of this image may read
    /// (IDs and sources only; the values are read when the run starts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
}

/// One test of one image: a Dockerfile without `FROM` built on top of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestPlan {
    /// 1-based position among the image's tests.
    pub index: usize,
    /// The test folder (its Dockerfile, and files it copies).
    pub path: PathBuf,
    /// The tag a passing test image gets: `<name>-test<N>`, as Dante did.
    pub tag: ImageRef,
    /// Seconds this test's layer build may take; `None`: the image's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Build secrets of this test's layer, besides the image's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
    /// The folder's Dockerfile as read (or rendered) when the config was
    /// loaded, checked to have no `FROM`: built as a layer on the image.
    /// `None`: the folder has none.
    #[serde(skip)]
    pub dockerfile: Option<String>,
    /// The folder's `run.yml`, parsed when the config was loaded: run in a
    /// container from the layer (or the image). `None`: the folder has none.
    #[serde(skip)]
    pub run: Option<RunTest>,
}

/// A matrix cell: the values a native matrix made an image for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The OS value's name, such as `bookworm`.
    pub os: String,
    /// What the image is in the matrix.
    pub role: Role,
    /// The values of the axes besides `os`, by axis name.
    pub axes: BTreeMap<String, String>,
    /// The platform of one platform's unit (see [`platforms::expand`]).
    pub platform: Option<crate::reference::Platform>,
}

/// What a matrix image is: a per-OS base, or a cell's image of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The per-OS base image the OS's cells are built on.
    Base,
    /// The image of one release (its version as the feed writes it).
    Image { version: String },
}

impl Cell {
    /// The release version of a cell's image; `None` for a base.
    pub fn version(&self) -> Option<&str> {
        match &self.role {
            Role::Image { version } => Some(version),
            Role::Base => None,
        }
    }

    /// True for a per-OS base image.
    pub fn is_base(&self) -> bool {
        self.role == Role::Base
    }
}

/// A moving tag and the images that may carry it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AliasPlan {
    /// The moving tag, such as `acme/node:22`.
    pub tag: ImageRef,
    /// Image names, preferred first (for rules: newest version first).
    pub candidates: Vec<ImageRef>,
    /// The rule that produced this alias, if it came from a rule.
    pub rule: Option<String>,
    /// The rule opted into falling back to an older candidate when the
    /// newest fails (`fallback: true`); otherwise the alias never moves back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

/// Where an alias goes, by the rule every command follows: to its newest
/// candidate if that one is ready; to an older one only when the alias
/// opted into falling back; never to an image that is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasChoice<'a> {
    /// Candidate `index` (0: the newest).
    To { index: usize, image: &'a ImageRef },
    /// None of its candidates is ready.
    NoneReady,
    /// Its newest candidate is not ready and it may not fall back to
    /// `older`, which is: it stays where it is.
    HeldBack {
        newest: &'a ImageRef,
        older: &'a ImageRef,
    },
}

impl AliasPlan {
    /// Where the alias goes when `ready` says which candidates may carry
    /// it; `may_fall_back` (the rule's `fallback`, or the run's
    /// `--fallback`) lets it go to an older one.
    pub fn choose(&self, ready: impl Fn(&str) -> bool, may_fall_back: bool) -> AliasChoice<'_> {
        let Some((index, image)) = self.candidates.iter().enumerate().find(|(_, c)| ready(c))
        else {
            return AliasChoice::NoneReady;
        };
        if index > 0 && !(may_fall_back || self.fallback) {
            return AliasChoice::HeldBack {
                newest: &self.candidates[0],
                older: image,
            };
        }
        AliasChoice::To { index, image }
    }

    /// The alias as decided by a part of the plan (a shard, a machine's
    /// platforms) that completes only the images `keep` says: the
    /// candidates before the first one it lacks, so it never moves to an
    /// older image while a newer one may pass elsewhere; `None` when it
    /// lacks the newest.
    pub fn narrowed(&self, keep: impl Fn(&str) -> bool) -> Option<AliasPlan> {
        let candidates: Vec<ImageRef> = self
            .candidates
            .iter()
            .take_while(|c| keep(c))
            .cloned()
            .collect();
        (!candidates.is_empty()).then(|| AliasPlan {
            candidates,
            ..self.clone()
        })
    }
}

/// A matrix cell (or image) the plan leaves out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Excluded {
    /// What was left out, such as `bullseye × 23.1.0`.
    pub what: String,
    pub reason: String,
}

/// A file the plan renders (a Dockerfile or test from a template).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    #[serde(skip)]
    pub content: String,
}

/// A file downloaded on the host and placed in an image's build context.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Artifact {
    /// File name inside the build context.
    pub file_name: String,
    pub source: ArtifactSource,
}

/// Where an artifact comes from and how it is verified.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ArtifactSource {
    /// An npm package's tarball, checked against the registry's `dist.integrity`.
    Npm { package: String, version: String },
    /// A URL, checked against a SHA-256 given inline or listed in a
    /// `SHASUMS256.txt` at `shasums_url`.
    Url {
        url: String,
        sha256: Option<String>,
        shasums_url: Option<String>,
    },
}

impl ImagePlan {
    /// The image of this plan this one is built on (its final stage's
    /// `FROM`), if any: the first of [`ImagePlan::needs`].
    pub fn base(&self) -> Option<&str> {
        self.needs.first().map(String::as_str)
    }
}

#[cfg(test)]
impl ImagePlan {
    /// For unit tests: `name`, built from the `Dockerfile` of `context`,
    /// with nothing else set.
    pub(crate) fn for_test(name: &str, context: impl Into<PathBuf>) -> Self {
        ImagePlan {
            name: crate::reference::ImageRef::parse(name).unwrap(),
            context: context.into(),
            dockerfile: "Dockerfile".into(),
            needs: vec![],
            tests: vec![],
            build_args: Default::default(),
            artifacts: vec![],
            labels: Default::default(),
            cell: None,
            timeout: None,
            platforms: vec![],
            rename_bases: Default::default(),
            secrets: vec![],
        }
    }

    /// For unit tests: [`ImagePlan::for_test`] with `dockerfile` written
    /// into a context folder of its own under `dir`.
    pub(crate) fn with_dockerfile(dir: &std::path::Path, name: &str, dockerfile: &str) -> Self {
        let context = dir.join(name.replace(['/', ':'], "_"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
        Self::for_test(name, context)
    }
}

impl Plan {
    /// The image called `name`, if the plan has it.
    pub fn image(&self, name: &str) -> Option<&ImagePlan> {
        self.images.iter().find(|i| i.name == name)
    }

    /// Number of tests over all images.
    pub fn test_count(&self) -> usize {
        self.images.iter().map(|i| i.tests.len()).sum()
    }

    /// The aliases `image` is first in line for (what it gets if it passes).
    pub fn aliases_of<'a>(&'a self, image: &'a str) -> impl Iterator<Item = &'a AliasPlan> + 'a {
        self.aliases
            .iter()
            .filter(move |a| a.candidates.first().map(ImageRef::as_str) == Some(image))
    }
}

/// The tag a passing test image gets, following Dante: `<name>-test<N>`.
/// A name without a tag is treated as `:latest`.
pub fn test_tag(image: &ImageRef, index: usize) -> ImageRef {
    image.with_derived_tag(&format!("test{index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tags_follow_dante() {
        let tag = |image: &str, index| test_tag(&image.parse().unwrap(), index);
        assert_eq!(tag("acme/app:server", 2), "acme/app:server-test2");
        assert_eq!(tag("acme/app", 1), "acme/app:latest-test1");
        assert_eq!(
            tag("127.0.0.1:5000/acme/app:1.0", 1),
            "127.0.0.1:5000/acme/app:1.0-test1"
        );
    }

    fn alias(fallback: bool) -> AliasPlan {
        AliasPlan {
            tag: "node:22".parse().unwrap(),
            candidates: ["node:22.2", "node:22.1", "node:22.0"]
                .map(|c| c.parse().unwrap())
                .into(),
            rule: None,
            fallback,
        }
    }

    #[test]
    fn an_alias_goes_to_its_newest_ready_candidate_and_never_back_unless_it_opted_in() {
        let a = alias(false);
        let [newest, older]: [ImageRef; 2] = ["node:22.2", "node:22.1"].map(|c| c.parse().unwrap());
        assert_eq!(
            a.choose(|_| true, false),
            AliasChoice::To {
                index: 0,
                image: &newest
            }
        );
        let older_ready = |c: &str| c != "node:22.2";
        assert_eq!(
            a.choose(older_ready, false),
            AliasChoice::HeldBack {
                newest: &newest,
                older: &older
            }
        );
        // Opted in by the run or by the rule.
        let to_older = AliasChoice::To {
            index: 1,
            image: &older,
        };
        assert_eq!(a.choose(older_ready, true), to_older);
        assert_eq!(alias(true).choose(older_ready, false), to_older);
        assert_eq!(a.choose(|_| false, true), AliasChoice::NoneReady);
    }
}
