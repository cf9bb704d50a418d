//! The same engine code against Podman's Docker-compatible service
//! (`STRATA_TEST_PODMAN_HOST`): build, test layer on the exact image ID,
//! failure, tag. Podman's answers differ from Docker's in small ways (IDs,
//! build messages); strata must look the same on both.

mod common;

use common::{request, write, Log, BUSYBOX_IMAGE};
use strata::engine::{Dockerfile, Engine, EngineError};

fn is_normal_id(id: &str) -> bool {
    id.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn podman_reports_itself() {
    let engine = common::podman().await;
    let info = engine.info().await.unwrap();
    assert!(info.version.starts_with("Podman"), "{info:?}");
}

#[tokio::test]
async fn podman_build_and_test_layer_on_the_exact_id() {
    let engine = common::podman().await;
    let base = common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    assert!(is_normal_id(&base), "{base}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nARG MARK\nCOPY . /app\nRUN echo \"$MARK\" > /marker\n"),
    );
    write(dir.path(), ".dockerignore", "*.secret\n");
    write(dir.path(), "app.txt", "app");
    write(dir.path(), "db.secret", "hunter2");
    let tag = format!("localhost/strata-test/{}:1", common::unique("podman"));
    let build = |mark: &str| {
        let mut req = request(
            dir.path(),
            Dockerfile::Path("Dockerfile".into()),
            Some(tag.clone()),
        );
        req.build_args.insert("MARK".into(), mark.into());
        req
    };
    let log = Log::default();
    let first = engine
        .build(build("first"), &log.sink())
        .await
        .unwrap_or_else(|e| panic!("podman build failed: {e}\n{}", log.text()));
    assert!(is_normal_id(&first), "{first}");
    assert_eq!(
        engine.image_id(&common::image_ref(&tag)).await.unwrap(),
        Some(first.clone())
    );
    let second = engine.build(build("second"), &log.sink()).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(
        engine.image_id(&common::image_ref(&tag)).await.unwrap(),
        Some(second.clone())
    );

    // The test layer is built on the first image, not on what the tag names now.
    let test = tempfile::tempdir().unwrap();
    let checks = "RUN test \"$(cat /marker)\" = first && test -f /app/app.txt \
                  && test ! -e /app/db.secret && echo checked-first\n";
    let test_tag = format!("{tag}-test1");
    let log = Log::default();
    let test_id = engine
        .build(
            request(
                test.path(),
                Dockerfile::Inline(format!("FROM {first}\n{checks}")),
                Some(test_tag.clone()),
            ),
            &log.sink(),
        )
        .await
        .unwrap_or_else(|e| panic!("podman test layer failed: {e}\n{}", log.text()));
    assert!(log.text().contains("checked-first"), "{}", log.text());
    assert_eq!(
        engine
            .image_id(&common::image_ref(&test_tag))
            .await
            .unwrap(),
        Some(test_id)
    );

    // Tagging by ID and removing work the same way as on Docker.
    let alias = format!("{tag}-alias");
    engine
        .tag(&first, &common::image_ref(&alias))
        .await
        .unwrap();
    assert_eq!(
        engine.image_id(&common::image_ref(&alias)).await.unwrap(),
        Some(first)
    );
    for t in [&alias, &test_tag, &tag] {
        engine.remove(&common::image_ref(t)).await.unwrap();
        assert_eq!(engine.image_id(&common::image_ref(t)).await.unwrap(), None);
    }
    engine.remove(&common::image_ref(&alias)).await.unwrap();
}

#[tokio::test]
async fn podman_failing_step_is_build_failed() {
    let engine = common::podman().await;
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
        EngineError::BuildFailed(message) => assert!(!message.is_empty()),
        other => panic!("expected BuildFailed, got {other:?}\n{}", log.text()),
    }
    assert!(log.text().contains("before-failure"), "{}", log.text());
}

#[tokio::test]
async fn podman_tags_of_lists_the_repositories_asked_for() {
    let engine = common::podman().await;
    common::check_tags_of(&engine, "localhost/").await;
}
