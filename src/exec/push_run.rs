//! `strata push`: ship exactly what was tested, then point aliases at it.
//!
//! An image is pushed only when the state records a pass for the image ID now
//! behind its name. After the push, the registry is asked what it holds: the
//! manifest's config digest must be that same image ID, and every alias must
//! resolve to the image's manifest digest.
//!
//! A re-run costs little: the engine's tags come from one list call
//! ([`Known`](super::known::Known)), images and aliases are checked `-j` at a time, an image the
//! registry holds is not sent again, an alias already on the right digest is
//! not moved, and the state file is written only when what it records
//! changed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::retry::{run_step, Done, Log};
use super::skeleton::{Readiness, Run};
use super::{Bus, Options, StepError, World};
use crate::events::{Command, Event, Step};
use crate::plan::{ImagePlan, Plan};
use crate::reference::{ImageRef, Repository};
use crate::registry::index::{self, IndexError};
use crate::registry::{at_digest, Digest, ImageId, RegistryWrite};
use crate::state::{ImageState, PushState, StateError, StateFile};

/// An image pushed in this run: where it is and what it is.
#[derive(Debug, Clone)]
struct Shipped {
    /// The name it was pushed as (an index: the image's name).
    name: ImageRef,
    image_id: ImageId,
    digest: Digest,
    /// The digest is an index of several platforms' images.
    index: bool,
    /// What its test attestations state (one per platform's image): an
    /// alias in another repository gets them there too, so the alias
    /// verifies where users pull it.
    tested: Vec<crate::attest::statement::Tested>,
    /// Its provenance (one per platform's image), which an index's
    /// provenance is made of, and which an alias in another repository
    /// gets there too.
    built: Vec<crate::attest::provenance::Build>,
    /// The SBOMs of a signed push (one per platform's image), for the same.
    sboms: Vec<super::sbom::Made>,
    /// An index's own test result and provenance, for the same.
    index_own: Option<IndexOwn>,
}

/// The attestations of an index's own digest: its test result and provenance.
type IndexOwn = (
    crate::attest::statement::IndexTested,
    crate::attest::provenance::Build,
);

/// Runs `strata push` over the whole plan: every unit pushed by digest
/// and attested, then each image of several platforms put together as an
/// index, then the aliases moved, and what was pushed recorded.
pub async fn run(
    plan: &Plan,
    world: &World,
    options: &Options,
    bus: &Bus,
    state: &StateFile,
    engine_desc: String,
) -> Result<(), StateError> {
    // An image with platforms ships as one manifest per platform (stored by
    // digest), then one index under its name.
    let run = Run::start(Command::Push, plan, world, options, bus, engine_desc).await;
    let registry = world
        .registry
        .clone()
        .expect("push needs a registry client: the command line makes one for every push");
    let Some(mut shipped) = push_units(&run, &registry, options, bus, state).await else {
        return state.first_error();
    };
    if !publish_indexes(&run.groups, &mut shipped, &*registry, options, bus).await {
        return state.first_error();
    }
    move_aliases(&run, &shipped, &*registry, options, state).await;
    state.first_error()
}

