//! `publish`'s rules run end to end on the in-memory registry
//! (`crate::fakes`): images qualified from their signed test results, each
//! alias moved (or held, or withheld) by the one alias rule, and indexes
//! put together from several machines' state files.

use std::collections::BTreeMap;

use super::*;
use crate::attest::dsse::Envelope;
use crate::attest::key::SigningKey;
use crate::attest::statement::{build, TestRecord, Tested};
use crate::attest::{DSSE_MEDIA_TYPE, IN_TOTO_MEDIA_TYPE, TEST_RESULT_TYPE};
use crate::fakes::FakeRegistry;
use crate::plan::ImagePlan;
use crate::reference::{ImageId, Platform};
use crate::registry::referrers::{Artifact, PREDICATE_TYPE};
use crate::state::{ImageState, PushState};

const REG: &str = "127.0.0.1:5999";

fn node(tag: &str) -> ImageRef {
    format!("{REG}/acme/node:{tag}").parse().unwrap()
}

fn id(c: char) -> ImageId {
    ImageId::new(format!("sha256:{}", c.to_string().repeat(64)))
}

struct Fixture {
    registry: FakeRegistry,
    key: SigningKey,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            registry: FakeRegistry::default(),
            key: SigningKey::generate(),
        }
    }

    /// Image `image` put under `reference` by digest, with a signed test
    /// result that says it was tested as `tested_as` and `passed` (or not).
    async fn pushed(
        &self,
        reference: &str,
        image: &ImageId,
        tested_as: &str,
        passed: bool,
    ) -> Digest {
        let digest = self.registry.put(reference, image);
        let repository = ImageRef::parse(reference).unwrap().repository();
        let statement = build(&Tested {
            image: tested_as.into(),
            repository: repository.clone(),
            digest: digest.to_string(),
            image_id: image.to_string(),
            tested_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            passed,
            tests: vec![TestRecord {
                name: "tests/smoke".into(),
                passed,
                layer: None,
                run: None,
            }],
            inputs: None,
        });
        let artifact = Artifact {
            artifact_type: IN_TOTO_MEDIA_TYPE.into(),
            media_type: DSSE_MEDIA_TYPE.into(),
            content: Envelope::seal(&statement, Some(&self.key)).to_bytes(),
            annotations: BTreeMap::from([(
                PREDICATE_TYPE.to_string(),
                TEST_RESULT_TYPE.to_string(),
            )]),
        };
        self.registry
            .attach(&repository, &digest, &artifact)
            .await
            .unwrap();
        digest
    }

    fn options(&self) -> Options {
        Options {
            key: Some(self.key.public()),
            ..Options::default()
        }
    }

    async fn publish(&self, plan: &Plan, options: &Options) -> Report {
        run(plan, &self.registry, options).await.unwrap()
    }

    /// The tags moved and indexes put, in order.
    fn moves(&self) -> Vec<String> {
        self.registry
            .writes()
            .into_iter()
            .filter(|w| w.starts_with("retag ") || w.starts_with("put_index "))
            .collect()
    }
}

/// `node:latest`, newest `node:23`, then `node:22`.
fn latest() -> Plan {
    Plan {
        images: vec![
            ImagePlan::for_test(&node("23"), "."),
            ImagePlan::for_test(&node("22"), "."),
        ],
        aliases: vec![AliasPlan {
            tag: node("latest"),
            candidates: vec![node("23"), node("22")],
            rule: Some("latest".into()),
            fallback: false,
        }],
        ..Plan::default()
    }
}

fn decision(report: &Report) -> &Decision {
    &report.aliases[0].1
}

