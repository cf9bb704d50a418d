//! Image references: the one place strata splits, checks and normalises them.
//!
//! An inventory names images and aliases that strata later hands to the
//! engine as tags, pushes to registries and compares with `FROM` lines. A name
//! the engine would refuse (upper case, a bad tag) should be caught while
//! reading the config, not after an hour of builds, so this module implements
//! the distribution reference grammar:
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component ( "/" path-component )*
//! domain     := host [ ":" port ]
//! path-comp  := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator  := "." | "_" | "__" | "-"+
//! tag        := [\w][\w.-]{0,127}
//! digest     := algorithm ":" hex{32,}
//! ```
//!
//! As in Docker, the first component is a registry host only when it contains
//! `.` or `:`, or is `localhost`. (Docker also takes an upper-case first
//! component for a host; strata reports it as an upper-case repository
//! instead, which is what such a name almost always is.)

mod id;
mod image_ref;
pub mod platform;

use std::fmt;

pub use id::{Digest, ImageId};
pub use image_ref::{ImageRef, Repository};
pub use platform::{Platform, PlatformError};

/// Longest repository name (domain and path) Docker accepts.
const NAME_TOTAL_MAX: usize = 255;
/// Longest tag Docker accepts.
const TAG_MAX: usize = 128;

/// The registry a reference without a host lives on.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The tag a reference without a tag or digest means.
pub const DEFAULT_TAG: &str = "latest";

/// A reference split into its parts. Borrowed from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// The repository as written, registry host included: `127.0.0.1:5000/acme/app`.
    pub name: &'a str,
    /// Registry host and optional port, such as `127.0.0.1:5000`.
    pub domain: Option<&'a str>,
    /// Repository path, such as `nodesource/node`.
    pub path: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// Splits `text` into its parts without checking them; for references
    /// strata already checked or made itself. [`parse`] checks as well.
    pub fn split(text: &'a str) -> Self {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        // The tag's colon is the last one after the last slash (a port's colon
        // comes before a slash).
        let name_start = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[name_start..].rfind(':') {
            Some(i) => (&rest[..name_start + i], Some(&rest[name_start + i + 1..])),
            None => (rest, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, rest)) if is_domain_like(first) => (Some(first), rest),
            _ => (None, name),
        };
        Reference {
            name,
            domain,
            path,
            tag,
            digest,
        }
    }

    /// The registry host, following Docker's rules: the first path component
    /// is a host if it contains `.` or `:` or is `localhost`; anything else
    /// lives on Docker Hub, whose names all become `docker.io`.
    ///
    /// ```
    /// use strata::reference::Reference;
    /// assert_eq!(Reference::split("127.0.0.1:5000/acme/app:1").registry(), "127.0.0.1:5000");
    /// assert_eq!(Reference::split("acme/app").registry(), "docker.io");
    /// ```
    pub fn registry(&self) -> &'a str {
        match self.domain {
            None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io") => {
                DEFAULT_REGISTRY
            }
            Some(domain) => domain,
        }
    }

    /// The tag, or `latest` when none is given.
    pub fn tag_or_latest(&self) -> &'a str {
        self.tag.unwrap_or(DEFAULT_TAG)
    }
}

/// The registry host `text` names (see [`Reference::registry`]).
pub fn registry_of(text: &str) -> &str {
    Reference::split(text).registry()
}

/// Why a reference is invalid, in the words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    Empty,
    /// The repository contains upper-case letters.
    Uppercase,
    /// A path component is empty or uses characters Docker does not allow.
    BadComponent(String),
    BadDomain(String),
    BadTag(String),
    BadDigest(String),
    NameTooLong(usize),
    /// A repository name (no tag, no digest) was expected.
    NotARepository(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::Empty => f.write_str("the reference is empty"),
            ReferenceError::Uppercase => f.write_str("repository name must be lowercase"),
            ReferenceError::BadComponent(c) => write!(
                f,
                "repository path component `{}` may only contain lowercase letters, digits and single separators (`.`, `_`, `__`, `-`) between them",
                quoted(c)
            ),
            ReferenceError::BadDomain(d) => {
                write!(f, "`{}` is not a valid registry host[:port]", quoted(d))
            }
            ReferenceError::BadTag(t) => write!(
                f,
                "tag `{}` must start with a letter, digit or `_` and contain at most 128 letters, digits, `_`, `.` or `-`",
                quoted(t)
            ),
            ReferenceError::BadDigest(d) => {
                write!(f, "digest `{}` must look like `sha256:<64 hex digits>`", quoted(d))
            }
            ReferenceError::NameTooLong(n) => write!(
                f,
                "repository name is {n} characters long; at most {NAME_TOTAL_MAX} are allowed"
            ),
            ReferenceError::NotARepository(r) => write!(
                f,
                "`{}` is not a repository name: a repository has no tag or digest",
                quoted(r)
            ),
        }
    }
}

