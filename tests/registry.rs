//! The OCI registry client against real local registries.
//!
//! Needs the registries `scripts/setup.sh` starts: run `bash scripts/setup.sh`
//! then `source target/strata-test-env`. Without them these tests fail, saying so.
//!
//! Images are put into the registry directly over the distribution API (a tiny
//! config and one layer made here), so no container engine is involved.

use std::sync::{Arc, Mutex};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use strata::registry::oci::OciRegistry;
use strata::registry::{Digest, ImageId, RegistryError, RegistryRead, RegistryWrite};
use strata::secret::{Credentials, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SETUP_HINT: &str = "run `bash scripts/setup.sh` and `source target/strata-test-env` first";

/// A variable `target/strata-test-env` exports; fails the test when missing.
fn env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: {SETUP_HINT}"))
}

/// Fails the test unless a registry answers on `host`.
async fn require_registry(host: &str) {
    let url = format!("http://{host}/v2/");
    if let Err(e) = reqwest::get(&url).await {
        panic!("registry at {host} does not answer ({e}): {SETUP_HINT}");
    }
}

/// A repository name no earlier run used, so runs never see each other's tags.
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

fn credentials(user: &str, password: &str) -> Credentials {
    Credentials {
        username: user.to_string(),
        password: Secret::new(password),
    }
}

/// What was pushed: the digests the registry must report back.
struct Pushed {
    manifest: String,
    manifest_size: usize,
    config: String,
    layer: String,
}

/// Pushes a one-layer image to `reference` over the distribution API and
/// returns the digests computed here from the bytes sent.
async fn push_tiny_image(reference: &str, auth: RegistryAuth) -> Pushed {
    let image: Reference = reference.parse().unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    client
        .store_auth_if_needed(image.resolve_registry(), &auth)
        .await;

    let mut layer = tar::Builder::new(Vec::new());
    let content = format!("made for {reference}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "hello.txt", content.as_bytes())
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let layer_digest = sha256(&layer);

    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    }))
    .unwrap();
    let config_digest = sha256(&config);

    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": config_digest,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "size": layer.len(),
            "digest": layer_digest,
        }],
    }))
    .unwrap();

    client
        .push_blob(&image, config, &config_digest)
        .await
        .expect("push config blob");
    client
        .push_blob(&image, layer, &layer_digest)
        .await
        .expect("push layer blob");
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
    Pushed {
        manifest: sha256(&manifest),
        manifest_size: manifest.len(),
        config: config_digest,
        layer: layer_digest,
    }
}

/// A TCP relay in front of a registry that keeps every byte clients send, so
/// a test can see which requests were made (blob uploads, mounts).
struct Recorder {
    host: String,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start(upstream: &str) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (upstream, log) = (upstream.to_string(), sent.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
            }
        });
        Recorder { host, sent }
    }

    /// The request lines sent since the last call.
    fn take_requests(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.sent.lock().unwrap());
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| {
                ["GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE "]
                    .iter()
                    .any(|m| l.starts_with(m))
                    && l.ends_with(" HTTP/1.1")
            })
            .map(str::to_string)
            .collect()
    }
}

/// Whether any request uploads blob data (starts, continues or ends an upload
/// other than a cross-repository mount).
fn uploads_blob_data(requests: &[String]) -> bool {
    requests.iter().any(|r| {
        r.contains("/blobs/uploads/")
            && (r.starts_with("PATCH ") || r.starts_with("PUT ") || !r.contains("mount="))
    })
}

#[tokio::test]
async fn resolves_digest_and_config_digest() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let repo = unique_repo(&host, "resolve");
    let pushed = push_tiny_image(&format!("{repo}:1.0"), RegistryAuth::Anonymous).await;

    let registry = OciRegistry::new(|_| None);
    let resolved = registry
        .resolve(&r(&format!("{repo}:1.0")))
        .await
        .expect("resolve")
        .expect("the tag exists");
    assert_eq!(resolved.digest, pushed.manifest);
    assert_eq!(
        resolved.config_digest.as_deref(),
        Some(pushed.config.as_str())
    );
    assert_ne!(pushed.config, pushed.layer);

    assert!(registry
        .resolve(&r(&format!("{repo}:missing")))
        .await
        .expect("a missing tag is not an error")
        .is_none());
    assert!(registry
        .resolve(&r(&format!("{}:1.0", unique_repo(&host, "never-pushed"))))
        .await
        .expect("a missing repository is not an error")
        .is_none());
}

