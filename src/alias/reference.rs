//! Checking that a rendered alias is a usable image reference.
//!
//! A rule like `acme/{{ os.name }}:{{ codename }}` can render something a
//! registry will refuse (an uppercase repository, a `+` in the tag). Catching
//! it at plan time, with the reason, beats a push failing after the build.
//! The grammar is the one the config uses ([`crate::config::reference`]); an
//! alias adds one rule of its own: it is a moving tag, so it has no digest.

use crate::config::reference;

/// Checks `reference` (`[registry/]repo[:tag]`) and explains what is wrong.
pub fn validate(text: &str) -> Result<(), String> {
    if text.trim() != text {
        return Err("it has surrounding whitespace".into());
    }
    let parsed = reference::parse(text).map_err(|e| e.to_string())?;
    if parsed.digest.is_some() {
        return Err("an alias cannot carry a digest (`@sha256:…`); it is a moving tag".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_references() {
        for ok in [
            "nodesource/jessie:LTS",
            "node:22.11.0-bookworm",
            "127.0.0.1:5000/acme/node:lts",
            "acme/node",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn explains_what_is_wrong() {
        let upper = validate("Acme/node:1").unwrap_err();
        assert!(upper.contains("must be lowercase"), "{upper}");
        let inner = validate("acme/Node:1").unwrap_err();
        assert!(inner.contains("must be lowercase"), "{inner}");
        let plus = validate("acme/node:1.0+build").unwrap_err();
        assert!(plus.contains("tag `1.0+build`"), "{plus}");
        let dash = validate("acme/node:-x").unwrap_err();
        assert!(dash.contains("must start with"), "{dash}");
        let empty_tag = validate("acme/node:").unwrap_err();
        assert!(empty_tag.contains("tag"), "{empty_tag}");
        let digest = format!("acme/node@sha256:{}", "a".repeat(64));
        assert!(validate(&digest).unwrap_err().contains("moving tag"));
        assert!(validate(" acme/node").is_err());
    }
}
