//! `strata test`: build each image, build its tests on top of the exact image
//! ID (and run the commands of their `run.yml` in a container from it),
//! record the result, then point aliases at images that passed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::fingerprint;
use super::retry::{run_step, Done, Log};
use super::run_check;
use super::schedule;
use super::skeleton::{Readiness, Run};
use super::{Bus, Options, StepError, World};
use crate::engine::{BuildContext, BuildRequest, Dockerfile, EngineError, ImageId};
use crate::events::{Command, Event, Outcome, Step};
use crate::plan::{ImagePlan, Plan, RunTest, SecretSpec, TestPlan};
use crate::reference::{ImageRef, Platform};
use crate::state::{short_id, ImageState, StateError, StateFile, TestState};

/// Runs `strata test` over the whole plan. Returns the first state-file
/// error, if writing the state failed (results are still reported).
pub async fn run(
    plan: &Plan,
    world: &World,
    options: &Options,
    bus: &Bus,
    state: &StateFile,
    engine_desc: String,
) -> Result<(), StateError> {
    // One image per platform: each built, tested and recorded on its own.
    let run = Run::start(Command::Test, plan, world, options, bus, engine_desc).await;
    let (plan, world) = (&run.plan, &run.world);
    let host = Platform::host();
    let nodes = run.nodes(true, |i| build_cost(i, &host, world));
    let passed: Arc<Mutex<HashMap<String, ImageId>>> = Arc::default();

    let finished = run
        .each_unit(
            &nodes,
            |i| {
                let image = plan.images[i].clone();
                let (world, options, bus, state) =
                    (world.clone(), options.clone(), bus.clone(), state.clone());
                let passed = passed.clone();
                async move {
                    let prior = state.read(|st| st.images.get(image.name.as_str()).cloned());
                    let built = passed.lock().expect("lock").clone();
                    let (result, changed) =
                        test_image(&image, &world, &options, &bus, prior, &built).await;
                    let ok = result.passed;
                    if ok {
                        let id = result.image_id.clone();
                        passed
                            .lock()
                            .expect("lock")
                            .insert(image.name.to_string(), id);
                    }
                    // An up-to-date image keeps its record as it is: nothing to write.
                    if changed {
                        record(&state, &image.name, result);
                    }
                    ok
                }
            },
            |i, parent| {
                bus.emit(Event::ImageSkipped {
                    image: plan.images[i].name.to_string(),
                    reason: format!("it is built from {parent}, which did not pass"),
                });
            },
        )
        .await;
    if !finished {
        return state.first_error();
    }

    let mut passed = passed.lock().expect("lock").clone();
    // An image built for several platforms passed when each of them did;
    // locally its name then holds the engine's own platform (or the first).
    for group in &run.groups {
        let local = group.local_unit(&host).and_then(|u| passed.get(u));
        let (Some(id), true) = (local, group.missing(|u| passed.contains_key(u)).is_empty()) else {
            continue;
        };
        let id = id.clone();
        if let Err(e) = tag_unless_there(world, &id, &group.name).await {
            bus.emit(Event::ImageSkipped {
                image: group.name.to_string(),
                reason: format!(
                    "all its platforms passed, but tagging {} failed: {e}",
                    group.name
                ),
            });
            continue;
        }
        passed.insert(group.name.to_string(), id);
    }
    let passed = &passed;
    run.move_aliases(
        |image| passed.contains_key(image),
        Readiness::PASSED,
        |tag, image, log| async move {
            let id = &passed[image.as_str()];
            tag_unless_there(world, id, &tag).await?;
            log.line(&format!("{tag} → {image} ({})", id.short()));
            Ok(Done {
                image_id: Some(id.clone()),
                digest: None,
            })
        },
    )
    .await;
    state.first_error()
}

/// Records an image's result. One rebuilt as the very image pushed before
/// keeps its push record: the registry still holds it (`publish --from`
/// and the catalog read it).
fn record(state: &StateFile, name: &ImageRef, mut result: ImageState) {
    state.update(|st| {
        if let Some(before) = st.images.get(name) {
            if before.image_id == result.image_id && result.passed {
                result.pushed = before.pushed.clone();
            }
        }
        st.images.insert(name.clone(), result);
    });
}