#[tokio::test]
async fn a_digest_is_asked_with_one_head_request() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let recorder = Recorder::start(&host).await;
    let repo = unique_repo(&recorder.host, "digest");
    let pushed = push_tiny_image(&format!("{repo}:1.0"), RegistryAuth::Anonymous).await;
    recorder.take_requests();

    let registry = OciRegistry::new(|_| None);
    let digest = registry.digest(&r(&format!("{repo}:1.0"))).await.unwrap();
    assert_eq!(digest.as_deref(), Some(pushed.manifest.as_str()));
    assert_eq!(
        registry
            .digest(&r(&format!("{repo}:missing")))
            .await
            .unwrap(),
        None
    );
    let path = repo.split_once('/').unwrap().1;
    let manifests: Vec<String> = recorder
        .take_requests()
        .into_iter()
        .filter(|r| r.contains("/manifests/"))
        .collect();
    // A tag that is there: one HEAD, the manifest itself is not read. One
    // that is not also gets a GET (the client's fallback when a HEAD
    // answer carries no digest), which says 404 too.
    assert_eq!(
        manifests[..2],
        [
            format!("HEAD /v2/{path}/manifests/1.0 HTTP/1.1"),
            format!("HEAD /v2/{path}/manifests/missing HTTP/1.1"),
        ],
        "{manifests:?}"
    );
    assert!(
        manifests[2..]
            .iter()
            .all(|r| r.ends_with("/manifests/missing HTTP/1.1")),
        "{manifests:?}"
    );
}

