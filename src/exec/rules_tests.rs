//! The rules that make "ship what was tested" true, checked on in-memory
//! fakes (`crate::fakes`) so every branch can be reached on purpose: refusals,
//! alias choice, holding and withholding, the up-to-date skip, interrupts
//! and state writes. The same pipelines run on the real engine and registry
//! in the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{push_run, test_run, Bus, Options, World};
use crate::events::record::{RunRecord, Verdict};
use crate::events::{Command, Outcome, Step};
use crate::fakes::{FakeEngine, FakeRegistry};
use crate::plan::{AliasPlan, ImagePlan, Plan, TestPlan};
use crate::reference::ImageId;
use crate::state::{StateError, StateFile};

const REG: &str = "127.0.0.1:5999";

struct Fixture {
    dir: tempfile::TempDir,
    engine: Arc<FakeEngine>,
    registry: Arc<FakeRegistry>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            engine: Arc::default(),
            registry: Arc::default(),
        }
    }

    fn world(&self) -> World {
        World {
            engine: self.engine.clone(),
            platform_engines: Default::default(),
            registry: Some(self.registry.clone()),
            fetch: None,
            credentials: Arc::new(|_| None),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// The state file's bytes and modification time: equal after a run
    /// that wrote nothing.
    fn state_file(&self) -> (Vec<u8>, std::time::SystemTime) {
        let path = self.state_path();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        (std::fs::read(&path).unwrap(), modified)
    }

    /// An image `acme/<short>` whose Dockerfile says `body`, with `tests` test layers.
    fn image(&self, short: &str, body: &str, tests: usize) -> ImagePlan {
        let name = format!("{REG}/acme/{short}");
        let folder = self.dir.path().join(short.replace(':', "_"));
        write(
            &folder.join("Dockerfile"),
            &format!("FROM scratch\n{body}\n"),
        );
        let tests = (1..=tests)
            .map(|n| {
                let path = folder.join(format!("test{n}"));
                write(&path.join("Dockerfile"), &format!("RUN check {n}\n"));
                TestPlan {
                    index: n,
                    path,
                    tag: format!("{name}-test{n}").parse().unwrap(),
                    timeout: None,
                    secrets: Vec::new(),
                    dockerfile: Some(format!("RUN check {n}\n")),
                    run: None,
                }
            })
            .collect();
        ImagePlan {
            tests,
            ..ImagePlan::for_test(&name, folder)
        }
    }

    async fn test(&self, plan: &Plan) -> (Result<(), StateError>, RunRecord) {
        self.test_with(plan, &options()).await
    }

    async fn test_with(
        &self,
        plan: &Plan,
        options: &Options,
    ) -> (Result<(), StateError>, RunRecord) {
        self.run(Command::Test, plan, options).await
    }

    async fn push(&self, plan: &Plan) -> (Result<(), StateError>, RunRecord) {
        self.run(Command::Push, plan, &options()).await
    }

    /// Runs `test` or `push` on the fakes, with the state in the fixture's folder.
    async fn run(
        &self,
        command: Command,
        plan: &Plan,
        options: &Options,
    ) -> (Result<(), StateError>, RunRecord) {
        let state = StateFile::open(&self.state_path()).unwrap();
        let (bus, dispatcher) = Bus::start(vec![]);
        let world = self.world();
        let result = match command {
            Command::Test => {
                test_run::run(plan, &world, options, &bus, &state, "fake".into()).await
            }
            Command::Push => {
                push_run::run(plan, &world, options, &bus, &state, "fake".into()).await
            }
        };
        drop(bus);
        (result, dispatcher.finish().await.0)
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn options() -> Options {
    Options {
        jobs: 2,
        backoff: Duration::from_millis(1),
        ..Options::default()
    }
}

fn alias(tag: &str, candidates: &[&ImagePlan]) -> AliasPlan {
    AliasPlan {
        tag: format!("{REG}/acme/{tag}").parse().unwrap(),
        candidates: candidates.iter().map(|i| i.name.clone()).collect(),
        rule: None,
        fallback: false,
    }
}

fn plan(images: Vec<ImagePlan>, aliases: Vec<AliasPlan>) -> Plan {
    Plan {
        images,
        aliases,
        ..Plan::default()
    }
}

/// The alias record for `tag`: (image it points at, why it was withheld).
fn alias_of(record: &RunRecord, tag: &str) -> (Option<String>, Option<String>) {
    let a = record
        .aliases
        .iter()
        .find(|a| a.tag.ends_with(tag))
        .unwrap_or_else(|| panic!("no record of alias {tag}: {:?}", record.aliases));
    (a.image.clone(), a.withheld.clone())
}

fn push_failure(record: &RunRecord, name: &str) -> Option<String> {
    let image = record.images.iter().find(|i| i.name == name)?;
    match &image.push()?.outcome {
        Outcome::Failed { message } => Some(message.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn tests_are_built_on_the_exact_image_id_the_build_returned() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 2);
    let (result, record) = fx.test(&plan(vec![a.clone()], vec![])).await;
    result.unwrap();
    assert_eq!(record.verdict(), Verdict::Passed);
    let id = fx.engine.get(&a.name).expect("the image is tagged");
    let layers = fx.engine.inline.lock().unwrap().clone();
    assert_eq!(layers.len(), 2, "{layers:?}");
    for layer in layers {
        assert!(
            layer.starts_with(&format!("FROM {id}")),
            "a test layer not on {id}: {layer}"
        );
    }
}

#[tokio::test]
async fn push_refuses_an_image_whose_id_changed_since_it_passed() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![alias("a:latest", &[&a])]);
    fx.test(&p).await.0.unwrap();
    // Someone re-tags the name after the test.
    fx.engine.set(&a.name, &ImageId::new("sha256:untested"));
    let (result, record) = fx.push(&p).await;
    result.unwrap();
    let message = push_failure(&record, &a.name).expect("the push is refused");
    assert!(message.contains("is not the one tested"), "{message}");
    assert!(
        fx.registry.writes().is_empty(),
        "nothing may reach the registry: {:?}",
        fx.registry.writes()
    );
    let (to, withheld) = alias_of(&record, "a:latest");
    assert_eq!(to, None);
    assert!(withheld.is_some());
    assert_eq!(record.verdict(), Verdict::Failed);
}

#[tokio::test]
async fn push_refuses_untested_and_failed_images() {
    let fx = Fixture::new();
    let good = fx.image("good:1", "RUN ok", 1);
    let bad = fx.image("bad:1", "RUN no", 1);
    let never = fx.image("never:1", "RUN never", 0);
    fx.engine.fail(&bad.tests[0].tag);
    fx.test(&plan(vec![good.clone(), bad.clone()], vec![]))
        .await
        .0
        .unwrap();
    // Built, but never tested by strata.
    fx.engine
        .set(&never.name, &ImageId::new("sha256:built-by-hand"));
    let (_, record) = fx
        .push(&plan(
            vec![good.clone(), bad.clone(), never.clone()],
            vec![],
        ))
        .await;
    assert_eq!(push_failure(&record, &good.name), None);
    assert!(fx.registry.get(&good.name).is_some());
    for (image, why) in [(&bad, "failed"), (&never, "no test result")] {
        let message = push_failure(&record, &image.name).expect("refused");
        assert!(message.contains(why), "{message}");
        assert_eq!(fx.registry.get(&image.name), None);
    }
}

#[tokio::test]
async fn a_tag_moved_during_the_push_is_put_back_and_the_push_fails() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    let before = fx.registry.put(&a.name, &ImageId::new("sha256:previous"));
    *fx.registry.hijack.lock().unwrap() = Some((a.name.to_string(), ImageId::new("sha256:evil")));
    let (_, record) = fx.push(&p).await;
    let message = push_failure(&record, &a.name).expect("the push fails");
    assert!(message.contains("not the tested"), "{message}");
    assert!(message.contains("put back"), "{message}");
    assert_eq!(fx.registry.get(&a.name), Some(before));
}

#[tokio::test]
async fn a_failed_attachment_leaves_the_tag_where_it_was() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    let before = fx.registry.put(&a.name, &ImageId::new("sha256:previous"));
    fx.registry
        .failing_attach
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (_, record) = fx.push(&p).await;
    let message = push_failure(&record, &a.name).expect("the push fails");
    assert!(message.contains("attaching"), "{message}");
    // The tag never named the new, unattested digest.
    assert_eq!(fx.registry.get(&a.name).as_ref(), Some(&before));
    assert!(
        !fx.registry
            .writes()
            .iter()
            .any(|w| w == &format!("retag {}", a.name) || w == &format!("upload {}", a.name)),
        "{:?}",
        fx.registry.writes()
    );
    // Attaching works again: the next push attaches, then moves the tag.
    fx.registry
        .failing_attach
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (_, record) = fx.push(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    let digest = fx.registry.get(&a.name).unwrap();
    assert_ne!(digest, before);
    // Its test result and its provenance.
    assert_eq!(fx.registry.attached_to(&digest).len(), 2);
}

#[tokio::test]
async fn an_alias_in_another_repository_moves_only_once_its_attestation_is_there() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let other = alias("other:latest", &[&a]);
    let p = plan(vec![a.clone()], vec![other.clone()]);
    fx.test(&p).await.0.unwrap();
    fx.registry
        .failing_attach_in
        .lock()
        .unwrap()
        .insert(format!("{REG}/acme/other"));
    let (_, record) = fx.push(&p).await;
    let digest = fx.registry.get(&a.name).expect("the image is pushed");
    // Its test result and its provenance.
    assert_eq!(fx.registry.attached_to(&digest).len(), 2);
    // Its attestation could not be copied: the alias did not move.
    assert_eq!(fx.registry.get(&other.tag), None, "{:?}", record.aliases);
    assert!(
        !fx.registry
            .writes()
            .contains(&format!("retag {}", other.tag)),
        "{:?}",
        fx.registry.writes()
    );
    // Once it can be, the next push moves it, attestation first.
    fx.registry.failing_attach_in.lock().unwrap().clear();
    let (_, record) = fx.push(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    assert_eq!(fx.registry.get(&other.tag), Some(digest.clone()));
    // Its test result and its provenance, in each repository.
    assert_eq!(fx.registry.attached_to(&digest).len(), 4);
}

#[tokio::test]
async fn an_alias_goes_to_its_newest_image_when_it_passed() {
    let fx = Fixture::new();
    let new = fx.image("a:2", "RUN two", 1);
    let old = fx.image("a:1", "RUN one", 1);
    let p = plan(
        vec![new.clone(), old.clone()],
        vec![alias("a:latest", &[&new, &old])],
    );
    let (_, record) = fx.test(&p).await;
    assert_eq!(alias_of(&record, "a:latest").0, Some(new.name.to_string()));
    assert_eq!(
        fx.engine.get(&format!("{REG}/acme/a:latest")),
        fx.engine.get(&new.name)
    );
}

#[tokio::test]
async fn test_holds_a_local_alias_back_when_its_newest_image_failed_unless_it_opted_in() {
    let fx = Fixture::new();
    let new = fx.image("a:2", "RUN two", 1);
    let old = fx.image("a:1", "RUN one", 1);
    let tag = format!("{REG}/acme/a:latest");
    let earlier = ImageId::new("sha256:earlier");
    fx.engine.set(&tag, &earlier);
    fx.engine.fail(&new.tests[0].tag);
    let mut p = plan(
        vec![new.clone(), old.clone()],
        vec![alias("a:latest", &[&new, &old])],
    );
    let (_, record) = fx.test(&p).await;
    let (to, why) = alias_of(&record, "a:latest");
    assert_eq!(to, None);
    let why = why.unwrap();
    assert!(
        why.starts_with(&format!("held back, because its newest image {}", new.name)),
        "{why}"
    );
    assert_eq!(fx.engine.get(&tag), Some(earlier), "the tag stays put");

    // Opted in by the run (`--fallback`), then by the rule.
    let opts = Options {
        fallback: vec![globset::Glob::new("*/a:latest").unwrap().compile_matcher()],
        ..options()
    };
    let (_, record) = fx.test_with(&p, &opts).await;
    assert_eq!(alias_of(&record, "a:latest").0, Some(old.name.to_string()));
    assert_eq!(fx.engine.get(&tag), fx.engine.get(&old.name));
    fx.engine.set(&tag, &ImageId::new("sha256:earlier"));
    p.aliases[0].fallback = true;
    let (_, record) = fx.test(&p).await;
    assert_eq!(alias_of(&record, "a:latest").0, Some(old.name.to_string()));
    assert_eq!(fx.engine.get(&tag), fx.engine.get(&old.name));
}

#[tokio::test]
async fn an_alias_whose_move_fails_is_retried_and_each_attempt_is_reported() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    let p = plan(vec![a.clone()], vec![alias("a:latest", &[&a])]);
    let tag = format!("{REG}/acme/a:latest");
    let retries = Options {
        retries: 2,
        ..options()
    };
    // Local tags, in `test`: the first attempt fails, the second moves it.
    fx.engine
        .failing_tags
        .lock()
        .unwrap()
        .insert(tag.clone(), 1);
    let (_, record) = fx.test_with(&p, &retries).await;
    let moved = record.aliases.iter().find(|r| r.tag == tag).unwrap();
    assert_eq!(moved.image.as_deref(), Some(a.name.as_str()));
    assert_eq!(moved.attempts, Some(2));
    assert_eq!(
        moved.failed_attempts.len(),
        1,
        "{:?}",
        moved.failed_attempts
    );
    assert!(moved.failed_attempts[0].contains("busy"));
    assert_eq!(fx.engine.calls_of("tag"), vec![tag.clone(), tag.clone()]);
    // The alias's attempts are not a step of the image.
    let image = record.images.iter().find(|i| i.name == a.name).unwrap();
    assert!(image
        .steps
        .iter()
        .all(|s| !matches!(s.step, Step::Alias { .. })));

    // The registry, in `push`: fails more often than the retries allow.
    fx.registry
        .failing_retags
        .lock()
        .unwrap()
        .insert(tag.clone(), 5);
    let (bus, dispatcher) = Bus::start(vec![]);
    let state = StateFile::open(&fx.state_path()).unwrap();
    push_run::run(&p, &fx.world(), &retries, &bus, &state, "fake".into())
        .await
        .unwrap();
    drop(bus);
    let record = dispatcher.finish().await.0;
    let held = record.aliases.iter().find(|r| r.tag == tag).unwrap();
    assert_eq!(held.image, None);
    assert!(
        held.withheld.as_deref().unwrap().contains("503"),
        "{held:?}"
    );
    assert_eq!(held.attempts, Some(3));
    assert_eq!(held.failed_attempts.len(), 3);
    let retags = fx
        .registry
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| **c == format!("retag {tag}"))
        .count();
    assert_eq!(retags, 3);
}

