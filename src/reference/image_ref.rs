//! Owned, parsed references: [`ImageRef`] (`[host/]path[:tag][@digest]`)
//! and [`Repository`] (`[host/]path`).
//!
//! Both are made only by the validating [`parse`](super::parse), so holding
//! one means the text follows the reference grammar. Each keeps the text
//! exactly as written and the positions of its parts: `Display`, `Serialize`,
//! ordering and hashing are those of the text, so a value prints, sorts and
//! serialises exactly as the string it was made from.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    check_digest, check_tag, parse, Digest, Reference, ReferenceError, DEFAULT_REGISTRY,
    DEFAULT_TAG,
};

/// An image reference, checked once and split once: registry host, path,
/// tag and digest, as in `127.0.0.1:5000/acme/app:1.0` or
/// `node@sha256:…`.
///
/// ```
/// use strata::reference::ImageRef;
/// let r: ImageRef = "127.0.0.1:5000/acme/app:1.0".parse().unwrap();
/// assert_eq!(r.registry(), "127.0.0.1:5000");
/// assert_eq!(r.repository().as_str(), "127.0.0.1:5000/acme/app");
/// assert_eq!(r.tag(), Some("1.0"));
/// assert_eq!(r.to_string(), "127.0.0.1:5000/acme/app:1.0");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    text: String,
    /// Where the path starts: 0 without a host, else after the host's `/`.
    path_start: usize,
    /// Where the repository name (host and path) ends.
    name_end: usize,
    /// Where the digest starts (after the `@`), if there is one.
    digest_start: Option<usize>,
}

/// A repository: an image reference without tag or digest, such as
/// `127.0.0.1:5000/acme/app` or `node`. What a registry stores manifests
/// under and what a tag is moved within.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    text: String,
    /// Where the path starts: 0 without a host, else after the host's `/`.
    path_start: usize,
}

impl ImageRef {
    /// Checks `text` against the reference grammar (the errors of
    /// [`parse`](super::parse)) and keeps it with its parts.
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        let r = parse(text)?;
        Ok(Self::from_checked(text.to_string(), &r))
    }

    /// `text` split as `r`, which [`parse`](super::parse) made from it.
    fn from_checked(text: String, r: &Reference<'_>) -> ImageRef {
        let name_end = r.name.len();
        let path_start = name_end - r.path.len();
        let digest_start = r.digest.map(|d| text.len() - d.len());
        ImageRef {
            text,
            path_start,
            name_end,
            digest_start,
        }
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The repository name as written, host included, without tag or
    /// digest: `127.0.0.1:5000/acme/app`.
    pub fn name(&self) -> &str {
        &self.text[..self.name_end]
    }

    /// The repository this reference is in.
    pub fn repository(&self) -> Repository {
        Repository {
            text: self.name().to_string(),
            path_start: self.path_start,
        }
    }

    /// The registry host and port as written, if the reference names one.
    pub fn domain(&self) -> Option<&str> {
        (self.path_start > 0).then(|| &self.text[..self.path_start - 1])
    }

    /// The repository path without the host: `acme/app`.
    pub fn path(&self) -> &str {
        &self.text[self.path_start..self.name_end]
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        let end = self.digest_start.map_or(self.text.len(), |d| d - 1);
        (end > self.name_end).then(|| &self.text[self.name_end + 1..end])
    }

    /// The digest (`sha256:…`), if the reference has one.
    pub fn digest(&self) -> Option<&str> {
        self.digest_start.map(|d| &self.text[d..])
    }

    /// The registry host by Docker's rules (see [`Reference::registry`]):
    /// `docker.io` for a name without a host.
    pub fn registry(&self) -> &str {
        registry_of_domain(self.domain())
    }

    /// The tag, or `latest` when none is given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag().unwrap_or(DEFAULT_TAG)
    }

    /// The same repository with tag `tag` and no digest:
    /// `acme/app:1` with `1-test1` is `acme/app:1-test1`.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ReferenceError> {
        self.repository().with_tag(tag)
    }

    /// The same repository with a tag strata derives from this one's (the
    /// tag or `latest`, then `-` and tag characters, such as a test's
    /// `-test1` or a platform's `-linux-arm64`), without a digest. Its
    /// length is not checked, as it never was: an engine refuses a derived
    /// tag longer than 128 characters when it is used.
    pub(crate) fn with_derived_tag(&self, suffix: &str) -> ImageRef {
        let text = format!("{}:{}-{suffix}", self.name(), self.tag_or_latest());
        ImageRef {
            text,
            path_start: self.path_start,
            name_end: self.name_end,
            digest_start: None,
        }
    }

    /// The same repository at `digest`, without a tag: `acme/app@sha256:…`.
    pub fn with_digest(&self, digest: &Digest) -> Result<ImageRef, ReferenceError> {
        self.repository().with_digest(digest)
    }

    /// The borrowed split view of this reference.
    pub fn parts(&self) -> Reference<'_> {
        Reference {
            name: self.name(),
            domain: self.domain(),
            path: self.path(),
            tag: self.tag(),
            digest: self.digest(),
        }
    }

    /// The form Docker shows the reference in (see
    /// [`normalize`](super::normalize)): `docker.io/library/node` is `node:latest`.
    pub fn normalized(&self) -> String {
        super::normalize(&self.text)
    }

    /// The one conversion to oci-client's reference: Docker Hub names get
    /// their `docker.io` host and `library/` prefix, and a reference with
    /// neither tag nor digest means `latest`. Built from the parts, so
    /// oci-client's own parser (a large regular expression) never runs.
    pub fn to_oci(&self) -> oci_client::Reference {
        let (registry, repository) = self.repository().oci_parts();
        match (self.tag(), self.digest()) {
            (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
                registry,
                repository,
                tag.to_string(),
                digest.to_string(),
            ),
            (None, Some(digest)) => {
                oci_client::Reference::with_digest(registry, repository, digest.to_string())
            }
            (tag, None) => oci_client::Reference::with_tag(
                registry,
                repository,
                tag.unwrap_or(DEFAULT_TAG).to_string(),
            ),
        }
    }
}

