//! A two-platform inventory whose base the plan builds itself `FROM scratch`
//! (`ARG TARGETARCH`, `ADD rootfs-${TARGETARCH}.tar /`), with an image on
//! top: it passes on both builders, and on Podman (buildah). arm64 runs
//! emulated.
//!
//! Docker's classic builder makes the step after `FROM scratch` an image of
//! the engine's own platform, and its cache, which knows no platforms, offers
//! one platform's step to the other: strata reads `FROM scratch` there as an
//! empty image of the build's platform.

mod common;

use std::path::Path;

use common::{architecture_on, arm64_rootfs, busybox_rootfs, strata_with, unique, write};

/// The inventory; returns the base's and the app's names.
fn project(root: &Path, ns: &str) -> (String, String) {
    std::fs::create_dir_all(root.join("base")).unwrap();
    std::fs::write(root.join("base/rootfs-amd64.tar"), busybox_rootfs()).unwrap();
    std::fs::write(root.join("base/rootfs-arm64.tar"), arm64_rootfs()).unwrap();
    write(
        root,
        "base/Dockerfile",
        "FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar /\n",
    );
    let (base, app) = (format!("{ns}/base:1"), format!("{ns}/app:1"));
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {base}\nARG TARGETARCH\nRUN echo \"$TARGETARCH\" > /app-arch\n"),
    );
    // Each platform's test runs on that platform's image, emulated or not,
    // and sees its platform's TARGETARCH.
    write(
        root,
        "tests/arch/Dockerfile",
        "ARG TARGETARCH\nRUN case \"$TARGETARCH-$(uname -m)\" in amd64-x86_64|arm64-aarch64) ;; *) echo \"wrong: $TARGETARCH-$(uname -m)\"; exit 1;; esac\n",
    );
    write(
        root,
        "tests/app/Dockerfile",
        "ARG TARGETARCH\nRUN test \"$(cat /app-arch)\" = \"$TARGETARCH\"\n",
    );
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: {base}\n    path: base\n    platforms: [linux/amd64, linux/arm64]\n    test: tests/arch\n  - name: {app}\n    path: app\n    platforms: [linux/amd64, linux/arm64]\n    test: [tests/arch, tests/app]\n"
        ),
    );
    (base, app)
}

/// Every file of the run folders, as one text.
fn run_logs(root: &Path) -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push_str(&text);
            }
        }
    }
    let mut out = String::new();
    walk(&root.join(".strata/runs"), &mut out);
    out
}

fn passes_on(builder: Option<&str>, docker_host: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("strata-test/{}", unique("scratch"));
    let (base, app) = project(root, &ns);
    let mut args = vec!["test", "-j", "1"];
    if let Some(builder) = builder {
        args.extend(["--builder", builder]);
    }
    let mut envs = vec![];
    if let Some(host) = docker_host {
        envs.push(("DOCKER_HOST", host));
    }
    let out = strata_with(root, &args, &envs);
    let all = format!(
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        run_logs(root)
    );
    assert_eq!(out.status.code(), Some(0), "{builder:?}: {all}");
    for (suffix, arch) in [("linux-amd64", "amd64"), ("linux-arm64", "arm64")] {
        for image in [&base, &app] {
            let unit = format!("{image}-{suffix}");
            assert_eq!(architecture_on(&unit, docker_host), arch, "{unit}");
        }
    }
    all
}

#[test]
fn a_two_platform_base_from_scratch_passes_with_buildkit() {
    let all = passes_on(Some("buildkit"), None);
    assert!(all.contains("builder buildkit"), "{all}");
}

#[test]
fn a_two_platform_base_from_scratch_passes_with_classic_and_no_cached_step_crosses() {
    let all = passes_on(Some("classic"), None);
    assert!(all.contains("builder classic"), "{all}");
    // Again under other names: the steps now come from the cache, each
    // platform's from its own builds (the architectures are checked).
    let again = passes_on(Some("classic"), None);
    assert!(again.contains("Using cache"), "{again}");
}

#[test]
fn a_two_platform_base_from_scratch_passes_on_podman() {
    let host = std::env::var("STRATA_TEST_PODMAN_HOST").expect("STRATA_TEST_PODMAN_HOST");
    let all = passes_on(None, Some(&host));
    assert!(all.contains("builder classic"), "{all}");
}