#[tokio::test]
async fn an_alias_none_of_whose_images_passed_is_withheld_and_stays_where_it_was() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let tag = format!("{REG}/acme/a:latest");
    let earlier = ImageId::new("sha256:earlier");
    fx.engine.set(&tag, &earlier);
    fx.engine.fail(&a.name);
    let (_, record) = fx
        .test(&plan(vec![a.clone()], vec![alias("a:latest", &[&a])]))
        .await;
    let (to, withheld) = alias_of(&record, "a:latest");
    assert_eq!(to, None);
    assert!(withheld.unwrap().contains("none of its images passed"));
    assert_eq!(fx.engine.get(&tag), Some(earlier));
    assert!(fx.engine.calls_of("tag").is_empty());
}

#[tokio::test]
async fn push_withholds_an_alias_whose_images_were_not_pushed() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    fx.engine.fail(&a.tests[0].tag);
    let p = plan(vec![a.clone()], vec![alias("a:latest", &[&a])]);
    let _ = fx.test(&p).await;
    let (_, record) = fx.push(&p).await;
    let (to, withheld) = alias_of(&record, "a:latest");
    assert_eq!(to, None);
    assert!(withheld.unwrap().contains("none of its images was pushed"));
    assert_eq!(fx.registry.get(&format!("{REG}/acme/a:latest")), None);
}

