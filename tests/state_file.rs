//! A damaged, unsupported or locked state file: a clear message naming the
//! file and exit code 4, never a panic, also in `push --dry-run`.

use assert_cmd::Command;
use strata::error::EXIT_STATE;

/// A folder with a one-image inventory and the given `state.json`.
fn fixture(state: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("app/1")).unwrap();
    std::fs::write(root.join("app/1/Dockerfile"), "FROM base\nRUN true\n").unwrap();
    std::fs::write(
        root.join("inventory.yml"),
        "images:\n  - name: harden-state/app:1\n    path: ./app/1\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join(".strata")).unwrap();
    std::fs::write(root.join(".strata/state.json"), state).unwrap();
    dir
}

fn state_json(version: u32, image_id: &str) -> String {
    serde_json::json!({
        "version": version,
        "images": {"harden-state/app:1": {
            "image_id": image_id, "passed": true,
            "tested_at": "2026-01-01T00:00:00Z", "tests": [], "pushed": null
        }}
    })
    .to_string()
}

/// Runs strata in `dir`, with an engine address that cannot answer, so the
/// state is proven to be checked before anything else.
fn strata(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/harden-state.sock")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn damaged_states_exit_4_with_the_file_named() {
    let cases = [
        (
            "non-ASCII image_id",
            state_json(1, &format!("sha256:{}", "é".repeat(40))),
        ),
        (
            "unknown version",
            state_json(999, &format!("sha256:{}", "a".repeat(64))),
        ),
        ("damaged JSON", "{\"version\": 1, \"images\": {".to_string()),
        ("huge bad value", state_json(1, &"z".repeat(2_500_000))),
    ];
    for (what, state) in cases {
        let dir = fixture(&state);
        for args in [&["push", "--dry-run"][..], &["test"], &["push"]] {
            let (code, stderr) = strata(&dir, args);
            assert_eq!(code, EXIT_STATE, "{what} {args:?}: {stderr}");
            assert!(stderr.contains("state.json"), "{what} {args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{what} {args:?}: {stderr}");
            assert!(
                stderr.len() < 2_000,
                "{what} {args:?}: {} bytes",
                stderr.len()
            );
        }
    }
}

/// Runs strata like [`strata`], killed if it takes more than 60 s: a state
/// file that hangs the read must fail the test, not the suite.
fn strata_bounded(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/harden-state.sock")
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_state_file_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = fixture("");
    let state = dir.path().join(".strata/state.json");
    std::fs::remove_file(&state).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&state)
        .status()
        .unwrap();
    assert!(made.success());
    for args in [&["push", "--dry-run"][..], &["test"], &["catalog"]] {
        let started = std::time::Instant::now();
        let (code, stderr) = strata_bounded(&dir, args);
        assert_eq!(code, EXIT_STATE, "FIFO {args:?}: {stderr}");
        assert!(
            stderr.contains("state.json") && stderr.contains("not a regular file (it is a FIFO)"),
            "FIFO {args:?}: {stderr}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    std::fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &state).unwrap();
    for args in [&["push", "--dry-run"][..], &["test"], &["catalog"]] {
        let (code, stderr) = strata_bounded(&dir, args);
        assert_eq!(code, EXIT_STATE, "/dev/zero {args:?}: {stderr}");
        assert!(stderr.contains("(it is a device)"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_state_file_over_the_cap_is_refused_without_reading_it() {
    let dir = fixture("");
    let state = dir.path().join(".strata/state.json");
    // Sparse: 65 MiB long, no disk used.
    let file = std::fs::File::create(&state).unwrap();
    file.set_len(strata::state::MAX_STATE_BYTES + 1).unwrap();
    let (code, stderr) = strata_bounded(&dir, &["push", "--dry-run"]);
    assert_eq!(code, EXIT_STATE, "{stderr}");
    assert!(stderr.contains("are read (64 MiB)"), "{stderr}");
}
