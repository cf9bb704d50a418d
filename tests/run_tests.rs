//! Run tests (`run.yml`): a command run in a container from the image under
//! test, its exit code and output checked. Against the real engine.
//!
//! Needs the engine of `scripts/setup.sh`; without it every test fails and
//! says how to start it.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{block_on, busybox_base, unique, BUSYBOX_IMAGE};
use strata::engine::docker::DockerEngine;
use strata::engine::{Engine, RunCommand};
use strata::events::record::RunRecord;
use strata::events::{Outcome, Step};
use strata::exec::{self, Bus, Options, World};
use strata::load::{self, LoadOptions};
use strata::state::StateFile;

fn put(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn shell(line: &str) -> RunCommand {
    RunCommand::Shell(line.into())
}

/// What the engine's `run` does: output apart, exit codes kept, a timeout
/// kills, and no container is left behind, whether the run passed, timed out
/// or could not start.
///
/// Written for any engine; Podman is not exercised because its service in the
/// test environment cannot start containers at all (`podman run` fails too:
/// the runtime may not set resource limits there), only build them.
async fn engine_runs_containers(engine: &DockerEngine) {
    busybox_base(engine, BUSYBOX_IMAGE).await;
    // An image of its own, so the containers made from it are this test's.
    let marker = unique("run");
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {marker} > /marker\n"),
    );
    let log = common::Log::default();
    let request = common::request(
        dir.path(),
        strata::engine::Dockerfile::Path("Dockerfile".into()),
        None,
    );
    let image = engine
        .build(request, &log.sink())
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()));
    let minute = Duration::from_secs(60);

    let exec = RunCommand::Exec(vec!["cat".into(), "/marker".into()]);
    let out = engine.run(&image, &exec, minute, None).await.unwrap();
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert_eq!(out.stdout, format!("{marker}\n"));
    assert_eq!(out.stderr, "");

    let out = engine
        .run(
            &image,
            &shell("echo out; echo err >&2; exit 3"),
            minute,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(3), "out\n", "err\n")
    );

    let started = Instant::now();
    let out = engine
        .run(
            &image,
            &shell("echo started; sleep 120"),
            Duration::from_secs(2),
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, None, "killed at the timeout: {out:?}");
    assert_eq!(out.stdout, "started\n", "output so far is kept");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout stopped the wait ({:?})",
        started.elapsed()
    );

    let missing = engine
        .run(
            "strata-test/no-such-image:gone",
            &shell("true"),
            minute,
            None,
        )
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("no-such-image"), "{missing}");

    let unstartable = RunCommand::Exec(vec!["/no/such/program".into()]);
    let err = engine
        .run(&image, &unstartable, minute, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/program"), "{err}");

    let left = engine.run_containers_from(&image).await.unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    engine.remove_id(&image).await.unwrap();
}

#[tokio::test]
async fn docker_runs_commands_and_removes_containers() {
    engine_runs_containers(&common::engine().await).await;
}