/// Pushes every unit of the plan by digest, at most `-j` at a time, each
/// attested before anything names it; what was shipped by unit name, or
/// `None` when the run stopped.
async fn push_units(
    run: &Run<'_>,
    registry: &Arc<dyn RegistryWrite>,
    options: &Options,
    bus: &Bus,
    state: &StateFile,
) -> Option<HashMap<String, Shipped>> {
    let (plan, world, groups) = (&run.plan, &run.world, &run.groups);
    let repo_of_unit: HashMap<String, Repository> = groups
        .iter()
        .flat_map(|g| {
            let repo = g.name.repository();
            g.unit_names().map(move |u| (u.to_string(), repo.clone()))
        })
        .collect();
    // The name each unit is published under (its index's, for a platform).
    let published_as: HashMap<String, ImageRef> = groups
        .iter()
        .flat_map(|g| g.unit_names().map(|u| (u.to_string(), g.name.clone())))
        .collect();
    // The config's place in its repository, for provenance.
    let source = Arc::new(super::attach::source_of(&plan.source));
    let shipped: Arc<Mutex<HashMap<String, Shipped>>> = Arc::default();
    // Test names in attestations are their folders relative to the config.
    let config_dir = plan.source.parent().unwrap_or(Path::new("")).to_path_buf();

    // Pushes are independent of each other: no parent ordering needed.
    let nodes = run.nodes(false, |_| 1);
    let finished = run
        .each_unit(
            &nodes,
            |i| {
                let image = plan.images[i].clone();
                let (world, options, bus, state, registry) = (
                    world.clone(),
                    options.clone(),
                    bus.clone(),
                    state.clone(),
                    registry.clone(),
                );
                let (shipped, config_dir) = (shipped.clone(), config_dir.clone());
                let by_digest = repo_of_unit.get(image.name.as_str()).cloned();
                let published = published_as
                    .get(image.name.as_str())
                    .unwrap_or(&image.name)
                    .clone();
                let source = source.clone();
                async move {
                    let place = Place {
                        by_digest: by_digest.as_ref(),
                        config_dir: &config_dir,
                        published: &published,
                        source: &source,
                    };
                    let Some(s) =
                        push_image(&image, place, &world, &*registry, &options, &bus, &state).await
                    else {
                        return false;
                    };
                    record_push(&state, &image.name, &s.digest);
                    shipped
                        .lock()
                        .expect("lock")
                        .insert(image.name.to_string(), s);
                    true
                }
            },
            |_, _| {},
        )
        .await;
    let shipped = shipped.lock().expect("lock").clone();
    finished.then_some(shipped)
}

/// Puts together the index of each image of several platforms whose
/// platforms were all pushed, attests it, and adds it to `shipped` under
/// the image's name (standing, locally, for the engine's own platform);
/// `false` when the run stopped.
async fn publish_indexes(
    groups: &[crate::plan::platforms::Group],
    shipped: &mut HashMap<String, Shipped>,
    registry: &dyn RegistryWrite,
    options: &Options,
    bus: &Bus,
) -> bool {
    let host = crate::reference::Platform::host();
    for group in groups {
        if super::stopped(&options.stop, bus) {
            return false;
        }
        let missing = group.missing(|u| shipped.contains_key(u));
        if !missing.is_empty() {
            bus.emit(Event::ImageSkipped {
                image: group.name.to_string(),
                reason: format!(
                    "not every platform was pushed ({} missing); no index is published",
                    missing.join(", ")
                ),
            });
            continue;
        }
        let own: std::sync::Mutex<Option<IndexOwn>> = Default::default();
        let done = run_step(bus, options, &group.name, Step::Push, |log| {
            let (shipped, own) = (&*shipped, &own);
            async move {
                let done =
                    publish_index(group, shipped, registry, options.no_cache, log.clone()).await?;
                let digest = done.digest.clone().expect("a published index has a digest");
                let attested =
                    attest_index(group, &digest, shipped, registry, options, &log).await?;
                *own.lock().expect("lock") = Some(attested);
                Ok(done)
            }
        })
        .await;
        // Locally the name stands for the engine's own platform (or the first).
        let local = group.local_unit(&host).and_then(|u| shipped.get(u));
        if let (Ok(done), Some(local)) = (done, local) {
            let index = Shipped {
                name: group.name.clone(),
                image_id: local.image_id.clone(),
                digest: done.digest.expect("a published index has a digest"),
                index: true,
                tested: group
                    .unit_names()
                    .flat_map(|u| shipped[u].tested.clone())
                    .collect(),
                built: group
                    .unit_names()
                    .flat_map(|u| shipped[u].built.clone())
                    .collect(),
                sboms: group
                    .unit_names()
                    .flat_map(|u| shipped[u].sboms.clone())
                    .collect(),
                index_own: own.into_inner().expect("lock"),
            };
            shipped.insert(group.name.to_string(), index);
        }
    }
    true
}

