//! The Docker engine, for real: builds, test layers, tags, pushes.
//!
//! Needs the engine and registries of `scripts/setup.sh`; without them every
//! test fails and says how to start them.

mod common;

use std::fs;

use common::{request, write, Log, BUSYBOX_IMAGE};
use strata::engine::docker::DockerEngine;
use strata::engine::{Dockerfile, Engine, EngineError, ImageId};

/// Builds an image from a folder with a `.dockerignore`, returning
/// (engine, folder, image id, tag).
async fn build_app(marker: &str) -> (DockerEngine, tempfile::TempDir, ImageId, String) {
    let engine = common::engine().await;
    common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        &format!(
            "FROM {BUSYBOX_IMAGE}\nARG GREETING\nCOPY . /app\n\
             RUN test \"$GREETING\" = hello && echo \"$GREETING\" > /greeting\n\
             RUN echo {marker} > /marker\n"
        ),
    );
    write(dir.path(), ".dockerignore", "*.secret\nnode_modules\n");
    write(dir.path(), "app.txt", "app");
    write(dir.path(), "db.secret", "hunter2");
    write(dir.path(), "node_modules/x.js", "x");
    write(dir.path(), "sub/node_modules/y.js", "y");
    let tag = format!("strata-test/{}:1", common::unique("app"));
    let mut req = request(
        dir.path(),
        Dockerfile::Path("Dockerfile".into()),
        Some(tag.clone()),
    );
    req.build_args.insert("GREETING".into(), "hello".into());
    req.labels.insert("org.strata.test".into(), marker.into());
    let log = Log::default();
    let id = engine
        .build(req, &log.sink())
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()));
    (engine, dir, id, tag)
}

#[tokio::test]
async fn info_names_the_engine_and_negotiated_api() {
    let engine = common::engine().await;
    let info = engine.info().await.unwrap();
    assert!(info.version.starts_with("Docker Engine "), "{info:?}");
    let (major, minor) = info.api_version.split_once('.').expect("api version");
    assert_eq!(major, "1");
    assert!(minor.parse::<u32>().unwrap() >= 41, "{info:?}");
    assert_eq!(info.endpoint, engine.endpoint());
}

#[tokio::test]
async fn builds_with_dockerignore_args_labels_and_tag() {
    let (engine, _dir, id, tag) = build_app("first").await;
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        engine
            .image_id(&common::image_ref(&tag))
            .await
            .unwrap()
            .as_deref(),
        Some(&*id)
    );

    // What reached the image is exactly what .dockerignore let through.
    let test = tempfile::tempdir().unwrap();
    let checks = "RUN test -f /app/app.txt && test -f /app/Dockerfile \
                  && test ! -e /app/db.secret && test ! -e /app/node_modules \
                  && test -f /app/sub/node_modules/y.js && test \"$(cat /greeting)\" = hello\n";
    let log = Log::default();
    engine
        .build(
            request(
                test.path(),
                Dockerfile::Inline(format!("FROM {id}\n{checks}")),
                None,
            ),
            &log.sink(),
        )
        .await
        .unwrap_or_else(|e| panic!("context checks failed: {e}\n{}", log.text()));

    // Labels are set on the image.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let inspect = docker.inspect_image(&id).await.unwrap();
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("org.strata.test").map(String::as_str),
        Some("first")
    );
    engine.remove(&common::image_ref(&tag)).await.unwrap();
}

#[tokio::test]
async fn test_layer_is_built_on_the_exact_image_id() {
    let (engine, _dir, first, tag) = build_app("first").await;
    // The tag moves to another image; the test must still see the first.
    let (_, _dir2, second, tag2) = build_app("second").await;
    assert_ne!(first, second);
    engine.tag(&second, &common::image_ref(&tag)).await.unwrap();
    assert_eq!(
        engine.image_id(&common::image_ref(&tag)).await.unwrap(),
        Some(second.clone())
    );

    let test = tempfile::tempdir().unwrap();
    write(
        test.path(),
        "Dockerfile",
        "COPY check.sh /check.sh\nRUN sh /check.sh\n",
    );
    write(
        test.path(),
        "check.sh",
        "echo \"marker is $(cat /marker)\"\ntest \"$(cat /marker)\" = first\n",
    );
    let text = fs::read_to_string(test.path().join("Dockerfile")).unwrap();
    let test_tag = format!("{tag}-test1");
    let log = Log::default();
    let test_id = engine
        .build(
            request(
                test.path(),
                Dockerfile::Inline(format!("FROM {first}\n{text}")),
                Some(test_tag.clone()),
            ),
            &log.sink(),
        )
        .await
        .unwrap_or_else(|e| panic!("test layer failed: {e}\n{}", log.text()));
    assert!(log.text().contains("marker is first"), "{}", log.text());
    assert_eq!(
        engine
            .image_id(&common::image_ref(&test_tag))
            .await
            .unwrap(),
        Some(test_id)
    );
    // The test folder was not written to.
    assert_eq!(
        fs::read_to_string(test.path().join("Dockerfile")).unwrap(),
        text
    );
    assert_eq!(fs::read_dir(test.path()).unwrap().count(), 2);
    for t in [&test_tag, &tag, &tag2] {
        engine.remove(&common::image_ref(t)).await.unwrap();
    }
}