/// How long `image` takes to build next to a native one: a platform that is
/// neither the engine's own nor served by an engine of its own is emulated,
/// several times slower, so it is started early.
fn build_cost(image: &ImagePlan, host: &Platform, world: &World) -> u32 {
    let emulated = image
        .platforms
        .iter()
        .any(|p| p != host && !world.platform_engines.contains_key(p));
    if emulated {
        schedule::EMULATED_COST
    } else {
        1
    }
}

/// What happened to one image: the record `push` will trust. A failed
/// build has no image ID (it is left empty).
fn image_state(
    passed: bool,
    image_id: Option<ImageId>,
    tests: Vec<TestState>,
    inputs: Option<fingerprint::Inputs>,
    bases: Vec<crate::state::BaseState>,
    built: Option<crate::state::BuildFacts>,
) -> ImageState {
    let (inputs, parts) = match inputs.filter(|_| passed) {
        Some(i) => (Some(i.digest), Some(i.parts)),
        None => (None, None),
    };
    ImageState {
        bases,
        built: built.filter(|_| passed),
        parts,
        image_id: image_id.unwrap_or_else(|| ImageId::new("")),
        passed,
        tested_at: Utc::now(),
        tests,
        pushed: None,
        inputs,
    }
}

/// Build, then every test as a layer on the exact image ID; or nothing at all
/// when the image's inputs are those of its last passing run. Says whether
/// the record changed (false: the prior record, kept as it was).
async fn test_image(
    image: &ImagePlan,
    world: &World,
    options: &Options,
    bus: &Bus,
    prior: Option<ImageState>,
    built: &HashMap<String, ImageId>,
) -> (ImageState, bool) {
    let world = &world.for_platform(image.platforms.first());
    // A failed fetch leaves the inputs unknown; the build step reports it.
    let (inputs, parts) = match fetch_artifacts(image, world, None).await {
        Ok(files) => match options.secrets.for_build(&image.secrets) {
            Ok(secrets) => match fingerprint::inputs(image, &files, &secrets, &*world.engine).await
            {
                Ok(inputs) => {
                    let parts = fingerprint::provenance_parts(image, &inputs);
                    (Some(inputs), Some((parts, files)))
                }
                Err(_) => (None, None),
            },
            Err(_) => (None, None),
        },
        Err(_) => (None, None),
    };
    let digest = inputs.as_ref().map(|i| i.digest.clone());
    let bases = built_on(image, &options.bases);
    if !options.no_cache {
        if let Some(prior) = prior
            .as_ref()
            .filter(|p| p.passed && p.inputs.is_some() && p.inputs == digest)
        {
            if still_there(image, prior, world).await {
                return (up_to_date(image, prior.clone(), bus), false);
            }
        }
    }
    let started_at = Utc::now();
    let mut reasons =
        super::reasons::why(prior.as_ref(), inputs.as_ref(), &bases, options.no_cache);
    if reasons.is_empty() {
        reasons.push(super::reasons::reason(
            crate::events::ReasonKind::Missing,
            "the image or a test's tag is no longer on the engine".into(),
        ));
    }
    bus.emit(Event::Rebuilding {
        image: image.name.to_string(),
        reasons,
    });
    let built = run_step(bus, options, &image.name, Step::Build, |log| {
        build_image(image, world, options, built, log)
    })
    .await;
    let id = match built {
        Ok(done) => done.image_id.expect("a build returns an image ID"),
        Err(_) => return (image_state(false, None, vec![], None, vec![], None), true),
    };
    let facts = parts.and_then(|(parts, files)| build_facts(image, parts, &files, started_at));
    let mut tests = Vec::with_capacity(image.tests.len());
    for test in &image.tests {
        let step = Step::Test {
            index: test.index,
            path: test.path.clone(),
        };
        // A test's layer reads the image's secrets and its own.
        let secrets: Vec<_> = image.secrets.iter().chain(&test.secrets).collect();
        let secrets = &secrets;
        let res = run_step(bus, options, &image.name, step, |log| {
            let timeout = test.timeout.or(image.timeout).map(Duration::from_secs);
            let platform = image.platforms.first();
            build_test(&id, test, timeout, platform, secrets, world, options, log)
        })
        .await;
        tests.push(TestState {
            path: test.path.clone(),
            passed: res.is_ok(),
            layer: res.ok().and_then(|done| done.image_id),
            run: test.run.as_ref().map(RunTest::describe),
        });
    }
    let passed = tests.iter().all(|t| t.passed);
    (
        image_state(passed, Some(id), tests, inputs, bases, facts),
        true,
    )
}