/// A part of a reference as quoted in a message: control characters escaped
/// (a newline or an escape sequence from a feed is shown, not acted on), cut.
fn quoted(text: &str) -> String {
    crate::text::quote(text)
}

impl std::error::Error for ReferenceError {}

/// Checks `text` against the reference grammar and splits it.
pub fn parse(text: &str) -> Result<Reference<'_>, ReferenceError> {
    if text.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let r = Reference::split(text);
    if let Some(digest) = r.digest {
        check_digest(digest)?;
    }
    if let Some(tag) = r.tag {
        check_tag(tag)?;
    }
    if r.name.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if r.name.len() > NAME_TOTAL_MAX {
        return Err(ReferenceError::NameTooLong(r.name.len()));
    }
    if let Some(domain) = r.domain {
        check_domain(domain)?;
    }
    for component in r.path.split('/') {
        check_component(component)?;
    }
    Ok(r)
}

/// Why a rendered or written alias cannot be a moving tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasRefusal {
    #[error("it has surrounding whitespace")]
    Whitespace,
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("an alias cannot carry a digest (`@sha256:…`); it is a moving tag")]
    Digest,
}

/// Checks a rendered or written alias: a reference (`[registry/]repo[:tag]`)
/// that is a moving tag, so it has no digest. Explains what is wrong.
pub fn validate_alias(text: &str) -> Result<(), AliasRefusal> {
    if text.trim() != text {
        return Err(AliasRefusal::Whitespace);
    }
    let parsed = parse(text)?;
    if parsed.digest.is_some() {
        return Err(AliasRefusal::Digest);
    }
    Ok(())
}

/// The form Docker shows a reference in, used to compare references: drops
/// the default registry and `library/`, and adds `:latest` when there is no
/// tag or digest. `docker.io/library/node` and `node:latest` are the same image.
pub fn normalize(text: &str) -> String {
    let Ok(r) = parse(text) else {
        return text.to_string();
    };
    let default_registry = r.registry() == DEFAULT_REGISTRY;
    let mut out = String::new();
    if !default_registry {
        out.push_str(r.registry());
        out.push('/');
    }
    let path = match r.path.strip_prefix("library/") {
        Some(short) if default_registry && !short.contains('/') => short,
        _ => r.path,
    };
    out.push_str(path);
    match (r.tag, r.digest) {
        (None, None) => {
            out.push(':');
            out.push_str(DEFAULT_TAG);
        }
        (tag, digest) => {
            if let Some(tag) = tag {
                out.push(':');
                out.push_str(tag);
            }
            if let Some(digest) = digest {
                out.push('@');
                out.push_str(digest);
            }
        }
    }
    out
}

