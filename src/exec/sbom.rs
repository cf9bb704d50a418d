//! The SBOM a signed `push` attaches to each platform image it sends,
//! beside the test attestation: an SPDX 2.3 document (see `attest::sbom`)
//! in a signed in-toto statement about the manifest digest, stored in the
//! same two forms as the test result (the in-toto DSSE artifact and the
//! Sigstore bundle referrer).
//!
//! What it lists is read from the built image itself, by ID, through the
//! engine (a container created and never started; see
//! `Engine::read_files`): its dpkg and apk databases and its os-release. A
//! database that is not there is no package, not an error. strata's own
//! artifacts are listed with the URL they came from and the SHA-256 of the
//! bytes that went into the build context (the fetcher's verified, cached
//! file, hashed again).
//!
//! The same image, artifacts and key make the same statement, and a
//! statement already attached is not attached again (unless `again`).

use std::collections::BTreeMap;

use super::{StepError, World};
use crate::artifact::digest::{file_digest, Algorithm};
use crate::attest::bundle;
use crate::attest::dsse::Envelope;
use crate::attest::key::SigningKey;
use crate::attest::sbom::{self, ArtifactEntry, ArtifactKind, SPDX_PREDICATE_TYPE};
use crate::attest::statement::Tested;
use crate::attest::{DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE};
use crate::plan::{Artifact, ArtifactSource, ImagePlan};
use crate::registry::referrers::{self, Artifact as Referrer};
use crate::registry::{Digest, ImageId, RegistryWrite, Repository};

/// The annotation that names the SHA-256 of the SBOM statement, so the
/// same SBOM is found again without downloading it.
pub const SBOM_DIGEST: &str = "dev.strata.sbom";
const CREATED: &str = "org.opencontainers.image.created";

/// A signed push's SBOM of one platform image: the statement, and what it
/// is about, so an alias in another repository gets the same one.
#[derive(Debug, Clone)]
pub struct Made {
    /// The image as tested and pushed (digest, image ID, when tested).
    pub tested: Tested,
    /// The in-toto statement's bytes (the DSSE payload).
    pub statement: Vec<u8>,
    /// How many packages and artifacts it lists, for the log.
    pub packages: usize,
    pub artifacts: usize,
}

