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
    // Where the bytes came from, for SBOMs: the registry's tarball URL.
    let (tarball, _) = registry_dist().await;
    assert_eq!(again.origin(&small_package()), Some(tarball));
    let other = Fetcher::new(tempfile::tempdir().unwrap().path());
    assert_eq!(other.origin(&small_package()), None, "not cached: unknown");
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

/// A local HTTP server on 127.0.0.1: each connection is answered on its own
/// thread by `answer(path, stream)`. Returns its base URL.
fn serve<F>(answer: F) -> String
where
    F: Fn(&str, &mut std::net::TcpStream) + Send + Sync + 'static,
{
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                answer(&path, &mut stream);
            });
        }
    });
    base
}

fn respond(stream: &mut std::net::TcpStream, status: &str, headers: &str, body: &[u8]) {
    use std::io::Write;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
}

/// A server that sends its body one byte every `every`, never finishing.
fn dripping(every: std::time::Duration) -> String {
    serve(move |_, stream| {
        use std::io::Write;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\nconnection: close\r\n\r\n"
        );
        loop {
            std::thread::sleep(every);
            if stream.write_all(b"x").and_then(|_| stream.flush()).is_err() {
                return;
            }
        }
    })
}

fn url_artifact(url: String, sha256: Option<String>, shasums_url: Option<String>) -> Artifact {
    Artifact {
        file_name: "file.tgz".into(),
        source: ArtifactSource::Url {
            url,
            sha256,
            shasums_url,
        },
    }
}

#[tokio::test]
async fn a_server_that_goes_silent_is_given_up_after_the_io_timeout() {
    let cache = tempfile::tempdir().unwrap();
    // One byte every 5 s, as a slow or hostile server does; 1 s of silence
    // is the most this run allows.
    let base = dripping(std::time::Duration::from_secs(5));
    let fetcher = Fetcher::new(cache.path())
        .with_retry_delay(std::time::Duration::from_millis(10))
        .with_timeouts(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(120),
        );
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        fetcher.fetch(&url_artifact(
            format!("{base}/slow.tgz"),
            Some("ab".repeat(32)),
            None,
        )),
    )
    .await
    .expect("the download must end on its own")
    .unwrap_err();
    assert!(matches!(err, ArtifactError::Network { .. }), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Nothing half-downloaded is left in the cache.
    let files: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test]
async fn a_download_that_never_ends_is_given_up_at_the_overall_limit() {
    let cache = tempfile::tempdir().unwrap();
    // Never silent for long, never done: only the overall limit ends it.
    let base = dripping(std::time::Duration::from_millis(100));
    let fetcher = Fetcher::new(cache.path()).with_timeouts(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(2),
    );
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        fetcher.fetch(&url_artifact(
            format!("{base}/drip.tgz"),
            Some("ab".repeat(32)),
            None,
        )),
    )
    .await
    .expect("the download must end on its own")
    .unwrap_err();
    assert!(matches!(err, ArtifactError::TooSlow { .. }), "{err}");
    assert!(err.to_string().contains("took longer than 2s"), "{err}");
}

#[tokio::test]
async fn a_download_over_the_size_cap_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let base = serve(|_, stream| respond(stream, "200 OK", "", &[7u8; 4096]));
    let err = Fetcher::new(cache.path())
        .with_max_bytes(1024)
        .fetch(&url_artifact(
            format!("{base}/big.tgz"),
            Some("ab".repeat(32)),
            None,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("longer than 1024 bytes"), "{err}");
}

#[tokio::test]
async fn temporaries_left_by_a_killed_run_are_removed_and_a_live_runs_kept() {
    let cache = tempfile::tempdir().unwrap();
    let body = b"artifact bytes".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&body));
    let base = serve(move |_, stream| respond(stream, "200 OK", "", &body));
    let dir = cache.path().join("sha256");
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join(".tmpKILLED");
    std::fs::write(&stale, b"half a download").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let fetcher = Fetcher::new(cache.path());
    // Another run's download, started after this one.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let live = dir.join(".tmpLIVE");
    std::fs::write(&live, b"in progress").unwrap();
    fetcher
        .fetch(&url_artifact(format!("{base}/a.tgz"), Some(sum), None))
        .await
        .unwrap();
    assert!(!stale.exists(), "the killed run's temporary stays");
    assert!(live.exists(), "a running download's temporary was removed");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_followed_and_recorded() {
    let cache = tempfile::tempdir().unwrap();
    let body = b"mirrored bytes".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&body));
    let mirror = serve(move |_, stream| respond(stream, "200 OK", "", &body));
    // The same server under another host name.
    let mirror = mirror.replace("127.0.0.1", "localhost");
    let target = format!("{mirror}/files/a.tgz");
    let moved = target.clone();
    let origin = serve(move |_, stream| {
        respond(stream, "302 Found", &format!("location: {moved}\r\n"), b"")
    });
    let asked = format!("{origin}/a.tgz");
    let fetcher = Fetcher::new(cache.path());
    let path = fetcher
        .fetch(&url_artifact(asked.clone(), Some(sum), None))
        .await
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"mirrored bytes");
    assert_eq!(fetcher.redirects(), vec![(asked, target.clone())]);
    let index: Vec<String> = walk(&cache.path().join("index"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(index.len(), 1);
    assert!(index[0].contains(&format!("from {target}")), "{index:?}");
}

#[tokio::test]
async fn a_shasums_list_naming_a_file_twice_with_different_sums_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let list = format!("{}  a.tgz\n{}  a.tgz\n", "ab".repeat(32), "cd".repeat(32));
    let base = serve(move |_, stream| respond(stream, "200 OK", "", list.as_bytes()));
    let err = Fetcher::new(cache.path())
        .fetch(&url_artifact(
            format!("{base}/a.tgz"),
            None,
            Some(format!("{base}/SHASUMS256.txt")),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ArtifactError::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains("twice with different sums"),
        "{err}"
    );
}

/// Runs `fetcher.fetch(artifact)` on a thread of its own; `None` when it has
/// not finished within `wait` (the thread is left behind, blocked).
fn fetch_within(
    fetcher: Fetcher,
    artifact: Artifact,
    wait: std::time::Duration,
) -> Option<Result<std::path::PathBuf, ArtifactError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(runtime.block_on(fetcher.fetch(&artifact)));
    });
    rx.recv_timeout(wait).ok()
}

#[test]
fn a_cached_file_replaced_by_a_fifo_is_refused_without_blocking() {
    let cache = tempfile::tempdir().unwrap();
    let body = b"cached bytes".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&body));
    let base = serve(move |_, stream| respond(stream, "200 OK", "", &body));
    let artifact = url_artifact(format!("{base}/c.tgz"), Some(sum), None);
    let wait = std::time::Duration::from_secs(30);
    let path = fetch_within(Fetcher::new(cache.path()), artifact.clone(), wait)
        .expect("the first fetch ends")
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let err = fetch_within(Fetcher::new(cache.path()), artifact, wait)
        .expect("a FIFO in the cache must not block")
        .unwrap_err();
    assert!(matches!(err, ArtifactError::Io { .. }), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
