//! Artifacts attached to images (OCI 1.1 referrers) on real local registries.
//!
//! The registries `scripts/setup.sh` starts are Debian's distribution 2.x,
//! which has no referrers API: these tests exercise the referrers tag
//! schema (`sha256-<hex>` tags holding an index), and that the API is tried
//! first (it answers 404 there). Run `bash scripts/setup.sh` and
//! `source target/strata-test-env` first.

use std::collections::BTreeMap;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use strata::registry::oci::OciRegistry;
use strata::registry::referrers::{fallback_tag, Artifact, Listed};
use strata::registry::{Digest, RegistryRead, RegistryWrite};
use strata::secret::{Credentials, Secret};

const SETUP_HINT: &str = "run `bash scripts/setup.sh` and `source target/strata-test-env` first";

fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: {SETUP_HINT}"))
}

fn unique_repo(host: &str, what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{host}/strata-test/{what}-{}-{nanos}", std::process::id())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Puts a one-blob image at `reference` over the distribution API; returns
/// its manifest digest.
async fn push_tiny_image(reference: &str, auth: RegistryAuth) -> Digest {
    let image: Reference = reference.parse().unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    client
        .store_auth_if_needed(image.resolve_registry(), &auth)
        .await;
    let config = format!(r#"{{"architecture":"amd64","os":"linux","x":"{reference}"}}"#);
    let config_digest = sha256(config.as_bytes());
    client
        .push_blob(&image, config.clone().into_bytes(), &config_digest)
        .await
        .expect("push config blob");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": config.len(), "digest": config_digest},
        "layers": [],
    }))
    .unwrap();
    client
        .push_manifest_raw(
            &image,
            manifest.clone(),
            "application/vnd.oci.image.manifest.v1+json"
                .parse()
                .unwrap(),
        )
        .await
        .expect("push manifest");
    Digest::new(sha256(&manifest))
}

fn artifact(content: &str, note: &str) -> Artifact {
    Artifact {
        artifact_type: "application/vnd.in-toto+json".into(),
        media_type: "application/vnd.dsse.envelope.v1+json".into(),
        content: content.as_bytes().to_vec(),
        annotations: BTreeMap::from([("dev.strata.note".to_string(), note.to_string())]),
    }
}

#[tokio::test]
async fn artifacts_are_listed_under_the_referrers_tag_schema() {
    let host = env("STRATA_TEST_REGISTRY");
    let repo = unique_repo(&host, "referrers");
    let subject = push_tiny_image(&format!("{repo}:1"), RegistryAuth::Anonymous).await;
    let registry = OciRegistry::new(|_| None);
    let kind = "application/vnd.in-toto+json";
    assert!(registry
        .referrers(&repo_of(&repo), &subject, kind)
        .await
        .unwrap()
        .is_empty());

    let first = artifact(r#"{"n":1}"#, "one");
    let (a1, listed) = registry
        .attach(&repo_of(&repo), &subject, &first)
        .await
        .unwrap();
    // Debian's registry has no referrers API: the tag schema is used.
    assert_eq!(listed, Listed::ByTag(fallback_tag(&subject)));
    let tags = registry.tags(&repo_of(&repo)).await.unwrap();
    assert!(tags.contains(&fallback_tag(&subject)), "{tags:?}");

    let (a2, _) = registry
        .attach(&repo_of(&repo), &subject, &artifact(r#"{"n":2}"#, "two"))
        .await
        .unwrap();
    // Attaching the same artifact again adds no entry.
    let (again, _) = registry
        .attach(&repo_of(&repo), &subject, &first)
        .await
        .unwrap();
    assert_eq!(again, a1);

    let found = registry
        .referrers(&repo_of(&repo), &subject, kind)
        .await
        .unwrap();
    let digests: Vec<_> = found.iter().map(|r| r.digest.clone()).collect();
    assert_eq!(digests, [a1.to_string(), a2.to_string()]);
    assert_eq!(found[0].annotations["dev.strata.note"], "one");
    assert!(registry
        .referrers(&repo_of(&repo), &subject, "application/other")
        .await
        .unwrap()
        .is_empty());

    // The artifact manifest names the image as its subject, and its layer
    // is the content, byte for byte.
    let manifest = registry
        .manifest(&r(&format!("{repo}@{a1}")))
        .await
        .unwrap()
        .expect("artifact manifest stored");
    assert_eq!(manifest.digest, a1);
    assert_eq!(
        strata::registry::referrers::subject_of(&manifest.bytes).as_deref(),
        Some(subject.as_str())
    );
    let (layer, _) = strata::registry::referrers::artifact_layer(
        &manifest.bytes,
        Some("application/vnd.dsse.envelope.v1+json"),
    )
    .unwrap();
    let content = registry.blob(&repo_of(&repo), &layer, 1024).await.unwrap();
    assert_eq!(content, first.content);
    // A blob larger than allowed is refused, not read to the end.
    let e = registry.blob(&repo_of(&repo), &layer, 3).await.unwrap_err();
    assert!(e.to_string().contains("larger than 3 bytes"), "{e}");
    // The tag still names the image.
    let image = registry
        .manifest(&r(&format!("{repo}:1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(image.digest, subject);
}

#[tokio::test]
async fn attaching_to_a_missing_image_fails() {
    let host = env("STRATA_TEST_REGISTRY");
    let repo = unique_repo(&host, "referrers-missing");
    push_tiny_image(&format!("{repo}:1"), RegistryAuth::Anonymous).await;
    let registry = OciRegistry::new(|_| None);
    let missing = Digest::new(format!("sha256:{}", "0".repeat(64)));
    assert!(registry
        .attach(&repo_of(&repo), &missing, &artifact("{}", "x"))
        .await
        .is_err());
    assert!(registry
        .manifest(&r(&format!("{repo}@{missing}")))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn artifacts_on_a_registry_with_a_password() {
    let host = env("STRATA_TEST_AUTH_REGISTRY");
    let user = env("STRATA_TEST_REGISTRY_USER");
    let password = env("STRATA_TEST_REGISTRY_PASSWORD");
    let repo = unique_repo(&host, "referrers-auth");
    let subject = push_tiny_image(
        &format!("{repo}:1"),
        RegistryAuth::Basic(user.clone(), password.clone()),
    )
    .await;
    let credentials = Credentials {
        username: user,
        password: Secret::new(password),
    };
    let registry = OciRegistry::new(move |_| Some(credentials.clone()));
    let (digest, listed) = registry
        .attach(&repo_of(&repo), &subject, &artifact("{}", "auth"))
        .await
        .unwrap();
    assert!(matches!(listed, Listed::ByTag(_)), "{listed:?}");
    let found = registry
        .referrers(&repo_of(&repo), &subject, "application/vnd.in-toto+json")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, digest.as_str());
    // Without credentials, the registry refuses: an error, not "no referrers".
    let anonymous = OciRegistry::new(|_| None);
    assert!(anonymous
        .referrers(&repo_of(&repo), &subject, "application/vnd.in-toto+json")
        .await
        .is_err());
}

/// `text` as the registry client takes an image reference.
fn r(text: &str) -> strata::reference::ImageRef {
    text.parse().expect("an image reference")
}

/// `text` as the registry client takes a repository.
fn repo_of(text: &str) -> strata::reference::Repository {
    text.parse().expect("a repository")
}