/// What `image` was built from, for its provenance: the Dockerfile as
/// written, the context and test folders by digest, each artifact by where
/// it came from and the SHA-256 of its file. `None` when a file cannot be
/// read (the provenance then says less; the build is unaffected).
fn build_facts(
    image: &ImagePlan,
    parts: fingerprint::Parts,
    files: &[(String, std::path::PathBuf)],
    started_at: chrono::DateTime<Utc>,
) -> Option<crate::state::BuildFacts> {
    let finished_at = Utc::now();
    // The Dockerfile as written (the one in the repository).
    let dockerfile = file_sha256(&image.context.join(&image.dockerfile)).ok()?;
    let mut artifacts = Vec::with_capacity(image.artifacts.len());
    for artifact in &image.artifacts {
        let (_, path) = files.iter().find(|(n, _)| *n == artifact.file_name)?;
        let uri = match &artifact.source {
            crate::plan::ArtifactSource::Url { url, .. } => url.clone(),
            crate::plan::ArtifactSource::Npm { package, version } => {
                format!("pkg:npm/{package}@{version}")
            }
        };
        artifacts.push(crate::state::ArtifactFact {
            file_name: artifact.file_name.clone(),
            uri,
            sha256: file_sha256(path).ok()?,
        });
    }
    Some(crate::state::BuildFacts {
        started_at,
        finished_at,
        dockerfile,
        context: parts.context,
        artifacts,
        tests: parts.tests,
    })
}

/// `sha256:<hex>` of a file, read a chunk at a time.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// True when the image tested last time is still behind the name, and every
/// passing test's tag is still there.
async fn still_there(image: &ImagePlan, prior: &ImageState, world: &World) -> bool {
    let current = world.engine.image_id(&image.name).await.ok().flatten();
    if current.as_deref() != Some(prior.image_id.as_str()) {
        return false;
    }
    for test in &image.tests {
        if !matches!(world.engine.image_id(&test.tag).await, Ok(Some(_))) {
            return false;
        }
    }
    true
}

/// The resolved external bases `image` (a unit: one platform) is built on.
fn built_on(image: &ImagePlan, bases: &super::bases::Bases) -> Vec<crate::state::BaseState> {
    bases
        .0
        .values()
        .filter(|b| b.platform.as_ref() == image.platforms.first())
        .filter(|b| image.rename_bases.values().any(|p| *p == b.pinned))
        .filter_map(|b| {
            Some(crate::state::BaseState {
                reference: b.reference.clone(),
                platform: b.platform.as_ref().map(|p| p.to_string()),
                digest: b.digest.clone()?,
            })
        })
        .collect()
}

