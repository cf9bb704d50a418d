//! Reports, logs and the state file are written with the user's umask and
//! never widened: under `umask 077` nothing strata writes is readable by
//! others. Real engine.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::Engine;

/// Every file and folder under `dir` with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        out.push((
            entry.path().display().to_string(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            modes(&entry.path(), out);
        }
    }
}

#[test]
fn a_tight_umask_is_kept() {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}:1", unique("harden-umask"));
    write(
        dir.path(),
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    write(
        dir.path(),
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: ./app\n"),
    );
    let strata = assert_cmd::cargo::cargo_bin("strata");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask 077 && exec '{}' test", strata.display()))
        .current_dir(dir.path())
        .output()
        .unwrap();
    // Cleanup, never the verdict: a test of identical content may have
    // removed the same image already.
    common::block_on(async {
        let _ = engine().await.remove(&common::image_ref(&name)).await;
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found = Vec::new();
    modes(&dir.path().join(".strata"), &mut found);
    let names: Vec<_> = found.iter().map(|(p, _)| p.clone()).collect();
    for wanted in [
        "state.json",
        "report.md",
        "report.html",
        "report.json",
        "junit.xml",
        "events.jsonl",
        ".log",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(wanted)),
            "{wanted} missing: {names:?}"
        );
    }
    let wide: Vec<_> = found.iter().filter(|(_, m)| m & 0o077 != 0).collect();
    assert!(wide.is_empty(), "widened beyond umask 077: {wide:?}");
}

/// A run that cannot get the state file's lock (another run holds it past
/// the wait) says which process holds it and exits 4.
#[test]
fn a_state_lock_held_past_the_wait_exits_4() {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}:1", unique("harden-lock"));
    write(
        dir.path(),
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    write(
        dir.path(),
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: ./app\n"),
    );
    std::fs::create_dir_all(dir.path().join(".strata")).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join(".strata/state.json.lock"))
        .unwrap();
    let mut lock = fd_lock::RwLock::new(file);
    let mut guard = lock.write().unwrap();
    use std::io::Write;
    writeln!(&mut *guard, "777777").unwrap();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env("STRATA_STATE_LOCK_WAIT", "1")
        .arg("test")
        .output()
        .unwrap();
    drop(guard);
    // Cleanup, never the verdict: a test of identical content may have
    // removed the same image already.
    common::block_on(async {
        let _ = engine().await.remove(&common::image_ref(&name)).await;
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(strata::error::EXIT_STATE),
        "{stderr}"
    );
    assert!(stderr.contains("process 777777"), "{stderr}");
}
