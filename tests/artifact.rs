//! Artifacts are downloaded on the host from the real npm registry, verified
//! against its integrity, cached by digest, and never used when they do not match.

use std::sync::Arc;

use sha2::Digest;
use strata::artifact::{ArtifactError, Fetcher};
use strata::plan::{Artifact, ArtifactSource};

/// A tiny, long-published npm package.
fn small_package() -> Artifact {
    Artifact {
        file_name: "is-number.tgz".into(),
        source: ArtifactSource::Npm {
            package: "is-number".into(),
            version: "7.0.0".into(),
        },
    }
}

/// What the npm registry says about the package, read independently.
async fn registry_dist() -> (String, String) {
    let meta: serde_json::Value = reqwest::get("https://registry.npmjs.org/is-number/7.0.0")
        .await
        .expect("registry.npmjs.org must be reachable for this test")
        .json()
        .await
        .unwrap();
    (
        meta["dist"]["tarball"].as_str().unwrap().to_string(),
        meta["dist"]["integrity"].as_str().unwrap().to_string(),
    )
}

fn sha512_sri(bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

#[tokio::test]
async fn npm_download_is_verified_and_then_served_from_cache() {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path());
    let path = fetcher.fetch(&small_package()).await.unwrap();
    assert!(path.starts_with(cache.path()));
    let bytes = std::fs::read(&path).unwrap();
    let (_, integrity) = registry_dist().await;
    assert_eq!(
        sha512_sri(&bytes),
        integrity,
        "the file is exactly the published tarball"
    );
    assert_eq!(fetcher.network_requests(), 2, "metadata + tarball");

    // A new fetcher over the same cache needs no network at all.
    let again = Fetcher::new(cache.path()).with_npm_registry("https://127.0.0.1:9");
    assert_eq!(again.fetch(&small_package()).await.unwrap(), path);
    assert_eq!(again.network_requests(), 0);
}

#[tokio::test]
async fn concurrent_fetches_download_once() {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Arc::new(Fetcher::new(cache.path()));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let f = fetcher.clone();
            tokio::spawn(async move { f.fetch(&small_package()).await.unwrap() })
        })
        .collect();
    let mut paths = Vec::new();
    for t in tasks {
        paths.push(t.await.unwrap());
    }
    paths.dedup();
    assert_eq!(paths.len(), 1);
    assert_eq!(
        fetcher.network_requests(),
        2,
        "one metadata and one tarball request in all"
    );
}

#[tokio::test]
async fn tampered_cache_is_a_hard_failure() {
    let cache = tempfile::tempdir().unwrap();
    let path = Fetcher::new(cache.path())
        .fetch(&small_package())
        .await
        .unwrap();
    std::fs::write(&path, b"not the package").unwrap();
    let err = Fetcher::new(cache.path())
        .fetch(&small_package())
        .await
        .expect_err("a changed cached file must not be used");
    match &err {
        ArtifactError::Mismatch {
            expected, actual, ..
        } => {
            assert_eq!(actual, &sha512_sri(b"not the package"));
            assert_eq!(expected, &registry_dist().await.1);
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("expected sha512-") && text.contains("got sha512-"),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_checksum_is_refused_and_nothing_is_cached() {
    let cache = tempfile::tempdir().unwrap();
    let (tarball, _) = registry_dist().await;
    let wrong = "00".repeat(32);
    let artifact = Artifact {
        file_name: "x.tgz".into(),
        source: ArtifactSource::Url {
            url: tarball.clone(),
            sha256: Some(wrong.clone()),
            shasums_url: None,
        },
    };
    let err = Fetcher::new(cache.path())
        .fetch(&artifact)
        .await
        .unwrap_err();
    let ArtifactError::Mismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected a mismatch, got {err}");
    };
    assert_eq!(expected, &format!("sha256:{wrong}"));
    assert_ne!(actual, expected);
    // Neither the blob nor a temporary file stays in the cache.
    let leftover: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| !p.is_dir())
        .collect();
    assert!(leftover.is_empty(), "cache holds {leftover:?}");

    // With the right SHA-256 the same URL is accepted.
    let bytes = reqwest::get(&tarball).await.unwrap().bytes().await.unwrap();
    let right = Artifact {
        file_name: "x.tgz".into(),
        source: ArtifactSource::Url {
            url: tarball,
            sha256: Some(hex::encode(sha2::Sha256::digest(&bytes))),
            shasums_url: None,
        },
    };
    let path = Fetcher::new(cache.path()).fetch(&right).await.unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes.to_vec());
}

#[tokio::test]
async fn unreachable_server_fails_after_retries() {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path())
        .with_npm_registry("https://127.0.0.1:9")
        .with_retry_delay(std::time::Duration::from_millis(10));
    let err = fetcher.fetch(&small_package()).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Network { .. }), "{err}");
    assert!(fetcher.network_requests() > 1, "network errors are retried");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
