//! What each image is built on and from, as the OCI annotation keys say it
//! (`org.opencontainers.image.*`), put in the image's labels at build time.
//! `push` copies these labels onto the manifest it uploads as annotations,
//! and an index gets the ones all its platforms share (`registry::upload`).
//!
//! Every value is deterministic, so a rebuild of unchanged inputs can give
//! the same image config: `created` is `SOURCE_DATE_EPOCH`, else the commit
//! time of the config's git repository, never the clock; `revision` is that
//! commit; `source` the repository's address (without any credentials).
//! `base.name` and `base.digest` name the image the final stage is built
//! on: an external base at the digest resolved for the unit's platform, or
//! the plan's own parent (by its published name; it has no digest yet).

use std::collections::BTreeMap;
use std::path::Path;

use crate::plan::ImagePlan;
use crate::reference::ImageRef;

/// The annotation keys strata writes.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const REVISION: &str = "org.opencontainers.image.revision";
pub const SOURCE: &str = "org.opencontainers.image.source";

/// The prefix of the labels that become annotations.
pub use crate::registry::annotations::PREFIX;

/// Labels whose value names the commit rather than the image's inputs: they
/// are in the image, but not in its input fingerprint, so a new commit that
/// changes nothing an image is made of does not rebuild it (the image keeps
/// the commit it was built at).
pub const STAMPS: [&str; 2] = [CREATED, REVISION];

/// Every label strata adds. None enters the input fingerprint's labels
/// part: `base.name` follows from the Dockerfile, `base.digest` from the
/// resolved bases and `version` from the tag or the image's own `version`
/// label, which the fingerprint holds already; the [`STAMPS`] and `source`
/// name the repository, not what the image is made of. So `plan --changes`,
/// which resolves no base and reads no repository, predicts the same
/// fingerprint `test` records.
pub const DERIVED: [&str; 6] = [BASE_NAME, BASE_DIGEST, VERSION, CREATED, REVISION, SOURCE];

/// Where and when the config's sources come from; each part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// RFC 3339, UTC, whole seconds.
    pub created: Option<String>,
    /// The commit the config's repository is at.
    pub revision: Option<String>,
    /// The repository's address, credentials removed.
    pub source: Option<String>,
}

/// A `SOURCE_DATE_EPOCH` that is not a date; each says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    #[error(
        "SOURCE_DATE_EPOCH is {}, not a number of seconds since 1970; \
         set it to one (for example `git log -1 --format=%ct`) or unset it",
        crate::text::quote(.0)
    )]
    NotSeconds(String),
    #[error("SOURCE_DATE_EPOCH {0} is out of range; set it to a date's seconds")]
    OutOfRange(i64),
}

/// `SOURCE_DATE_EPOCH` read: `Ok(None)` when unset or empty, an error
/// saying what to write when it is not a whole number of seconds.
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<String>, EpochError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let seconds: i64 = value
        .parse()
        .map_err(|_| EpochError::NotSeconds(value.to_string()))?;
    Ok(Some(
        rfc3339(seconds).ok_or(EpochError::OutOfRange(seconds))?,
    ))
}