impl Repository {
    /// Checks `text` as a reference without tag or digest.
    pub fn parse(text: &str) -> Result<Repository, ReferenceError> {
        let r = ImageRef::parse(text)?;
        if r.tag().is_some() || r.digest().is_some() {
            return Err(ReferenceError::NotARepository(text.to_string()));
        }
        Ok(r.repository())
    }

    /// The repository as written, host included.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The registry host and port as written, if the name has one.
    pub fn domain(&self) -> Option<&str> {
        (self.path_start > 0).then(|| &self.text[..self.path_start - 1])
    }

    /// The path without the host: `acme/app`.
    pub fn path(&self) -> &str {
        &self.text[self.path_start..]
    }

    /// The registry host by Docker's rules: `docker.io` without a host.
    pub fn registry(&self) -> &str {
        registry_of_domain(self.domain())
    }

    /// The repository as an image reference without tag or digest: what a
    /// registry reads as its `latest` tag, and an upload as "by digest
    /// alone".
    pub fn to_image_ref(&self) -> ImageRef {
        ImageRef {
            text: self.text.clone(),
            path_start: self.path_start,
            name_end: self.text.len(),
            digest_start: None,
        }
    }

    /// The form Docker shows the repository in (see
    /// [`normalize`](super::normalize), without its tag):
    /// `docker.io/library/node` is `node`.
    pub fn normalized(&self) -> String {
        let mut text = super::normalize(&self.text);
        text.truncate(text.len() - DEFAULT_TAG.len() - 1);
        text
    }

    /// `tag` in this repository, checked as a tag.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ReferenceError> {
        check_tag(tag)?;
        Ok(ImageRef {
            text: format!("{}:{tag}", self.text),
            path_start: self.path_start,
            name_end: self.text.len(),
            digest_start: None,
        })
    }

    /// The manifest `digest` in this repository, checked as a digest.
    pub fn with_digest(&self, digest: &Digest) -> Result<ImageRef, ReferenceError> {
        check_digest(digest)?;
        Ok(ImageRef {
            text: format!("{}@{digest}", self.text),
            path_start: self.path_start,
            name_end: self.text.len(),
            digest_start: Some(self.text.len() + 1),
        })
    }

    /// The registry and repository as oci-client names them: Docker Hub is
    /// `docker.io` (also when written `index.docker.io`), and a one-part
    /// Hub name is under `library/`.
    pub fn oci_parts(&self) -> (String, String) {
        let registry = match self.domain() {
            None | Some("index.docker.io") => DEFAULT_REGISTRY,
            Some(domain) => domain,
        };
        let repository = match (registry, self.path().contains('/')) {
            (DEFAULT_REGISTRY, false) => format!("library/{}", self.path()),
            _ => self.path().to_string(),
        };
        (registry.to_string(), repository)
    }
}

fn registry_of_domain(domain: Option<&str>) -> &str {
    match domain {
        None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io") => DEFAULT_REGISTRY,
        Some(domain) => domain,
    }
}

