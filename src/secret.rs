//! A string that never prints itself: registry passwords and tokens.

use std::fmt;

/// Holds a secret. `Debug` and `Display` print `<redacted>`; the only way to
/// read it is [`Secret::expose`], so a secret cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself. Call only where it is handed to the engine or registry.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Registry credentials for one registry host.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}