#[tokio::test]
async fn failing_step_is_build_failed_with_the_engines_message() {
    let engine = common::engine().await;
    let base = common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let err = engine
        .build(
            request(
                dir.path(),
                Dockerfile::Inline(format!("FROM {base}\nRUN echo before-failure\nRUN false\n")),
                None,
            ),
            &log.sink(),
        )
        .await
        .unwrap_err();
    match &err {
        EngineError::BuildFailed(message) => {
            assert!(message.contains("returned a non-zero code: 1"), "{message}")
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert!(log.text().contains("before-failure"), "{}", log.text());

    // A base image that is not local is not pulled: the build fails.
    let err = engine
        .build(
            request(
                dir.path(),
                Dockerfile::Inline("FROM strata-test/never-made:nope\n".into()),
                None,
            ),
            &log.sink(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::BuildFailed(_)), "{err:?}");
}

#[tokio::test]
async fn tag_image_id_and_remove() {
    let engine = common::engine().await;
    let base = common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let reference = format!("strata-test/{}:v1", common::unique("tag"));
    assert_eq!(
        engine
            .image_id(&common::image_ref(&reference))
            .await
            .unwrap(),
        None
    );
    engine
        .tag(&base, &common::image_ref(&reference))
        .await
        .unwrap();
    assert_eq!(
        engine
            .image_id(&common::image_ref(&reference))
            .await
            .unwrap(),
        Some(base.clone())
    );
    engine.remove(&common::image_ref(&reference)).await.unwrap();
    assert_eq!(
        engine
            .image_id(&common::image_ref(&reference))
            .await
            .unwrap(),
        None
    );
    // Removing what is not there is fine; the base image is untouched.
    engine.remove(&common::image_ref(&reference)).await.unwrap();
    assert_eq!(
        engine
            .image_id(&common::image_ref(BUSYBOX_IMAGE))
            .await
            .unwrap(),
        Some(base)
    );
}

#[tokio::test]
async fn inline_dockerfile_and_extra_files_exist_only_in_the_context() {
    let engine = common::engine().await;
    let base = common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let dir = tempfile::tempdir().unwrap();
    // The folder's own Dockerfile would fail; the inline one replaces it.
    write(dir.path(), "Dockerfile", "RUN false\n");
    write(dir.path(), "data.txt", "data");
    let host = tempfile::tempdir().unwrap();
    write(host.path(), "node.tar.gz", "payload");
    let mut req = request(
        dir.path(),
        Dockerfile::Inline(format!(
            "FROM {base}\nCOPY node.tar.gz data.txt /in/\n\
             RUN test \"$(cat /in/node.tar.gz)\" = payload && test \"$(cat /in/data.txt)\" = data\n"
        )),
        None,
    );
    req.context
        .extra_files
        .push(("node.tar.gz".into(), host.path().join("node.tar.gz")));
    let log = Log::default();
    let id = engine
        .build(req, &log.sink())
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()));
    assert!(id.starts_with("sha256:"), "{id}");
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Dockerfile", "data.txt"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        "RUN false\n"
    );
}

#[tokio::test]
async fn tags_of_lists_the_repositories_asked_for() {
    let engine = common::engine().await;
    common::check_tags_of(&engine, "").await;
}

#[tokio::test]
async fn a_context_file_that_cannot_be_read_fails_the_build_naming_it() {
    // The context is streamed: a file that fails halfway must end the
    // request with an error, never leave the engine a shorter context.
    let engine = common::engine().await;
    common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "a");
    let mut req = request(
        dir.path(),
        Dockerfile::Inline(format!("FROM {BUSYBOX_IMAGE}\nCOPY . /in\n")),
        None,
    );
    req.context
        .extra_files
        .push(("artifact.tgz".into(), dir.path().join("missing.tgz")));
    match engine.build(req, &|_| {}).await {
        Err(EngineError::Context { path, .. }) => assert!(path.ends_with("missing.tgz")),
        other => panic!("expected a context error, got {other:?}"),
    }
}

/// `strata import` of `tarball` with an engine that cannot be reached: the
/// tarball is refused (exit 2) before strata tries to reach it (exit 3).
fn import_refused(tarball: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("rootfs.tar"), tarball).unwrap();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/strata-test.sock")
        .args(["import", "rootfs.tar", "strata-test/refused:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rootfs.tar"), "{stderr}");
    stderr
}

#[test]
fn import_refuses_a_file_that_is_not_a_tar_before_reaching_the_engine() {
    let stderr = import_refused(&b"#!/bin/sh\necho not a tarball\n".repeat(40));
    assert!(stderr.contains("not a tar archive"), "{stderr}");
    // The file's bytes are not quoted back.
    assert!(!stderr.contains("echo not a tarball"), "{stderr}");
}

#[test]
fn import_refuses_links_leading_outside_the_root_before_reaching_the_engine() {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, target) in [("bin/busybox", None), ("bin/sh", Some("../../etc/passwd"))] {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o755);
        match target {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, name, target).unwrap();
            }
            None => builder
                .append_data(&mut header, name, std::io::empty())
                .unwrap(),
        }
    }
    let stderr = import_refused(&builder.into_inner().unwrap());
    assert!(
        stderr.contains("`bin/sh` links to `../../etc/passwd`"),
        "{stderr}"
    );
    assert!(stderr.contains("outside the root"), "{stderr}");
}