/// Reports every step of an unchanged image as passed without running it,
/// and keeps its record (push included) as it was.
fn up_to_date(image: &ImagePlan, prior: ImageState, bus: &Bus) -> ImageState {
    let note = format!(
        "up to date: inputs unchanged since the pass of {}; not rebuilt (--no-cache rebuilds)",
        prior.tested_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    bus.emit(Event::UpToDate {
        image: image.name.to_string(),
        since: prior.tested_at,
    });
    let steps = std::iter::once(Step::Build).chain(image.tests.iter().map(|t| Step::Test {
        index: t.index,
        path: t.path.clone(),
    }));
    for step in steps {
        bus.emit(Event::StepFinished {
            image: image.name.to_string(),
            step,
            attempt: 1,
            outcome: Outcome::Passed,
            log: format!("{note}\n"),
            duration: Default::default(),
            image_id: Some(prior.image_id.clone()),
            digest: None,
        });
    }
    prior
}

/// Fetches an image's artifacts onto the host: (name in the context, file).
async fn fetch_artifacts(
    image: &ImagePlan,
    world: &World,
    log: Option<&Log>,
) -> Result<Vec<(String, std::path::PathBuf)>, StepError> {
    let mut files = Vec::with_capacity(image.artifacts.len());
    for artifact in &image.artifacts {
        let fetch = world.fetch.as_ref().ok_or_else(|| {
            StepError::Input("this plan needs artifacts but no fetcher is configured".into())
        })?;
        if let Some(log) = log {
            log.line(&format!("fetching artifact {}", artifact.file_name));
        }
        let path = fetch.fetch(artifact).await?;
        files.push((artifact.file_name.clone(), path));
    }
    Ok(files)
}

/// Builds an image. A `FROM` naming an image of the plan is built on the
/// very image the run built (or found up to date) under that name, never on
/// whatever the name holds by then (see [`Pins`]), and the result's layers
/// must begin with that image's.
async fn build_image(
    image: &ImagePlan,
    world: &World,
    options: &Options,
    built: &HashMap<String, ImageId>,
    log: Log,
) -> Result<Done, StepError> {
    let extra_files = fetch_artifacts(image, world, Some(&log)).await?;
    let text = fingerprint::dockerfile_text(image)?;
    let mut pins = Pins::new(world);
    let mut rename = std::collections::BTreeMap::new();
    let mut parent = None;
    let final_base = crate::dockerfile::final_base(&text);
    for (written, read) in crate::dockerfile::base_images_written(&text, &image.build_args) {
        let Some(id) = image
            .needs
            .contains(&read)
            .then(|| built.get(&read))
            .flatten()
        else {
            continue;
        };
        let name = match pins.pin(id).await {
            Ok(name) => name,
            Err(e) => {
                pins.release().await;
                return Err(e);
            }
        };
        if final_base.as_deref() == Some(written.as_str()) {
            parent = Some((read.clone(), id.clone()));
        }
        rename.insert(written, name);
    }
    let dockerfile = match image.rename_bases.is_empty() && rename.is_empty() {
        true => Dockerfile::Path(image.dockerfile.clone()),
        // Built on its parent's build (for the same platform), by its ID.
        false => match crate::dockerfile::rename_bases(&text, &rename) {
            Ok(text) => Dockerfile::Inline(text),
            Err(e) => {
                pins.release().await;
                return Err(StepError::Input(e.to_string()));
            }
        },
    };
    let request = BuildRequest {
        context: BuildContext {
            dir: image.context.clone(),
            dockerfile,
            extra_files,
        },
        tag: Some(image.name.clone()),
        build_args: image.build_args.clone(),
        labels: image.labels.clone(),
        // BuildKit's cache key leaves secret values out: a cached step
        // would not see a changed secret, so an image with secrets (built
        // only when its inputs, secret hashes included, changed) runs every
        // step. Its cache mounts are kept all the same.
        no_cache: options.no_cache || !image.secrets.is_empty(),
        timeout: image.timeout.map(Duration::from_secs),
        platform: image.platforms.first().cloned(),
        builder: None,
        secrets: options
            .secrets
            .for_build(&image.secrets)
            .map_err(StepError::Secret)?,
    };
    let built = world.engine.build(request, &|line| log.line(line)).await;
    // Checked while the pins still hold the parents: removing the last
    // name of an image BuildKit built removes the image.
    let checked = match (&built, parent) {
        (Ok(id), Some((name, parent))) => {
            check_layers(world, &parent, id, &format!("the image built on {name}")).await
        }
        _ => Ok(()),
    };
    pins.release().await;
    let id = built?;
    checked?;
    Ok(Done {
        image_id: Some(id),
        digest: None,
    })
}

/// The names builds use for images of the plan in their `FROM` lines. The
/// classic builder reads `FROM <image ID>` as that very image; BuildKit
/// would try to pull it, so it gets a tag of strata's own, made unique for
/// this build, pointed at the ID just before it and removed after it. A
/// tag can be moved while the build runs, so what was built is then checked
/// to start with the image's layers ([`check_layers`]).
struct Pins<'a> {
    engine: &'a dyn crate::engine::Engine,
    tags: Vec<ImageRef>,
}