/// Moves every alias to the image the one alias rule picks among those
/// shipped, then records on each pushed record the aliases it carries now.
async fn move_aliases(
    run: &Run<'_>,
    shipped: &HashMap<String, Shipped>,
    registry: &dyn RegistryWrite,
    options: &Options,
    state: &StateFile,
) {
    let (world, groups) = (&run.world, &run.groups);
    let applied = run
        .move_aliases(
            |image| shipped.contains_key(image),
            Readiness::PUSHED,
            |tag, image, log| async move {
                let s = &shipped[image.as_str()];
                point_alias(&tag, s, world, registry, options, &log).await?;
                Ok(Done {
                    image_id: Some(s.image_id.clone()),
                    digest: Some(s.digest.clone()),
                })
            },
        )
        .await;
    // The aliases each record pushed in this run carries now. An image of
    // several platforms has no record of its own: each platform's record
    // carries the alias.
    let mut on_record: HashMap<String, Vec<ImageRef>> = shipped
        .keys()
        .filter(|name| !groups.iter().any(|g| g.name == **name))
        .map(|name| (name.clone(), vec![]))
        .collect();
    for (tag, image) in applied {
        let records: Vec<String> = match groups.iter().find(|g| g.name == image) {
            Some(group) => group.unit_names().map(str::to_string).collect(),
            None => vec![image.to_string()],
        };
        for record in records {
            on_record.entry(record).or_default().push(tag.clone());
        }
    }
    record_aliases(state, on_record);
}

/// Records where an image was pushed, unless the state says so already (a
/// push with nothing to send): then nothing is written.
fn record_push(state: &StateFile, name: &str, digest: &Digest) {
    let recorded = state.read(|st| {
        st.images
            .get(name)
            .and_then(|e| e.pushed.as_ref())
            .is_some_and(|p| p.digest == *digest)
    });
    if !recorded {
        state.update(|st| {
            if let Some(entry) = st.images.get_mut(name) {
                entry.pushed = Some(PushState {
                    digest: digest.clone(),
                    pushed_at: Utc::now(),
                    aliases: vec![],
                });
            }
        });
    }
}

/// Records, in one write, the aliases each pushed record carries now;
/// nothing is written when the state says so already.
fn record_aliases(state: &StateFile, on_record: HashMap<String, Vec<ImageRef>>) {
    let pushed = |st: &crate::state::State, name: &str| {
        st.images
            .get(name)
            .and_then(|e| e.pushed.as_ref())
            .map(|p| p.aliases.clone())
    };
    let changed = state.read(|st| {
        on_record
            .iter()
            .any(|(name, tags)| pushed(st, name).is_some_and(|now| now != *tags))
    });
    if changed {
        state.update(|st| {
            for (name, tags) in on_record {
                if let Some(p) = st
                    .images
                    .get_mut(name.as_str())
                    .and_then(|e| e.pushed.as_mut())
                {
                    p.aliases = tags;
                }
            }
        });
    }
}

/// Where an image goes and how its attestation names its tests.
#[derive(Clone, Copy)]
struct Place<'a> {
    /// A platform's image: stored by digest alone in this repository.
    by_digest: Option<&'a Repository>,
    /// Test names are their folders relative to this one (the config's).
    config_dir: &'a Path,
    /// The name it is published under (its index's, for a platform's image).
    published: &'a ImageRef,
    /// The config's place in its repository, for the provenance.
    source: &'a super::attach::Source,
}

/// One image's push: what it is, where it goes, and the clients it goes
/// through (the engine's for the image's platform).
#[derive(Clone, Copy)]
struct Pushing<'a> {
    image: &'a ImagePlan,
    place: Place<'a>,
    world: &'a World,
    registry: &'a dyn RegistryWrite,
    options: &'a Options,
}