impl From<&ImageRef> for oci_client::Reference {
    fn from(r: &ImageRef) -> Self {
        r.to_oci()
    }
}

macro_rules! text_traits {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.text, f)
            }
        }

        impl FromStr for $name {
            type Err = ReferenceError;
            fn from_str(text: &str) -> Result<Self, ReferenceError> {
                $name::parse(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ReferenceError;
            fn try_from(text: &str) -> Result<Self, ReferenceError> {
                $name::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ReferenceError;
            fn try_from(text: String) -> Result<Self, ReferenceError> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(r: $name) -> String {
                r.text
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.text
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.text
            }
        }

        // Equality, order and hash are the text's, so maps keyed by the
        // type can be looked up with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.text
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.text == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.text == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.text == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.text
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.text
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.text
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_traits!(ImageRef);
text_traits!(Repository);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap()
    }

    /// Every form, with the parts the borrowed split gives: the owned type
    /// must agree with it on each.
    #[test]
    fn parts_agree_with_the_split_on_a_table_of_forms() {
        let digest = format!("sha256:{HEX}");
        let forms = [
            "node".to_string(),
            "node:20".to_string(),
            "acme/app".to_string(),
            "acme/app:1.0".to_string(),
            "nodesource/jessie:LTS".to_string(),
            "127.0.0.1:5000/acme/app:1.0".to_string(),
            "127.0.0.1:5000/acme/app".to_string(),
            "localhost/app".to_string(),
            "localhost:5000/a/b/c:_x".to_string(),
            "[::1]:5000/app:1".to_string(),
            "ghcr.io/acme/app".to_string(),
            "docker.io/library/node:20".to_string(),
            "index.docker.io/acme/app".to_string(),
            "registry-1.docker.io/acme/app:1".to_string(),
            "a__b/c-d---e/f.g_h:v1.2-rc.3".to_string(),
            format!("app@{digest}"),
            format!("app:1@{digest}"),
            format!("127.0.0.1:5000/acme/app@{digest}"),
            format!("127.0.0.1:5000/acme/app:t@{digest}"),
        ];
        for text in &forms {
            let owned = r(text);
            let split = Reference::split(text);
            assert_eq!(owned.parts(), split, "{text}");
            assert_eq!(owned.name(), split.name, "{text}");
            assert_eq!(owned.domain(), split.domain, "{text}");
            assert_eq!(owned.path(), split.path, "{text}");
            assert_eq!(owned.tag(), split.tag, "{text}");
            assert_eq!(owned.digest(), split.digest, "{text}");
            assert_eq!(owned.registry(), split.registry(), "{text}");
            assert_eq!(owned.tag_or_latest(), split.tag_or_latest(), "{text}");
            assert_eq!(owned.repository().as_str(), split.name, "{text}");
            assert_eq!(owned.repository().registry(), split.registry(), "{text}");
            assert_eq!(owned.repository().domain(), split.domain, "{text}");
            assert_eq!(owned.repository().path(), split.path, "{text}");
            // Round trips: text, Display, JSON, parse of the name.
            assert_eq!(owned.as_str(), text.as_str());
            assert_eq!(owned.to_string(), *text);
            let json = serde_json::to_string(&owned).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            assert_eq!(serde_json::from_str::<ImageRef>(&json).unwrap(), owned);
            assert_eq!(r(owned.as_str()), owned);
            let repo = Repository::parse(owned.name()).unwrap();
            assert_eq!(repo, owned.repository(), "{text}");
            assert_eq!(repo.to_image_ref(), r(owned.name()), "{text}");
            assert_eq!(
                serde_json::to_string(&repo).unwrap(),
                format!("{:?}", owned.name())
            );
            // A new tag keeps the repository and drops the digest.
            let tagged = owned.with_tag("x-test1").unwrap();
            assert_eq!(tagged.to_string(), format!("{}:x-test1", owned.name()));
            assert_eq!(tagged, r(tagged.as_str()), "{text}");
            assert_eq!(tagged.repository(), owned.repository());
            let pinned = owned.with_digest(&Digest::new(digest.clone())).unwrap();
            assert_eq!(pinned.to_string(), format!("{}@{digest}", owned.name()));
            assert_eq!(pinned, r(pinned.as_str()), "{text}");
            let derived = owned.with_derived_tag("test1");
            let want = format!("{}:{}-test1", owned.name(), owned.tag_or_latest());
            assert_eq!(derived.as_str(), want);
            assert_eq!(derived, r(&want), "{text}");
        }
    }

    #[test]
    fn errors_are_those_of_parse() {
        for bad in [
            "",
            "Acme/app",
            "acme/app:",
            "acme/app:.x",
            "acme//app",
            "host:port/app",
            "app@sha256:xyz",
        ] {
            assert_eq!(
                ImageRef::parse(bad).err(),
                parse(bad).err(),
                "{bad:?} must be refused as parse refuses it"
            );
        }
        assert!(serde_json::from_str::<ImageRef>("\"Acme/app\"")
            .unwrap_err()
            .to_string()
            .contains("must be lowercase"));
        assert_eq!(
            Repository::parse("acme/app:1").unwrap_err().to_string(),
            "`acme/app:1` is not a repository name: a repository has no tag or digest"
        );
        assert!(Repository::parse(&format!("acme/app@sha256:{HEX}")).is_err());
        assert_eq!(
            r("acme/app:1").with_tag("-x"),
            Err(ReferenceError::BadTag("-x".into()))
        );
        assert_eq!(
            r("acme/app:1").with_digest(&Digest::new("sha256:00")),
            Err(ReferenceError::BadDigest("sha256:00".into()))
        );
    }

    #[test]
    fn compares_sorts_and_looks_up_as_its_text() {
        let mut names = [r("b/x:1"), r("a/y"), r("127.0.0.1:5000/z"), r("a/y:0")];
        names.sort();
        let texts: Vec<&str> = names.iter().map(ImageRef::as_str).collect();
        let mut sorted = ["b/x:1", "a/y", "127.0.0.1:5000/z", "a/y:0"];
        sorted.sort();
        assert_eq!(texts, sorted);
        let map: std::collections::BTreeMap<ImageRef, u8> = [(r("acme/app:1"), 7)].into();
        assert_eq!(map.get("acme/app:1"), Some(&7));
        assert_eq!(r("acme/app:1"), "acme/app:1");
        assert_eq!("acme/app:1", r("acme/app:1"));
        assert_eq!(format!("{:?}", r("acme/app:1")), "\"acme/app:1\"");
    }

    #[test]
    fn converts_to_oci_client_like_docker() {
        let digest = format!("sha256:{HEX}");
        let cases = [
            ("node", "docker.io", "library/node", Some("latest"), None),
            ("node:20", "docker.io", "library/node", Some("20"), None),
            ("acme/app:1", "docker.io", "acme/app", Some("1"), None),
            (
                "index.docker.io/node:1",
                "docker.io",
                "library/node",
                Some("1"),
                None,
            ),
            (
                "127.0.0.1:5000/app",
                "127.0.0.1:5000",
                "app",
                Some("latest"),
                None,
            ),
            (
                "localhost:5000/acme/app:t",
                "localhost:5000",
                "acme/app",
                Some("t"),
                None,
            ),
        ];
        for (text, registry, repository, tag, digest_want) in cases {
            let oci = r(text).to_oci();
            assert_eq!(oci.registry(), registry, "{text}");
            assert_eq!(oci.repository(), repository, "{text}");
            assert_eq!(oci.tag(), tag, "{text}");
            assert_eq!(oci.digest(), digest_want, "{text}");
            let via_from: oci_client::Reference = (&r(text)).into();
            assert_eq!(via_from, oci, "{text}");
        }
        let pinned = r(&format!("127.0.0.1:5000/acme/app@{digest}")).to_oci();
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.digest(), Some(digest.as_str()));
        let both = r(&format!("acme/app:1@{digest}")).to_oci();
        assert_eq!(
            (both.tag(), both.digest()),
            (Some("1"), Some(digest.as_str()))
        );
        // oci-client's own parser agrees wherever both accept the text.
        for text in ["node:20", "acme/app:1", "127.0.0.1:5000/acme/app:t"] {
            let theirs: oci_client::Reference = text.parse().unwrap();
            assert_eq!(r(text).to_oci(), theirs, "{text}");
        }
    }

    /// A repository normalizes as a reference to it does, without the tag
    /// `normalize` adds.
    #[test]
    fn repository_normalizes_as_engines_show_it() {
        for (text, shown) in [
            ("node", "node"),
            ("docker.io/library/node", "node"),
            ("index.docker.io/acme/app", "acme/app"),
            ("docker.io/library/a/b", "library/a/b"),
            ("127.0.0.1:5000/acme/app", "127.0.0.1:5000/acme/app"),
        ] {
            let repository = Repository::parse(text).unwrap();
            assert_eq!(repository.normalized(), shown, "{text}");
            assert_eq!(super::super::normalize(text), format!("{shown}:latest"));
        }
    }
}
