//! The exact-image guarantee under BuildKit, on the real Docker engine.
//!
//! BuildKit cannot build `FROM sha256:<id>` (it tries to pull it), so a test
//! layer, and an image built on another image of the plan, is built `FROM` a
//! tag strata pins to the ID for that build; what was built is then checked
//! to stand on that ID (its layers begin with the ID's). The tests here move
//! names while the run builds, through an engine that wraps the real one:
//! it does what another process could do between strata's tag and the
//! engine's reading of the `FROM` line, at exactly that moment.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::docker::DockerEngine;
use strata::engine::{
    BuildRequest, Builder, Dockerfile, Engine, EngineError, EngineInfo, ImageId, ImageRef, LogSink,
    RunCommand, RunContainer, RunOutput,
};
use strata::events::record::RunRecord;
use strata::events::Step;
use strata::exec::{self, Bus, Options, World};
use strata::load::{self, LoadOptions};
use strata::state::StateFile;

/// What the wrapper does to a name just before a build reads it.
#[derive(Clone)]
enum Forge {
    /// Every `FROM` naming a pinned tag: the tag is pointed at `decoy` for
    /// the build and put back after it, so only the layers can tell.
    PinnedTags { decoy: ImageId },
    /// Before the build tagged `when_building`, `name` is pointed at `decoy`.
    Name {
        when_building: String,
        name: String,
        decoy: ImageId,
    },
}

/// The real engine, with someone moving names under it.
struct Forging {
    inner: DockerEngine,
    forge: Forge,
    /// What the moved names held before they were moved.
    moved: Mutex<Vec<(String, ImageId)>>,
    /// The layers of the image a moved name held.
    layers_moved: Mutex<Vec<String>>,
}

/// The tag a `FROM` line of strata's pin names, if any.
fn pinned_from(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let name = l.strip_prefix("FROM ")?.split_whitespace().next()?;
        name.starts_with("strata-pin/").then(|| name.to_string())
    })
}

#[async_trait]
impl Engine for Forging {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        self.inner.info().await
    }

    fn builder(&self) -> Builder {
        self.inner.builder()
    }

    async fn build(&self, request: BuildRequest, log: LogSink<'_>) -> Result<ImageId, EngineError> {
        let mut restore = None;
        match &self.forge {
            Forge::PinnedTags { decoy } => {
                let text = match &request.context.dockerfile {
                    Dockerfile::Inline(text) => text.clone(),
                    Dockerfile::Path(_) => String::new(),
                };
                if let Some(pin) = pinned_from(&text) {
                    let held = self
                        .inner
                        .image_id(&common::image_ref(&pin))
                        .await?
                        .expect("the pin exists");
                    self.moved.lock().unwrap().push((pin.clone(), held.clone()));
                    self.inner.tag(decoy, &common::image_ref(&pin)).await?;
                    restore = Some((pin, held));
                }
            }
            Forge::Name {
                when_building,
                name,
                decoy,
            } => {
                if request.tag.as_deref() == Some(when_building.as_str()) {
                    let held = self
                        .inner
                        .image_id(&common::image_ref(name))
                        .await?
                        .expect("the name exists");
                    let layers = self.inner.layers(&held).await?.expect("the name exists");
                    *self.layers_moved.lock().unwrap() = layers;
                    self.moved.lock().unwrap().push((name.clone(), held));
                    self.inner.tag(decoy, &common::image_ref(name)).await?;
                }
            }
        }
        let built = self.inner.build(request, log).await;
        if let Some((pin, held)) = restore {
            self.inner.tag(&held, &common::image_ref(&pin)).await?;
        }
        built
    }

    async fn image_id(&self, reference: &ImageRef) -> Result<Option<ImageId>, EngineError> {
        self.inner.image_id(reference).await
    }

    async fn layers(&self, id: &ImageId) -> Result<Option<Vec<String>>, EngineError> {
        self.inner.layers(id).await
    }

    async fn tag(&self, id: &ImageId, reference: &ImageRef) -> Result<(), EngineError> {
        self.inner.tag(id, reference).await
    }

    async fn import(
        &self,
        rootfs_tar: PathBuf,
        reference: &ImageRef,
    ) -> Result<ImageId, EngineError> {
        self.inner.import(rootfs_tar, reference).await
    }

    async fn remove(&self, reference: &ImageRef) -> Result<(), EngineError> {
        self.inner.remove(reference).await
    }

    async fn remove_id(&self, id: &ImageId) -> Result<(), EngineError> {
        self.inner.remove_id(id).await
    }

    async fn run(
        &self,
        image: &str,
        command: &RunCommand,
        timeout: Duration,
        platform: Option<&strata::reference::Platform>,
    ) -> Result<RunOutput, EngineError> {
        self.inner.run(image, command, timeout, platform).await
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        self.inner.run_containers().await
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        self.inner.remove_container(id).await
    }
}

