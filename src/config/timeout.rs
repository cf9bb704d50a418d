//! Build-step timeouts a config may set per image and per test, in seconds.
//!
//! The same bounds as a `run.yml` `timeout`: at least one second, at most a
//! day (larger values are mistakes, and would overflow time arithmetic).

use serde::{Deserialize, Deserializer};

use super::run_file::MAX_TIMEOUT_SECS;

/// Why a timeout was refused; each says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    #[error("`timeout` must be at least 1 second")]
    Zero,
    #[error("`timeout` is {0} seconds, more than the limit of {MAX_TIMEOUT_SECS} (a day)")]
    TooLong(u64),
    #[error("`timeout` must be whole seconds, such as 600, not `{0}`")]
    NotSeconds(String),
}

/// Whole seconds a build step may take, checked when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTimeout(pub u64);

impl StepTimeout {
    /// Checks `secs` against the bounds; the error says what to write.
    pub fn new(secs: u64) -> Result<StepTimeout, TimeoutError> {
        match secs {
            0 => Err(TimeoutError::Zero),
            s if s > MAX_TIMEOUT_SECS => Err(TimeoutError::TooLong(s)),
            s => Ok(StepTimeout(s)),
        }
    }

    /// Reads a timeout written as text (`600`).
    pub fn parse(text: &str) -> Result<StepTimeout, TimeoutError> {
        let secs = text
            .trim()
            .parse::<u64>()
            .map_err(|_| TimeoutError::NotSeconds(text.to_string()))?;
        StepTimeout::new(secs)
    }
}

impl schemars::JsonSchema for StepTimeout {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepTimeout".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Whole seconds a build may take, at most a day.",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_TIMEOUT_SECS,
        })
    }
}

impl<'de> Deserialize<'de> for StepTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StepTimeout::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_text() {
        assert_eq!(StepTimeout::parse("600"), Ok(StepTimeout(600)));
        assert!(StepTimeout::parse("0")
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        assert!(StepTimeout::parse("86401")
            .unwrap_err()
            .to_string()
            .contains("limit"));
        assert!(StepTimeout::parse("18446744073709551615").is_err());
        assert!(StepTimeout::parse("10m")
            .unwrap_err()
            .to_string()
            .contains("whole seconds"));
    }
}
