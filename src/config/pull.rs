//! The pull policy: whether `strata test` follows its external bases upstream.

use serde::{Deserialize, Serialize};

/// When `strata test` resolves and pulls the images its `FROM` lines name
/// that the plan does not build (`--pull`, `pull:`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Resolve every base to its digest in its registry, pull it when the
    /// engine's copy is not that digest, and build on exactly that digest.
    #[default]
    Always,
    /// Pull only a base the engine does not hold; build on the local copy.
    Missing,
    /// Never ask a registry: build on the engine's copies (air-gapped machines).
    Never,
}

/// A pull policy that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pull policy {0:?}; use always, missing or never")]
pub struct UnknownPullPolicy(pub String);

impl std::str::FromStr for PullPolicy {
    type Err = UnknownPullPolicy;
    fn from_str(s: &str) -> Result<Self, UnknownPullPolicy> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(UnknownPullPolicy(other.to_string())),
        }
    }
}

impl std::fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "missing",
            PullPolicy::Never => "never",
        })
    }
}