impl<'a> Pins<'a> {
    fn new(world: &'a World) -> Pins<'a> {
        Pins {
            engine: &*world.engine,
            tags: Vec::new(),
        }
    }

    /// The name a `FROM` line uses for the image `id`.
    async fn pin(&mut self, id: &ImageId) -> Result<String, StepError> {
        if self.engine.builder() == crate::engine::Builder::Classic {
            return Ok(id.to_string());
        }
        let tag = StepError::reference(&pin_tag(id))?;
        self.engine.tag(id, &tag).await?;
        let name = tag.to_string();
        self.tags.push(tag);
        Ok(name)
    }

    /// Removes the tags made (best effort: a leftover tag names an image
    /// that exists anyway).
    async fn release(self) {
        for tag in &self.tags {
            let _ = self.engine.remove(tag).await;
        }
    }
}

/// A tag no other build or run uses: `strata-pin/<random>:<short ID>`.
pub(crate) fn pin_tag(id: &ImageId) -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("{PIN_REPOSITORY}/{}:{}", hex::encode(bytes), id.short())
}

/// The repository of the tags builds are pinned with.
pub const PIN_REPOSITORY: &str = "strata-pin";

/// Checks that `built` (a test layer, or an image of the plan built on
/// another) stands on `base`: its root filesystem layers begin with
/// `base`'s, exactly. Anything else was built on another image (its base's
/// name was moved during the build) and is never a pass.
async fn check_layers(
    world: &World,
    base: &ImageId,
    built: &ImageId,
    what: &str,
) -> Result<(), StepError> {
    let gone = |id: &ImageId| {
        StepError::Mismatch(format!(
            "{what}: image {} is no longer on the engine, so what it was built on cannot be checked",
            id.short()
        ))
    };
    let want = world.engine.layers(base).await?.ok_or_else(|| gone(base))?;
    let got = world
        .engine
        .layers(built)
        .await?
        .ok_or_else(|| gone(built))?;
    if got.starts_with(&want) {
        return Ok(());
    }
    Err(StepError::Mismatch(format!(
        "{what} ({}) was not built on image {}: its layers do not begin with that image's {} \
         layers (the name it was built from was moved to another image during the build); \
         it does not count as a pass",
        built.short(),
        base.short(),
        want.len()
    )))
}

/// Runs one test against the image `id`, as the plan holds it: its
/// Dockerfile, if any, is built as a layer on the exact ID; its `run.yml`,
/// if any, then runs in a container from that layer (or from `id` itself
/// when there is no Dockerfile). Its tag names the test image (or, without
/// a Dockerfile, the image itself) only if the whole test passes.
#[allow(clippy::too_many_arguments)]
async fn build_test(
    id: &str,
    test: &TestPlan,
    timeout: Option<Duration>,
    platform: Option<&Platform>,
    secrets: &[&SecretSpec],
    world: &World,
    options: &Options,
    log: Log,
) -> Result<Done, StepError> {
    let (dir, tag) = (test.path.as_path(), &test.tag);
    // A stale tag from an earlier run must not look like this run's pass.
    world.engine.remove(tag).await?;
    // Read and checked when the config was loaded: a test is run as planned.
    if test.dockerfile.is_none() && test.run.is_none() {
        return Err(StepError::Input(format!(
            "test folder {} has no Dockerfile or run.yml",
            dir.display()
        )));
    }
    let image = match &test.dockerfile {
        Some(body) => {
            let layer = (id, dir, body.as_str(), tag);
            build_layer(layer, timeout, platform, secrets, world, options, &log).await?
        }
        None => ImageId::new(id),
    };
    let has_dockerfile = test.dockerfile.is_some();
    if let Some(run) = &test.run {
        if let Err(e) = run_container(&image, run, platform, world, &log).await {
            if has_dockerfile {
                // Best effort: the failure is what matters, not the cleanup.
                let _ = world.engine.remove(tag).await;
            }
            return Err(e);
        }
        if !has_dockerfile {
            // No layer of its own: the tag marks the image the test passed on,
            // so every passing test has its `<name>-test<N>`, as planned.
            world.engine.tag(&image, tag).await?;
        }
    }
    Ok(Done {
        image_id: Some(image),
        digest: None,
    })
}