#[tokio::test]
async fn retag_in_same_repository_uploads_no_blob() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let recorder = Recorder::start(&host).await;
    let repo = unique_repo(&recorder.host, "same-repo");
    let pushed = push_tiny_image(&format!("{repo}:1.0.0"), RegistryAuth::Anonymous).await;
    recorder.take_requests();

    let registry = OciRegistry::new(|_| None);
    let digest = registry
        .retag(
            &repo_of(&repo),
            &Digest::new(pushed.manifest.clone()),
            &r(&format!("{repo}:1")),
        )
        .await
        .expect("retag");
    assert_eq!(digest, pushed.manifest);

    let requests = recorder.take_requests();
    let path = repo.split_once('/').unwrap().1;
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with(&format!("PUT /v2/{path}/manifests/1 "))),
        "the manifest is pushed under the new tag: {requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/blobs/")),
        "no blob is touched within one repository: {requests:#?}"
    );

    let resolved = registry
        .resolve(&r(&format!("{repo}:1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.digest, pushed.manifest);
    assert_eq!(resolved.config_digest, Some(ImageId::new(pushed.config)));
}

#[tokio::test]
async fn retag_into_another_repository_mounts_blobs() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let recorder = Recorder::start(&host).await;
    let source = unique_repo(&recorder.host, "source");
    let target = unique_repo(&recorder.host, "target");
    let pushed = push_tiny_image(&format!("{source}:1.0.0"), RegistryAuth::Anonymous).await;
    recorder.take_requests();

    let registry = OciRegistry::new(|_| None);
    let digest = registry
        .retag(
            &r(&format!("{source}:1.0.0")).repository(),
            &Digest::new(pushed.manifest.clone()),
            &r(&format!("{target}:latest")),
        )
        .await
        .expect("retag across repositories");
    assert_eq!(digest, pushed.manifest);

    let requests = recorder.take_requests();
    let mounts = requests.iter().filter(|r| r.contains("mount=")).count();
    assert_eq!(mounts, 2, "config and layer are mounted: {requests:#?}");
    assert!(
        !uploads_blob_data(&requests),
        "no blob data is uploaded: {requests:#?}"
    );

    let resolved = registry
        .resolve(&r(&format!("{target}:latest")))
        .await
        .unwrap()
        .expect("the target tag exists");
    assert_eq!(resolved.digest, pushed.manifest);
    assert_eq!(
        resolved.config_digest.as_deref(),
        Some(pushed.config.as_str())
    );

    // The blobs really are in the target repository now.
    for blob in [&pushed.config, &pushed.layer] {
        let path = target.split_once('/').unwrap().1;
        let url = format!("http://{host}/v2/{path}/blobs/{blob}");
        let status = reqwest::Client::new()
            .head(&url)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{url}: {status}");
    }
}

#[tokio::test]
async fn retag_of_a_multi_platform_list_copies_its_manifests() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let source = unique_repo(&host, "list-source");
    let target = unique_repo(&host, "list-target");
    let amd64 = push_tiny_image(&format!("{source}:amd64"), RegistryAuth::Anonymous).await;
    let arm64 = push_tiny_image(&format!("{source}:arm64"), RegistryAuth::Anonymous).await;
    let media_type = "application/vnd.oci.image.index.v1+json";
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": amd64.manifest_size,
              "digest": amd64.manifest, "platform": { "architecture": "amd64", "os": "linux" } },
            { "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": arm64.manifest_size,
              "digest": arm64.manifest, "platform": { "architecture": "arm64", "os": "linux" } },
        ],
    }))
    .unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    client
        .push_manifest_raw(
            &format!("{source}:multi").parse().unwrap(),
            index.clone(),
            media_type.parse().unwrap(),
        )
        .await
        .expect("push index");
    let index_digest = sha256(&index);

    let registry = OciRegistry::new(|_| None);
    let resolved = registry
        .resolve(&r(&format!("{source}:multi")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.digest, index_digest);
    assert_eq!(resolved.config_digest, None, "a list has no single config");

    let digest = registry
        .retag(
            &repo_of(&source),
            &Digest::new(index_digest.clone()),
            &r(&format!("{target}:multi")),
        )
        .await
        .expect("retag a list across repositories");
    assert_eq!(digest, index_digest);
    // Each platform's manifest is now in the target repository too.
    for platform in [&amd64, &arm64] {
        let child = registry
            .resolve(&r(&format!("{target}@{}", platform.manifest)))
            .await
            .unwrap()
            .expect("platform manifest copied");
        assert_eq!(
            child.config_digest.as_deref(),
            Some(platform.config.as_str())
        );
    }
}

#[tokio::test]
async fn retag_of_an_unknown_digest_fails() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let repo = unique_repo(&host, "unknown-digest");
    push_tiny_image(&format!("{repo}:1"), RegistryAuth::Anonymous).await;
    let bogus = sha256(b"not a manifest that exists");
    let err = OciRegistry::new(|_| None)
        .retag(
            &repo_of(&repo),
            &Digest::new(bogus.clone()),
            &r(&format!("{repo}:2")),
        )
        .await
        .expect_err("an unknown digest cannot be tagged");
    assert!(matches!(err, RegistryError::Other { .. }), "{err:?}");
}