/// Runs `strata test` on `root/inventory.yml` through `forging`.
async fn test_run(root: &Path, forging: Arc<Forging>) -> RunRecord {
    let plan = load::plan(&root.join("inventory.yml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let world = World {
        engine: forging,
        platform_engines: Default::default(),
        registry: None,
        fetch: None,
        credentials: Arc::new(|_| None),
    };
    let state = StateFile::open(&root.join("state/state.json")).unwrap();
    let (bus, dispatcher) = Bus::start(vec![]);
    exec::test_run::run(
        &plan,
        &world,
        &Options::default(),
        &bus,
        &state,
        "test".into(),
    )
    .await
    .unwrap();
    dispatcher.finish().await.0
}

async fn buildkit() -> DockerEngine {
    let e = engine().await;
    busybox_base(&e, BUSYBOX_IMAGE).await;
    e.with_builder(Builder::Buildkit).await.unwrap()
}

async fn layers(e: &DockerEngine, reference: &str) -> Vec<String> {
    let id = e
        .image_id(&common::image_ref(reference))
        .await
        .unwrap()
        .expect(reference);
    e.layers(&id).await.unwrap().expect(reference)
}

/// The tags the engine holds for `reference`'s image.
fn repo_tags(reference: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .RepoTags}}",
            reference,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn under_buildkit_a_test_built_on_a_moved_pin_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("strata-test/pin-{}:1", unique("img"));
    write(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo tested > /tested\n"),
    );
    // Passes on any busybox: only the layer check can fail it.
    write(
        root,
        "t/any/Dockerfile",
        "RUN echo tested-on > /tested-on\n",
    );
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: img\n    test: t/any\n"),
    );
    let (record, forging) = block_on(async {
        let e = buildkit().await;
        let decoy = e
            .image_id(&common::image_ref(BUSYBOX_IMAGE))
            .await
            .unwrap()
            .unwrap();
        let forging = Arc::new(Forging {
            inner: e,
            forge: Forge::PinnedTags { decoy },
            moved: Mutex::default(),
            layers_moved: Mutex::default(),
        });
        (test_run(root, forging.clone()).await, forging)
    });
    let image = &record.images[0];
    assert!(image.build().expect("built").outcome.passed());
    let test = image.tests().next().expect("the test ran");
    assert!(!test.outcome.passed(), "a forged base passed: {}", test.log);
    let verdict = format!("{:?}", test.outcome);
    assert!(verdict.contains("was not built on image"), "{verdict}");
    // The pin was moved (so the build really read the decoy)…
    let moved = forging.moved.lock().unwrap().clone();
    assert!(
        !moved.is_empty(),
        "the test layer was built from a pinned tag"
    );
    let tested = image.build().unwrap().image_id.clone().unwrap();
    assert!(moved.iter().all(|(_, held)| *held == tested), "{moved:?}");
    let test_tag = format!("{name}-test1");
    block_on(async {
        // …no tag says the test passed, and no pin is left behind.
        assert_eq!(
            forging
                .inner
                .image_id(&common::image_ref(&test_tag))
                .await
                .unwrap(),
            None
        );
        for (pin, _) in &moved {
            assert_eq!(
                forging
                    .inner
                    .image_id(&common::image_ref(pin))
                    .await
                    .unwrap(),
                None,
                "{pin}"
            );
        }
        let _ = forging.inner.remove(&common::image_ref(&name)).await;
    });
}