#[tokio::test]
async fn an_unchanged_image_is_not_rebuilt_and_an_edited_one_is() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let b = fx.image("b:1", "RUN one", 1);
    let p = plan(vec![a.clone(), b.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    let builds_before = fx.engine.calls_of("build").len();
    assert_eq!(builds_before, 4, "two images and two test layers");

    let (_, record) = fx.test(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    assert_eq!(fx.engine.calls_of("build").len(), builds_before);
    let log = &record.images[0].build().unwrap().log;
    assert!(log.contains("up to date"), "{log}");

    // One image edited: only it is built again.
    write(&a.context.join("Dockerfile"), "FROM scratch\nRUN edited\n");
    fx.test(&p).await.0.unwrap();
    let rebuilt: Vec<_> = fx.engine.calls_of("build")[builds_before..].to_vec();
    assert_eq!(
        rebuilt,
        vec![a.name.to_string(), a.tests[0].tag.to_string()]
    );
}

#[tokio::test]
async fn an_image_retagged_by_someone_else_is_built_again() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    fx.engine.set(&a.name, &ImageId::new("sha256:other"));
    fx.test(&p).await.0.unwrap();
    assert_eq!(
        fx.engine.calls_of("build"),
        vec![a.name.clone(), a.name.clone()]
    );
    assert_ne!(fx.engine.get(&a.name), Some(ImageId::new("sha256:other")));
}

#[tokio::test]
async fn no_cache_builds_an_unchanged_image_again() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    let forced = Options {
        no_cache: true,
        ..options()
    };
    fx.test_with(&p, &forced).await.0.unwrap();
    assert_eq!(fx.engine.calls_of("build").len(), 2);
}