#[tokio::test]
async fn lists_tags() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let repo = unique_repo(&host, "tags");
    let pushed = push_tiny_image(&format!("{repo}:1.0.0"), RegistryAuth::Anonymous).await;
    let registry = OciRegistry::new(|_| None);
    for tag in ["1.0", "1", "latest"] {
        registry
            .retag(
                &repo_of(&repo),
                &Digest::new(pushed.manifest.clone()),
                &r(&format!("{repo}:{tag}")),
            )
            .await
            .unwrap();
    }

    let tags = registry.tags(&repo_of(&repo)).await.expect("tags");
    assert_eq!(tags, ["1", "1.0", "1.0.0", "latest"]);

    // Cross-check with the registry's own answer.
    let path = repo.split_once('/').unwrap().1;
    let raw: serde_json::Value = reqwest::get(format!("http://{host}/v2/{path}/tags/list"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut listed: Vec<String> = raw["tags"]
        .as_array()
        .expect("tags array")
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(tags, listed);

    // Page by page (one tag per request), the same answer. Some registries
    // (distribution 2.8) ignore `n` and send everything each time: the client
    // must then stop at the first repeated page instead of looping.
    let first_page: serde_json::Value =
        reqwest::get(format!("http://{host}/v2/{path}/tags/list?n=1"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let honors_paging = first_page["tags"].as_array().unwrap().len() == 1;
    let recorder = Recorder::start(&host).await;
    let paged = OciRegistry::new(|_| None).with_tags_page(1);
    let via_recorder = repo.replacen(&host, &recorder.host, 1);
    assert_eq!(
        paged
            .tags(&repo_of(&via_recorder))
            .await
            .expect("paged tags"),
        tags
    );
    let requests = recorder
        .take_requests()
        .into_iter()
        .filter(|r| r.contains("/tags/list"))
        .count();
    // Paging: one request per tag plus the empty last page; otherwise the
    // full list and its repeat.
    let expected = if honors_paging { tags.len() + 1 } else { 2 };
    assert_eq!(requests, expected, "tag list requests");

    let none = registry
        .tags(&repo_of(&unique_repo(&host, "empty")))
        .await
        .expect("a repository without pushes has no tags");
    assert!(none.is_empty());
}

#[tokio::test]
async fn auth_registry_needs_credentials_and_never_shows_the_password() {
    let host = env("STRATA_TEST_AUTH_REGISTRY");
    let user = env("STRATA_TEST_REGISTRY_USER");
    let password = env("STRATA_TEST_REGISTRY_PASSWORD");
    require_registry(&host).await;
    let repo = unique_repo(&host, "auth");
    let pushed = push_tiny_image(
        &format!("{repo}:1.0"),
        RegistryAuth::Basic(user.clone(), password.clone()),
    )
    .await;

    // With the right credentials, everything works.
    let (u, p) = (user.clone(), password.clone());
    let registry = OciRegistry::new(move |_| Some(credentials(&u, &p)));
    let resolved = registry
        .resolve(&r(&format!("{repo}:1.0")))
        .await
        .expect("resolve with credentials")
        .expect("the tag exists");
    assert_eq!(resolved.digest, pushed.manifest);
    let digest = registry.digest(&r(&format!("{repo}:1.0"))).await.unwrap();
    assert_eq!(digest.as_deref(), Some(pushed.manifest.as_str()));
    assert_eq!(
        registry.digest(&r(&format!("{repo}:none"))).await.unwrap(),
        None
    );
    let other = unique_repo(&host, "auth-target");
    let digest = registry
        .retag(
            &repo_of(&repo),
            &Digest::new(pushed.manifest.clone()),
            &r(&format!("{other}:1")),
        )
        .await
        .expect("retag with credentials");
    assert_eq!(digest, pushed.manifest);
    assert_eq!(registry.tags(&repo_of(&repo)).await.unwrap(), ["1.0"]);

    // Errors with the right credentials do not show them either.
    let err = registry
        .retag(
            &repo_of(&repo),
            &Digest::new(sha256(b"nothing")),
            &r(&format!("{repo}:2")),
        )
        .await
        .unwrap_err();
    assert_hides(&err, &password);

    // Without credentials: Unauthorized, for every operation.
    let anonymous = OciRegistry::new(|_| None);
    let err = anonymous
        .resolve(&r(&format!("{repo}:1.0")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    let err = anonymous.tags(&repo_of(&repo)).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    let err = anonymous
        .digest(&r(&format!("{repo}:1.0")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    let err = anonymous
        .retag(
            &repo_of(&repo),
            &Digest::new(pushed.manifest.clone()),
            &r(&format!("{repo}:2")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");

    // A wrong password: Unauthorized, and neither password is shown.
    let wrong = format!("{password}-wrong");
    let (u, w) = (user.clone(), wrong.clone());
    let refused = OciRegistry::new(move |_| Some(credentials(&u, &w)));
    for err in [
        refused
            .resolve(&r(&format!("{repo}:1.0")))
            .await
            .unwrap_err(),
        refused.tags(&repo_of(&repo)).await.unwrap_err(),
        refused
            .retag(
                &repo_of(&repo),
                &Digest::new(pushed.manifest.clone()),
                &r(&format!("{repo}:3")),
            )
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
        assert_hides(&err, &password);
        assert_hides(&err, &wrong);
    }
}

/// Fails if `secret` appears in the error's `Display` or `Debug` text.
fn assert_hides(err: &RegistryError, secret: &str) {
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains(secret), "secret leaked in: {shown}");
}

#[tokio::test]
async fn unreachable_registry_is_not_unauthorized() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = OciRegistry::new(|_| None)
        .tags(&repo_of(&format!("{host}/acme/app")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&host), "{err}");
}

/// A `docker save` archive of one image (a config and one layer) at `path`;
/// returns the config's digest (the image ID) and the layer's.
fn saved_archive(path: &std::path::Path, what: &str) -> (String, String) {
    // Ends in a newline, so the recorder sees the request after its upload.
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"made\":\"{what}\"}}\n");
    let layer = format!("layer of {what}\n");
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("config.json", config.as_bytes());
    add("l1/layer.tar", layer.as_bytes());
    add(
        "manifest.json",
        br#"[{"Config":"config.json","RepoTags":null,"Layers":["l1/layer.tar"]}]"#,
    );
    b.finish().unwrap();
    (sha256(config.as_bytes()), sha256(layer.as_bytes()))
}

/// What a run asks an open or HTTP Basic registry: `/v2/` once per host
/// (how to log in), then one request per question, never a login probe in
/// front of each; the referrers API is asked once, and a registry without
/// one is then read through the tag schema alone.
async fn one_request_per_question(host: &str, credentials: Option<Credentials>) {
    require_registry(host).await;
    let recorder = Recorder::start(host).await;
    let credentials_again = credentials.clone();
    let registry = OciRegistry::new(move |_| credentials.clone());
    let repo = unique_repo(&recorder.host, "requests");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    let (config, layer) = saved_archive(&archive, &repo);

    // An upload: each blob checked, then sent in one POST and one PUT.
    let digest = registry
        .upload(&archive, &r(&format!("{repo}:1")))
        .await
        .unwrap();
    let requests = recorder.take_requests();
    let path = repo.split_once('/').unwrap().1;
    let blob_puts = requests
        .iter()
        .filter(|r| r.starts_with(&format!("PUT /v2/{path}/blobs/uploads/")))
        .count();
    assert_eq!(blob_puts, 2, "{requests:?}");
    assert!(
        requests.iter().all(|r| !r.starts_with("PATCH ")),
        "{requests:?}"
    );
    assert_eq!(requests.len(), 1 + 2 * 3 + 1, "{requests:?}");
    assert_eq!(requests[0], "GET /v2/ HTTP/1.1");

    // The same image again: the run knows its blobs are there, only the
    // manifest is put.
    assert_eq!(
        registry
            .upload(&archive, &r(&format!("{repo}:2")))
            .await
            .unwrap(),
        digest
    );
    assert_eq!(
        recorder.take_requests(),
        [format!("PUT /v2/{path}/manifests/2 HTTP/1.1")]
    );
    // Another run: each blob is asked about (at once, in either order) and
    // none is sent again.
    let again = OciRegistry::new(move |_| credentials_again.clone());
    assert_eq!(
        again
            .upload(&archive, &r(&format!("{repo}:3")))
            .await
            .unwrap(),
        digest
    );
    let mut requests = recorder.take_requests();
    requests[1..3].sort();
    let mut checks = [
        format!("HEAD /v2/{path}/blobs/{config} HTTP/1.1"),
        format!("HEAD /v2/{path}/blobs/{layer} HTTP/1.1"),
    ];
    checks.sort();
    assert_eq!(requests[0], "GET /v2/ HTTP/1.1");
    assert_eq!(requests[1..3], checks, "{requests:?}");
    assert_eq!(
        requests[3..],
        [format!("PUT /v2/{path}/manifests/3 HTTP/1.1")],
        "{requests:?}"
    );

    // A no-op push's questions, three times over: one request each.
    for _ in 0..3 {
        let resolved = registry.resolve(&r(&format!("{repo}:1"))).await.unwrap();
        assert_eq!(resolved.unwrap().config_digest.unwrap(), config.as_str());
        let now = registry.digest(&r(&format!("{repo}:2"))).await.unwrap();
        assert_eq!(now.as_ref(), Some(&digest));
        let found = registry
            .referrers(&repo_of(&repo), &digest, "application/vnd.in-toto+json")
            .await
            .unwrap();
        assert!(found.is_empty());
    }
    let requests = recorder.take_requests();
    let count = |prefix: &str| requests.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(count("GET /v2/ "), 0, "{requests:?}");
    assert_eq!(count(&format!("GET /v2/{path}/manifests/1 ")), 3);
    assert_eq!(count(&format!("HEAD /v2/{path}/manifests/2 ")), 3);
    assert!(
        count(&format!("GET /v2/{path}/referrers/")) <= 1,
        "{requests:?}"
    );
    assert_eq!(count(&format!("GET /v2/{path}/manifests/sha256-")), 3);
    assert!(requests.len() <= 10, "{requests:?}");
}

#[tokio::test]
async fn an_open_registry_gets_one_request_per_question() {
    one_request_per_question(&env("STRATA_TEST_REGISTRY"), None).await;
}

#[tokio::test]
async fn a_basic_auth_registry_gets_one_request_per_question() {
    let user = env("STRATA_TEST_REGISTRY_USER");
    let password = env("STRATA_TEST_REGISTRY_PASSWORD");
    one_request_per_question(
        &env("STRATA_TEST_AUTH_REGISTRY"),
        Some(credentials(&user, &password)),
    )
    .await;
}

/// `scripts/registry-clean.py` (the benchmark's cleanup) removes every
/// manifest of the repositories it is given, however many pages the
/// catalog and tag lists take; a registry that refuses is an error, not
/// silence.
#[tokio::test]
async fn the_cleanup_script_pages_through_the_catalog() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let marker = unique_repo("x", "clean").replace("x/strata-test/", "");
    let mut pushed = Vec::new();
    for repo in ["a", "b", "c"] {
        for tag in ["1", "2", "3"] {
            let reference = format!("{host}/strata-test/{marker}/{repo}:{tag}");
            push_tiny_image(&reference, RegistryAuth::Anonymous).await;
            pushed.push((format!("strata-test/{marker}/{repo}"), tag));
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/registry-clean.py");
    // Pages of two: the three repositories and three tags each span pages.
    let out = std::process::Command::new("python3")
        .args([script, &host, &marker, "--page", "2"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("deleted 9 manifest(s) in 3 repositories"),
        "{text}"
    );
    for (repo, tag) in &pushed {
        let url = format!("http://{host}/v2/{repo}/manifests/{tag}");
        let status = reqwest::Client::new()
            .head(&url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{repo}:{tag} is still there");
    }
    // A page size the registry refuses (as `n=100000` is) fails loudly.
    let out = std::process::Command::new("python3")
        .args([script, &host, &marker, "--page", "100000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 400"), "{err}");
}

/// A hostile registry on 127.0.0.1: `/v2/` open; in mode `manifest` every
/// manifest is an endless body; in mode `referrers` a small image manifest
/// whose referrers list is endless; with `length`, the endless body states
/// a `Content-Length` of 1 GiB. Returns its `host:port` and the bytes it
/// managed to send of endless bodies.
fn endless_registry(
    mode: &'static str,
    length: bool,
    token: bool,
) -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": 2, "digest": sha256(b"{}")},
        "layers": [],
    }))
    .unwrap();
    let own = host.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counter = counter.clone();
            let manifest = manifest.clone();
            let realm = format!("http://{own}/token");
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let is_head = head.starts_with("HEAD ");
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let authorized = head
                    .to_ascii_lowercase()
                    .contains("authorization: bearer t0k");
                if token && path.starts_with("/token") {
                    let body = r#"{"token":"t0k","access_token":"t0k"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                if token && !authorized {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"hostile\"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                    );
                    return;
                }
                let endless = (mode == "manifest" && path.contains("/manifests/"))
                    || (mode == "referrers" && path.contains("/referrers/"))
                    || (mode == "tags" && path.contains("/tags/list"));
                if endless && !is_head {
                    let framing = if length {
                        "Content-Length: 1073741824\r\n"
                    } else {
                        "Transfer-Encoding: chunked\r\n"
                    };
                    let media = if mode == "manifest" {
                        "application/vnd.oci.image.manifest.v1+json"
                    } else {
                        "application/vnd.oci.image.index.v1+json"
                    };
                    if write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: {media}\r\n{framing}\r\n"
                    )
                    .is_err()
                    {
                        return;
                    }
                    let chunk = vec![b' '; 64 * 1024];
                    for _ in 0..(1 << 14) {
                        let ok = if length {
                            stream.write_all(&chunk).is_ok()
                        } else {
                            write!(stream, "{:x}\r\n", chunk.len()).is_ok()
                                && stream.write_all(&chunk).is_ok()
                                && stream.write_all(b"\r\n").is_ok()
                        };
                        if !ok {
                            return;
                        }
                        counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    return;
                }
                let (status, body, extra) = if path == "/v2/" {
                    ("200 OK", b"{}".to_vec(), String::new())
                } else if path.contains("/manifests/") {
                    (
                        "200 OK",
                        manifest.clone(),
                        format!(
                            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {}\r\n",
                            sha256(&manifest)
                        ),
                    )
                } else {
                    ("404 Not Found", b"{}".to_vec(), String::new())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if !is_head {
                    let _ = stream.write_all(&body);
                }
            });
        }
    });
    (host, sent)
}

/// A registry that sends an endless manifest or referrers list (with or
/// without a `Content-Length`) gets a clear error and exit 3; strata reads
/// at most its cap (4 MiB a page), never the whole body.
#[test]
fn an_endless_manifest_or_referrers_list_is_cut_at_the_cap() {
    for (mode, length, token) in [
        ("manifest", false, false),
        ("manifest", true, false),
        ("referrers", false, false),
        ("referrers", true, false),
        // A token registry: the manifest read through oci-client's token.
        ("manifest", false, true),
    ] {
        let (host, sent) = endless_registry(mode, length, token);
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .args(["verify", &format!("{host}/hostile/app:1")])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let case = format!("{mode}, Content-Length {length}, token {token}");
        assert_eq!(out.status.code(), Some(3), "{case}: {err}");
        assert!(err.contains("more than 4194304 bytes"), "{case}: {err}");
        // What the server got out before strata hung up: the cap plus what
        // the sockets buffer, far from the 1 GiB it offered.
        let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < 64 << 20, "{case}: {sent} bytes were read");
    }
}

