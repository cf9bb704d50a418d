//! What a user expects from the command line: a positional config path,
//! bounded run folders, quiet runs.

mod common;

use std::path::Path;

use common::{block_on, busybox_base, engine, unique, BUSYBOX_IMAGE};

fn strata(dir: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn the_config_can_be_named_without_f() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let positional = strata(repo, &["plan", "examples/node/strata.yml"]);
    assert_eq!(
        positional.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&positional.stderr)
    );
    let flag = strata(repo, &["plan", "-f", "examples/node/strata.yml"]);
    assert_eq!(positional.stdout, flag.stdout);
    let both = strata(
        repo,
        &[
            "plan",
            "-f",
            "examples/node/strata.yml",
            "examples/node/strata.yml",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "one config, named once");
}

#[test]
fn only_the_newest_runs_are_kept_and_quiet_prints_only_the_summary() {
    block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("keep");
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
    for _ in 0..3 {
        let out = strata(root, &["test", "--keep-runs", "2", "--quiet"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            !stderr.contains("[1/1]"),
            "no progress lines when quiet: {stderr}"
        );
        assert!(stderr.contains("PASSED"), "{stderr}");
    }
    let runs: Vec<_> = std::fs::read_dir(root.join(".strata/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "latest")
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let latest = std::fs::read_link(root.join(".strata/runs/latest")).unwrap();
    assert!(
        runs.iter().any(|r| Path::new(r) == latest),
        "latest is kept"
    );
}
