//! Checking that a rendered alias is a usable image reference.
//!
//! A rule like `acme/{{ os.name }}:{{ codename }}` can render something a
//! registry will refuse (an uppercase repository, a `+` in the tag). Catching
//! it at plan time, with the reason, beats a push failing after the build.

use std::str::FromStr;

use oci_client::{ParseError, Reference};

/// Checks `reference` (`[registry/]repo[:tag]`) and explains what is wrong.
pub fn validate(reference: &str) -> Result<(), String> {
    if reference.contains('@') {
        return Err("an alias cannot carry a digest (`@sha256:…`); it is a moving tag".into());
    }
    if reference.trim() != reference || reference.is_empty() {
        return Err("it is empty or has surrounding whitespace".into());
    }
    // Checked before the parser, which reports uppercase only as "invalid
    // reference format", and reads an uppercase first part (`Acme/node`) as
    // a registry host where the author surely meant a repository.
    let (repo, _) = crate::plan::split_tag(reference);
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "the repository `{repo}` must be lowercase (a tag may have uppercase)"
        ));
    }
    match Reference::from_str(reference) {
        Ok(_) => Ok(()),
        Err(e) => Err(explain(reference, &e)),
    }
}

/// The parser's error names the rule broken; add the offending part.
fn explain(reference: &str, e: &ParseError) -> String {
    let (repo, tag) = crate::plan::split_tag(reference);
    match e {
        ParseError::NameContainsUppercase => {
            format!("the repository `{repo}` must be lowercase (a tag may have uppercase)")
        }
        ParseError::TagInvalidFormat | ParseError::ReferenceInvalidFormat => {
            if let Some(tag) = tag {
                if let Some(problem) = tag_problem(tag) {
                    return format!("the tag `{tag}` {problem}");
                }
            }
            format!(
                "`{reference}` is not an image reference ({e}); the repository may use \
                 lowercase letters, digits and `.`, `_`, `-` separators between `/` parts"
            )
        }
        other => format!("`{reference}` is not an image reference: {other}"),
    }
}

/// What breaks the tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, if anything.
fn tag_problem(tag: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if tag.is_empty() {
        return Some("is empty".into());
    }
    if tag.len() > 128 {
        return Some(format!(
            "is {} characters long; at most 128 are allowed",
            tag.len()
        ));
    }
    if let Some(c) = tag.chars().find(|c| !allowed(*c)) {
        return Some(format!(
            "contains `{c}`; tags may only use letters, digits, `_`, `.` and `-`"
        ));
    }
    if tag.starts_with(['.', '-']) {
        return Some("must not start with `.` or `-`".into());
    }
    None
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
        assert!(plus.contains("contains `+`"), "{plus}");
        let dash = validate("acme/node:-x").unwrap_err();
        assert!(dash.contains("must not start"), "{dash}");
        let empty_tag = validate("acme/node:").unwrap_err();
        assert!(empty_tag.contains("is empty"), "{empty_tag}");
        assert!(validate("acme/node@sha256:abc")
            .unwrap_err()
            .contains("digest"));
    }
}
