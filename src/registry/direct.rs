//! Plain HTTP requests to registries that need no token.
//!
//! `oci-client` asks a registry's `/v2/` how to log in before each request it
//! holds no token for, and an open registry (no login at all) never gives it
//! one, so every request there costs two. strata asks once per host instead
//! ([`probe`]): a registry that answers `/v2/` with 200 is open, one that
//! challenges with `Basic` takes the user's credentials on every request.
//! Both are then spoken to here, on one connection pool, one request per
//! operation. A registry that wants a token (`Bearer`) is left to
//! `oci-client`, which fetches and caches tokens per repository.

use std::path::Path;
use std::time::Duration;

use oci_client::Reference;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::{upload, RegistryError};
use crate::secret::Secret;

/// A registry host spoken to with plain requests (open, or HTTP Basic).
pub(super) struct Direct {
    http: reqwest::Client,
    /// `http://host:port` or `https://host`.
    base: String,
    registry: String,
    /// User and password, sent on every request (Basic); `None` when open.
    basic: Option<(String, Secret)>,
    /// How long a request without a body may wait for the answer's head
    /// (`--connect-timeout`; see [`answer_within`]).
    connect: Duration,
}

/// What `/v2/` answered: how the registry wants to be spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// No login at all (200).
    Open,
    /// HTTP Basic (a `Basic` challenge).
    Basic,
    /// Anything else (a token service, an odd answer): `oci-client`'s way.
    Other,
}

/// The shared HTTP client for one host, waiting as `connect` and `io` say
/// (`io` is silence on an open connection, not a request's length). A
/// `local` host is spoken to over plain HTTP: no TLS roots are loaded.
pub(super) fn client(
    connect: Duration,
    io: Duration,
    local: bool,
) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .read_timeout(io)
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
    let builder = if local {
        builder.tls_certs_only(std::iter::empty())
    } else {
        builder
    };
    builder.build().map_err(|e| e.to_string())
}

/// Waits for the head of the answer to a request without a body (a
/// question, such as the `/v2/` check before the first push) at most
/// `connect`: a registry that accepted the connection and says nothing is
/// as good as unreachable, and is not waited on for the I/O timeout
/// (which is for uploads, and silence while a body streams).
pub(super) async fn answer_within<F>(
    connect: Duration,
    registry: &str,
    what: &str,
    request: F,
) -> Result<F::Output, RegistryError>
where
    F: std::future::Future,
{
    tokio::time::timeout(connect, request)
        .await
        .map_err(|_| RegistryError::Unreachable {
            registry: registry.to_string(),
            message: format!(
                "no answer within {} s to {what} (--connect-timeout)",
                connect.as_secs_f64()
            ),
        })
}

/// Asks `base/v2/` once how the registry wants to be spoken to, waiting
/// for the answer at most `connect`.
pub(super) async fn probe(
    http: &reqwest::Client,
    base: &str,
    registry: &str,
    connect: Duration,
) -> Result<Access, RegistryError> {
    let response = answer_within(
        connect,
        registry,
        "GET /v2/",
        http.get(format!("{base}/v2/")).send(),
    )
    .await?
    .map_err(|e| unreachable(registry, &e, None))?;
    Ok(access_of(
        response.status(),
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok()),
    ))
}

/// The [`Access`] an answer to `/v2/` says.
pub(super) fn access_of(status: StatusCode, challenge: Option<&str>) -> Access {
    match (status.as_u16(), challenge) {
        (200, None) => Access::Open,
        (401, Some(c)) if c.trim_start().to_ascii_lowercase().starts_with("basic") => Access::Basic,
        _ => Access::Other,
    }
}