/// An endless tag list page is cut at its cap too (a library call: the
/// registry client's `tags`).
#[tokio::test]
async fn an_endless_tag_list_is_cut_at_the_cap() {
    for token in [false, true] {
        let (host, sent) = endless_registry("tags", false, token);
        let registry = OciRegistry::new(|_| None);
        let err = registry
            .tags(&repo_of(&format!("{host}/hostile/app")))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Unreachable { .. }),
            "token {token}: {err}"
        );
        assert!(err.to_string().contains("more than 4194304 bytes"), "{err}");
        let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(sent < 64 << 20, "token {token}: {sent} bytes were read");
    }
}

/// A registry whose referrers API pages its list: page one names one
/// artifact and links to page two (`Link: <…>; rel="next"`), which names
/// another. Returns its `host:port`.
fn paging_referrers_registry(pages: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, extra, body) = if path == "/v2/" {
                ("200 OK", String::new(), "{}".to_string())
            } else if path.contains("/referrers/") {
                let (base, page) = match path.split_once("?page=") {
                    Some((base, n)) => (base.to_string(), n.parse::<usize>().unwrap_or(0)),
                    None => (path.clone(), 0),
                };
                let entry = serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha256(format!("artifact {page}").as_bytes()),
                    "size": 10,
                    "artifactType": "application/vnd.in-toto+json",
                });
                let body = serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [entry],
                })
                .to_string();
                let link = if page + 1 < pages {
                    format!("Link: <{base}?page={}>; rel=\"next\"\r\n", page + 1)
                } else {
                    String::new()
                };
                (
                    "200 OK",
                    format!("Content-Type: application/vnd.oci.image.index.v1+json\r\n{link}"),
                    body,
                )
            } else {
                ("404 Not Found", String::new(), "{}".to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    host
}

/// The referrers API's pages are all read, following `Link`; a list on
/// more pages than strata follows is refused as an unusable registry.
#[tokio::test]
async fn referrers_are_read_page_by_page() {
    let subject = strata::registry::Digest::new(sha256(b"subject"));
    let host = paging_referrers_registry(3);
    let registry = OciRegistry::new(|_| None);
    let found = registry
        .referrers(
            &repo_of(&format!("{host}/hostile/app")),
            &subject,
            "application/vnd.in-toto+json",
        )
        .await
        .unwrap();
    let digests: Vec<String> = found.iter().map(|r| r.digest.clone()).collect();
    let want: Vec<String> = (0..3)
        .map(|n| sha256(format!("artifact {n}").as_bytes()))
        .collect();
    assert_eq!(digests, want);

    let host = paging_referrers_registry(1000);
    let err = registry
        .referrers(
            &repo_of(&format!("{host}/hostile/app")),
            &subject,
            "application/vnd.in-toto+json",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("more than 16 pages"), "{err}");
}

/// Several images that share a large layer, uploaded into one repository at
/// once (as `push -j 4` does): every upload succeeds and the shared layer is
/// sent once; the others wait for that upload and then know it is there.
/// Two uploads of one blob into one repository at the same time can fail
/// (`DIGEST_INVALID`).
#[tokio::test]
async fn concurrent_uploads_of_a_shared_layer_send_it_once() {
    let host = env("STRATA_TEST_REGISTRY");
    require_registry(&host).await;
    let recorder = Recorder::start(&host).await;
    let registry = OciRegistry::new(|_| None);
    let repo = unique_repo(&recorder.host, "shared-layer");
    let dir = tempfile::tempdir().unwrap();
    // 16 MiB: its upload lasts while the other uploads ask about it.
    let shared = format!("shared layer of {repo}\n")
        .into_bytes()
        .repeat((16 << 20) / (repo.len() + 17));
    let shared_digest = sha256(&shared);
    let archives: Vec<_> = (0..8)
        .map(|i| {
            let path = dir.path().join(format!("saved-{i}.tar"));
            let config =
                format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"made\":\"{repo} {i}\"}}\n");
            let own = format!("own layer {i} of {repo}\n");
            let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
            let mut add = |name: &str, data: &[u8]| {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, data).unwrap();
            };
            add("config.json", config.as_bytes());
            add("shared/layer.tar", &shared);
            add("own/layer.tar", own.as_bytes());
            add(
                "manifest.json",
                br#"[{"Config":"config.json","RepoTags":null,"Layers":["shared/layer.tar","own/layer.tar"]}]"#,
            );
            b.finish().unwrap();
            path
        })
        .collect();

    let targets: Vec<strata::reference::ImageRef> = (0..archives.len())
        .map(|i| r(&format!("{repo}:{i}")))
        .collect();
    let uploads = archives
        .iter()
        .zip(&targets)
        .map(|(a, t)| registry.upload(a, t));
    let digests = futures_util::future::join_all(uploads).await;
    for (i, d) in digests.into_iter().enumerate() {
        let d = d.unwrap_or_else(|e| panic!("upload {i}: {e}"));
        let held = registry.resolve(&r(&format!("{repo}:{i}"))).await.unwrap();
        assert_eq!(held.unwrap().digest, d);
    }
    let requests = recorder.take_requests();
    let sends = requests
        .iter()
        // The digest's colon may be written `%3A`.
        .filter(|r| r.starts_with("PUT ") && r.contains(&shared_digest["sha256:".len()..]))
        .count();
    assert_eq!(sends, 1, "the shared layer is sent once: {requests:?}");
}

/// `text` as the registry client takes an image reference.
fn r(text: &str) -> strata::reference::ImageRef {
    text.parse().expect("an image reference")
}

/// `text` as the registry client takes a repository.
fn repo_of(text: &str) -> strata::reference::Repository {
    text.parse().expect("a repository")
}
