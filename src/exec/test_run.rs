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
use crate::config::files::DOCKERFILE;
use crate::config::run_file::{RunTest, RUN_FILE};
use crate::engine::{BuildContext, BuildRequest, Dockerfile, EngineError, ImageId};
use crate::error::render_with;
use crate::events::{Command, Event, Outcome, Step};
use crate::plan::{ImagePlan, Plan};
use crate::reference::Platform;
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
                    let prior = state.read(|st| st.images.get(&image.name).cloned());
                    let (result, changed) = test_image(&image, &world, &options, &bus, prior).await;
                    let ok = result.passed;
                    if ok {
                        let id = result.image_id.clone();
                        passed.lock().expect("lock").insert(image.name.clone(), id);
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
                    image: plan.images[i].name.clone(),
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
                image: group.name.clone(),
                reason: format!(
                    "all its platforms passed, but tagging {} failed: {e}",
                    group.name
                ),
            });
            continue;
        }
        passed.insert(group.name.clone(), id);
    }
    let passed = &passed;
    run.move_aliases(
        |image| passed.contains_key(image),
        Readiness::PASSED,
        |tag, image, log| async move {
            let id = &passed[&image];
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
fn record(state: &StateFile, name: &str, mut result: ImageState) {
    state.update(|st| {
        if let Some(before) = st.images.get(name) {
            if before.image_id == result.image_id && result.passed {
                result.pushed = before.pushed.clone();
            }
        }
        st.images.insert(name.to_string(), result);
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
    inputs: Option<String>,
    bases: Vec<crate::state::BaseState>,
) -> ImageState {
    ImageState {
        bases,
        image_id: image_id.unwrap_or_else(|| ImageId::new("")),
        passed,
        tested_at: Utc::now(),
        tests,
        pushed: None,
        inputs: inputs.filter(|_| passed),
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
) -> (ImageState, bool) {
    let world = &world.for_platform(image.platforms.first());
    // A failed fetch leaves the inputs unknown; the build step reports it.
    let inputs = match fetch_artifacts(image, world, None).await {
        Ok(files) => match options.secrets.for_build(&image.secrets) {
            Ok(secrets) => fingerprint::inputs(image, &files, &secrets, &*world.engine)
                .await
                .ok(),
            Err(_) => None,
        },
        Err(_) => None,
    };
    if !options.no_cache {
        if let Some(prior) = prior.filter(|p| p.passed && p.inputs.is_some() && p.inputs == inputs)
        {
            if still_there(image, &prior, world).await {
                return (up_to_date(image, prior, bus), false);
            }
        }
    }
    let built = run_step(bus, options, &image.name, Step::Build, |log| {
        build_image(image, world, options, log)
    })
    .await;
    let id = match built {
        Ok(done) => done.image_id.expect("a build returns an image ID"),
        Err(_) => return (image_state(false, None, vec![], None, vec![]), true),
    };
    let mut tests = Vec::with_capacity(image.tests.len());
    for test in &image.tests {
        let step = Step::Test {
            index: test.index,
            path: test.path.clone(),
        };
        let res = run_step(bus, options, &image.name, step, |log| {
            let timeout = test.timeout.or(image.timeout).map(Duration::from_secs);
            let platform = image.platforms.first();
            build_test(
                &id, &test.path, &test.tag, timeout, platform, world, options, log,
            )
        })
        .await;
        let run = RunTest::load(&test.path, None).ok().flatten();
        tests.push(TestState {
            path: test.path.clone(),
            passed: res.is_ok(),
            layer: res.ok().and_then(|done| done.image_id),
            run: run.map(|r| r.describe()),
        });
    }
    let passed = tests.iter().all(|t| t.passed);
    let bases = built_on(image, &options.bases);
    (image_state(passed, Some(id), tests, inputs, bases), true)
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
        image: image.name.clone(),
        since: prior.tested_at,
    });
    let steps = std::iter::once(Step::Build).chain(image.tests.iter().map(|t| Step::Test {
        index: t.index,
        path: t.path.clone(),
    }));
    for step in steps {
        bus.emit(Event::StepFinished {
            image: image.name.clone(),
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

async fn build_image(
    image: &ImagePlan,
    world: &World,
    options: &Options,
    log: Log,
) -> Result<Done, StepError> {
    let extra_files = fetch_artifacts(image, world, Some(&log)).await?;
    let text = fingerprint::dockerfile_text(image)?;
    let dockerfile = match image.rename_bases.is_empty() {
        true => Dockerfile::Path(image.dockerfile.clone()),
        // Built on its parent's build for the same platform, by that name.
        false => Dockerfile::Inline(text),
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
            .map_err(StepError::Input)?,
    };
    let id = world.engine.build(request, &|line| log.line(line)).await?;
    Ok(Done {
        image_id: Some(id),
        digest: None,
    })
}

/// Runs one test folder against the image `id`. Its Dockerfile, if any, is
/// built as a layer on the exact ID; its `run.yml`, if any, then runs in a
/// container from that layer (or from `id` itself when there is no
/// Dockerfile). `tag` names the test image (or, without a Dockerfile, the
/// image itself) only if the whole test passes.
#[allow(clippy::too_many_arguments)]
async fn build_test(
    id: &str,
    dir: &Path,
    tag: &str,
    timeout: Option<Duration>,
    platform: Option<&Platform>,
    world: &World,
    options: &Options,
    log: Log,
) -> Result<Done, StepError> {
    // A stale tag from an earlier run must not look like this run's pass.
    world.engine.remove(tag).await?;
    // Parsed when the config was loaded too; parsed again here so a file
    // edited since is judged as it is now.
    let run = RunTest::load(dir, None)
        .map_err(|e| StepError::Input(render_with(&e, false).trim().to_string()))?;
    let has_dockerfile = dir.join(DOCKERFILE).is_file();
    if !has_dockerfile && run.is_none() {
        return Err(StepError::Input(format!(
            "test folder {} has no {DOCKERFILE} or {RUN_FILE}",
            dir.display()
        )));
    }
    let image = match has_dockerfile {
        true => build_layer(id, dir, tag, timeout, platform, world, options, &log).await?,
        false => ImageId::new(id),
    };
    if let Some(run) = run {
        if let Err(e) = run_container(&image, &run, platform, world, &log).await {
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

/// Builds a test folder's Dockerfile on top of `id`, in memory: the user's
/// tree is only read. The result is tagged `tag`.
#[allow(clippy::too_many_arguments)]
async fn build_layer(
    id: &str,
    dir: &Path,
    tag: &str,
    timeout: Option<Duration>,
    platform: Option<&Platform>,
    world: &World,
    options: &Options,
    log: &Log,
) -> Result<ImageId, StepError> {
    let dockerfile = dir.join(DOCKERFILE);
    let body = crate::config::read::read_text(&dockerfile, None, "test Dockerfile")
        .map_err(|e| StepError::Input(e.message.clone()))?;
    let request = BuildRequest {
        context: BuildContext {
            dir: dir.to_owned(),
            dockerfile: Dockerfile::Inline(crate::dockerfile::layer_on(id, &body)),
            extra_files: vec![],
        },
        tag: Some(tag.to_owned()),
        build_args: Default::default(),
        labels: Default::default(),
        no_cache: options.no_cache,
        timeout,
        platform: platform.cloned(),
        // Test layers are built `FROM <tested image id>`, which only the
        // classic builder reads without pulling: the exact-image guarantee.
        builder: Some(crate::engine::Builder::Classic),
        secrets: Vec::new(),
    };
    // A failed build reads in the engine's own words (StepError::Build):
    // the step (build or test) is named wherever the message is shown.
    Ok(world.engine.build(request, &|line| log.line(line)).await?)
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
    run_check::judge(run, &output).map_err(StepError::Check)
}

/// Points `reference` at `id`, unless it already points there: the run's
/// engine knows its tags (see [`Known`]), so a tag in place costs no call.
async fn tag_unless_there(world: &World, id: &ImageId, reference: &str) -> Result<(), EngineError> {
    match world.engine.image_id(reference).await {
        Ok(Some(now)) if now == *id => Ok(()),
        _ => world.engine.tag(id, reference).await,
    }
}