#[tokio::test]
async fn a_stop_during_the_alias_phase_finishes_the_alias_in_flight_and_moves_no_other() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    let p = plan(
        vec![a.clone()],
        vec![alias("a:latest", &[&a]), alias("a:stable", &[&a])],
    );
    let opts = options();
    let stop = opts.stop.clone();
    // The signal arrives while the first alias is being tagged.
    *fx.engine.on_tag.lock().unwrap() = Some(Box::new(move |_| stop.cancel()));
    let (_, record) = fx.test_with(&p, &opts).await;
    assert_eq!(record.verdict(), Verdict::Interrupted);
    assert_eq!(alias_of(&record, "a:latest").0, Some(a.name.to_string()));
    assert!(
        !record.aliases.iter().any(|r| r.tag.ends_with("a:stable")),
        "{:?}",
        record.aliases
    );
    assert_eq!(
        fx.engine.calls_of("tag"),
        vec![format!("{REG}/acme/a:latest")]
    );
}

#[tokio::test]
async fn a_stop_before_the_images_finish_moves_no_alias() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![alias("a:latest", &[&a])]);
    let opts = options();
    opts.stop.cancel();
    let (_, record) = fx.test_with(&p, &opts).await;
    assert_eq!(record.verdict(), Verdict::Interrupted);
    assert!(record.aliases.is_empty(), "{:?}", record.aliases);
    assert!(fx.engine.calls_of("tag").is_empty());
}

