//! A run whose results cannot be written fails with its own exit code
//! (5), even when every image passed: a full disk must never read "PASSED".

mod common;

use std::path::Path;
use std::process::Command;

use common::{block_on, busybox_base, engine, unique, BUSYBOX_IMAGE};

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A tiny filesystem of its own, filled up: every write on it fails.
struct FullDisk {
    dir: tempfile::TempDir,
}

impl FullDisk {
    fn new() -> FullDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs needs root");
        // Fill it: dd stops with "No space left on device".
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4k"])
            .arg(format!("of={}", dir.path().join("filler").display()))
            .output();
        FullDisk { dir }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_state_write_on_a_full_disk_fails_the_run_with_exit_5() {
    block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("full");
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
    let disk = FullDisk::new();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .arg("test")
        .arg("--state-dir")
        .arg(disk.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.to_lowercase().contains("no space left"), "{stderr}");
}
