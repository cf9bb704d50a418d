//! Stopping a run with SIGTERM or SIGINT on a real engine: strata's
//! containers go, reports say "interrupted", the exit code says which signal,
//! and a later run is never hurt by what an interrupted one left.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{block_on, busybox_base, engine, unique, BUSYBOX_IMAGE};
use strata::engine::owner::Owner;
use strata::engine::Engine;

const LABEL: &str = "io.strata.run-test";

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// IDs of strata's run containers whose owner label is `owner`.
fn containers_owned_by(owner: &str) -> Vec<String> {
    block_on(async {
        engine()
            .await
            .run_containers()
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.owner == owner)
            .map(|c| c.id)
            .collect()
    })
}

/// A `run.yml` test that sleeps, so a signal lands while its container runs.
fn sleeping_tree(root: &Path, ns: &str) {
    put(
        root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns}\n"),
    );
    put(
        root,
        "tests/slow/run.yml",
        "command: [\"sleep\", \"120\"]\n",
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    test: ./tests/slow\n"),
    );
}

fn stop_during_run_yml(signal: &str, expected_code: i32) {
    block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("sig");
    sleeping_tree(root, &ns);
    let child = Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .current_dir(root)
        .args(["test", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child's containers carry its owner token.
    let owner = wait_for_owner(child.id());
    let deadline = Instant::now() + Duration::from_secs(90);
    while containers_owned_by(&owner).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the run.yml container never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(expected_code), "{stdout}\n{stderr}");
    assert_eq!(
        containers_owned_by(&owner),
        Vec::<String>::new(),
        "container left behind"
    );
    let run_dir = root.join(".strata/runs/latest");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"], "interrupted");
    assert_eq!(json["passed"], false);
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"type="interrupted""#), "{junit}");

    // The next run of the same image (its test now quick) passes.
    put(root, "tests/slow/run.yml", "command: [\"true\"]\n");
    let again = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args(["test", "--no-cache", "-r", "0"])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// The owner token strata writes for process `pid` (same host, its start time).
fn wait_for_owner(pid: u32) -> String {
    let me = Owner::current();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let started: u64 = after.split_whitespace().nth(19).unwrap().parse().unwrap();
    Owner {
        host: me.host,
        pid,
        started,
    }
    .to_string()
}

#[test]
fn sigterm_during_a_run_yml_removes_its_container_and_exits_143() {
    stop_during_run_yml("-TERM", 143);
}

#[test]
fn sigint_during_a_run_yml_removes_its_container_and_exits_130() {
    stop_during_run_yml("-INT", 130);
}

/// A container left by a killed run (owner gone) is removed at the next
/// start; one owned by a live strata process is never touched.
#[test]
fn leftovers_of_dead_runs_go_and_live_runs_keep_theirs() {
    block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let me = Owner::current();
    let dead = Owner {
        pid: 4_194_311,
        ..me.clone()
    };
    let create = |owner: &Owner| {
        let out = Command::new("docker")
            .args([
                "create",
                "--label",
                &format!("{LABEL}={owner}"),
                BUSYBOX_IMAGE,
                "true",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let stale = create(&dead);
    let live = create(&me);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("stale");
    put(
        root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns}\n"),
    );
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n"),
    );
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args(["test"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Any strata start removes it: this run, or one of the other tests'
    // runs started at the same time. Either way it is gone, and the live
    // owner's container is not.
    assert!(
        containers_owned_by(&dead.to_string()).is_empty(),
        "stale container kept"
    );
    assert_eq!(containers_owned_by(&me.to_string()), vec![live.clone()]);
    let _ = Command::new("docker")
        .args(["rm", "-f", &live, &stale])
        .output();
}