/// The body of `response`, read chunk by chunk and given up on as soon as
/// it passes `cap` bytes (a `Content-Length` above it is refused before a
/// byte is read): a registry that sends more than strata reads of `what` is
/// not usable, and is reported as an unreachable one is (exit 3).
pub(super) async fn read_capped(
    mut response: Response,
    cap: usize,
    registry: &str,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::Unreachable {
        registry: registry.to_string(),
        message: format!(
            "it sent more than {cap} bytes for {what}, more than strata reads of one \
             ({} MiB); a registry that does is not usable",
            cap >> 20
        ),
    };
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(registry, &e, None))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most the first `cap` bytes of `response`'s body, as text (an error
/// answer quoted in a message; the rest is not read).
pub(super) async fn read_prefix(mut response: Response, cap: usize) -> String {
    let mut body = Vec::new();
    while body.len() < cap {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(cap - body.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A failed request as strata reports it: the registry cannot be reached,
/// or gave no answer within the timeouts.
pub(super) fn unreachable(
    registry: &str,
    error: &reqwest::Error,
    password: Option<&Secret>,
) -> RegistryError {
    let message = super::oci::redact(&super::oci::error_chain(error), password);
    let message = if error.is_timeout() {
        format!("no answer within the timeout (--io-timeout, --connect-timeout): {message}")
    } else {
        message
    };
    RegistryError::Unreachable {
        registry: registry.to_string(),
        message,
    }
}

impl Direct {
    pub(super) fn new(
        http: reqwest::Client,
        base: String,
        registry: String,
        basic: Option<(String, Secret)>,
        connect: Duration,
    ) -> Direct {
        Direct {
            http,
            base,
            registry,
            basic,
            connect,
        }
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.basic {
            Some((user, password)) => request.basic_auth(user, Some(password.expose())),
            None => request,
        }
    }

    /// Sends `request`. One without a body gets its answer's head within
    /// the connect timeout ([`answer_within`]); an upload waits as the I/O
    /// timeout says.
    async fn send(&self, request: RequestBuilder) -> Result<Response, RegistryError> {
        let password = self.basic.as_ref().map(|(_, p)| p);
        let request = request
            .build()
            .map_err(|e| unreachable(&self.registry, &e, password))?;
        let sent = if request.body().is_none() {
            let what = format!("{} {}", request.method(), request.url().path());
            answer_within(
                self.connect,
                &self.registry,
                &what,
                self.http.execute(request),
            )
            .await?
        } else {
            self.http.execute(request).await
        };
        sent.map_err(|e| unreachable(&self.registry, &e, password))
    }

    /// An answer that is neither what was asked for nor "not found".
    async fn refused(&self, response: Response, reference: &Reference) -> RegistryError {
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return RegistryError::Unauthorized {
                registry: self.registry.clone(),
                reference: reference.whole(),
            };
        }
        let body = read_prefix(response, 64 * 1024).await;
        let body = super::oci::redact(body.trim(), self.basic.as_ref().map(|(_, p)| p));
        RegistryError::Other {
            reference: reference.whole(),
            message: format!(
                "the registry answered HTTP {}: {}",
                status.as_u16(),
                crate::text::cut(&body, 300)
            ),
        }
    }

    fn manifest_url(&self, reference: &Reference) -> String {
        let at = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        format!("{}/v2/{}/manifests/{at}", self.base, reference.repository())
    }

    fn blob_url(&self, reference: &Reference, digest: &str) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.base, reference.repository())
    }

    /// The answer to `method` on `reference`'s manifest: `None` when the
    /// registry has none, an error when it refuses.
    async fn ask_manifest(
        &self,
        method: Method,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<Option<Response>, RegistryError> {
        let request = self
            .request(method, &self.manifest_url(reference))
            .header(ACCEPT, accept.join(", "));
        let response = self.send(request).await?;
        match response.status() {
            StatusCode::OK => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.refused(response, reference).await),
        }
    }

    /// The manifest `reference` names and its digest (of the bytes, checked
    /// against the digest asked for and the one the registry states), or
    /// `None` when there is none.
    pub(super) async fn manifest(
        &self,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let Some(response) = self.ask_manifest(Method::GET, reference, accept).await? else {
            return Ok(None);
        };
        let stated = header(&response, "docker-content-digest");
        let what = format!("the manifest of {}", reference.whole());
        let bytes = read_capped(response, super::MAX_MANIFEST, &self.registry, &what).await?;
        checked_manifest(reference, bytes, stated)
    }

    /// The digest `reference` resolves to (`HEAD`, the registry's
    /// `Docker-Content-Digest`), or `None` when there is none. A registry
    /// that does not say gets a `GET`, and the digest is computed.
    pub(super) async fn digest(
        &self,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<Option<String>, RegistryError> {
        let Some(response) = self.ask_manifest(Method::HEAD, reference, accept).await? else {
            return Ok(None);
        };
        match header(&response, "docker-content-digest") {
            Some(digest) => {
                if let Some(asked) = reference.digest() {
                    if asked != digest {
                        return Err(RegistryError::Other {
                            reference: reference.whole(),
                            message: format!("the registry says its digest is {digest}"),
                        });
                    }
                }
                Ok(Some(digest))
            }
            None => Ok(self.manifest(reference, accept).await?.map(|(_, d)| d)),
        }
    }

    /// Puts `bytes` (of `media_type`) under `reference` (a tag or its digest).
    /// Returns the answer's `OCI-Subject` header, if it had one: a registry
    /// that lists the manifest by its `subject` says so with it.
    pub(super) async fn put_manifest(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<String>, RegistryError> {
        let request = self
            .request(Method::PUT, &self.manifest_url(reference))
            .header(CONTENT_TYPE, media_type)
            .body(bytes);
        let response = self.send(request).await?;
        if response.status().is_success() {
            Ok(header(&response, OCI_SUBJECT))
        } else {
            Err(self.refused(response, reference).await)
        }
    }

    /// Checks the registry answers and takes the credentials for
    /// `repository` (one page of one tag; a repository not made yet is fine).
    pub(super) async fn check(&self, repository: &Reference) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/tags/list?n=1", self.base, repository.repository());
        let response = self.send(self.request(Method::GET, &url)).await?;
        match response.status() {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.refused(response, repository).await),
        }
    }

    /// Whether `reference`'s repository holds blob `digest`.
    pub(super) async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let response = self
            .send(self.request(Method::HEAD, &self.blob_url(reference, digest)))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refused(response, reference).await),
        }
    }

    /// Uploads `body` (`size` bytes, digest `digest`) into `reference`'s
    /// repository: one `POST` for an upload, one `PUT` with the bytes.
    async fn push_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, reference.repository());
        let response = self.send(self.request(Method::POST, &start)).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.refused(response, reference).await);
        }
        let Some(location) = header(&response, LOCATION.as_str()) else {
            return Err(RegistryError::Other {
                reference: reference.whole(),
                message: "the registry started an upload but gave no Location".into(),
            });
        };
        // The location may be absolute or a path on the same host.
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let url =
            reqwest::Url::parse_with_params(&location, &[("digest", digest)]).map_err(|e| {
                RegistryError::Other {
                    reference: reference.whole(),
                    message: format!("the registry gave an unusable upload location: {e}"),
                }
            })?;
        let request = self
            .request(Method::PUT, url.as_str())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        let response = self.send(request).await?;
        if response.status() == StatusCode::CREATED {
            Ok(())
        } else {
            Err(self.refused(response, reference).await)
        }
    }

    /// Uploads `bytes` as blob `digest` of `reference`'s repository.
    pub(super) async fn push_bytes(
        &self,
        reference: &Reference,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let size = bytes.len() as u64;
        self.push_blob(reference, digest, size, bytes.into()).await
    }

    /// Uploads the file at `path` (`size` bytes) as blob `digest`, read as it
    /// is sent rather than held in memory.
    pub(super) async fn push_file(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        path: &Path,
    ) -> Result<(), RegistryError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| RegistryError::Other {
                reference: reference.whole(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        self.push_blob(reference, digest, size, body).await
    }
}