/// Checks the recorded test result, pushes, reads the digest back,
/// attaches the test attestation (and provenance, and on a signed push the
/// SBOM) to it, then moves its tag there.
async fn push_image(
    image: &ImagePlan,
    place: Place<'_>,
    world: &World,
    registry: &dyn RegistryWrite,
    options: &Options,
    bus: &Bus,
    state: &StateFile,
) -> Option<Shipped> {
    let world = &world.for_platform(image.platforms.first());
    let (current, record) = tested_image(image, world, options, bus, state).await?;
    let parents = pushed_parents(image, state);
    let (published, source, dir) = (place.published, place.source, place.config_dir);
    let built =
        |d: &Digest| super::attach::provenance(image, published, d, &record, &parents, source, dir);
    let push = Pushing {
        image,
        place,
        world,
        registry,
        options,
    };
    let made: std::sync::Mutex<Option<super::sbom::Made>> = Default::default();
    let done = run_step(bus, options, &image.name, Step::Push, |log| {
        let (current, record, built, made) = (&current, &record, &built, &made);
        async move {
            let (done, tag_to_move) = upload(push, current, state, &log).await?;
            let digest = done.digest.clone().expect("a verified push has a digest");
            // The attestations travel with the image: attached to its digest
            // before the tag moves there, so the tag never names a digest
            // without them (a failed attachment leaves it alone).
            let sbom =
                attach_attestations(push, current, &digest, record, &built(&digest), &log).await?;
            *made.lock().expect("lock") = sbom;
            if let Some(before) = tag_to_move {
                move_tag(&image.name, current, &digest, before, registry, &log).await?;
            }
            Ok(done)
        }
    })
    .await
    .ok()?;
    let digest = done.digest.expect("a verified push has a digest");
    let tested = super::attach::tested(&image.name, &digest, &record, place.config_dir);
    Some(Shipped {
        name: image.name.clone(),
        image_id: current,
        built: vec![built(&digest)],
        digest,
        index: false,
        tested: vec![tested],
        sboms: made.into_inner().expect("lock").into_iter().collect(),
        index_own: None,
    })
}

/// The image ID now behind `image`'s name on the engine and the state's
/// record of its pass; `None`, reported as a refused push, when it is not
/// built or that very ID did not pass.
async fn tested_image(
    image: &ImagePlan,
    world: &World,
    options: &Options,
    bus: &Bus,
    state: &StateFile,
) -> Option<(ImageId, ImageState)> {
    let current = match world.engine.image_id(&image.name).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            let why = "it is not built on this engine; run `strata test` first";
            refuse(bus, options, image, StepError::Refused(why.into()));
            return None;
        }
        Err(e) => {
            refuse(bus, options, image, e.into());
            return None;
        }
    };
    match state.read(|st| st.tested_pass(&image.name, &current).cloned()) {
        Ok(record) => Some((current, record)),
        Err(reason) => {
            refuse(bus, options, image, StepError::Refused(reason.to_string()));
            None
        }
    }
}

/// The images of the plan `image` is built on, where they were pushed.
fn pushed_parents(image: &ImagePlan, state: &StateFile) -> Vec<(String, Digest)> {
    state.read(|st| {
        image
            .needs
            .iter()
            .filter_map(|n| {
                Some((
                    n.clone(),
                    st.images.get(n.as_str())?.pushed.as_ref()?.digest.clone(),
                ))
            })
            .collect()
    })
}

/// Sends the image `current` and reads it back: a platform's image by
/// digest alone (see [`push_by_digest`]), any other into its name's
/// repository (see [`push_and_verify`], whose tag to move it returns).
async fn upload(
    push: Pushing<'_>,
    current: &ImageId,
    state: &StateFile,
    log: &Log,
) -> Result<(Done, Option<Option<crate::registry::Resolved>>), StepError> {
    let Pushing {
        image,
        place,
        world,
        registry,
        options,
    } = push;
    match place.by_digest {
        Some(repo) => {
            // The digest this platform's image was pushed as before, if any.
            let before = state
                .read(|st| {
                    st.images
                        .get(image.name.as_str())
                        .and_then(|e| e.pushed.clone())
                })
                .filter(|_| !options.no_cache)
                .map(|p| p.digest);
            let done = push_by_digest(repo, current, before, world, registry, log.clone()).await?;
            Ok((done, None))
        }
        None => {
            push_and_verify(
                &image.name,
                current,
                world,
                registry,
                options.no_cache,
                log.clone(),
            )
            .await
        }
    }
}

