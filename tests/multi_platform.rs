//! Images built for several platforms on one engine through emulation: each
//! platform built with its own `TARGET*` arguments on the same platform's
//! build of its parent, tested as layers on that platform's image ID, and
//! the image passing only when every platform passed.

mod common;

use std::path::Path;

use common::{block_on, busybox_rootfs, engine, unique, write};
use strata::engine::Engine;

fn strata(dir: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The arm64 busybox that the setup script fetched.
fn arm64_busybox() -> std::path::PathBuf {
    let path = std::env::var("STRATA_TEST_BUSYBOX_ARM64")
        .expect("STRATA_TEST_BUSYBOX_ARM64 is unset: run scripts/setup.sh and source its env file");
    let path = std::path::PathBuf::from(path);
    assert!(
        path.is_file(),
        "{} is missing (scripts/setup.sh)",
        path.display()
    );
    path
}

/// The host's busybox root filesystem with its binary swapped for `binary`.
fn rootfs_with(binary: &Path) -> Vec<u8> {
    let host = busybox_rootfs();
    let mut archive = tar::Archive::new(host.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    let replacement = std::fs::read(binary).unwrap();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        if entry.path().unwrap().to_str() == Some("bin/busybox") {
            header.set_size(replacement.len() as u64);
            header.set_cksum();
            out.append(&header, replacement.as_slice()).unwrap();
        } else {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            out.append(&header, data.as_slice()).unwrap();
        }
    }
    out.into_inner().unwrap()
}

/// Base images for amd64 and arm64, made as `strata import --platform`
/// makes them (the engine's import call would record its own architecture).
fn import_bases(root: &Path, ns: &str) {
    let amd64 = root.join("rootfs-amd64.tar");
    let arm64 = root.join("rootfs-arm64.tar");
    std::fs::write(&amd64, busybox_rootfs()).unwrap();
    std::fs::write(&arm64, rootfs_with(&arm64_busybox())).unwrap();
    for (tar, platform, arch) in [
        (&amd64, "linux/amd64", "amd64"),
        (&arm64, "linux/arm64", "arm64"),
    ] {
        let reference = format!("{ns}/rootfs:{arch}");
        let out = strata(
            root,
            &[
                "import",
                "--platform",
                platform,
                tar.to_str().unwrap(),
                &reference,
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            architecture(&reference),
            arch,
            "import --platform records {arch}"
        );
    }
}

/// A project whose base is built from `<ns>/rootfs:${TARGETARCH}` for amd64
/// and arm64, and an app on top; both tested on every platform. `app_test`
/// is the app's test Dockerfile.
fn project(root: &Path, ns: &str, app_test: &str) {
    import_bases(root, ns);
    write(
        root,
        "base/Dockerfile",
        &format!("ARG TARGETARCH\nFROM {ns}/rootfs:${{TARGETARCH}}\nARG TARGETARCH\nRUN echo \"$TARGETARCH\" > /target-arch && uname -m > /built-on\n"),
    );
    // Each platform's test layer runs on that platform's image.
    write(
        root,
        "tests/arch/Dockerfile",
        "RUN case \"$(cat /target-arch)-$(uname -m)-$(cat /built-on)\" in amd64-x86_64-x86_64|arm64-aarch64-aarch64) ;; *) exit 1;; esac\n",
    );
    write(
        root,
        "app/Dockerfile",
        &format!(
            "FROM {ns}/base:1\nARG TARGETPLATFORM\nRUN echo \"$TARGETPLATFORM\" > /app-platform\n"
        ),
    );
    write(root, "tests/app/Dockerfile", app_test);
    write(
        root,
        "tests/app/run.yml",
        "command: [sh, -c, 'test \"$(cat /app-platform)\" = \"linux/$(cat /target-arch)\"']\n",
    );
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: {ns}/base:1\n    path: base\n    platforms: [linux/amd64, linux/arm64]\n    test: tests/arch\n  - name: {ns}/app:1\n    path: app\n    platforms: [linux/amd64, linux/arm64]\n    test: [tests/arch, tests/app]\n    alias: {ns}/app:latest\n"
        ),
    );
}

fn architecture(reference: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            reference,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn each_platform_is_built_on_its_parent_and_tested_on_its_own_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("{}/{}", common::registry(), unique("multi"));
    project(root, &ns, "RUN test -s /app-platform\n");

    let plan = strata(root, &["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("platforms: linux/amd64, linux/arm64"),
        "{text}"
    );

    let out = strata(root, &["test", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (suffix, arch) in [("linux-amd64", "amd64"), ("linux-arm64", "arm64")] {
        for image in ["base", "app"] {
            let unit = format!("{ns}/{image}:1-{suffix}");
            assert_eq!(architecture(&unit), arch, "{unit}");
        }
        assert_eq!(architecture(&format!("{ns}/app:1-{suffix}-test2")), arch);
    }
    // The app's arm64 build is on the base's arm64 build.
    let ids = block_on(async {
        let e = engine().await;
        let id = |r: String| {
            let e = &e;
            async move { e.image_id(&r).await.unwrap() }
        };
        (
            id(format!("{ns}/app:1-linux-amd64")).await,
            id(format!("{ns}/app:1")).await,
            id(format!("{ns}/app:latest")).await,
        )
    });
    assert!(ids.0.is_some());
    assert_eq!(ids.1, ids.0, "the name holds the engine's own platform");
    assert_eq!(ids.2, ids.0, "the alias moved once every platform passed");
    let report = std::fs::read_to_string(root.join(".strata/runs/latest/report.md")).unwrap();
    for unit in [
        "app:1-linux-amd64",
        "app:1-linux-arm64",
        "base:1-linux-arm64",
    ] {
        assert!(report.contains(unit), "a result per platform: {report}");
    }
}

#[test]
fn an_arm64_only_failure_withholds_the_image_and_its_alias() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("{}/{}", common::registry(), unique("multifail"));
    project(root, &ns, "RUN test \"$(uname -m)\" != aarch64\n");
    let out = strata(root, &["test", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failed = stderr
        .lines()
        .find(|l| l.contains("test 2 (tests/app)") && l.contains("FAILED"))
        .unwrap_or_else(|| panic!("the arm64 test fails: {stderr}"));
    assert!(
        failed.contains(&format!("{ns}/app:1-linux-arm64")),
        "{failed}"
    );
    assert_eq!(architecture(&format!("{ns}/app:1-linux-amd64")), "amd64");
    let (name, alias) = block_on(async {
        let e = engine().await;
        (
            e.image_id(&format!("{ns}/app:1")).await.unwrap(),
            e.image_id(&format!("{ns}/app:latest")).await.unwrap(),
        )
    });
    assert_eq!(name, None, "a partly failed image is not given its name");
    assert_eq!(alias, None, "nor its alias");
    let preview = strata(root, &["push", "--dry-run"]);
    let text = String::from_utf8_lossy(&preview.stdout);
    assert!(
        text.contains(&format!("refused    {ns}/app:1-linux-arm64")),
        "{text}"
    );
    assert!(text.contains(&format!("no index   {ns}/app:1")), "{text}");
}
