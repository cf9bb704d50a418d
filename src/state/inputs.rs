//! The parts an image's input fingerprint was made of, kept beside it so
//! the next run can say *why* an image is rebuilt (see `exec::reasons`).
//!
//! Every value is a digest or a name: a build argument's value is kept only
//! as a digest, so the state never holds what a build argument said.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A context with more files than this keeps only its overall digest: a
/// change is then reported without naming the files.
pub const MAX_NAMED_FILES: usize = 4096;

/// What went into one image's input fingerprint, part by part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputParts {
    /// The strata version that built the image.
    #[serde(default)]
    pub strata: String,
    /// SHA-256 of the Dockerfile as written (before any `FROM` is pinned).
    #[serde(default)]
    pub dockerfile: String,
    /// SHA-256 of the whole build context (artifacts included).
    #[serde(default)]
    pub context: String,
    /// Each context file (artifacts and the Dockerfile apart) and a digest
    /// of its mode and content; empty when the context has more than
    /// [`MAX_NAMED_FILES`] (`files_named` is then false).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub files_named: bool,
    /// Each artifact by its name in the context.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifacts: BTreeMap<String, ArtifactPart>,
    /// Each test by its tag: a digest of its folder.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tests: BTreeMap<String, String>,
    /// Each build argument by name: a digest of its value, never the value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// Each build secret by ID: a digest of its value's hash, never the
    /// value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// A digest of every label.
    #[serde(default)]
    pub labels: String,
    /// Each image a `FROM` line reads (pinned bases as `name@digest`) and
    /// the engine's image ID behind it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub from: BTreeMap<String, String>,
}

/// One artifact as it was built with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPart {
    /// Where it came from: `npm PACKAGE@VERSION` or its URL.
    pub source: String,
    /// A digest of the file.
    pub content: String,
}
