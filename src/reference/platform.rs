//! Platforms (`linux/amd64`, `linux/arm/v7`): what an image is built for.
//!
//! The names and normal forms are those of the OCI image index and of
//! Docker's `--platform` flag: `os/architecture[/variant]`, with `arm64/v8`
//! written `arm64` and the default variants of `arm` made explicit.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An OS, an architecture, and for ARM a variant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The architectures an OCI index can name on Linux, as Go spells them.
const ARCHITECTURES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
];

impl Platform {
    /// The platform of the machine strata runs on.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: (architecture == "arm").then(|| "v7".into()),
        }
    }

    /// A form usable inside a tag: `linux-arm64`, `linux-arm-v7`.
    pub fn tag_suffix(&self) -> String {
        let mut s = format!("{}-{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            s.push('-');
            s.push_str(v);
        }
        s
    }

    /// The build arguments BuildKit sets by itself and the classic builder
    /// does not: `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`,
    /// and the same four with `BUILD` for the machine that builds.
    pub fn build_args(&self, build: &Platform) -> BTreeMap<String, String> {
        let mut args = BTreeMap::new();
        for (prefix, p) in [("TARGET", self), ("BUILD", build)] {
            args.insert(format!("{prefix}PLATFORM"), p.to_string());
            args.insert(format!("{prefix}OS"), p.os.clone());
            args.insert(format!("{prefix}ARCH"), p.architecture.clone());
            args.insert(
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            );
        }
        args
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Why a text is not a platform strata can build for; the message says
/// what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("`{0}` is not a platform; write os/architecture[/variant], such as linux/arm64")]
    Form(String),
    #[error("`{text}`: only linux images can be built (the os is `{os}`)")]
    Os { text: String, os: String },
    #[error("`{text}`: unknown architecture `{architecture}`; known: {}", ARCHITECTURES.join(", "))]
    Architecture { text: String, architecture: String },
    #[error("`{text}`: `{variant}` is not a variant of {architecture}")]
    Variant {
        text: String,
        variant: String,
        architecture: String,
    },
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(text: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = text.split('/').collect();
        let (os, architecture, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(PlatformError::Form(text.to_string())),
        };
        if os != "linux" {
            return Err(PlatformError::Os {
                text: text.to_string(),
                os: os.to_string(),
            });
        }
        if !ARCHITECTURES.contains(&architecture) {
            return Err(PlatformError::Architecture {
                text: text.to_string(),
                architecture: architecture.to_string(),
            });
        }
        let variant = match (architecture, variant) {
            // arm64's only variant is its default.
            ("arm64", None | Some("v8")) => None,
            ("arm", None) => Some("v7".to_string()),
            ("arm", Some(v @ ("v5" | "v6" | "v7"))) => Some(v.to_string()),
            (_, None) => None,
            (_, Some(v)) => {
                return Err(PlatformError::Variant {
                    text: text.to_string(),
                    variant: v.to_string(),
                    architecture: architecture.to_string(),
                })
            }
        };
        Ok(Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant,
        })
    }
}

impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<String, String> {
        text.parse::<Platform>()
            .map(|p| p.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn normal_forms() {
        assert_eq!(p("linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(p("linux/arm64/v8").unwrap(), "linux/arm64");
        assert_eq!(p("linux/arm").unwrap(), "linux/arm/v7");
        assert_eq!(p("linux/arm/v6").unwrap(), "linux/arm/v6");
        assert_eq!(p("linux/s390x").unwrap(), "linux/s390x");
    }

    #[test]
    fn refusals_say_what_to_write() {
        assert!(p("amd64").unwrap_err().contains("os/architecture"));
        assert!(p("windows/amd64").unwrap_err().contains("only linux"));
        assert!(p("linux/x86_64")
            .unwrap_err()
            .contains("unknown architecture"));
        assert!(p("linux/amd64/v9").unwrap_err().contains("not a variant"));
        assert!(p("linux/arm/v9").unwrap_err().contains("not a variant"));
        assert!(p("linux/a/b/c").is_err());
        assert_eq!(
            p("linux/x86_64").unwrap_err(),
            "`linux/x86_64`: unknown architecture `x86_64`; known: amd64, arm64, arm, 386, \
             ppc64le, s390x, riscv64, mips64le, loong64"
        );
        assert_eq!(
            "linux/arm/v9".parse::<Platform>(),
            Err(PlatformError::Variant {
                text: "linux/arm/v9".into(),
                variant: "v9".into(),
                architecture: "arm".into()
            })
        );
    }

    #[test]
    fn build_args_name_target_and_build_platforms() {
        let target: Platform = "linux/arm/v7".parse().unwrap();
        let build: Platform = "linux/amd64".parse().unwrap();
        let args = target.build_args(&build);
        assert_eq!(args["TARGETPLATFORM"], "linux/arm/v7");
        assert_eq!(args["TARGETARCH"], "arm");
        assert_eq!(args["TARGETVARIANT"], "v7");
        assert_eq!(args["BUILDPLATFORM"], "linux/amd64");
        assert_eq!(args["BUILDVARIANT"], "");
        assert_eq!(args.len(), 8);
        assert_eq!(target.tag_suffix(), "linux-arm-v7");
    }
}
