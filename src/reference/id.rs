//! The two content addresses strata passes around, as distinct types: the
//! engine's image ID and the registry's manifest digest. Both look like
//! `sha256:…`, and passing one where the other is meant is the mistake that
//! would ship the wrong thing, so the compiler tells them apart.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! content_address {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `text` as it was received.
            pub fn new(text: impl Into<String>) -> Self {
                $name(text.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The hex part without `sha256:`, cut to 12 characters, as
            /// `docker images` shows it.
            pub fn short(&self) -> &str {
                let hex = self.0.split_once(':').map_or(self.0.as_str(), |(_, h)| h);
                hex.get(..12).unwrap_or(hex)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(text.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

content_address!(
    /// An image ID as the engine reports it, such as `sha256:4f2a…`: the
    /// digest of the image's config. A test is built `FROM` it; state records
    /// which one passed.
    ImageId
);

content_address!(
    /// A manifest digest as a registry reports it (`Docker-Content-Digest`),
    /// such as `sha256:9b1c…`: what a tag points at.
    Digest
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_and_serde_are_the_plain_text() {
        let id = ImageId::new(format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(id.short(), "abababababab");
        assert_eq!(ImageId::new("sha256:ab").short(), "ab");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: ImageId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        let digest = Digest::new("sha256:00");
        assert_eq!(digest, "sha256:00");
    }
}