/// The test steps of one image, through `strata test`'s executor.
#[test]
fn run_tests_pass_and_fail_as_their_expectations_say() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let marker = unique("ver");
    let name = format!("strata-test/{}:1", unique("runimg"));
    put(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {marker} > /version\n"),
    );
    put(
        root,
        "t/exact/run.yml",
        &format!(
            "command: [cat, /version]\nexpect:\n  stdout: \"{marker}\\n\"\n  stdout_contains: [\"{marker}\"]\n"
        ),
    );
    put(
        root,
        "t/exit/run.yml",
        "command: \"echo oops >&2; exit 3\"\n",
    );
    put(
        root,
        "t/mismatch/run.yml",
        "command: [cat, /version]\nexpect:\n  stdout: \"v9.9.9\\n\"\n",
    );
    put(root, "t/layer/Dockerfile", "RUN echo from-layer > /layer\n");
    put(
        root,
        "t/layer/run.yml",
        "command: cat /layer /version\nexpect:\n  stdout_contains: [\"from-layer\\n\"]\n",
    );
    put(
        root,
        "t/slow/run.yml",
        "command: [sleep, \"120\"]\ntimeout: 1\n",
    );
    put(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{name}\"\n    path: img\n    test: [t/exact, t/exit, t/mismatch, t/layer, t/slow]\n"
        ),
    );
    let plan = load::plan(&root.join("inventory.yml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));

    let (record, engine) = block_on(async {
        let engine = common::engine().await;
        busybox_base(&engine, BUSYBOX_IMAGE).await;
        let world = World {
            engine: Arc::new(engine.clone()),
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
        (dispatcher.finish().await.0, engine)
    });

    let image = &record.images[0];
    let build = image.build().expect("built");
    assert!(build.outcome.passed(), "{:?}", build.outcome);
    let outcome = |i: usize| -> (&Outcome, &str) {
        let step = image
            .tests()
            .find(|s| matches!(s.step, Step::Test { index, .. } if index == i))
            .unwrap_or_else(|| panic!("test {i} ran: {record:#?}"));
        (&step.outcome, step.log.as_str())
    };
    let failure = |i: usize| -> String {
        match outcome(i).0 {
            Outcome::Failed { message } => message.clone(),
            other => panic!("test {i} should fail, got {other:?}\n{}", outcome(i).1),
        }
    };

    let (exact, log) = outcome(1);
    assert!(exact.passed(), "{exact:?}\n{log}");
    assert!(
        log.contains(&marker),
        "the output is in the step log:\n{log}"
    );

    let exit = failure(2);
    assert!(exit.contains("exit code: expected 0, got 3"), "{exit}");
    assert!(outcome(2).1.contains("oops"), "stderr is logged");

    let mismatch = failure(3);
    assert!(
        mismatch.contains(&format!(r#"expected "v9.9.9\n", got "{marker}\n""#)),
        "{mismatch}"
    );

    let (layer, log) = outcome(4);
    assert!(layer.passed(), "ran on the test layer: {layer:?}\n{log}");

    let slow = failure(5);
    assert!(slow.contains("did not finish within 1s"), "{slow}");
    assert_eq!(record.verdict(), strata::events::record::Verdict::Failed);

    block_on(async {
        let id = engine
            .image_id(&common::image_ref(&name))
            .await
            .unwrap()
            .expect("image built");
        let tag_of = |n| strata::plan::test_tag(&name.parse().unwrap(), n);
        let layer_tag = tag_of(4);
        let layer_id = engine
            .image_id(&common::image_ref(&layer_tag))
            .await
            .unwrap();
        assert!(
            layer_id.is_some() && layer_id.as_ref() != Some(&id),
            "a passing Dockerfile + run.yml test tags its own layer"
        );
        assert_eq!(
            engine
                .image_id(&common::image_ref(&tag_of(1)))
                .await
                .unwrap()
                .as_ref(),
            Some(&id),
            "a passing run-only test tags the image it ran on"
        );
        for failed in [2, 3, 5] {
            assert_eq!(
                engine
                    .image_id(&common::image_ref(&tag_of(failed)))
                    .await
                    .unwrap(),
                None,
                "failed test {failed} has no tag"
            );
        }
        // Every container strata made from the image or its test layer is gone,
        // the timed-out one too.
        let left = engine.run_containers_from(&id).await.unwrap();
        assert!(left.is_empty(), "containers left behind: {left:?}");
        for reference in [tag_of(1), layer_tag, common::image_ref(&name)] {
            engine.remove(&reference).await.unwrap();
        }
    });
    assert_record_kept_results(&record);
}

/// The record says which tests passed, in order: 1 and 4.
fn assert_record_kept_results(record: &RunRecord) {
    let passed: Vec<bool> = record.images[0]
        .tests()
        .map(|s| s.outcome.passed())
        .collect();
    assert_eq!(passed, [true, false, false, true, false]);
}

/// Through the binary: a test folder with only a `run.yml` passes, and the
/// Markdown report shows what the command printed.
#[test]
fn strata_test_runs_a_run_yml_and_reports_its_output() {
    block_on(async {
        busybox_base(&common::engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let marker = unique("printed");
    let name = format!("strata-test/{}:1", unique("cli-run"));
    put(root, "img/Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n"));
    put(
        root,
        "t/hello/run.yml",
        &format!("command: [echo, \"{marker}\"]\nexpect:\n  stdout: \"{marker}\\n\"\n"),
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: img\n    test: t/hello\n"),
    );
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args(["test"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report = fs::read_to_string(root.join(".strata/runs/latest/report.md")).unwrap();
    assert!(
        report.contains(&marker),
        "the report shows the output:\n{report}"
    );
    block_on(async {
        let engine = common::engine().await;
        let test_tag = strata::plan::test_tag(&name.parse().unwrap(), 1);
        assert!(
            engine
                .image_id(&common::image_ref(&test_tag))
                .await
                .unwrap()
                .is_some(),
            "the passing test is tagged {test_tag}"
        );
        for reference in [test_tag, common::image_ref(&name)] {
            engine.remove(&reference).await.unwrap();
        }
    });
}

/// A native matrix renders `run.yml.j2` per image (values as written, not
/// escaped), accepts a folder with only a `run.yml`, and rejects a `run.yml`
/// that does not parse, rendered or not, before anything is built.
#[test]
fn matrix_tests_may_be_run_files_and_are_checked_when_planned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    put(
        root,
        "feed/index.tab",
        &fs::read_to_string(data.join("node-dist-index.tab")).unwrap(),
    );
    put(
        root,
        "feed/schedule.json",
        &fs::read_to_string(data.join("node-release-schedule.json")).unwrap(),
    );
    put(root, "tpl/Dockerfile.j2", "FROM {{ os.from }}\n");
    put(
        root,
        "tests/version/run.yml.j2",
        "command: [node, -p, process.version]\nexpect:\n  stdout: \"v{{ version }}\\n\"\n",
    );
    put(root, "tests/plain/run.yml", "command: \"true\"\n");
    let config = "as_of: 2024-10-30\noutput: out\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \"22.x\"\nos:\n  - { name: bookworm, default: true, from: \"debian:bookworm\" }\nimage:\n  name: \"acme/node:{{ version }}\"\n  template: tpl\ntests: [tests/version, tests/plain]\n";
    let load = || {
        let path = root.join("strata.yml");
        fs::write(&path, config).unwrap();
        load::plan(&path, &LoadOptions::default())
    };

    let plan = load().unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let image = &plan.images[0];
    assert_eq!(image.tests.len(), 2);
    let rendered = plan
        .files
        .iter()
        .find(|f| f.path.ends_with("version/run.yml"))
        .expect("run.yml.j2 is rendered");
    assert!(
        rendered.content.contains("stdout: \"v22.11.0\\n\""),
        "{}",
        rendered.content
    );
    assert_eq!(image.tests[1].path, root.join("tests/plain"));
    // The plan carries the checks as they were rendered and parsed: the run
    // reads no config file.
    let run = |i: usize| image.tests[i].run.as_ref().expect("a parsed run.yml");
    assert_eq!(run(0).expect.stdout.as_deref(), Some("v22.11.0\n"));
    assert_eq!(run(1).command, shell("true"));
    assert!(image.tests.iter().all(|t| t.dockerfile.is_none()));
    // And the image's cell as typed fields.
    let cell = image.cell.as_ref().expect("a matrix image has a cell");
    assert_eq!(
        (cell.os.as_str(), cell.version()),
        ("bookworm", Some("22.11.0"))
    );

    put(
        root,
        "tests/version/run.yml.j2",
        "command: [node]\nexpect:\n  stdout: v{{ version }}: {{ version }}\n",
    );
    let err = strata::error::render_with(&load().unwrap_err(), false);
    assert!(
        err.contains("bookworm/22.11.0/version/run.yml:3:"),
        "names the rendered file and line:\n{err}"
    );

    put(root, "tests/version/run.yml.j2", "command: [node]\n");
    put(root, "tests/plain/run.yml", "command: [x]\ntimeuot: 3\n");
    let err = strata::error::render_with(&load().unwrap_err(), false);
    assert!(
        err.contains("tests/plain/run.yml:2:1") && err.contains("did you mean `timeout`?"),
        "{err}"
    );
}

/// A test's parser directives stay directives behind the `FROM <image ID>`
/// strata puts in front: the engine reads the test with the escape character
/// strata checked it with, and the continuation joins as written.
#[test]
fn a_test_with_an_escape_directive_is_built_as_it_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("strata-test/{}:1", unique("escimg"));
    put(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    // With `\` as the escape (the directive lost), line 3 would be an
    // instruction of its own and the build would fail.
    put(
        root,
        "t/escaped/Dockerfile",
        "# escape=`\nRUN echo one `\n  two > /joined\nRUN test \"$(cat /joined)\" = \"one two\"\n",
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: img\n    test: t/escaped\n"),
    );
    let plan = load::plan(&root.join("inventory.yml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let record = block_on(async {
        let engine = common::engine().await;
        busybox_base(&engine, BUSYBOX_IMAGE).await;
        let world = World {
            engine: Arc::new(engine.clone()),
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
        let record = dispatcher.finish().await.0;
        let _ = engine.remove(&common::image_ref(&name)).await;
        record
    });
    let image = &record.images[0];
    let test = image.tests().next().expect("the test ran");
    assert!(test.outcome.passed(), "{:?}\n{}", test.outcome, test.log);
}

/// A Dante inventory's test folders are read at load: the plan holds each
/// test's Dockerfile and parsed `run.yml`.
#[test]
fn an_inventory_plan_holds_its_tests_dockerfiles_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "img/Dockerfile", "FROM busybox\n");
    put(root, "t/layer/Dockerfile", "RUN test -d /\n");
    put(root, "t/layer/run.yml", "command: [\"true\"]\ntimeout: 9\n");
    put(root, "t/check/run.yml", "command: echo hi\n");
    let inventory = "images:\n  - name: acme/a:1\n    path: img\n    test: [t/layer, t/check]\n  - name: acme/b:1\n    path: img\n    test: t/layer\n";
    put(root, "inventory.yml", inventory);
    let plan = load::plan(&root.join("inventory.yml"), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let a = plan.image("acme/a:1").unwrap();
    assert_eq!(a.tests[0].dockerfile.as_deref(), Some("RUN test -d /\n"));
    let layer_run = a.tests[0].run.as_ref().unwrap();
    assert_eq!(layer_run.timeout, Duration::from_secs(9));
    assert_eq!(a.tests[1].dockerfile, None);
    assert_eq!(a.tests[1].run.as_ref().unwrap().command, shell("echo hi"));
    // A shared folder is the same test for every image.
    assert_eq!(
        plan.image("acme/b:1").unwrap().tests[0].run.as_ref(),
        Some(layer_run)
    );
    assert!(plan.images.iter().all(|i| i.cell.is_none()));
}

/// A bad `run.yml` is refused when the config is loaded, with its file and
/// line and exit 2, before any image is built: the image it would test is
/// not on the engine afterwards.
#[test]
fn a_bad_run_yml_is_refused_before_any_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("strata-test/{}:1", unique("badrun"));
    put(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    put(root, "t/ok/Dockerfile", "RUN true\n");
    put(
        root,
        "t/bad/run.yml",
        "command: [echo]\nexpect:\n  exit: 0\n  stdot: x\n",
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: img\n    test: [t/ok, t/bad]\n"),
    );
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args(["test"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("t/bad/run.yml:4:3"),
        "names file and line:\n{stderr}"
    );
    assert!(stderr.contains("did you mean `stdout`?"), "{stderr}");
    assert!(!root.join(".strata").exists(), "nothing ran");
    block_on(async {
        let engine = common::engine().await;
        assert_eq!(
            engine.image_id(&common::image_ref(&name)).await.unwrap(),
            None,
            "nothing was built"
        );
    });
}