/// Builds a test's Dockerfile (`body`, as the plan holds it) on top of
/// `id`, in memory, with the test folder `dir` as its context: the user's
/// tree is only read. The result is tagged `tag`.
#[allow(clippy::too_many_arguments)]
async fn build_layer(
    (id, dir, body, tag): (&str, &Path, &str, &ImageRef),
    timeout: Option<Duration>,
    platform: Option<&Platform>,
    secrets: &[&SecretSpec],
    world: &World,
    options: &Options,
    log: &Log,
) -> Result<ImageId, StepError> {
    let tested = ImageId::new(id);
    let mut pins = Pins::new(world);
    let base = pins.pin(&tested).await?;
    let request = BuildRequest {
        context: BuildContext {
            dir: dir.to_owned(),
            dockerfile: Dockerfile::Inline(crate::dockerfile::layer_on(&base, body)),
            extra_files: vec![],
        },
        tag: Some(tag.clone()),
        build_args: Default::default(),
        labels: Default::default(),
        no_cache: options.no_cache,
        timeout,
        platform: platform.cloned(),
        // The run's builder: `FROM <tested image id>` (classic) or a tag
        // pinned to it for this build (BuildKit), checked below.
        builder: None,
        secrets: options
            .secrets
            .for_build(secrets.iter().copied())
            .map_err(StepError::Secret)?,
    };
    // A failed build reads in the engine's own words (StepError::Build):
    // the step (build or test) is named wherever the message is shown.
    let layer = world.engine.build(request, &|line| log.line(line)).await;
    let checked = match &layer {
        Ok(layer) => check_layers(world, &tested, layer, "the test layer").await,
        Err(_) => Ok(()),
    };
    pins.release().await;
    let layer = layer?;
    if let Err(e) = checked {
        // Its tag must not stand for a pass.
        let _ = world.engine.remove(tag).await;
        return Err(e);
    }
    Ok(layer)
}

/// Runs a `run.yml`'s command in a container from `image`, writes what it
/// printed to the step log, and judges it.
async fn run_container(
    image: &str,
    run: &RunTest,
    platform: Option<&Platform>,
    world: &World,
    log: &Log,
) -> Result<(), StepError> {
    log.line(&format!(
        "running {} in {} (timeout {}s)",
        run.command,
        short_id(image),
        run.timeout.as_secs()
    ));
    let output = world
        .engine
        .run(image, &run.command, run.timeout, platform)
        .await?;
    for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        if !text.is_empty() {
            log.line(&format!("--- {name} ---"));
            log.line(text);
        }
    }
    match output.exit_code {
        Some(code) => log.line(&format!("exit code {code}")),
        None => log.line("timed out; the container was killed"),
    }
    run_check::judge(run, &output).map_err(|m| StepError::Check(m.to_string()))
}

/// Points `reference` at `id`, unless it already points there: the run's
/// engine knows its tags (see [`Known`]), so a tag in place costs no call.
async fn tag_unless_there(
    world: &World,
    id: &ImageId,
    reference: &ImageRef,
) -> Result<(), EngineError> {
    match world.engine.image_id(reference).await {
        Ok(Some(now)) if now == *id => Ok(()),
        _ => world.engine.tag(id, reference).await,
    }
}