#[tokio::test]
async fn a_state_that_cannot_be_written_is_returned_after_the_run() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    // The state's folder is replaced by a file once the run has it open:
    // every write fails.
    let folder = fx.dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    let state = StateFile::open(&folder.join("state.json")).unwrap();
    std::fs::remove_dir(&folder).unwrap();
    write(&folder, "not a folder");
    let (bus, dispatcher) = Bus::start(vec![]);
    let result = test_run::run(
        &plan(vec![a], vec![]),
        &fx.world(),
        &options(),
        &bus,
        &state,
        "fake".into(),
    )
    .await;
    drop(bus);
    let (record, _) = dispatcher.finish().await;
    // Every step passed, but the result was not kept.
    assert_eq!(record.verdict(), Verdict::Passed);
    assert!(
        matches!(result, Err(StateError::Write { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_second_push_of_the_same_image_sends_nothing() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 0);
    let p = plan(vec![a.clone()], vec![alias("a:latest", &[&a])]);
    fx.test(&p).await.0.unwrap();
    fx.push(&p).await.0.unwrap();
    let uploads = |fx: &Fixture| {
        fx.registry
            .writes()
            .iter()
            .filter(|w| w.starts_with("upload"))
            .count()
    };
    assert_eq!(uploads(&fx), 1);
    let (_, record) = fx.push(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    assert_eq!(uploads(&fx), 1, "{:?}", fx.registry.writes());
    assert_eq!(
        fx.registry.get(&format!("{REG}/acme/a:latest")),
        fx.registry.get(&a.name)
    );
}

/// The contents of the test results of `artifact_type` attached to `digest`.
fn attached_of(
    fx: &Fixture,
    digest: &crate::reference::Digest,
    artifact_type: &str,
) -> Vec<Vec<u8>> {
    attached_of_kind(fx, digest, artifact_type, crate::attest::TEST_RESULT_TYPE)
}

/// The contents of the artifacts of `artifact_type` attached to `digest`
/// whose annotations name `predicate_type`.
fn attached_of_kind(
    fx: &Fixture,
    digest: &crate::reference::Digest,
    artifact_type: &str,
    predicate_type: &str,
) -> Vec<Vec<u8>> {
    let names = |r: &crate::registry::referrers::Referrer| {
        [
            crate::registry::referrers::PREDICATE_TYPE,
            crate::attest::bundle::BUNDLE_PREDICATE_TYPE,
        ]
        .iter()
        .any(|k| r.annotations.get(*k).map(String::as_str) == Some(predicate_type))
    };
    fx.registry
        .attached
        .lock()
        .unwrap()
        .iter()
        .filter(|(d, r, _)| d == digest && r.artifact_type == artifact_type && names(r))
        .map(|(_, _, c)| c.clone())
        .collect()
}

/// The statement inside the one test attestation attached to `digest`, and the envelope.
fn attestation_of(
    fx: &Fixture,
    digest: &crate::reference::Digest,
) -> (
    crate::attest::dsse::Envelope,
    crate::attest::statement::Statement,
) {
    let attached = attached_of_kind(
        fx,
        digest,
        crate::attest::IN_TOTO_MEDIA_TYPE,
        crate::attest::TEST_RESULT_TYPE,
    );
    assert_eq!(attached.len(), 1, "{:?}", fx.registry.writes());
    let envelope = crate::attest::dsse::Envelope::parse(&attached[0]).unwrap();
    let statement =
        crate::attest::statement::Statement::parse(&envelope.payload_bytes().unwrap()).unwrap();
    (envelope, statement)
}

#[tokio::test]
async fn push_attaches_a_signed_test_result_to_the_pushed_digest() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 2);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    let key = crate::attest::key::SigningKey::generate();
    let signed = Options {
        signing_key: Some(Arc::new(key.clone())),
        ..options()
    };
    // What the image's package database says, as the engine reads it.
    fx.engine.files.lock().unwrap().insert(
        crate::attest::sbom::DPKG_STATUS.into(),
        b"Package: busybox\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.35.0-4\n"
            .to_vec(),
    );
    let (_, record) = fx.run(Command::Push, &p, &signed).await;
    assert_eq!(record.verdict(), Verdict::Passed, "{record:?}");
    let digest = fx.registry.get(&a.name).unwrap();
    let (envelope, statement) = attestation_of(&fx, &digest);
    envelope.verify(&key.public()).unwrap();
    assert!(statement.names_digest(&digest));
    let summary = statement.summary();
    assert_eq!(summary.result, "PASSED");
    assert_eq!(summary.passed_tests.len(), 2, "{summary:?}");
    let id = fx.engine.get(&a.name).unwrap();
    assert_eq!(summary.image_id, id.as_str());
    // Each test names the layer it ran in: the test tag's image.
    let layers: Vec<_> = statement.predicate["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| {
            d["annotations"]["layerImageId"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let tagged: Vec<_> = a
        .tests
        .iter()
        .map(|t| fx.engine.get(&t.tag).unwrap().to_string())
        .collect();
    assert_eq!(layers, tagged);

    // The same envelope, as a Sigstore bundle for cosign.
    let bundles = attached_of_kind(
        &fx,
        &digest,
        crate::attest::bundle::BUNDLE_MEDIA_TYPE,
        crate::attest::TEST_RESULT_TYPE,
    );
    assert_eq!(bundles.len(), 1);
    let bundle: serde_json::Value = serde_json::from_slice(&bundles[0]).unwrap();
    assert_eq!(
        bundle["dsseEnvelope"],
        serde_json::to_value(&envelope).unwrap()
    );

    // Its provenance, signed the same way, in both forms.
    let provenance = crate::attest::PROVENANCE_TYPE;
    let in_toto = crate::attest::IN_TOTO_MEDIA_TYPE;
    let built = attached_of_kind(&fx, &digest, in_toto, provenance);
    assert_eq!(built.len(), 1);
    let envelope = crate::attest::dsse::Envelope::parse(&built[0]).unwrap();
    envelope.verify(&key.public()).unwrap();
    let statement =
        crate::attest::statement::Statement::parse(&envelope.payload_bytes().unwrap()).unwrap();
    assert!(statement.names_digest(&digest));
    let summary = crate::attest::provenance::summary(&statement).unwrap();
    let kinds: Vec<&str> = summary
        .dependencies
        .iter()
        .map(|(k, _, _)| k.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["dockerfile", "context", "test", "test"],
        "{summary:?}"
    );
    assert!(summary.started_at.is_some() && summary.finished_at.is_some());
    let bundle = crate::attest::bundle::BUNDLE_MEDIA_TYPE;
    assert_eq!(attached_of_kind(&fx, &digest, bundle, provenance).len(), 1);

    // The SBOM: signed, about the digest, read from the image by ID, in
    // both forms.
    let spdx = crate::attest::sbom::SPDX_PREDICATE_TYPE;
    let sboms = attached_of_kind(&fx, &digest, crate::attest::IN_TOTO_MEDIA_TYPE, spdx);
    assert_eq!(sboms.len(), 1, "{:?}", fx.registry.writes());
    let sbom = crate::attest::dsse::Envelope::parse(&sboms[0]).unwrap();
    sbom.verify(&key.public()).unwrap();
    let sbom = crate::attest::statement::Statement::parse(&sbom.payload_bytes().unwrap()).unwrap();
    assert!(sbom.names_digest(&digest));
    assert_eq!(sbom.predicate_type, spdx);
    let packages = sbom.predicate["packages"].as_array().unwrap();
    assert!(
        packages.iter().any(|p| p["name"] == "busybox"
            && p["externalRefs"][0]["referenceLocator"]
                == "pkg:deb/debian/busybox@1:1.35.0-4?arch=amd64"),
        "{packages:?}"
    );
    assert_eq!(fx.engine.calls_of("read_files"), [id.to_string()]);
    let bundle = crate::attest::bundle::BUNDLE_MEDIA_TYPE;
    assert_eq!(attached_of_kind(&fx, &digest, bundle, spdx).len(), 1);

    // Test result, provenance and SBOM, each as a DSSE envelope and as a
    // Sigstore bundle.
    assert_eq!(fx.registry.attached_to(&digest).len(), 6);
    // Pushed again with nothing changed: nothing attached again.
    fx.run(Command::Push, &p, &signed).await.0.unwrap();
    assert_eq!(fx.registry.attached_to(&digest).len(), 6);
}

#[tokio::test]
async fn an_unsigned_push_attaches_an_unsigned_attestation() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    fx.push(&p).await.0.unwrap();
    let digest = fx.registry.get(&a.name).unwrap();
    let (envelope, _) = attestation_of(&fx, &digest);
    assert!(envelope.signatures.is_empty());
    // An unsigned statement is not a Sigstore bundle, and there is no
    // unsigned SBOM.
    let bundle = crate::attest::bundle::BUNDLE_MEDIA_TYPE;
    assert!(attached_of(&fx, &digest, bundle).is_empty());
    let in_toto = crate::attest::IN_TOTO_MEDIA_TYPE;
    assert_eq!(attached_of(&fx, &digest, in_toto).len(), 1);
    // A later signed push adds the signed one beside it, and its bundle.
    let signed = Options {
        signing_key: Some(Arc::new(crate::attest::key::SigningKey::generate())),
        ..options()
    };
    fx.run(Command::Push, &p, &signed).await.0.unwrap();
    let result = crate::attest::TEST_RESULT_TYPE;
    assert_eq!(attached_of_kind(&fx, &digest, in_toto, result).len(), 2);
    assert_eq!(attached_of_kind(&fx, &digest, bundle, result).len(), 1);
    // And the signed SBOM, in both forms.
    let spdx = crate::attest::sbom::SPDX_PREDICATE_TYPE;
    assert_eq!(attached_of_kind(&fx, &digest, in_toto, spdx).len(), 1);
    assert_eq!(attached_of_kind(&fx, &digest, bundle, spdx).len(), 1);
}

#[tokio::test]
async fn push_holds_an_alias_back_when_its_newest_image_was_not_pushed() {
    let fx = Fixture::new();
    let new = fx.image("a:2", "RUN two", 1);
    let old = fx.image("a:1", "RUN one", 1);
    let p = plan(
        vec![new.clone(), old.clone()],
        vec![alias("a:latest", &[&new, &old])],
    );
    let tag = format!("{REG}/acme/a:latest");
    // The registry's latest is an earlier build of a:2.
    let earlier = fx.registry.put(&tag, &ImageId::new("sha256:earlier"));
    fx.engine.fail(&new.tests[0].tag);
    let _ = fx.test(&p).await;
    let (_, record) = fx.push(&p).await;
    let (to, why) = alias_of(&record, "a:latest");
    assert_eq!(to, None);
    let why = why.unwrap();
    assert!(
        why.starts_with("held back, because its newest image"),
        "{why}"
    );
    assert_eq!(fx.registry.get(&tag), Some(earlier), "never backwards");

    // Opted in: it falls back to the older image.
    let opted = Options {
        fallback: vec![globset::Glob::new("*/a:latest").unwrap().compile_matcher()],
        ..options()
    };
    let (_, record) = fx.run(Command::Push, &p, &opted).await;
    assert_eq!(alias_of(&record, "a:latest").0, Some(old.name.to_string()));
    assert_eq!(fx.registry.get(&tag), fx.registry.get(&old.name));

    // Or opted in by the rule that made the alias (`fallback: true`).
    fx.registry.put(&tag, &ImageId::new("sha256:earlier"));
    let mut by_rule = p.clone();
    by_rule.aliases[0].fallback = true;
    let (_, record) = fx.push(&by_rule).await;
    assert_eq!(alias_of(&record, "a:latest").0, Some(old.name.to_string()));
    assert_eq!(fx.registry.get(&tag), fx.registry.get(&old.name));
}

/// Five images with one test each and two aliases each.
fn five_with_aliases(fx: &Fixture) -> Plan {
    let images: Vec<ImagePlan> = (0..5)
        .map(|i| fx.image(&format!("app:i{i}"), &format!("RUN echo {i}"), 1))
        .collect();
    let aliases = images
        .iter()
        .flat_map(|i| {
            let short = i.name.rsplit('/').next().unwrap().to_string();
            ["stable", "lts"].map(|s| alias(&format!("{short}-{s}"), &[i]))
        })
        .collect();
    plan(images, aliases)
}

#[tokio::test]
async fn an_unchanged_run_asks_the_engine_one_list_and_moves_nothing() {
    let fx = Fixture::new();
    let p = five_with_aliases(&fx);
    let (_, first) = fx.test(&p).await;
    assert_eq!(first.verdict(), Verdict::Passed);
    assert_eq!(fx.engine.calls_of("build").len(), 10, "5 images, 5 tests");
    assert_eq!(fx.engine.calls_of("tag").len(), 10, "2 aliases each");
    let before = fx.state_file();

    fx.engine.forget_calls();
    let (result, second) = fx.test(&p).await;
    result.unwrap();
    assert_eq!(second.verdict(), Verdict::Passed);
    assert_eq!(
        *fx.engine.calls.lock().unwrap(),
        [format!("tags_of {REG}/acme/app")],
        "one list of the images' repository, nothing else"
    );
    assert_eq!(second.aliases.len(), 10);
    assert!(second.aliases.iter().all(|a| a.withheld.is_none()));
    assert_eq!(
        fx.state_file(),
        before,
        "an unchanged run does not write the state"
    );
}

#[tokio::test]
async fn an_alias_moved_elsewhere_is_put_back_and_one_in_place_is_not_touched() {
    let fx = Fixture::new();
    let p = five_with_aliases(&fx);
    fx.test(&p).await.0.unwrap();
    // Someone points one alias at another image.
    let moved = format!("{REG}/acme/app:i0-lts");
    fx.engine.set(&moved, &ImageId::new("sha256:other"));
    fx.engine.forget_calls();
    let (_, record) = fx.test(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    assert_eq!(fx.engine.calls_of("tag"), vec![moved.clone()]);
    assert_eq!(fx.engine.get(&moved), fx.engine.get(&p.images[0].name));
}

#[tokio::test]
async fn a_tag_the_list_does_not_show_is_still_asked_for_before_a_rebuild() {
    let fx = Fixture::new();
    let p = five_with_aliases(&fx);
    fx.test(&p).await.0.unwrap();
    // An engine whose list misses some tags (engines match names in their
    // own ways): every image is still found, by asking for it.
    fx.engine.hide_from_lists(true);
    fx.engine.forget_calls();
    let (_, record) = fx.test(&p).await;
    assert_eq!(record.verdict(), Verdict::Passed);
    assert!(fx.engine.calls_of("build").is_empty());
    assert!(fx.engine.calls_of("tag").is_empty());
    assert!(!fx.engine.calls_of("inspect").is_empty());
}

#[tokio::test]
async fn a_second_push_asks_about_aliases_jobs_at_a_time_and_moves_none() {
    let fx = Fixture::new();
    let p = five_with_aliases(&fx);
    fx.test(&p).await.0.unwrap();
    let three = Options {
        jobs: 3,
        ..options()
    };
    let (_, first) = fx.run(Command::Push, &p, &three).await;
    assert_eq!(first.verdict(), Verdict::Passed);
    let retags = |fx: &Fixture| {
        fx.registry
            .writes()
            .iter()
            .filter(|w| w.starts_with("retag"))
            .count()
    };
    assert_eq!(
        retags(&fx),
        15,
        "each of 5 images' tags (moved once attested) and 2 aliases on each"
    );
    let before = fx.state_file();

    fx.registry.forget_calls();
    fx.engine.forget_calls();
    let (result, second) = fx.run(Command::Push, &p, &three).await;
    result.unwrap();
    assert_eq!(second.verdict(), Verdict::Passed);
    assert_eq!(fx.registry.writes(), Vec::<String>::new(), "nothing sent");
    assert_eq!(fx.registry.reads_of("digest").len(), 10, "one per alias");
    let peak = fx.registry.peak.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "{peak} requests at once with -j 3");
    assert_eq!(
        *fx.engine.calls.lock().unwrap(),
        [format!("tags_of {REG}/acme/app")],
        "the engine's tags from one list"
    );
    assert_eq!(second.aliases.len(), 10);
    assert!(second.aliases.iter().all(|a| a.withheld.is_none()));
    assert_eq!(fx.state_file(), before, "nothing changed, nothing written");
    let state = crate::state::State::load(&fx.state_path()).unwrap();
    let pushed = state.images[p.images[0].name.as_str()]
        .pushed
        .clone()
        .unwrap();
    assert_eq!(
        pushed.aliases,
        [
            format!("{REG}/acme/app:i0-stable"),
            format!("{REG}/acme/app:i0-lts")
        ]
    );
}

#[tokio::test]
async fn aliases_of_one_image_move_one_at_a_time_and_are_reported_in_order() {
    let fx = Fixture::new();
    let mut p = five_with_aliases(&fx);
    // Many aliases on one image, listed apart from each other.
    for k in 0..6 {
        let image = p.images[k % 2].clone();
        p.aliases.push(alias(&format!("app:extra{k}"), &[&image]));
    }
    fx.test(&p).await.0.unwrap();
    let many = Options {
        jobs: 4,
        ..options()
    };
    let (_, record) = fx.run(Command::Push, &p, &many).await;
    assert_eq!(record.verdict(), Verdict::Passed, "{:?}", record.aliases);
    let reported: Vec<&str> = record.aliases.iter().map(|a| a.tag.as_str()).collect();
    let planned: Vec<&str> = p.aliases.iter().map(|a| a.tag.as_str()).collect();
    assert_eq!(reported, planned);
    let retags = fx
        .registry
        .writes()
        .iter()
        .filter(|w| w.starts_with("retag"))
        .count();
    assert_eq!(
        retags,
        16 + 5,
        "each image's tag and each alias put once, none failed and retried"
    );
    // A moved alias is put back on the next push, and only it.
    let moved = format!("{REG}/acme/app:extra3");
    fx.registry.put(&moved, &ImageId::new("sha256:other"));
    fx.registry.forget_calls();
    fx.run(Command::Push, &p, &many).await.0.unwrap();
    assert_eq!(fx.registry.writes(), [format!("retag {moved}")]);
}

#[tokio::test]
async fn a_rebuild_into_the_same_image_keeps_its_push_record() {
    let fx = Fixture::new();
    let a = fx.image("a:1", "RUN one", 1);
    let p = plan(vec![a.clone()], vec![]);
    fx.test(&p).await.0.unwrap();
    fx.push(&p).await.0.unwrap();
    let pushed = || {
        crate::state::State::load(&fx.state_path()).unwrap().images[a.name.as_str()]
            .pushed
            .clone()
    };
    let before = pushed().expect("recorded by push");
    // Built again (--no-cache), the engine gives the same image ID.
    let again = Options {
        no_cache: true,
        ..options()
    };
    fx.test_with(&p, &again).await.0.unwrap();
    assert_eq!(pushed(), Some(before), "the registry still holds it");
}

#[tokio::test]
async fn a_test_is_built_and_run_as_the_plan_holds_it_not_as_the_disk_has_it_now() {
    let fx = Fixture::new();
    let mut a = fx.image("a:1", "RUN one", 2);
    // Edited after the config was loaded: the run builds what was checked.
    write(&a.tests[0].path.join("Dockerfile"), "RUN edited since\n");
    // A `run.yml` test whose file is gone since: it still runs its check.
    std::fs::remove_file(a.tests[1].path.join("Dockerfile")).unwrap();
    a.tests[1].dockerfile = None;
    a.tests[1].run = Some(crate::plan::RunTest::parse("run.yml", "command: [node, -v]\n").unwrap());
    let (result, record) = fx.test(&plan(vec![a.clone()], vec![])).await;
    result.unwrap();
    assert_eq!(record.verdict(), Verdict::Passed);
    let layers = fx.engine.inline.lock().unwrap().clone();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert!(layers[0].ends_with("RUN check 1\n"), "{}", layers[0]);
    let id = fx.engine.get(&a.name).unwrap();
    assert_eq!(fx.engine.calls_of("run"), [id.to_string()]);
    let state = crate::state::State::load(&fx.state_path()).unwrap();
    let run = state.images[a.name.as_str()].tests[1]
        .run
        .clone()
        .expect("its check is recorded");
    assert_eq!(run["command"], serde_json::json!(["node", "-v"]));
}
