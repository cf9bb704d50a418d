//! `--builder buildkit|classic`: BuildKit builds through the Engine API
//! (`/build?version=2`) on the real Docker engine, its progress decoded into
//! per-step log lines; the choice comes from the flag, `STRATA_BUILDER` or
//! the config's `builder:`, and an engine without BuildKit exits 3.

mod common;

use std::path::Path;

use common::{
    block_on, busybox_base, engine, request, strata_with, unique, write, Log, BUSYBOX_IMAGE,
};
use strata::engine::{Builder, Dockerfile, Engine, EngineError};

/// A Dockerfile only BuildKit reads: a cache mount.
fn cache_mount_dockerfile() -> String {
    format!(
        "FROM {BUSYBOX_IMAGE}\n\
         RUN --mount=type=cache,target=/cache echo cached > /cache/x && cat /cache/x > /seen\n"
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An inventory of one cache-mount image with one test layer on it.
fn cache_mount_inventory(root: &Path, builder_key: &str) -> String {
    let name = format!("strata-test/bk-{}:1", unique("img"));
    write(root, "img/Dockerfile", &cache_mount_dockerfile());
    write(root, "tests/seen/Dockerfile", "RUN grep -q cached /seen\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "{builder_key}images:\n  - name: {name}\n    path: ./img\n    test: ./tests/seen\n"
        ),
    );
    name
}

#[test]
fn buildkit_builds_a_cache_mount_that_classic_refuses() {
    block_on(async {
        let classic = engine().await;
        busybox_base(&classic, BUSYBOX_IMAGE).await;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", &cache_mount_dockerfile());

        let log = Log::default();
        let refused = classic
            .build(
                request(dir.path(), Dockerfile::Path("Dockerfile".into()), None),
                &log.sink(),
            )
            .await;
        assert!(
            matches!(&refused, Err(EngineError::BuildFailed(m)) if m.contains("BuildKit")),
            "{refused:?}"
        );

        let buildkit = engine()
            .await
            .with_builder(Builder::Buildkit)
            .await
            .unwrap();
        assert_eq!(buildkit.builder(), Builder::Buildkit);
        let tag = format!("strata-test/bk-{}:1", unique("engine"));
        let log = Log::default();
        let id = buildkit
            .build(
                request(
                    dir.path(),
                    Dockerfile::Path("Dockerfile".into()),
                    Some(tag.clone()),
                ),
                &log.sink(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", log.text()));
        // The ID is the one the aux message named, and the tag holds it.
        assert_eq!(
            buildkit.image_id(&common::image_ref(&tag)).await.unwrap(),
            Some(id.clone())
        );
        // Progress decoded into numbered steps, as `--progress=plain` shows.
        let lines = log.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with('#') && l.contains("RUN --mount=type=cache")),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.ends_with(" DONE")), "{lines:#?}");
        let _ = buildkit.remove(&common::image_ref(&tag)).await;
    });
}

#[test]
fn a_failing_run_under_buildkit_shows_its_command_and_output() {
    block_on(async {
        let e = engine()
            .await
            .with_builder(Builder::Buildkit)
            .await
            .unwrap();
        busybox_base(&e, BUSYBOX_IMAGE).await;
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "Dockerfile",
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo first-words && echo last-words && exit 7\n"),
        );
        let log = Log::default();
        let err = e
            .build(
                request(dir.path(), Dockerfile::Path("Dockerfile".into()), None),
                &log.sink(),
            )
            .await
            .expect_err("the step fails");
        let message = err.to_string();
        assert!(message.contains("exit 7"), "{message}");
        assert!(message.contains("exit code: 7"), "{message}");
        let output = log.text();
        assert!(output.contains("last-words"), "{output}");
        assert!(output.contains("ERROR"), "{output}");
    });
}

#[test]
fn the_run_uses_the_builder_the_flag_env_or_config_names() {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    // Default: BuildKit, which this engine offers: the cache mount builds.
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "");
    let out = strata_with(dir.path(), &["test", "inventory.yml"], &[]);
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("builder buildkit"), "{all}");

    // --builder classic: the cache mount fails the build.
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "");
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml", "--builder", "classic"],
        &[],
    );
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("builder classic"), "{all}");

    // --builder buildkit: built, and its test layer passes on it.
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml", "--builder", "buildkit"],
        &[],
    );
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("builder buildkit"), "{all}");
    let report = std::fs::read_dir(dir.path().join(".strata/runs"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("report.json")).ok())
        .any(|r| r.contains("builder buildkit"));
    assert!(report, "report.json names the builder");

    // STRATA_BUILDER, and the config's key.
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "");
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml"],
        &[("STRATA_BUILDER", "classic")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "builder: classic\n");
    let out = strata_with(dir.path(), &["test", "inventory.yml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // The flag wins over the config.
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "builder: buildkit\n");
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml", "--builder", "classic"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_builder_in_the_inventory_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "builder: fast\n");
    let out = strata_with(dir.path(), &["test", "inventory.yml"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("inventory.yml"), "{err}");
    assert!(err.contains("buildkit"), "{err}");
}

#[test]
fn podman_asked_for_buildkit_is_an_environment_error() {
    let host = std::env::var("STRATA_TEST_PODMAN_HOST").expect("STRATA_TEST_PODMAN_HOST");
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "");
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml", "--builder", "buildkit"],
        &[("DOCKER_HOST", &host)],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("buildah"), "{err}");
    assert!(err.contains("--builder classic"), "{err}");
}

#[test]
fn podman_builds_the_cache_mount_inventory_with_buildah() {
    // Podman's default is the classic request, which buildah serves: it
    // reads `RUN --mount` itself, so the inventory BuildKit builds passes.
    let host = std::env::var("STRATA_TEST_PODMAN_HOST").expect("STRATA_TEST_PODMAN_HOST");
    block_on(async {
        busybox_base(&common::engine_at(&host).await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    cache_mount_inventory(dir.path(), "");
    let out = strata_with(
        dir.path(),
        &["test", "inventory.yml"],
        &[("DOCKER_HOST", &host), ("STRATA_PULL", "never")],
    );
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("builder classic"), "{all}");
}
