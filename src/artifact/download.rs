//! HTTP with retries, and the verified streaming download into the cache.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;

use super::digest::{self, Expected, Hasher};
use super::{ArtifactError, Fetcher};

/// Attempts per request: network hiccups and 5xx answers are retried.
const ATTEMPTS: u32 = 4;

/// A failed attempt: worth retrying or not.
enum Attempt {
    Retry(String),
    Fatal(ArtifactError),
}

impl Fetcher {
    /// GETs `url` as text, retrying network errors.
    /// GETs `url` as text, retrying network errors; at most
    /// [`super::MAX_TEXT_BYTES`] are read.
    pub(super) async fn get_text(&self, what: &str, url: &str) -> Result<String, ArtifactError> {
        let cap = super::MAX_TEXT_BYTES;
        self.with_retries(what, url, || async {
            let mut response = self.send(what, url).await?;
            let too_long = || {
                Attempt::Fatal(ArtifactError::Unavailable {
                    what: what.to_string(),
                    message: format!(
                        "{url} is longer than {} ({cap} bytes), the most strata reads of metadata or a checksum list",
                        crate::config::read::show_size(cap)
                    ),
                })
            };
            if response.content_length().is_some_and(|n| n > cap) {
                return Err(too_long());
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| Attempt::Retry(error_chain(&e)))?
            {
                if (bytes.len() + chunk.len()) as u64 > cap {
                    return Err(too_long());
                }
                bytes.extend_from_slice(&chunk);
            }
            String::from_utf8(bytes).map_err(|_| {
                Attempt::Fatal(ArtifactError::Unavailable {
                    what: what.to_string(),
                    message: format!("{url} is not UTF-8 text"),
                })
            })
        })
        .await
    }

    /// Streams `url` into a temporary file in the cache while hashing it, and
    /// renames it to its digest's name only if the digest matches. Returns
    /// the file and the URL it was served from (after redirects).
    pub(super) async fn download(
        &self,
        what: &str,
        url: &str,
        expected: &Expected,
    ) -> Result<(PathBuf, String), ArtifactError> {
        let max = self.max_bytes;
        let too_long = || {
            Attempt::Fatal(ArtifactError::Unavailable {
                what: what.to_string(),
                message: format!(
                    "{url} is longer than {max} bytes, the most strata downloads for one artifact"
                ),
            })
        };
        let target = self.blob_path(expected);
        let dir = target
            .parent()
            .expect("blob path has a parent")
            .to_path_buf();
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| ArtifactError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;

        let (file, served_from) = self
            .with_retries(what, url, || async {
                let response = self.send(what, url).await?;
                if response.content_length().is_some_and(|n| n > max) {
                    return Err(too_long());
                }
                let served_from = response.url().to_string();
                let mut tmp = tempfile::NamedTempFile::new_in(&dir)
                    .map_err(|e| Attempt::Fatal(io(&dir)(e)))?;
                let mut hasher = Hasher::new(expected.algorithm);
                let mut stream = response.bytes_stream();
                let mut received: u64 = 0;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| Attempt::Retry(error_chain(&e)))?;
                    received += chunk.len() as u64;
                    if received > max {
                        return Err(too_long());
                    }
                    hasher.update(&chunk);
                    tmp.write_all(&chunk)
                        .map_err(|e| Attempt::Fatal(io(&dir)(e)))?;
                }
                let actual = hasher.finish();
                if actual != expected.bytes {
                    // The temporary file is deleted when dropped: never used.
                    return Err(Attempt::Fatal(ArtifactError::Mismatch {
                        what: what.to_string(),
                        expected: expected.display(),
                        actual: digest::show(expected.algorithm, &actual),
                        location: None,
                    }));
                }
                Ok((tmp, served_from))
            })
            .await?;
        file.persist(&target).map_err(|e| ArtifactError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        Ok((target, served_from))
    }

    /// Sends one GET, sorting failures into retryable and fatal.
    async fn send(&self, what: &str, url: &str) -> Result<reqwest::Response, Attempt> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let response = self
            .client()
            .map_err(Attempt::Fatal)?
            .get(url)
            .send()
            .await
            .map_err(|e| Attempt::Retry(error_chain(&e)))?;
        self.note_redirect(what, url, response.url());
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Retry(format!("server answered {status}")));
        }
        if !status.is_success() {
            return Err(Attempt::Fatal(ArtifactError::Unavailable {
                what: what.to_string(),
                message: format!("{url} answered {status}"),
            }));
        }
        Ok(response)
    }

    /// Remembers (and with `-v` says) a redirect that left `asked`'s host.
    fn note_redirect(&self, what: &str, asked: &str, served: &reqwest::Url) {
        let asked_host = reqwest::Url::parse(asked)
            .ok()
            .map(|u| (u.host_str().map(str::to_owned), u.port_or_known_default()));
        let served_host = Some((
            served.host_str().map(str::to_owned),
            served.port_or_known_default(),
        ));
        if asked_host == served_host {
            return;
        }
        if self.verbose {
            eprintln!(
                "strata: {}: {} redirected to another host: {}",
                crate::text::cut(what, 200),
                crate::text::cut(asked, 400),
                crate::text::cut(served.as_str(), 400)
            );
        }
        self.redirects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((asked.to_string(), served.to_string()));
    }

    /// Runs `attempt` until it succeeds, fails fatally, or attempts run out,
    /// waiting `retry_delay`, then twice as long, between attempts.
    async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        url: &str,
        attempt: F,
    ) -> Result<T, ArtifactError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let mut delay = self.retry_delay;
        let mut last = String::new();
        for n in 1..=ATTEMPTS {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(message)) => last = message,
            }
            if n < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Err(ArtifactError::Network {
            what: what.to_string(),
            url: url.to_string(),
            message: format!("{last} (after {ATTEMPTS} attempts)"),
        })
    }
}

/// reqwest's error with its causes, which carry the useful part
/// ("connection refused", "certificate unknown").
pub(super) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
