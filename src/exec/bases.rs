//! External bases followed upstream: every image a `FROM` line names that
//! the plan does not build, resolved to its manifest digest in its registry
//! (for an index, the digest of the platform's manifest), pulled by that
//! digest when the engine's copy is another, and pinned: each build reads
//! `FROM name@sha256:…`, so a tag moving after the resolution changes
//! nothing, and the digest enters the image's input fingerprint.
//!
//! A base the engine holds and that it never pulled or pushed (no
//! repository digest: built, imported or loaded on this machine) is a local
//! base: no registry is asked for it, and it is used as it is, under every
//! policy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::engine::{Engine, LocalImage};
use crate::plan::Plan;
use crate::plan::PullPolicy;
use crate::reference::{Digest, ImageId, ImageRef, Platform};
use crate::registry::{RegistryError, RegistryRead};

/// One external base for one platform, as this run builds on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Base {
    /// The base as the `FROM` line names it (build arguments replaced).
    pub reference: String,
    /// The platform it was resolved for; `None`: the engine's own.
    pub platform: Option<Platform>,
    /// The manifest digest its registry resolved it to, for this platform;
    /// `None` for a local base or a base not resolved (`missing`, `never`).
    pub digest: Option<Digest>,
    /// What the builds' `FROM` lines read: `name@digest` when resolved,
    /// else the reference itself.
    pub pinned: String,
    /// The engine's image for it.
    pub image_id: ImageId,
    /// True when this run pulled it.
    pub pulled: bool,
}

/// Every external base of a run, by (reference, platform).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bases(pub BTreeMap<(String, Option<Platform>), Base>);

impl Bases {
    /// The base `reference` for `platform`, if the run resolved it.
    pub fn get(&self, reference: &str, platform: Option<&Platform>) -> Option<&Base> {
        self.0.get(&(reference.to_string(), platform.cloned()))
    }

    /// `plan` with every resolved base's `FROM` pointed at its digest.
    pub fn pin(&self, mut plan: Plan) -> Plan {
        if self.0.is_empty() {
            return plan;
        }
        for image in &mut plan.images {
            let Ok(text) = super::fingerprint::dockerfile_text(image) else {
                continue;
            };
            for (written, read) in crate::dockerfile::base_images_written(&text, &image.build_args)
            {
                let Some(base) = self.get(&read, image.platforms.first()) else {
                    continue;
                };
                if base.pinned != read {
                    image.rename_bases.insert(written, base.pinned.clone());
                }
            }
        }
        plan
    }
}

/// Why the bases could not be made ready; nothing was built.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The registry or engine could not be reached or refused (exit 3).
    #[error("{0}")]
    Environment(String),
    /// The config names a base that cannot be had (exit 2).
    #[error("{0}")]
    Input(String),
}