fn rfc3339(seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(seconds, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The provenance of a config in folder `dir`: `created` from `epoch`
/// (`SOURCE_DATE_EPOCH`, already read) or the commit time; revision and
/// source from git when `dir` is inside a repository (`git` not installed,
/// or no repository: those parts are absent).
pub fn discover(dir: &Path, epoch: Option<String>) -> Provenance {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let revision = git(&["rev-parse", "--verify", "HEAD"])
        .filter(|r| r.len() >= 40 && r.chars().all(|c| c.is_ascii_hexdigit()));
    let created = epoch.or_else(|| {
        revision.as_ref()?;
        git(&["log", "-1", "--format=%ct", "HEAD"])?
            .parse()
            .ok()
            .and_then(rfc3339)
    });
    let source = revision
        .as_ref()
        .and_then(|_| git(&["config", "--get", "remote.origin.url"]))
        .and_then(|url| public_address(&url));
    Provenance {
        created,
        revision,
        source,
    }
}

/// A remote's address as people can open it: `https://host/path` without
/// user, password, query or `.git`; an scp-like `git@host:path` likewise.
/// `None` for a local path or anything else.
pub fn public_address(remote: &str) -> Option<String> {
    let remote = remote.trim();
    let (host, path) = if let Some((scheme, rest)) = remote.split_once("://") {
        if !["https", "http", "ssh", "git"].contains(&scheme) {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        // ssh://git@host:22/path: the port is not part of the web address.
        let host = match scheme {
            "ssh" | "git" => host.split(':').next()?,
            _ => host,
        };
        (host.to_string(), path.to_string())
    } else {
        // user@host:path (scp-like); a local path has no `:` before a `/`.
        let (authority, path) = remote.split_once(':')?;
        if authority.contains('/') || path.starts_with("//") {
            return None;
        }
        let host = authority.rsplit('@').next()?;
        (host.to_string(), path.to_string())
    };
    let path = path.split(['?', '#']).next()?.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~/:".contains(c))
    };
    (plain(&host) && plain(path) && !host.contains('/')).then(|| format!("https://{host}/{path}"))
}

/// The labels `unit` (one platform's build) gets. `base` is the image its
/// final stage is built on: `(name, digest)`.
pub fn labels(
    unit: &ImagePlan,
    published: &ImageRef,
    base: Option<(String, Option<String>)>,
    provenance: &Provenance,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some((name, digest)) = base {
        out.insert(BASE_NAME.to_string(), name);
        if let Some(d) = digest {
            out.insert(BASE_DIGEST.to_string(), d);
        }
    }
    let release = unit.cell.as_ref().and_then(|c| c.version());
    let version = release
        .map(str::to_string)
        .or_else(|| published.tag().map(str::to_string));
    if let Some(v) = version {
        out.insert(VERSION.to_string(), v);
    }
    for (key, value) in [
        (CREATED, &provenance.created),
        (REVISION, &provenance.revision),
        (SOURCE, &provenance.source),
    ] {
        if let Some(v) = value {
            out.insert(key.to_string(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_is_read_or_refused() {
        assert_eq!(source_date_epoch(None), Ok(None));
        assert_eq!(source_date_epoch(Some(" ")), Ok(None));
        assert_eq!(
            source_date_epoch(Some("1700000000")).unwrap().unwrap(),
            "2023-11-14T22:13:20Z"
        );
        let e = source_date_epoch(Some("yesterday"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SOURCE_DATE_EPOCH"), "{e}");
    }

    #[test]
    fn remotes_lose_their_credentials() {
        for (remote, want) in [
            (
                "https://x-access-token:ghs_secret@github.com/acme/images.git",
                Some("https://github.com/acme/images"),
            ),
            (
                "git@github.com:acme/images.git",
                Some("https://github.com/acme/images"),
            ),
            (
                "ssh://git@gitlab.example:2222/acme/images",
                Some("https://gitlab.example/acme/images"),
            ),
            (
                "https://github.com/acme/images?token=secret",
                Some("https://github.com/acme/images"),
            ),
            ("/srv/git/images.git", None),
            ("file:///srv/git/images.git", None),
            ("../images", None),
        ] {
            assert_eq!(public_address(remote).as_deref(), want, "{remote}");
        }
    }

    #[test]
    fn a_discovered_repository_gives_its_commit_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
                .env("GIT_AUTHOR_DATE", "@1600000000 +0000")
                .output()
                .unwrap();
            assert!(ok.status.success(), "{ok:?}");
            String::from_utf8(ok.stdout).unwrap()
        };
        assert_eq!(discover(dir.path(), None), Provenance::default());
        git(&["init", "-q"]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://u:p@example.org/acme/x.git",
        ]);
        std::fs::write(dir.path().join("a"), "a").unwrap();
        git(&["add", "a"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-qm",
            "a",
        ]);
        let head = git(&["rev-parse", "HEAD"]).trim().to_string();
        let p = discover(dir.path(), None);
        assert_eq!(p.revision.as_deref(), Some(head.as_str()));
        assert_eq!(p.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(p.source.as_deref(), Some("https://example.org/acme/x"));
        let p = discover(dir.path(), Some("2000-01-01T00:00:00Z".into()));
        assert_eq!(p.created.as_deref(), Some("2000-01-01T00:00:00Z"));
    }

    fn image(dir: &Path, name: &str, dockerfile: &str, platforms: &[&str]) -> ImagePlan {
        ImagePlan {
            build_args: [("V".to_string(), "2".to_string())].into(),
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            ..ImagePlan::with_dockerfile(dir, name, dockerfile)
        }
    }

    #[test]
    fn each_unit_names_its_final_base_its_version_and_the_commit() {
        use crate::exec::bases::{Base, Bases};
        use crate::reference::{Digest, ImageId};
        let dir = tempfile::tempdir().unwrap();
        let plan = crate::plan::Plan {
            images: vec![
                image(
                    dir.path(),
                    "acme/base:1",
                    "ARG V\nFROM up/os:${V} AS build\nFROM build\n",
                    &["linux/amd64", "linux/arm64"],
                ),
                image(
                    dir.path(),
                    "acme/app:7",
                    "FROM acme/base:1\n",
                    &["linux/amd64", "linux/arm64"],
                ),
            ],
            ..Default::default()
        };
        let mut bases = Bases::default();
        for (arch, digest) in [("amd64", "sha256:a"), ("arm64", "sha256:b")] {
            let platform: crate::reference::Platform = format!("linux/{arch}").parse().unwrap();
            bases.0.insert(
                ("up/os:2".into(), Some(platform.clone())),
                Base {
                    reference: "up/os:2".into(),
                    platform: Some(platform),
                    digest: Some(Digest::new(digest)),
                    pinned: format!("up/os@{digest}"),
                    image_id: ImageId::new("sha256:i"),
                    pulled: false,
                },
            );
        }
        let options = crate::exec::Options {
            bases: std::sync::Arc::new(bases),
            provenance: std::sync::Arc::new(Provenance {
                created: Some("2023-11-14T22:13:20Z".into()),
                revision: Some("c0ffee".into()),
                source: None,
            }),
            ..Default::default()
        };
        let (units, _) = crate::exec::units(&plan, &options);
        let unit = |name: &str| units.images.iter().find(|u| u.name == name).unwrap();
        let base = &unit("acme/base:1-linux-arm64").labels;
        // Through the stage alias to the external base, at the arm64 digest.
        assert_eq!(base[BASE_NAME], "up/os:2");
        assert_eq!(base[BASE_DIGEST], "sha256:b");
        assert_eq!(base[VERSION], "1");
        assert_eq!(base[CREATED], "2023-11-14T22:13:20Z");
        assert_eq!(base[REVISION], "c0ffee");
        assert!(!base.contains_key(SOURCE));
        let app = &unit("acme/app:7-linux-amd64").labels;
        // The plan's own parent, by its published name; no digest yet.
        assert_eq!(app[BASE_NAME], "acme/base:1");
        assert!(!app.contains_key(BASE_DIGEST));
        assert_eq!(app[VERSION], "7");
    }
}