/// Attaches to the pushed `digest` its test attestation, its provenance
/// (`built`) and, on a signed push, its SBOM, each signed like the test
/// result; returns the SBOM made, if any.
async fn attach_attestations(
    push: Pushing<'_>,
    current: &ImageId,
    digest: &Digest,
    record: &ImageState,
    built: &crate::attest::provenance::Build,
    log: &Log,
) -> Result<Option<super::sbom::Made>, StepError> {
    let Pushing {
        image,
        place,
        world,
        registry,
        options,
    } = push;
    let tested = super::attach::tested(&image.name, digest, record, place.config_dir);
    let key = options.signing_key.as_deref();
    super::attach::attach(registry, &tested, key, options.no_cache, &|l| log.line(l)).await?;
    // How it was built, from what: signed like the test result.
    super::attach::attach_provenance(
        registry,
        &place.published.repository(),
        built,
        key,
        options.no_cache,
        &|l| log.line(l),
    )
    .await?;
    // A signed push also attaches what the image holds, signed.
    let Some(key) = key else {
        return Ok(None);
    };
    let sbom = super::sbom::make(image, current, &tested, world).await?;
    let again = options.no_cache;
    let repository = &tested.repository;
    super::sbom::attach(registry, repository, &sbom, key, again, &|l| log.line(l)).await?;
    Ok(Some(sbom))
}

/// Attaches to index `digest` of `group` its test result (its subjects the
/// index and every platform's image; `PASSED` only when every platform
/// passed) and its provenance, signed like its platforms' attestations;
/// returns both.
async fn attest_index(
    group: &crate::plan::platforms::Group,
    digest: &Digest,
    shipped: &HashMap<String, Shipped>,
    registry: &dyn RegistryWrite,
    options: &Options,
    log: &Log,
) -> Result<IndexOwn, StepError> {
    let platforms: Vec<(String, &Shipped)> = group
        .units
        .iter()
        .map(|(p, unit)| (p.to_string(), &shipped[unit]))
        .collect();
    let index = crate::attest::statement::IndexTested {
        image: group.name.to_string(),
        repository: group.name.repository(),
        digest: digest.to_string(),
        platforms: platforms
            .iter()
            .flat_map(|(p, s)| s.tested.iter().map(|t| (p.clone(), t.clone())))
            .collect(),
    };
    let key = options.signing_key.as_deref();
    super::attach::attach_index(registry, &index, key, options.no_cache, &|l| log.line(l)).await?;
    let built: Vec<(String, crate::attest::provenance::Build)> = platforms
        .iter()
        .flat_map(|(p, s)| s.built.iter().map(|b| (p.clone(), b.clone())))
        .collect();
    let provenance = super::attach::index_provenance(&group.name, digest, &built);
    let repository = group.name.repository();
    super::attach::attach_provenance(
        registry,
        &repository,
        &provenance,
        key,
        options.no_cache,
        &|l| log.line(l),
    )
    .await?;
    Ok((index, provenance))
}

/// Reports a push that was not attempted, as a failed push step.
fn refuse(bus: &Bus, options: &Options, image: &ImagePlan, why: StepError) {
    options.failures.record(&why);
    let message = match why {
        StepError::Refused(_) => why.to_string(),
        other => format!("refused: {other}"),
    };
    bus.emit(Event::StepFinished {
        image: image.name.to_string(),
        step: Step::Push,
        attempt: 1,
        outcome: crate::events::Outcome::Failed { message },
        log: String::new(),
        duration: Default::default(),
        image_id: None,
        digest: None,
    });
}

/// Pushes the image by digest alone into `reference`'s repository (unless
/// the tag holds it already). Returns what was pushed and, when the tag is
/// still to be moved there, where it pointed before (see [`move_tag`]).
async fn push_and_verify(
    reference: &ImageRef,
    image_id: &ImageId,
    world: &World,
    registry: &dyn RegistryWrite,
    always_push: bool,
    log: Log,
) -> Result<(Done, Option<Option<crate::registry::Resolved>>), StepError> {
    // Incremental: a registry that already holds this very image under the
    // name needs no push (the layers and manifest are there already), unless
    // `--no-cache` asks for everything again.
    let before = registry.resolve(reference).await.ok().flatten();
    if let (false, Some(held)) = (always_push, before.clone()) {
        if held.config_digest.as_ref() == Some(image_id) {
            log.line(&format!(
                "up to date: the registry already holds this image at {}",
                held.digest
            ));
            return Ok((
                Done {
                    image_id: Some(image_id.clone()),
                    digest: Some(held.digest),
                },
                None,
            ));
        }
    }
    let done = push_by_digest(
        &reference.repository(),
        image_id,
        None,
        world,
        registry,
        log,
    )
    .await?;
    Ok((done, Some(before)))
}