fn is_domain_like(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn has_upper(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::BadDomain(domain.to_string());
    let (host, port) = if let Some(stripped) = domain.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5000`.
        let (inside, after) = stripped.split_once(']').ok_or_else(bad)?;
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (None, port)
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
    }
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_component(component: &str) -> Result<(), ReferenceError> {
    if has_upper(component) {
        return Err(ReferenceError::Uppercase);
    }
    let bad = || ReferenceError::BadComponent(component.to_string());
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    // Walk separator runs between alphanumeric runs.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let ok = tag.len() <= TAG_MAX
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::BadTag(tag.to_string()))
    }
}

fn check_digest(digest: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::BadDigest(digest.to_string());
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '-', '_']).all(|c| {
            c.chars().next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.chars().all(|ch| ch.is_ascii_alphanumeric())
        });
    if !algorithm_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_docker_accepts() {
        for ok in [
            "node",
            "nodesource/node:4.4.7",
            "nodesource/jessie:LTS",
            "127.0.0.1:5000/acme/app:1.0",
            "localhost/app",
            "registry.example.com/a/b/c:_x",
            "a__b/c-d---e/f.g_h:v1.2-rc.3",
            "[::1]:5000/app:1",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(
                parse(ok).is_ok(),
                "{ok} should be accepted: {:?}",
                parse(ok)
            );
        }
    }

    #[test]
    fn splits_parts() {
        let r = parse("127.0.0.1:5000/acme/app:1.0").unwrap();
        assert_eq!(r.domain, Some("127.0.0.1:5000"));
        assert_eq!(r.path, "acme/app");
        assert_eq!(r.tag, Some("1.0"));
        let r = parse("acme/app").unwrap();
        assert_eq!((r.domain, r.path, r.tag), (None, "acme/app", None));
    }

    #[test]
    fn rejects_what_docker_rejects() {
        let cases: &[(&str, ReferenceError)] = &[
            ("", ReferenceError::Empty),
            ("Acme/app", ReferenceError::Uppercase),
            ("acme/App:1", ReferenceError::Uppercase),
            ("acme/app:", ReferenceError::BadTag(String::new())),
            ("acme/app:.x", ReferenceError::BadTag(".x".into())),
            ("acme/app:a+b", ReferenceError::BadTag("a+b".into())),
            ("acme//app", ReferenceError::BadComponent(String::new())),
            ("acme/-app", ReferenceError::BadComponent("-app".into())),
            ("acme/a..b", ReferenceError::BadComponent("a..b".into())),
            ("acme/a___b", ReferenceError::BadComponent("a___b".into())),
            ("acme app", ReferenceError::BadComponent("acme app".into())),
            (
                "host:port/app",
                ReferenceError::BadDomain("host:port".into()),
            ),
            (
                "app@sha256:xyz",
                ReferenceError::BadDigest("sha256:xyz".into()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref().err(), Some(want), "{text:?}");
        }
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(matches!(parse(&long_tag), Err(ReferenceError::BadTag(_))));
        let long_name = "a".repeat(256);
        assert_eq!(parse(&long_name), Err(ReferenceError::NameTooLong(256)));
    }

    #[test]
    fn split_never_fails_and_names_the_registry() {
        let r = Reference::split("127.0.0.1:5000/a/b@sha256:00");
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("127.0.0.1:5000/a/b", None, Some("sha256:00"))
        );
        let r = Reference::split("host:5000/a/b:t");
        assert_eq!((r.name, r.tag), ("host:5000/a/b", Some("t")));
        assert_eq!(Reference::split("host:5000/a/b").tag, None);
        assert_eq!(Reference::split("app").tag_or_latest(), "latest");
        assert_eq!(Reference::split("app:v2").tag_or_latest(), "v2");
        for (text, host) in [
            ("127.0.0.1:5000/acme/app:1.0", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            ("localhost:5000/app", "localhost:5000"),
            ("ghcr.io/acme/app:tag", "ghcr.io"),
            ("acme/app:1.0", "docker.io"),
            ("node:20", "docker.io"),
            ("index.docker.io/library/node", "docker.io"),
            ("acme/app@sha256:abcd", "docker.io"),
        ] {
            assert_eq!(registry_of(text), host, "{text}");
        }
    }

    #[test]
    fn aliases_are_moving_tags() {
        for ok in [
            "nodesource/jessie:LTS",
            "node:22.11.0-bookworm",
            "127.0.0.1:5000/acme/node:lts",
            "acme/node",
        ] {
            assert_eq!(validate_alias(ok), Ok(()), "{ok}");
        }
        let refusal = |text: &str| validate_alias(text).unwrap_err().to_string();
        let upper = refusal("Acme/node:1");
        assert!(upper.contains("must be lowercase"), "{upper}");
        let plus = refusal("acme/node:1.0+build");
        assert!(plus.contains("tag `1.0+build`"), "{plus}");
        let dash = refusal("acme/node:-x");
        assert!(dash.contains("must start with"), "{dash}");
        let digest = format!("acme/node@sha256:{}", "a".repeat(64));
        assert_eq!(validate_alias(&digest), Err(AliasRefusal::Digest));
        assert!(refusal(&digest).contains("moving tag"));
        assert_eq!(validate_alias(" acme/node"), Err(AliasRefusal::Whitespace));
        assert_eq!(refusal(" acme/node"), "it has surrounding whitespace");
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(normalize("node"), "node:latest");
        assert_eq!(normalize("docker.io/library/node:20"), "node:20");
        assert_eq!(normalize("docker.io/acme/app"), "acme/app:latest");
        assert_eq!(
            normalize("127.0.0.1:5000/library/x"),
            "127.0.0.1:5000/library/x:latest"
        );
        assert_eq!(normalize("acme/app:1"), "acme/app:1");
    }
}
