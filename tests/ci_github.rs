//! GitHub Actions, through the binary with the runner's variables set:
//! failures become `::error` annotations at the file and line that failed,
//! the job summary gets the Markdown summary, and `plan --format
//! github-matrix` gives the shard list a workflow's matrix reads.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, unique, BUSYBOX_IMAGE};
use strata::engine::Engine;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn strata(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_WORKSPACE")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Four images: one passes; one fails its build at line 4; one fails a
/// test's Dockerfile at line 3; one fails a test's `run.yml`.
fn write_tree(root: &Path, repo: &str) {
    put(
        root,
        "good/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    put(
        root,
        "bad/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\n# a comment\nRUN echo 'a,b:c 50%'\nRUN exit 3\n"),
    );
    put(root, "tests/ok/Dockerfile", "RUN true\n");
    put(root, "tests/layer/Dockerfile", "RUN true\n\nRUN false\n");
    put(
        root,
        "tests/command/run.yml",
        "# exits 4 on purpose\ncommand: [\"sh\", \"-c\", \"exit 4\"]\n",
    );
    put(
        root,
        "inventory.yml",
        &format!(
            "images:\n\
             \x20 - name: \"{repo}:good\"\n    path: ./good\n    test: ./tests/ok\n\
             \x20 - name: \"{repo}:bad\"\n    path: ./bad\n\
             \x20 - name: \"{repo}:layer\"\n    path: ./good\n    test: [./tests/ok, ./tests/layer]\n\
             \x20 - name: \"{repo}:command\"\n    path: ./good\n    test: ./tests/command\n"
        ),
    );
}

/// The annotation lines of an output, as (properties, message) with the
/// message decoded as the runner decodes it.
fn annotations(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::error "))
        .map(|rest| {
            let (props, message) = rest.split_once("::").expect("a message");
            let message = message
                .replace("%0A", "\n")
                .replace("%0D", "\r")
                .replace("%25", "%");
            (props.to_string(), message)
        })
        .collect()
}

#[test]
fn failures_are_annotated_and_the_summary_is_appended() {
    let e = block_on(engine());
    block_on(busybox_base(&e, BUSYBOX_IMAGE));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = unique("strata-ci/app");
    write_tree(root, &repo);
    let summary = root.join("summary.md");
    std::fs::write(&summary, "Earlier step's summary\n").unwrap();

    // Without the runner's variables: no annotation, no summary.
    let plain = strata(root, &["test", "-j", "2"], &[]);
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain.stderr));
    assert!(!text(&plain.stdout).contains("::error"));
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        "Earlier step's summary\n"
    );

    let out = {
        let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
        cmd.current_dir(root)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_WORKSPACE", root)
            .args(["test", "-j", "2"]);
        cmd.output().unwrap()
    };
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let found = annotations(&stdout);
    assert_eq!(found.len(), 3, "{stdout}");
    let for_image = |tag: &str| {
        found
            .iter()
            .find(|(props, _)| props.contains(&format!("{}%3A{tag} ", repo.replace(':', "%3A"))))
            .unwrap_or_else(|| panic!("no annotation for {tag}: {stdout}"))
    };

    let (props, message) = for_image("bad");
    assert!(
        props.starts_with("file=bad/Dockerfile,line=4,title=strata test%3A "),
        "{props}"
    );
    assert!(props.ends_with(" build"), "{props}");
    assert!(message.starts_with("failed: "), "{message}");
    assert!(message.contains("exit 3"), "{message}");
    // The log's `%` arrives encoded, and decodes to what was printed.
    assert!(message.contains("a,b:c 50%"), "{message}");
    assert!(stdout.contains("a,b:c 50%25"), "{stdout}");

    let (props, message) = for_image("layer");
    assert!(
        props.starts_with("file=tests/layer/Dockerfile,line=3,"),
        "{props}"
    );
    assert!(props.ends_with(" test 2 (tests/layer)"), "{props}");
    assert!(message.contains("false"), "{message}");

    let (props, message) = for_image("command");
    assert!(
        props.starts_with("file=tests/command/run.yml,line=2,"),
        "{props}"
    );
    assert!(
        message.contains("exit code: expected 0, got 4"),
        "{message}"
    );

    // Every annotation is one line: a message never starts a command.
    for line in stdout.lines().filter(|l| l.contains("::error")) {
        assert!(line.starts_with("::error file="), "{line}");
    }

    let written = std::fs::read_to_string(&summary).unwrap();
    let appended = written
        .strip_prefix("Earlier step's summary\n")
        .expect("the earlier summary is kept");
    assert!(appended.starts_with("# strata test report"), "{appended}");
    assert!(appended.contains("**Result: ❌ FAILED**"), "{appended}");
    assert!(appended.contains("### Failures"), "{appended}");
    assert!(
        !appended.contains("## Image:"),
        "the summary leaves out the per-image sections"
    );
    assert!(appended.contains(&format!("`{repo}:good`")), "{appended}");

    block_on(async {
        for tag in ["good", "layer", "command", "good-test1", "layer-test1"] {
            let _ = e.remove(&common::image_ref(&format!("{repo}:{tag}"))).await;
        }
    });
}

#[test]
fn an_unwritable_step_summary_fails_the_run_with_exit_5() {
    let e = block_on(engine());
    block_on(busybox_base(&e, BUSYBOX_IMAGE));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = unique("strata-ci/one");
    put(
        root,
        "good/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{repo}:good\"\n    path: ./good\n"),
    );
    let out = strata(
        root,
        &["test"],
        &[(
            "GITHUB_STEP_SUMMARY",
            &root.join("no/such/folder/summary.md"),
        )],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("GITHUB_STEP_SUMMARY"));
    block_on(async {
        let _ = e.remove(&common::image_ref(&format!("{repo}:good"))).await;
    });
}

fn example_plan(args: &[&str]) -> Output {
    strata(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[&["plan", "examples/node/strata.yml"], args].concat(),
        &[],
    )
}

#[test]
fn github_matrix_lists_the_shards_with_work() {
    let out = example_plan(&["--format", "github-matrix", "--shards", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line, for $GITHUB_OUTPUT");
    let matrix: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let include = matrix["include"].as_array().unwrap();
    // Two families (bookworm, bullseye): the third shard would idle.
    let shards: Vec<&str> = include
        .iter()
        .map(|e| e["shard"].as_str().unwrap())
        .collect();
    assert_eq!(shards, ["1/3", "2/3"]);
    // Each entry says what `--shard K/N` runs.
    let mut total = 0;
    for entry in include {
        let k = entry["shard"].as_str().unwrap();
        let part = example_plan(&["--format", "json", "--shard", k]);
        let part: serde_json::Value = serde_json::from_slice(&part.stdout).unwrap();
        assert_eq!(entry["images"], part["totals"]["images"], "{k}");
        assert_eq!(entry["tests"], part["totals"]["tests"], "{k}");
        total += entry["images"].as_u64().unwrap();
    }
    let whole = example_plan(&["--format", "json"]);
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(serde_json::json!(total), whole["totals"]["images"]);
}

#[test]
fn github_matrix_usage_errors_exit_2() {
    for args in [
        &["--format", "github-matrix"][..],
        &["--shards", "2"],
        &["--format", "github-matrix", "--shards", "0"],
        &[
            "--format",
            "github-matrix",
            "--shards",
            "2",
            "--shard",
            "1/2",
        ],
    ] {
        let out = example_plan(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