/// Moves the tag `reference` to `digest` (pushed and attested already) and
/// reads it back; a tag someone else moved meanwhile is put back to
/// `before`.
async fn move_tag(
    reference: &ImageRef,
    image_id: &ImageId,
    digest: &Digest,
    before: Option<crate::registry::Resolved>,
    registry: &dyn RegistryWrite,
    log: &Log,
) -> Result<(), StepError> {
    registry
        .retag(&reference.repository(), digest, reference)
        .await?;
    let resolved = registry.resolve(reference).await?.ok_or_else(|| {
        StepError::Mismatch(format!(
            "the registry does not have {reference} after the push"
        ))
    })?;
    if let Some(config) = &resolved.config_digest {
        if config != image_id {
            // Someone else moved the tag meanwhile: put it back.
            let undo = restore(registry, reference, before.as_ref()).await;
            return Err(StepError::Mismatch(format!(
                "the registry holds image {config} under {reference}, not the tested {image_id}; {undo}"
            )));
        }
    }
    if resolved.digest != *digest {
        let undo = restore(registry, reference, before.as_ref()).await;
        return Err(StepError::Mismatch(format!(
            "the registry holds {} under {reference}, not the pushed {digest}; {undo}",
            resolved.digest
        )));
    }
    log.line(&format!(
        "registry holds {reference} at {}",
        resolved.digest
    ));
    Ok(())
}

/// One platform's image, stored in `repo` under its digest alone (its index
/// gets the name), then read back by that digest.
async fn push_by_digest(
    repo: &Repository,
    image_id: &ImageId,
    before: Option<Digest>,
    world: &World,
    registry: &dyn RegistryWrite,
    log: Log,
) -> Result<Done, StepError> {
    // Incremental: the registry still holds this very image at the digest
    // it was pushed as, so nothing is exported or sent again.
    if let Some(digest) = before {
        if let Ok(at) = at_digest(repo, &digest) {
            if let Ok(Some(held)) = registry.resolve(&at).await {
                if held.config_digest.as_ref() == Some(image_id) {
                    log.line(&format!(
                        "up to date: the registry already holds this image at {at}"
                    ));
                    return Ok(Done {
                        image_id: Some(image_id.clone()),
                        digest: Some(digest),
                    });
                }
            }
        }
    }
    let target = repo.to_image_ref();
    let digest = ship(world, registry, image_id, &target, &|l| log.line(l)).await?;
    let at = at_digest(repo, &digest)?;
    let resolved = registry.resolve(&at).await?.ok_or_else(|| {
        StepError::Mismatch(format!("the registry does not have {at} after the push"))
    })?;
    if resolved.config_digest.as_ref() != Some(image_id) {
        return Err(StepError::Mismatch(format!(
            "the registry's {at} names image {}, not the tested {image_id}",
            resolved.config_digest.as_deref().unwrap_or("(none)")
        )));
    }
    log.line(&format!("registry holds {at}"));
    Ok(Done {
        image_id: Some(image_id.clone()),
        digest: Some(digest),
    })
}