#[tokio::test]
async fn the_newest_passing_image_gets_the_alias_then_it_is_up_to_date() {
    let f = Fixture::new();
    let d23 = f.pushed(&node("23"), &id('3'), &node("23"), true).await;
    f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    let report = f.publish(&latest(), &f.options()).await;
    assert_eq!(
        decision(&report),
        &Decision::Point {
            image: node("23"),
            digest: d23.clone(),
            note: None
        }
    );
    assert!(report.complete(), "{}", report.render(false));
    assert_eq!(f.registry.get(&node("latest")), Some(d23.clone()));

    f.registry.forget_calls();
    let report = f.publish(&latest(), &f.options()).await;
    assert_eq!(
        decision(&report),
        &Decision::UpToDate {
            image: node("23"),
            digest: d23
        }
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}

#[tokio::test]
async fn an_alias_whose_newest_image_failed_stays_where_it_is() {
    let f = Fixture::new();
    // `latest` is at an earlier build of 23 that passed.
    let before = f.pushed(&node("latest"), &id('0'), &node("23"), true).await;
    f.pushed(&node("23"), &id('3'), &node("23"), false).await;
    f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    let report = f.publish(&latest(), &f.options()).await;
    let Decision::Held { digest, reason } = decision(&report) else {
        panic!("{}", report.render(false))
    };
    assert_eq!(digest, &before);
    assert!(
        reason.starts_with(&format!(
            "held back, because its newest image {} did not qualify",
            node("23")
        )),
        "{reason}"
    );
    // Never backwards: not to 22, which passed.
    assert_eq!(f.registry.get(&node("latest")), Some(before));
    assert_eq!(f.moves(), Vec::<String>::new());
    assert!(!report.complete());
}

#[tokio::test]
async fn an_alias_falls_back_to_an_older_image_only_when_opted_in() {
    let f = Fixture::new();
    f.pushed(&node("latest"), &id('0'), &node("23"), true).await;
    f.pushed(&node("23"), &id('3'), &node("23"), false).await;
    let d22 = f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    let options = Options {
        fallback: vec![globset::Glob::new("*:latest").unwrap().compile_matcher()],
        ..f.options()
    };
    let report = f.publish(&latest(), &options).await;
    let Decision::Point {
        image,
        digest,
        note,
    } = decision(&report)
    else {
        panic!("{}", report.render(false))
    };
    assert_eq!((image, digest), (&node("22"), &d22));
    assert!(note.as_deref().unwrap().starts_with("fell back (opted in)"));
    assert_eq!(f.registry.get(&node("latest")), Some(d22.clone()));

    // The rule's own `fallback: true` opts in too.
    let f = Fixture::new();
    f.pushed(&node("23"), &id('3'), &node("23"), false).await;
    let d22 = f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    let mut plan = latest();
    plan.aliases[0].fallback = true;
    let report = f.publish(&plan, &f.options()).await;
    assert!(
        matches!(decision(&report), Decision::Point { digest, .. } if *digest == d22),
        "{}",
        report.render(false)
    );
}

#[tokio::test]
async fn an_alias_with_nothing_to_hold_is_withheld() {
    // Nowhere yet, and its newest image failed: not pointed at 22.
    let f = Fixture::new();
    f.pushed(&node("23"), &id('3'), &node("23"), false).await;
    f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    let report = f.publish(&latest(), &f.options()).await;
    let Decision::Withheld { reason } = decision(&report) else {
        panic!("{}", report.render(false))
    };
    assert!(reason.contains("did not qualify"), "{reason}");
    assert_eq!(f.registry.get(&node("latest")), None);

    // Where it points now carries no attestation at all.
    let f = Fixture::new();
    f.registry.put(&node("latest"), &id('0'));
    f.pushed(&node("23"), &id('3'), &node("23"), false).await;
    let report = f.publish(&latest(), &f.options()).await;
    let Decision::Withheld { reason } = decision(&report) else {
        panic!("{}", report.render(false))
    };
    assert!(
        reason.contains("carries no valid passing test attestation"),
        "{reason}"
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}

#[tokio::test]
async fn an_image_tested_as_another_name_does_not_qualify() {
    let f = Fixture::new();
    // 22's digest, attested as 22, put under 23's name too.
    f.pushed(&node("22"), &id('2'), &node("22"), true).await;
    f.registry.put(&node("23"), &id('2'));
    let report = f.publish(&latest(), &f.options()).await;
    let (_, q23) = &report.images[0];
    let Qualified::No(why) = q23 else {
        panic!("{q23:?}")
    };
    assert!(
        why.contains(&format!("was tested as {}", node("22"))),
        "{why}"
    );
    assert!(matches!(decision(&report), Decision::Withheld { .. }));
}

// --- indexes put together from several machines' state files ---

const APP: &str = "127.0.0.1:5999/acme/app:1";

fn platforms() -> Vec<Platform> {
    vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ]
}

fn app() -> Plan {
    Plan {
        images: vec![ImagePlan {
            platforms: platforms(),
            ..ImagePlan::for_test(APP, ".")
        }],
        ..Plan::default()
    }
}

/// What a machine's state file says of the unit it tested and pushed.
fn state(unit: &str, image: &ImageId, digest: &Digest) -> State {
    let record = ImageState {
        image_id: image.clone(),
        passed: true,
        tested_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        tests: vec![],
        pushed: Some(PushState {
            digest: digest.clone(),
            pushed_at: "2026-01-01T00:01:00Z".parse().unwrap(),
            aliases: vec![],
        }),
        inputs: None,
        bases: vec![],
        built: None,
        parts: None,
    };
    State {
        images: BTreeMap::from([(unit.parse().unwrap(), record)]),
        ..State::default()
    }
}

/// Each platform's image pushed by its own machine (arm64's config says
/// `arm_config`), and the machines' state files.
async fn machines(
    f: &Fixture,
    arm_config: &str,
) -> (Vec<Digest>, Vec<(std::path::PathBuf, State)>) {
    let mut digests = Vec::new();
    let mut states = Vec::new();
    let repo = ImageRef::parse(APP).unwrap().repository();
    for (platform, c) in platforms().iter().zip(['a', 'b']) {
        let unit = crate::plan::platforms::unit_name(
            &crate::reference::ImageRef::parse(APP).unwrap(),
            platform,
        );
        if c == 'b' {
            f.registry
                .platforms
                .lock()
                .unwrap()
                .insert(id(c), arm_config.to_string());
        }
        // Pushed by digest alone: no tag names it.
        let digest = f.pushed(&unit, &id(c), &unit, true).await;
        f.registry.tags.lock().unwrap().remove(unit.as_str());
        assert!(f.registry.get(&format!("{repo}@{digest}")).is_some());
        states.push((
            format!("{}.json", platform.tag_suffix()).into(),
            state(&unit, &id(c), &digest),
        ));
        digests.push(digest);
    }
    (digests, states)
}

#[tokio::test]
async fn an_index_is_put_together_from_each_machines_state_file() {
    let f = Fixture::new();
    let (digests, states) = machines(&f, "linux/arm64").await;
    let options = Options {
        states,
        ..f.options()
    };
    let report = f.publish(&app(), &options).await;
    let [(name, Assembled::Put { digest, platforms })] = report.indexes.as_slice() else {
        panic!("{}", report.render(false))
    };
    assert_eq!(name, APP);
    assert_eq!(platforms, "linux/amd64, linux/arm64");
    let app_ref = ImageRef::parse(APP).unwrap();
    let held = f.registry.resolve(&app_ref).await.unwrap().unwrap();
    assert_eq!(&held.digest, digest);
    let children: Vec<Digest> = held.children.iter().map(|c| c.digest.clone()).collect();
    assert_eq!(children, digests);
    // The index then qualifies as the image, platform by platform.
    assert_eq!(
        report.images,
        [(APP.parse().unwrap(), Qualified::Yes(digest.clone()))]
    );
    assert!(report.complete(), "{}", report.render(false));

    // Run again: the registry holds that very index.
    f.registry.forget_calls();
    let again = f.publish(&app(), &options).await;
    assert_eq!(
        again.indexes,
        [(APP.parse().unwrap(), Assembled::UpToDate(digest.clone()))]
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}

#[tokio::test]
async fn an_index_is_not_put_without_every_platforms_state() {
    let f = Fixture::new();
    let (_, mut states) = machines(&f, "linux/arm64").await;
    states.pop();
    let report = publish_app(&f, states).await;
    assert_eq!(
        report.indexes,
        [(
            APP.parse().unwrap(),
            Assembled::NotPut("no state file records linux/arm64 tested and pushed".into())
        )]
    );
    assert_eq!(f.moves(), Vec::<String>::new());
    assert!(!report.complete());
}

/// A state file saying the arm64 unit was tested as image `f` (not the
/// image its pushed digest's attestation is for) and pushed as `digests[1]`.
fn arm64_state_of_another_image(digests: &[Digest]) -> State {
    let unit = crate::plan::platforms::unit_name(
        &crate::reference::ImageRef::parse(APP).unwrap(),
        &platforms()[1],
    );
    state(&unit, &id('f'), &digests[1])
}

/// `app()` published with `states` as the machines' state files.
async fn publish_app(f: &Fixture, states: Vec<(std::path::PathBuf, State)>) -> Report {
    let options = Options {
        states,
        ..f.options()
    };
    f.publish(&app(), &options).await
}

/// Why the report's one index was not put; panics with the report if it
/// was (or there is not one index).
fn not_put(report: &Report) -> &str {
    let [(_, Assembled::NotPut(why))] = report.indexes.as_slice() else {
        panic!("{}", report.render(false))
    };
    why
}

#[tokio::test]
async fn an_index_is_not_put_over_an_image_its_machine_did_not_test() {
    // The arm64 machine's state names another image ID than the one its
    // digest's attestation is for (stale, or forged).
    let f = Fixture::new();
    let (digests, mut states) = machines(&f, "linux/arm64").await;
    states[1].1 = arm64_state_of_another_image(&digests);
    let report = publish_app(&f, states).await;
    let why = not_put(&report);
    assert!(
        why.starts_with("linux/arm64") && why.contains("its attestation is for image"),
        "{why}"
    );
    assert_eq!(f.moves(), Vec::<String>::new());

    // Its image's config names another platform than its entry would.
    let f = Fixture::new();
    let (_, states) = machines(&f, "linux/amd64").await;
    let report = publish_app(&f, states).await;
    let why = not_put(&report);
    assert!(
        why.contains("its image config says linux/amd64, not linux/arm64"),
        "{why}"
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}

#[tokio::test]
async fn state_files_that_disagree_put_no_index() {
    let f = Fixture::new();
    let (digests, mut states) = machines(&f, "linux/arm64").await;
    states.push(("forged.json".into(), arm64_state_of_another_image(&digests)));
    let report = publish_app(&f, states).await;
    let why = not_put(&report);
    assert!(
        why.contains("linux-arm64.json") && why.contains("forged.json"),
        "{why}"
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}

#[tokio::test]
async fn a_dry_run_puts_no_index_and_moves_no_alias() {
    let f = Fixture::new();
    let (_, states) = machines(&f, "linux/arm64").await;
    let options = Options {
        states,
        dry_run: true,
        ..f.options()
    };
    let report = f.publish(&app(), &options).await;
    assert_eq!(
        report.indexes,
        [(
            APP.parse().unwrap(),
            Assembled::WouldPut {
                platforms: "linux/amd64, linux/arm64".into()
            }
        )]
    );
    assert_eq!(f.moves(), Vec::<String>::new());
}