/// Reads `image`'s package databases from the image `id` (through the
/// engine) and its artifacts from the fetcher: the SBOM statement about
/// `tested.digest`.
pub async fn make(
    image: &ImagePlan,
    id: &ImageId,
    tested: &Tested,
    world: &World,
) -> Result<Made, StepError> {
    let read = world
        .engine
        .read_files(id, &sbom::FILES, sbom::MAX_FILE_BYTES)
        .await?;
    let mut files: [Option<String>; 3] = Default::default();
    for (slot, file) in files.iter_mut().zip(read) {
        *slot = file.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut artifacts = Vec::with_capacity(image.artifacts.len());
    for artifact in &image.artifacts {
        artifacts.push(entry(image, artifact, world).await?);
    }
    let input = sbom::Image {
        repository: tested.repository.to_string(),
        digest: tested.digest.clone(),
        image_id: id.to_string(),
        created: tested.tested_at,
        platform: image.platforms.first().map(|p| p.to_string()),
        files,
        artifacts,
    };
    let document = sbom::document(&input);
    let listed = document["packages"].as_array().map_or(0, Vec::len);
    Ok(Made {
        tested: tested.clone(),
        statement: sbom::statement(&input),
        packages: listed.saturating_sub(1 + input.artifacts.len()),
        artifacts: input.artifacts.len(),
    })
}

/// Attaches `made` signed with `key` to its digest in `repository`,
/// unless the registry holds the same statement signed with the same key
/// there already (and `again` is false).
pub async fn attach(
    registry: &dyn RegistryWrite,
    repository: &Repository,
    made: &Made,
    key: &SigningKey,
    again: bool,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), StepError> {
    let statement = &made.statement;
    let statement_digest = referrers::sha256(statement);
    let digest = &Digest::new(made.tested.digest.clone());
    let annotations = BTreeMap::from([
        (
            referrers::PREDICATE_TYPE.to_string(),
            SPDX_PREDICATE_TYPE.to_string(),
        ),
        (
            super::attach::IMAGE_ID.to_string(),
            made.tested.image_id.clone(),
        ),
        (super::attach::KEY_ID.to_string(), key.id().to_string()),
        (SBOM_DIGEST.to_string(), statement_digest),
    ]);
    if !again {
        let held = super::attach::held_attestations(registry, repository, digest).await?;
        let same = |a: &BTreeMap<String, String>| {
            [
                referrers::PREDICATE_TYPE,
                super::attach::KEY_ID,
                SBOM_DIGEST,
            ]
            .iter()
            .all(|k| a.get(*k) == annotations.get(*k))
        };
        if let Some(r) = held.iter().find(|r| same(&r.annotations)) {
            log(&format!(
                "SBOM of this image already attached: {}",
                r.digest
            ));
            return Ok(());
        }
    }
    let created = made
        .tested
        .tested_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut in_toto_annotations = annotations;
    in_toto_annotations.insert(CREATED.to_string(), created.clone());
    let envelope = Envelope::seal(statement, Some(key));
    let in_toto = Referrer {
        artifact_type: IN_TOTO_MEDIA_TYPE.to_string(),
        media_type: DSSE_MEDIA_TYPE.to_string(),
        content: envelope.to_bytes(),
        annotations: in_toto_annotations,
    };
    let (stored, _) = registry
        .attach(repository, digest, &in_toto)
        .await
        .map_err(|source| StepError::Attestation {
            doing: "attaching the SBOM failed".into(),
            source,
        })?;
    if let Some(content) = bundle::bundle(&envelope, key) {
        let artifact = Referrer {
            artifact_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            media_type: bundle::BUNDLE_MEDIA_TYPE.to_string(),
            content,
            annotations: bundle::annotations(SPDX_PREDICATE_TYPE, &created),
        };
        registry
            .attach(repository, digest, &artifact)
            .await
            .map_err(|source| StepError::Attestation {
                doing: "attaching the SBOM's Sigstore bundle failed".into(),
                source,
            })?;
    }
    log(&format!(
        "SBOM of {digest} ({} packages, {} artifacts, signed with key {}): {stored}",
        made.packages,
        made.artifacts,
        key.id()
    ));
    Ok(())
}

/// What the SBOM says of one artifact: its source, and the SHA-256 of the
/// verified file the build context got.
async fn entry(
    image: &ImagePlan,
    artifact: &Artifact,
    world: &World,
) -> Result<ArtifactEntry, StepError> {
    let fetch = world.fetch.as_ref().ok_or_else(|| {
        StepError::Input("this plan needs artifacts but no fetcher is configured".into())
    })?;
    let path = fetch.fetch(artifact).await?;
    let hashed = path.clone();
    let sha256 = tokio::task::spawn_blocking(move || file_digest(&hashed, Algorithm::Sha256))
        .await
        .map_err(|e| StepError::Input(format!("hashing {}: {e}", path.display())))?
        .map_err(|source| StepError::Local {
            doing: format!("cannot read the artifact {}", path.display()),
            source,
        })?;
    let sha256 = hex::encode(sha256);
    Ok(match &artifact.source {
        ArtifactSource::Npm { package, version } => ArtifactEntry {
            file_name: artifact.file_name.clone(),
            kind: ArtifactKind::Npm,
            name: package.clone(),
            version: version.clone(),
            download_location: fetch
                .origin(artifact)
                .map(|url| public_url(&url, false))
                .unwrap_or_else(|| "NOASSERTION".into()),
            sha256,
        },
        ArtifactSource::Url { url, .. } => ArtifactEntry {
            file_name: artifact.file_name.clone(),
            kind: ArtifactKind::Generic,
            name: generic_name(&artifact.file_name),
            version: generic_version(image, url, &sha256),
            download_location: public_url(url, true),
            sha256,
        },
    })
}

/// `url` as an SBOM may show it: no user or password, no registered
/// secret, and (`keep_query` false, for a URL a server redirected to, which
/// may be signed for the moment) no query or fragment.
fn public_url(url: &str, keep_query: bool) -> String {
    let mut url = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            url = format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    if !keep_query {
        if let Some(cut) = url.find(['?', '#']) {
            url.truncate(cut);
        }
    }
    crate::secret::redact(&url).into_owned()
}

/// A URL artifact's name: its file name in the context, without the
/// archive's extensions.
fn generic_name(file_name: &str) -> String {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let mut name = base;
    for ext in [".gz", ".xz", ".bz2", ".zst", ".tgz", ".tar", ".zip"] {
        name = name.strip_suffix(ext).unwrap_or(name);
    }
    match name.is_empty() {
        true => base.to_string(),
        false => name.to_string(),
    }
}

/// A URL artifact's version: the image's release version when the URL
/// names it (the URL was made for that release), else its content digest.
fn generic_version(image: &ImagePlan, url: &str, sha256: &str) -> String {
    match image.cell.as_ref().and_then(|c| c.version()) {
        Some(v) if !v.is_empty() && url.contains(v) => v.to_string(),
        _ => format!("sha256:{sha256}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_locations_carry_no_credentials() {
        assert_eq!(
            public_url("https://user:pa55@example.com/a/b.tgz?x=1", true),
            "https://example.com/a/b.tgz?x=1"
        );
        assert_eq!(
            public_url("https://cdn.example.com/b.tgz?X-Amz-Signature=abc#f", false),
            "https://cdn.example.com/b.tgz"
        );
        assert_eq!(
            public_url("https://example.com/a@b/c.tgz", true),
            "https://example.com/a@b/c.tgz"
        );
    }

    #[test]
    fn url_artifacts_are_named_by_file_and_versioned_by_release() {
        assert_eq!(generic_name("node.tgz"), "node");
        assert_eq!(
            generic_name("node-v22.11.0-linux-x64.tar.xz"),
            "node-v22.11.0-linux-x64"
        );
        assert_eq!(generic_name(".tgz"), ".tgz");
        let image = ImagePlan {
            cell: Some(crate::plan::Cell {
                os: "bookworm".into(),
                role: crate::plan::Role::Image {
                    version: "22.11.0".into(),
                },
                axes: BTreeMap::new(),
                platform: None,
            }),
            ..ImagePlan::for_test("acme/app:1", "app")
        };
        assert_eq!(
            generic_version(&image, "https://nodejs.org/dist/v22.11.0/x.tgz", "ab"),
            "22.11.0"
        );
        assert_eq!(
            generic_version(&image, "https://example.com/tool.tgz", "ab"),
            "sha256:ab"
        );
    }
}