/// `bytes`, the manifest `reference` names, with its digest: checked
/// against the digest asked for and the one the registry `stated`.
pub(super) fn checked_manifest(
    reference: &Reference,
    bytes: Vec<u8>,
    stated: Option<String>,
) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
    let digest = upload::sha256(&bytes);
    let wrong = |what: &str, said: &str| RegistryError::Other {
        reference: reference.whole(),
        message: format!("the registry sent a manifest whose digest is {digest}, {what} {said}"),
    };
    if let Some(asked) = reference.digest() {
        if asked != digest {
            return Err(wrong("not the", asked));
        }
    }
    if let Some(said) = stated.filter(|s| s.starts_with("sha256:")) {
        if said != digest {
            return Err(wrong("yet it says", &said));
        }
    }
    Ok(Some((bytes, digest)))
}

/// The header a registry with the referrers API answers an artifact
/// manifest's `PUT` with: the subject's digest, listed by it.
pub(super) const OCI_SUBJECT: &str = "OCI-Subject";

pub(super) fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_from_the_answer_to_v2() {
        assert_eq!(access_of(StatusCode::OK, None), Access::Open);
        assert_eq!(
            access_of(StatusCode::UNAUTHORIZED, Some("Basic realm=\"registry\"")),
            Access::Basic
        );
        assert_eq!(
            access_of(StatusCode::UNAUTHORIZED, Some("basic realm=x")),
            Access::Basic
        );
        let bearer = "Bearer realm=\"https://auth.example/token\",service=\"registry\"";
        assert_eq!(
            access_of(StatusCode::UNAUTHORIZED, Some(bearer)),
            Access::Other
        );
        // An open answer that still challenges is left to oci-client.
        assert_eq!(access_of(StatusCode::OK, Some(bearer)), Access::Other);
        assert_eq!(access_of(StatusCode::UNAUTHORIZED, None), Access::Other);
        assert_eq!(
            access_of(StatusCode::INTERNAL_SERVER_ERROR, None),
            Access::Other
        );
    }
}