/// The external bases of `units` (the executor's plan, one unit per
/// platform): each `FROM` image no image of `plan` or `units` is named.
pub fn external(plan: &Plan, units: &Plan) -> Result<Vec<(String, Option<Platform>)>, BaseError> {
    let built: BTreeSet<String> = plan
        .images
        .iter()
        .chain(&units.images)
        .map(|i| crate::reference::normalize(&i.name))
        .collect();
    let mut out = BTreeSet::new();
    for image in &units.images {
        let text = super::fingerprint::dockerfile_text(image)
            .map_err(|e| BaseError::Input(format!("{}: {e}", image.name)))?;
        for base in crate::dockerfile::base_images_with(&text, &image.build_args) {
            if !built.contains(&crate::reference::normalize(&base)) {
                out.insert((base, image.platforms.first().cloned()));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Makes every external base of `units` ready under `policy`, `jobs` bases
/// at a time: one registry request per base (an index answers for every
/// platform), one engine look-up per base and platform, a pull by digest
/// only when the engine lacks that digest.
pub async fn resolve(
    wanted: Vec<(String, Option<Platform>)>,
    world: &super::World,
    registry: Option<Arc<dyn RegistryRead>>,
    policy: PullPolicy,
    jobs: usize,
    lock: Option<&crate::config::lock::Lock>,
) -> Result<Bases, BaseError> {
    let mut by_reference: BTreeMap<String, Vec<Option<Platform>>> = BTreeMap::new();
    for (reference, platform) in wanted {
        by_reference.entry(reference).or_default().push(platform);
    }
    let results: Vec<Result<Vec<Base>, BaseError>> =
        futures_util::stream::iter(by_reference.into_iter().map(|(reference, platforms)| {
            let registry = registry.clone();
            async move {
                let mut upstream = None;
                let mut out = Vec::with_capacity(platforms.len());
                for platform in platforms {
                    let world = world.for_platform(platform.as_ref());
                    let pin = lock.and_then(|l| {
                        l.get(
                            &reference,
                            platform.as_ref().map(|p| p.to_string()).as_deref(),
                        )
                    });
                    if let Some(pin) = pin {
                        out.push(pinned_base(&reference, platform, pin, &world, policy).await?);
                        continue;
                    }
                    let base = one_base(
                        &reference,
                        platform,
                        world.engine.as_ref(),
                        registry.as_deref(),
                        &world.credentials,
                        policy,
                        &mut upstream,
                    )
                    .await?;
                    out.push(base);
                }
                Ok(out)
            }
        }))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut bases = Bases::default();
    for result in results {
        for base in result? {
            bases
                .0
                .insert((base.reference.clone(), base.platform.clone()), base);
        }
    }
    Ok(bases)
}

/// One base for one platform, on that platform's engine. `upstream` keeps
/// the base's manifest once read, so each base is asked of its registry
/// once, whatever its platforms.
async fn one_base(
    reference: &str,
    platform: Option<Platform>,
    engine: &dyn Engine,
    registry: Option<&dyn RegistryRead>,
    credentials: &super::CredentialLookup,
    policy: PullPolicy,
    upstream: &mut Option<crate::registry::Manifest>,
) -> Result<Base, BaseError> {
    let engine_err = |e: crate::engine::EngineError| {
        BaseError::Environment(format!("base image {reference}: {e}"))
    };
    let typed = base_ref(reference)?;
    let local = engine.local_image(&typed).await.map_err(engine_err)?;
    // The engine's copy, pinned to the one digest it was pulled or pushed
    // as in the base's repository, if there is one: builds then read the
    // same `FROM` under every policy, so switching policies (a scheduled
    // run that follows upstream, other runs that do not) rebuilds nothing
    // that did not move.
    let as_is = |local: &LocalImage| {
        let digest = own_digest(&typed, &local.repo_digests);
        Base {
            reference: reference.to_string(),
            platform: platform.clone(),
            pinned: match &digest {
                Some(d) => format!("{}@{d}", typed.name()),
                None => reference.to_string(),
            },
            digest,
            image_id: local.id.clone(),
            pulled: false,
        }
    };
    match (&local, policy) {
        (Some(local), PullPolicy::Never | PullPolicy::Missing) => return Ok(as_is(local)),
        // Made on this machine: no registry has it to follow.
        (Some(local), PullPolicy::Always) if local.repo_digests.is_empty() => {
            return Ok(as_is(local))
        }
        (None, PullPolicy::Never) => {
            return Err(BaseError::Input(format!(
                "base image {reference} is not on the engine, and the pull policy is `never`; \
                 make or load it first, or use --pull missing"
            )))
        }
        _ => {}
    }
    let Some(registry) = registry else {
        return Err(BaseError::Environment(format!(
            "base image {reference}: no registry client to resolve it with"
        )));
    };
    let manifest = match upstream {
        Some(m) => m,
        None => upstream.insert(upstream_manifest(registry, reference).await?),
    };
    let digest = platform_digest(reference, manifest, platform.as_ref())?;
    let pinned = typed
        .with_digest(&digest)
        .map_err(|e| BaseError::Environment(format!("base image {reference}: {e}")))?;
    let held = match &local {
        Some(l) if l.repo_digests.iter().any(|d| same_pin(d, &pinned)) => Some(l.id.clone()),
        _ => engine
            .local_image(&pinned)
            .await
            .map_err(engine_err)?
            .map(|l| l.id),
    };
    let (image_id, pulled) = match held {
        Some(id) => (id, false),
        None => (
            pull(engine, &typed, &pinned, platform.as_ref(), credentials).await?,
            true,
        ),
    };
    Ok(Base {
        reference: reference.to_string(),
        platform,
        digest: Some(digest),
        pinned: pinned.to_string(),
        image_id,
        pulled,
    })
}

/// The manifest `reference` (a `FROM` line's base, as written) names in
/// its registry: an environment error when the registry cannot answer (or
/// the name is none it could be asked for), an input error when it has no
/// such manifest.
pub(super) async fn upstream_manifest(
    registry: &dyn RegistryRead,
    reference: &str,
) -> Result<crate::registry::Manifest, BaseError> {
    let environment =
        |e: RegistryError| BaseError::Environment(format!("base image {reference}: {e}"));
    let image = ImageRef::parse(reference).map_err(|e| {
        environment(RegistryError::Other {
            reference: reference.to_string(),
            message: format!("not an image reference: {e}"),
        })
    })?;
    registry
        .manifest(&image)
        .await
        .map_err(environment)?
        .ok_or_else(|| {
            BaseError::Input(format!(
                "base image {reference} is not in its registry ({}); check the name and tag",
                image.registry()
            ))
        })
}

/// Pulls the base `reference` by its `pinned` name, with the credentials
/// of `reference`'s registry, and returns the image's ID.
async fn pull(
    engine: &dyn Engine,
    reference: &ImageRef,
    pinned: &ImageRef,
    platform: Option<&Platform>,
    credentials: &super::CredentialLookup,
) -> Result<ImageId, BaseError> {
    let host = reference.registry();
    engine
        .pull(pinned, platform, credentials(host).as_ref())
        .await
        .map_err(|e| BaseError::Environment(format!("base image {reference}: {e}")))
}

/// The digest the engine recorded for `reference`'s repository among
/// `repo_digests`, when it recorded exactly one.
fn own_digest(reference: &ImageRef, repo_digests: &[String]) -> Option<Digest> {
    let name = crate::reference::normalize(reference.name());
    let mut own = repo_digests.iter().filter_map(|d| {
        let (repo, digest) = d.split_once('@')?;
        (crate::reference::normalize(repo) == name).then(|| Digest::new(digest))
    });
    match (own.next(), own.next()) {
        (Some(d), None) => Some(d),
        _ => None,
    }
}

/// Every base of `wanted` as `pins update` pins it: a base the engine
/// holds without a repository digest (made here) as local; any other at
/// its registry's digest for the platform (one request per base, `jobs`
/// at a time).
pub async fn pins(
    wanted: Vec<(String, Option<Platform>)>,
    engine: &dyn Engine,
    registry: &dyn RegistryRead,
    jobs: usize,
) -> Result<Vec<crate::config::lock::Pin>, BaseError> {
    let mut by_reference: BTreeMap<String, Vec<Option<Platform>>> = BTreeMap::new();
    for (reference, platform) in wanted {
        by_reference.entry(reference).or_default().push(platform);
    }
    let results: Vec<Result<Vec<crate::config::lock::Pin>, BaseError>> =
        futures_util::stream::iter(by_reference.into_iter().map(
            |(reference, platforms)| async move {
                let pin = |platform: &Option<Platform>, digest: Option<Digest>| {
                    crate::config::lock::Pin {
                        reference: reference.clone(),
                        platform: platform.as_ref().map(|p| p.to_string()),
                        local: digest.is_none(),
                        digest,
                    }
                };
                let local = engine
                    .local_image(&base_ref(&reference)?)
                    .await
                    .map_err(|e| BaseError::Environment(format!("base image {reference}: {e}")))?;
                if local.is_some_and(|l| l.repo_digests.is_empty()) {
                    return Ok(platforms.iter().map(|p| pin(p, None)).collect());
                }
                let manifest = upstream_manifest(registry, &reference).await?;
                platforms
                    .iter()
                    .map(|p| {
                        Ok(pin(
                            p,
                            Some(platform_digest(&reference, &manifest, p.as_ref())?),
                        ))
                    })
                    .collect()
            },
        ))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// One base as the lock file pins it: no registry asked; pulled by the
/// pinned digest when the engine lacks it (never under `never`).
async fn pinned_base(
    reference: &str,
    platform: Option<Platform>,
    pin: &crate::config::lock::Pin,
    world: &super::World,
    policy: PullPolicy,
) -> Result<Base, BaseError> {
    let engine = world.engine.as_ref();
    let engine_err = |e: crate::engine::EngineError| {
        BaseError::Environment(format!("base image {reference}: {e}"))
    };
    let typed = base_ref(reference)?;
    let Some(digest) = pin.digest.clone() else {
        // Pinned as made on this machine: used as the engine holds it.
        let local = engine.local_image(&typed).await.map_err(engine_err)?;
        let local = local.ok_or_else(|| {
            BaseError::Input(format!(
                "base image {reference} is pinned as local in the lock file, but it is not on the engine; make or load it first"
            ))
        })?;
        return Ok(Base {
            reference: reference.to_string(),
            platform,
            digest: None,
            pinned: reference.to_string(),
            image_id: local.id,
            pulled: false,
        });
    };
    let pinned = typed.with_digest(&digest).map_err(|e| {
        BaseError::Input(format!(
            "base image {reference}: the lock file's digest {digest}: {e}"
        ))
    })?;
    let held = engine.local_image(&pinned).await.map_err(engine_err)?;
    let (image_id, pulled) = match (held, policy) {
        (Some(l), _) => (l.id, false),
        (None, PullPolicy::Never) => {
            return Err(BaseError::Input(format!(
                "base image {pinned} (pinned in the lock file) is not on the engine, and the pull policy is `never`"
            )))
        }
        (None, _) => {
            let id = pull(engine, &typed, &pinned, platform.as_ref(), &world.credentials).await?;
            (id, true)
        }
    };
    Ok(Base {
        reference: reference.to_string(),
        platform,
        digest: Some(digest),
        pinned: pinned.to_string(),
        image_id,
        pulled,
    })
}

/// The base `reference` (a `FROM` line's image, build arguments replaced)
/// as an image reference; one that is not a reference cannot be had.
fn base_ref(reference: &str) -> Result<ImageRef, BaseError> {
    ImageRef::parse(reference).map_err(|e| {
        BaseError::Input(format!(
            "base image {reference} is not a valid image reference: {e}"
        ))
    })
}

/// True when the engine's repository digest `recorded` is `pinned`
/// (engines shorten `docker.io/library/`).
fn same_pin(recorded: &str, pinned: &str) -> bool {
    crate::reference::normalize(recorded) == crate::reference::normalize(pinned)
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const IMAGE_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The digest of the manifest `platform` builds on: the manifest itself
/// for an image, the platform's entry for an index, decided by the media
/// type the registry gave.
pub(super) fn platform_digest(
    reference: &str,
    manifest: &crate::registry::Manifest,
    platform: Option<&Platform>,
) -> Result<Digest, BaseError> {
    let media_type = manifest.media_type.as_str();
    if IMAGE_TYPES.contains(&media_type) {
        return Ok(manifest.digest.clone());
    }
    if !INDEX_TYPES.contains(&media_type) {
        return Err(BaseError::Environment(format!(
            "base image {reference}: its registry answered with a {media_type:?}, \
             neither an image nor an index"
        )));
    }
    let want = platform.cloned().unwrap_or_else(Platform::host).to_string();
    let index: serde_json::Value = serde_json::from_slice(&manifest.bytes).map_err(|e| {
        BaseError::Environment(format!("base image {reference}: unreadable index: {e}"))
    })?;
    let entries = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut offered = Vec::new();
    for entry in entries {
        let Some(p) = entry.get("platform") else {
            continue;
        };
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let (os, arch, variant) = (field("os"), field("architecture"), field("variant"));
        let full = match variant {
            "" => format!("{os}/{arch}"),
            v => format!("{os}/{arch}/{v}"),
        };
        // `linux/arm64` asks for any arm64 variant (indexes say `v8`).
        let matches = full == want || (format!("{os}/{arch}") == want && !want.contains("/v"));
        match entry.get("digest").and_then(|d| d.as_str()) {
            Some(d) if matches => return Ok(Digest::new(d)),
            _ => offered.push(full),
        }
    }
    Err(BaseError::Input(format!(
        "base image {reference} has no {want} image (it offers {})",
        match offered.is_empty() {
            true => "none".to_string(),
            false => offered.join(", "),
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(media_type: &str, bytes: &str) -> crate::registry::Manifest {
        crate::registry::Manifest {
            digest: Digest::new("sha256:top"),
            media_type: media_type.into(),
            bytes: bytes.as_bytes().to_vec(),
        }
    }

    const INDEX: &str = r#"{"manifests":[
        {"digest":"sha256:amd","platform":{"os":"linux","architecture":"amd64"}},
        {"digest":"sha256:arm","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;

    fn image(dir: &std::path::Path, name: &str, dockerfile: &str) -> crate::plan::ImagePlan {
        crate::plan::ImagePlan {
            build_args: [("V".to_string(), "2".to_string())].into(),
            ..crate::plan::ImagePlan::with_dockerfile(dir, name, dockerfile)
        }
    }

    #[test]
    fn a_base_chosen_by_a_build_argument_is_external_and_pinned_where_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan {
            images: vec![
                image(dir.path(), "acme/a:1", "ARG V=1\nFROM up/base:${V}\n"),
                image(dir.path(), "acme/b:1", "FROM acme/a:1\nFROM scratch\n"),
            ],
            ..Default::default()
        };
        let wanted = external(&plan, &plan).unwrap();
        assert_eq!(wanted, vec![("up/base:2".to_string(), None)]);
        let mut bases = Bases::default();
        bases.0.insert(
            ("up/base:2".into(), None),
            Base {
                reference: "up/base:2".into(),
                platform: None,
                digest: Some(Digest::new("sha256:d2")),
                pinned: "up/base@sha256:d2".into(),
                image_id: ImageId::new("sha256:i2"),
                pulled: false,
            },
        );
        let pinned = bases.pin(plan);
        let text = crate::exec::fingerprint::dockerfile_text(&pinned.images[0]).unwrap();
        assert_eq!(text, "ARG V=1\nFROM up/base@sha256:d2\n");
        assert!(pinned.images[1].rename_bases.is_empty());
    }

    #[test]
    fn an_index_gives_each_platform_its_own_digest() {
        let m = manifest(INDEX_TYPES[0], INDEX);
        let arm: Platform = "linux/arm64".parse().unwrap();
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert_eq!(
            platform_digest("b", &m, Some(&arm)).unwrap().as_str(),
            "sha256:arm"
        );
        assert_eq!(
            platform_digest("b", &m, Some(&amd)).unwrap().as_str(),
            "sha256:amd"
        );
        let s390: Platform = "linux/s390x".parse().unwrap();
        let err = platform_digest("b", &m, Some(&s390))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no linux/s390x image"), "{err}");
    }

    #[test]
    fn the_engines_copy_is_pinned_to_its_one_digest_in_the_repository() {
        let d = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let own_digest = |r: &str, d: &[String]| own_digest(&ImageRef::parse(r).unwrap(), d);
        assert_eq!(
            own_digest("reg:5000/a/base:1", &d(&["reg:5000/a/base@sha256:1"])),
            Some(Digest::new("sha256:1"))
        );
        // Docker Hub names, as the engine shortens them.
        assert_eq!(
            own_digest("debian:12", &d(&["debian@sha256:2", "other@sha256:3"])),
            Some(Digest::new("sha256:2"))
        );
        assert_eq!(own_digest("x/b:1", &d(&["other/b@sha256:3"])), None);
        assert_eq!(
            own_digest("x/b:1", &d(&["x/b@sha256:1", "x/b@sha256:2"])),
            None
        );
    }

    #[test]
    fn the_media_type_decides_not_the_fields() {
        // An image manifest whose body has a `manifests` field is still an image.
        let m = manifest(IMAGE_TYPES[1], INDEX);
        assert_eq!(
            platform_digest("b", &m, None).unwrap().as_str(),
            "sha256:top"
        );
        let m = manifest("text/plain", "{}");
        assert!(matches!(
            platform_digest("b", &m, None),
            Err(BaseError::Environment(_))
        ));
    }
}