#[test]
fn under_buildkit_test_layers_stand_on_the_tested_image_and_pins_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("strata-test/pin-{}:1", unique("ok"));
    write(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo tested > /tested\n"),
    );
    write(root, "t/seen/Dockerfile", "RUN grep -q tested /tested\n");
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: img\n    test: t/seen\n"),
    );
    block_on(async {
        let e = buildkit().await;
        let forging = Arc::new(Forging {
            inner: e.clone(),
            // Moves nothing: no build is tagged so.
            forge: Forge::Name {
                when_building: "none".into(),
                name: "none".into(),
                decoy: ImageId::new("sha256:0"),
            },
            moved: Mutex::default(),
            layers_moved: Mutex::default(),
        });
        let record = test_run(root, forging).await;
        let test = record.images[0].tests().next().expect("the test ran");
        assert!(test.outcome.passed(), "{:?}\n{}", test.outcome, test.log);
        // Built by BuildKit (its numbered steps), on the pinned tag.
        assert!(
            test.log.contains("FROM docker.io/strata-pin/") || test.log.contains("strata-pin/"),
            "{}",
            test.log
        );
        assert!(test.log.lines().any(|l| l.starts_with('#')), "{}", test.log);
        let tested = layers(&e, &name).await;
        let layer = layers(&e, &format!("{name}-test1")).await;
        assert!(layer.starts_with(&tested) && layer.len() > tested.len());
        assert!(
            !repo_tags(&name).contains("strata-pin"),
            "{}",
            repo_tags(&name)
        );
        let _ = e.remove(&common::image_ref(&format!("{name}-test1"))).await;
        let _ = e.remove(&common::image_ref(&name)).await;
    });
}

#[test]
fn under_buildkit_a_plan_built_parent_is_the_image_the_run_built() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("strata-test/{}", unique("chain"));
    let (base, child) = (format!("{ns}/base:1"), format!("{ns}/child:1"));
    write(
        root,
        "base/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo base > /base\n"),
    );
    write(
        root,
        "child/Dockerfile",
        &format!("FROM {base}\nRUN echo child > /child\n"),
    );
    write(root, "t/base/Dockerfile", "RUN grep -q base /base\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{base}\"\n    path: base\n    test: t/base\n  - name: \"{child}\"\n    path: child\n    test: t/base\n"
        ),
    );
    block_on(async {
        let e = buildkit().await;
        let decoy = e
            .image_id(&common::image_ref(BUSYBOX_IMAGE))
            .await
            .unwrap()
            .unwrap();
        let forging = Arc::new(Forging {
            inner: e.clone(),
            // Just before the child is built, its parent's name is moved.
            forge: Forge::Name {
                when_building: child.clone(),
                name: base.clone(),
                decoy,
            },
            moved: Mutex::default(),
            layers_moved: Mutex::default(),
        });
        let record = test_run(root, forging.clone()).await;
        let moved = forging.moved.lock().unwrap().clone();
        let [(_, built_base)] = moved.as_slice() else {
            panic!("the parent's name was moved once: {moved:?}")
        };
        for image in &record.images {
            for step in &image.steps {
                assert!(
                    step.outcome.passed(),
                    "{} {:?}: {:?}\n{}",
                    image.name,
                    step.step,
                    step.outcome,
                    step.log
                );
            }
        }
        // The child stands on the parent the run built, not on the name.
        let on = forging.layers_moved.lock().unwrap().clone();
        assert!(!on.is_empty());
        let got = layers(&e, &child).await;
        assert!(got.starts_with(&on), "{got:?} on {on:?}");
        let child_record = record.images.iter().find(|i| i.name == child).unwrap();
        assert!(child_record
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::Build) && s.log.contains("strata-pin/")));
        for name in [
            format!("{child}-test1"),
            child.clone(),
            format!("{base}-test1"),
            base.clone(),
        ] {
            let _ = e.remove(&common::image_ref(&name)).await;
        }
        let _ = e.remove_id(built_base).await;
    });
}
