//! Push ships what was tested: the engine exports the image by ID and strata
//! uploads it, so re-tagging the name during a push cannot change what the
//! registry gets. Real engine, real registry.

mod common;

use common::{busybox_base, engine, request, unique, write, BUSYBOX_IMAGE};
use strata::engine::{Dockerfile, Engine};
use strata::reference::ImageRef;
use strata::registry::oci::OciRegistry;
use strata::registry::{RegistryRead, RegistryWrite};

#[tokio::test]
async fn a_retag_during_the_push_does_not_change_what_ships() {
    let engine = engine().await;
    busybox_base(&engine, BUSYBOX_IMAGE).await;
    let registry_host = common::registry();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x", "x");
    let name = format!("{}:1", unique("harden-pushid"));
    let log = common::Log::default();
    let build = |text: String| {
        request(
            dir.path(),
            Dockerfile::Inline(format!("FROM {BUSYBOX_IMAGE}\n{text}\n")),
            Some(name.clone()),
        )
    };
    let tested = engine
        .build(build(format!("RUN echo tested {name} > /x")), &log.sink())
        .await
        .unwrap();
    let other = engine
        .build(build(format!("RUN echo other {name} > /x")), &log.sink())
        .await
        .unwrap();
    assert_ne!(tested, other);
    // The name now means the untested image, as after a re-tag mid-push.
    assert_eq!(
        engine.image_id(&common::image_ref(&name)).await.unwrap(),
        Some(other.clone())
    );

    let archive = dir.path().join("image.tar");
    engine.export(&tested, &archive).await.unwrap();
    let target: ImageRef = format!("{registry_host}/{name}").parse().unwrap();
    let registry = OciRegistry::new(|_| None);
    let digest = registry.upload(&archive, &target).await.unwrap();
    let held = registry.resolve(&target).await.unwrap().unwrap();
    assert_eq!(held.digest, digest);
    assert_eq!(
        held.config_digest,
        Some(tested.clone()),
        "the tested image ships"
    );

    // Uploading again sends nothing new and gives the same manifest digest.
    let again = registry.upload(&archive, &target).await.unwrap();
    assert_eq!(again, digest);

    // By digest, with no tag: the manifest is there, and no tag moved.
    let repo = target.repository();
    engine.export(&other, &archive).await.unwrap();
    let untagged = registry
        .upload(&archive, &repo.to_image_ref())
        .await
        .unwrap();
    let by_digest = registry
        .resolve(&repo.with_digest(&untagged).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest.config_digest, Some(other.clone()));
    assert_eq!(registry.tags(&repo).await.unwrap(), vec!["1".to_string()]);
    assert_eq!(
        registry.resolve(&target).await.unwrap().unwrap().digest,
        digest
    );

    // The engine can run what the registry holds: pull it back by digest.
    let pulled = std::process::Command::new("docker")
        .args(["pull", target.as_str()])
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert_eq!(
        engine.image_id(&common::image_ref(&target)).await.unwrap(),
        Some(tested.clone())
    );

    for r in [name.as_str(), target.as_str()] {
        let _ = engine.remove(&common::image_ref(r)).await;
    }
    let _ = engine.remove_id(&tested).await;
    let _ = engine.remove_id(&other).await;
}