/// Puts the index of a multi-platform image under its name, unless the
/// registry holds that very index already, and reads it back: exactly the
/// planned platforms, each entry the digest pushed for it, and each entry's
/// image the tested ID for its platform.
async fn publish_index(
    group: &crate::plan::platforms::Group,
    shipped: &HashMap<String, Shipped>,
    registry: &dyn RegistryWrite,
    always: bool,
    log: Log,
) -> Result<Done, StepError> {
    let children: Vec<(Digest, crate::reference::Platform)> = group
        .units
        .iter()
        .map(|(p, unit)| (shipped[unit].digest.clone(), p.clone()))
        .collect();
    let before = index::held(registry, &group.name, &children)
        .await
        .ok()
        .flatten();
    if let (false, Some(held)) = (always, before) {
        log.line(&format!(
            "up to date: the registry already holds this index at {held}"
        ));
        return Ok(Done {
            image_id: None,
            digest: Some(held),
        });
    }
    let digest = index::put(registry, &group.name, &children)
        .await
        .map_err(|e| {
            if let Some(digest) = e.put_digest() {
                log.line(&format!("put index {digest} under {}", group.name));
            }
            match e {
                IndexError::Put(e) | IndexError::Read { source: e, .. } => StepError::Registry(e),
                IndexError::Missing { .. } => StepError::Mismatch(format!(
                    "the registry does not have {} after the push",
                    group.name
                )),
                IndexError::Differs {
                    digest,
                    now,
                    listed,
                } => StepError::Mismatch(format!(
                    "{} resolves to {now} listing {listed:?}, not the index just pushed ({digest})",
                    group.name
                )),
            }
        })?;
    log.line(&format!("put index {digest} under {}", group.name));
    let repo = group.name.repository();
    for (platform, unit) in &group.units {
        let s = &shipped[unit];
        let child = registry.resolve(&at_digest(&repo, &s.digest)?).await?;
        let config = child.and_then(|c| c.config_digest);
        if config.as_ref() != Some(&s.image_id) {
            return Err(StepError::Mismatch(format!(
                "the {platform} entry of the index is not the tested image {}",
                s.image_id
            )));
        }
        log.line(&format!(
            "  {platform}: {} (image {})",
            s.digest,
            s.image_id.short()
        ));
    }
    Ok(Done {
        image_id: None,
        digest: Some(digest),
    })
}

