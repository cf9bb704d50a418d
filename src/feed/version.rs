//! Version strings as feeds write them, and the order strata keeps them in.
//!
//! npm and Node version with semver (`1.2.0-canary.20240101.1`). Python,
//! Ruby and most endoflife.date products write pre-releases PEP 440-like
//! (`3.14.0a1`, `3.13.0rc2`, `3.4.0-preview1`, `3.3.0.rc1`, Ruby's patch level `2.0.0p648` a final
//! release after `2.0.0`): numbers, then an
//! optional tag (`a`/`alpha`/`dev`/`pre`/`preview` < `b`/`beta` < `rc`/`c`)
//! and its number. Both are ordered as semver, a PEP 440-like pre-release
//! becoming `-a.1`, `-b.2`, `-rc.1` (numeric identifiers compare as numbers),
//! so the never-backwards rule and "newest first" follow the feed's own scheme.

/// A version as the feed wrote it, with its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedVersion {
    /// As written (`3.14.0a1`); what templates see as `version`.
    pub text: String,
    /// The order: semver, with a PEP 440-like pre-release mapped as above.
    pub order: semver::Version,
    /// The pre-release part as written (`a1`, `canary.20240101.1`), or empty.
    pub prerelease: String,
}

/// How a feed writes its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Semantic versioning (npm, Node); a leading `v` is allowed.
    Semver,
    /// Up to three numbers and a PEP 440-like pre-release tag.
    Pep440,
}

/// A value in a feed that is not what its field holds: a version, a date,
/// a flag. The words quote the value; the parser's error is the source.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("`{text}` is not a semantic version: {reason}")]
    Semver {
        text: String,
        #[source]
        reason: semver::Error,
    },
    #[error("`{0}` is not a version such as 3.13.0, 3.14.0a1 or 3.4.0-preview1")]
    Pep440(String),
    /// An index's version column (`v22.1.0`).
    #[error("version `{text}` is not a semver version: {reason}")]
    IndexVersion {
        text: String,
        #[source]
        reason: semver::Error,
    },
    /// An index's date column.
    #[error("date `{text}` is not a YYYY-MM-DD date: {reason}")]
    IndexDate {
        text: String,
        #[source]
        reason: chrono::ParseError,
    },
    #[error("`{text}` is not a date (YYYY-MM-DD): {reason}")]
    Date {
        text: String,
        #[source]
        reason: chrono::ParseError,
    },
    #[error("expected a date (YYYY-MM-DD), true or false, found {0}")]
    Flag(serde_json::Value),
}

impl FeedVersion {
    /// Reads `text` by `scheme`; the message says what was expected.
    pub fn parse(text: &str, scheme: Scheme) -> Result<FeedVersion, ValueError> {
        let trimmed = text.trim();
        match scheme {
            Scheme::Semver => {
                let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
                let order = semver::Version::parse(bare).map_err(|reason| ValueError::Semver {
                    text: text.to_string(),
                    reason,
                })?;
                Ok(FeedVersion {
                    text: bare.to_string(),
                    prerelease: order.pre.to_string(),
                    order,
                })
            }
            Scheme::Pep440 => pep440(trimmed).ok_or_else(|| ValueError::Pep440(text.to_string())),
        }
    }

    pub fn is_prerelease(&self) -> bool {
        !self.order.pre.is_empty()
    }
}

fn pep440(text: &str) -> Option<FeedVersion> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    // The numbers: up to three, separated by dots.
    let end = bare
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(bare.len());
    let numbers = bare[..end].trim_end_matches('.');
    let mut parts = numbers.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    let tail = bare[numbers.len()..].trim_start_matches(['.', '-', '_']);
    let mut build = semver::BuildMetadata::EMPTY;
    let (pre, prerelease) = if tail.is_empty() {
        (semver::Prerelease::EMPTY, String::new())
    } else if let Some(level) = tail
        .strip_prefix("post")
        .or_else(|| tail.strip_prefix('p'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        // A post-release (Ruby's patch level `2.0.0p648`): a final release,
        // after the plain one.
        build = semver::BuildMetadata::new(&format!("p{level}")).ok()?;
        (semver::Prerelease::EMPTY, String::new())
    } else {
        let split = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (tag, number) = tail.split_at(split);
        let rank = match tag.to_ascii_lowercase().as_str() {
            "a" | "alpha" | "dev" | "pre" | "preview" => "a",
            "b" | "beta" => "b",
            "c" | "rc" => "rc",
            _ => return None,
        };
        let number = number.trim_start_matches('.');
        let n: u64 = if number.is_empty() {
            0
        } else {
            number.parse().ok()?
        };
        (
            semver::Prerelease::new(&format!("{rank}.{n}")).ok()?,
            tail.to_string(),
        )
    };
    Some(FeedVersion {
        text: bare.to_string(),
        order: semver::Version {
            major,
            minor,
            patch,
            pre,
            build,
        },
        prerelease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pep(text: &str) -> FeedVersion {
        FeedVersion::parse(text, Scheme::Pep440).unwrap()
    }

    #[test]
    fn pep440_like_versions_order_as_publishers_mean() {
        let ordered = [
            "3.13.0a1",
            "3.13.0a2",
            "3.13.0a10",
            "3.13.0b1",
            "3.13.0rc1",
            "3.13.0rc2",
            "3.13.0",
            "3.13.1",
            "3.14.0a1",
        ];
        let versions: Vec<FeedVersion> = ordered.iter().map(|t| pep(t)).collect();
        for pair in versions.windows(2) {
            assert!(
                pair[0].order < pair[1].order,
                "{} < {}",
                pair[0].text,
                pair[1].text
            );
        }
        assert_eq!(pep("3.14.0a1").prerelease, "a1");
        assert_eq!(pep("3.14.0a1").text, "3.14.0a1");
        assert!(pep("3.14.0a1").is_prerelease());
        assert!(!pep("3.13.0").is_prerelease());
        // Ruby's forms: preview before rc, two-number cycles.
        assert!(pep("3.4.0-preview2").order < pep("3.4.0.rc1").order);
        assert_eq!(pep("3.4.0.rc1").prerelease, "rc1");
        assert_eq!(pep("3.4").order, semver::Version::new(3, 4, 0));
        // Ruby's patch levels are final releases, after the plain one.
        assert!(!pep("2.0.0p648").is_prerelease());
        assert!(pep("2.0.0p648").order > pep("2.0.0").order);
        assert_eq!(pep("2.0.0p648").text, "2.0.0p648");
    }

    #[test]
    fn what_is_not_a_version_is_refused_with_the_text() {
        for bad in ["", "latest", "3.13.0x1", "1.2.3.4", "3..1", "3.13.0rc1x"] {
            let err = FeedVersion::parse(bad, Scheme::Pep440)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert!(FeedVersion::parse("1.2", Scheme::Semver).is_err());
        let canary = FeedVersion::parse("1.4.0-canary.20260826.1", Scheme::Semver).unwrap();
        assert_eq!(canary.prerelease, "canary.20260826.1");
        assert!(canary.order < semver::Version::new(1, 4, 0));
    }
}