/// Uploads the image `id` under `target`, by ID: the engine exports exactly
/// that image (no name is involved, so a re-tag cannot change what ships),
/// and strata uploads its config and layers and puts the manifest.
async fn ship(
    world: &World,
    registry: &dyn RegistryWrite,
    id: &ImageId,
    target: &ImageRef,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<Digest, StepError> {
    let dir = tempfile::Builder::new()
        .prefix("strata-export-")
        .tempdir()
        .map_err(|source| StepError::Local {
            doing: "cannot make a folder for the exported image".into(),
            source,
        })?;
    let archive = dir.path().join("image.tar");
    log(&format!("exporting {} by ID", id.short()));
    world.engine.export(id, &archive).await?;
    log(&format!("uploading to {target}"));
    let digest = registry.upload(&archive, target).await?;
    log(&format!("uploaded manifest {digest}"));
    Ok(digest)
}

/// Puts `reference` back where it was before a push whose read-back showed
/// another image, and says what was done.
async fn restore(
    registry: &dyn RegistryWrite,
    reference: &ImageRef,
    before: Option<&crate::registry::Resolved>,
) -> String {
    match before {
        Some(prev) => match registry
            .retag(&reference.repository(), &prev.digest, reference)
            .await
        {
            Ok(_) => format!("{reference} was put back to its previous {}", prev.digest),
            Err(e) => format!("putting {reference} back to {} failed: {e}", prev.digest),
        },
        None => format!(
            "{reference} was new; this registry cannot delete a tag without deleting its \
             image, so it was left for you to remove"
        ),
    }
}

/// Points the alias `tag` at the image shipped in this run as `s`, and
/// checks it resolves to that digest. One attempt of the alias's step: the
/// executor's retry path runs it again if it fails. An alias the registry
/// already resolves to that digest is not moved (unless `--no-cache`).
async fn point_alias(
    tag: &ImageRef,
    s: &Shipped,
    world: &World,
    registry: &dyn RegistryWrite,
    options: &Options,
    log: &Log,
) -> Result<(), StepError> {
    let image = &s.name;
    if !options.no_cache {
        let now = registry.digest(tag).await.ok().flatten();
        if now.as_ref() == Some(&s.digest)
            && local_tag(world, &s.image_id, tag).await.is_ok()
            && carry_attestations(image, s, tag, registry, options)
                .await
                .is_ok()
        {
            log.line(&format!("{tag} is at {} already", s.digest));
            return Ok(());
        }
    }
    // In another repository of the same registry, the image is put there by
    // digest and given its attestations before the alias tag moves, so the
    // alias never names a digest without them there.
    if stage_in(image, &s.digest, tag, registry).await? {
        carry_attestations(image, s, tag, registry, options).await?;
    }
    retag(image, s, tag, world, registry).await?;
    carry_attestations(image, s, tag, registry, options).await?;
    log.line(&format!("{tag} → {image} ({})", s.digest));
    Ok(())
}

/// Puts manifest `digest` of `image`'s repository into `alias`'s by digest
/// alone (no tag moves), when the alias is in another repository of the
/// same registry. Says whether it did.
async fn stage_in(
    image: &ImageRef,
    digest: &Digest,
    alias: &ImageRef,
    registry: &dyn RegistryWrite,
) -> Result<bool, StepError> {
    let (repo, there) = (image.repository(), alias.repository());
    if repo == there || image.registry() != alias.registry() {
        return Ok(false);
    }
    registry
        .retag(&repo, digest, &at_digest(&there, digest)?)
        .await?;
    Ok(true)
}

/// An alias in another repository than its image: the image's attestations
/// are attached there too (referrers live in the subject's repository):
/// each platform image's test result, provenance and (signed) SBOM, and an
/// index's own test result and provenance, each stated about the alias's
/// repository, so `strata verify ALIAS` and `publish` find them. Nothing to
/// do within the image's own repository.
async fn carry_attestations(
    image: &ImageRef,
    shipped: &Shipped,
    alias: &ImageRef,
    registry: &dyn RegistryWrite,
    options: &Options,
) -> Result<(), StepError> {
    let repository = alias.repository();
    let from = image.repository();
    if repository == from {
        return Ok(());
    }
    let (key, again) = (options.signing_key.as_deref(), options.no_cache);
    for tested in &shipped.tested {
        let there = crate::attest::statement::Tested {
            repository: repository.clone(),
            ..tested.clone()
        };
        super::attach::attach(registry, &there, key, again, &|_| {}).await?;
    }
    for built in &shipped.built {
        let there = built.in_repository(&from, &repository);
        super::attach::attach_provenance(registry, &repository, &there, key, again, &|_| {})
            .await?;
    }
    if let Some((index, built)) = &shipped.index_own {
        let there = crate::attest::statement::IndexTested {
            repository: repository.clone(),
            ..index.clone()
        };
        super::attach::attach_index(registry, &there, key, again, &|_| {}).await?;
        let there = built.in_repository(&from, &repository);
        super::attach::attach_provenance(registry, &repository, &there, key, again, &|_| {})
            .await?;
    }
    if let Some(key) = key {
        for sbom in &shipped.sboms {
            super::sbom::attach(registry, &repository, sbom, key, options.no_cache, &|_| {})
                .await?;
        }
    }
    Ok(())
}

/// Points the local tag `alias` at `id`, unless it is there already (the
/// run's engine knows its tags: no call then).
async fn local_tag(world: &World, id: &ImageId, alias: &ImageRef) -> Result<(), StepError> {
    if let Ok(Some(now)) = world.engine.image_id(alias).await {
        if now == *id {
            return Ok(());
        }
    }
    Ok(world.engine.tag(id, alias).await?)
}

/// Within one registry the manifest is re-tagged by digest (no layer is sent
/// again); across registries the engine pushes the alias tag. Either way the
/// alias must then resolve to the image's digest.
async fn retag(
    image: &ImageRef,
    shipped: &Shipped,
    alias: &ImageRef,
    world: &World,
    registry: &dyn RegistryWrite,
) -> Result<(), StepError> {
    if image.registry() == alias.registry() {
        registry
            .retag(&image.repository(), &shipped.digest, alias)
            .await?;
    } else if shipped.index {
        return Err(StepError::Input(format!(
            "{alias} is on another registry than {image}; an image of several platforms is only re-tagged within its registry"
        )));
    } else {
        // Another registry: upload the image by ID there too. The manifest
        // is made the same way, so it has the same digest.
        ship(world, registry, &shipped.image_id, alias, &|_| {}).await?;
    }
    let now = registry.resolve(alias).await?.map(|r| r.digest);
    if now.as_deref() != Some(shipped.digest.as_str()) {
        return Err(StepError::Mismatch(format!(
            "{alias} resolves to {} instead of {}",
            now.as_deref().unwrap_or("nothing"),
            shipped.digest
        )));
    }
    // Keep the local tag in step with the registry.
    local_tag(world, &shipped.image_id, alias).await
}
