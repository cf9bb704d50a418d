//! The [`Transport`] for registries that need no token: plain HTTP requests.
//!
//! `oci-client` asks a registry's `/v2/` how to log in before each request it
//! holds no token for, and an open registry (no login at all) never gives it
//! one, so every request there costs two. strata asks once per host instead
//! ([`probe`]): a registry that answers `/v2/` with 200 is open, one that
//! challenges with `Basic` takes the user's credentials on every request.
//! Both are then spoken to here, on one connection pool, one request per
//! operation. A registry that wants a token (`Bearer`) is left to
//! `oci-client`, which fetches and caches tokens per repository.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use oci_client::Reference;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::transport::{
    answer_within, checked_manifest, header, manifest_url, read_capped, read_prefix, redact,
    unreachable, BlobStream, Transport, MANIFEST_TYPES, OCI_SUBJECT,
};
use super::upload::Blob;
use super::RegistryError;
use crate::secret::Secret;

/// A registry host spoken to with plain requests (open, or HTTP Basic).
pub(super) struct Plain {
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
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .read_timeout(io)
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
    let builder = if local {
        builder.tls_certs_only(std::iter::empty())
    } else {
        builder
    };
    builder.build()
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

impl Plain {
    pub(super) fn new(
        http: reqwest::Client,
        base: String,
        registry: String,
        basic: Option<(String, Secret)>,
        connect: Duration,
    ) -> Plain {
        Plain {
            http,
            base,
            registry,
            basic,
            connect,
        }
    }

    fn password(&self) -> Option<&Secret> {
        self.basic.as_ref().map(|(_, p)| p)
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
        self.send_as(request, None).await
    }

    /// [`Plain::send`], naming the request `what` in a timeout's message
    /// (else by its method and path).
    async fn send_as(
        &self,
        request: RequestBuilder,
        what: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let request = request
            .build()
            .map_err(|e| unreachable(&self.registry, &e, self.password()))?;
        let sent = if request.body().is_none() {
            let what = match what {
                Some(what) => what.to_string(),
                None => format!("{} {}", request.method(), request.url().path()),
            };
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
        sent.map_err(|e| unreachable(&self.registry, &e, self.password()))
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
        let body = redact(body.trim(), self.password());
        RegistryError::Other {
            reference: reference.whole(),
            message: format!(
                "the registry answered HTTP {}: {}",
                status.as_u16(),
                crate::text::cut(&body, 300)
            ),
        }
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
    ) -> Result<Option<Response>, RegistryError> {
        let request = self
            .request(method, &manifest_url(&self.base, reference))
            .header(ACCEPT, MANIFEST_TYPES.join(", "));
        let response = self.send(request).await?;
        match response.status() {
            StatusCode::OK => Ok(Some(response)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.refused(response, reference).await),
        }
    }

    /// Uploads `body` (`size` bytes, if known, digest `digest`) into
    /// `reference`'s repository: one `POST` for an upload, one `PUT` with
    /// the bytes.
    async fn push_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, reference.repository());
        let response = self.send(self.request(Method::POST, &start)).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.refused(response, reference).await);
        }
        let location = self.location(&response, reference)?;
        let url =
            reqwest::Url::parse_with_params(&location, &[("digest", digest)]).map_err(|e| {
                RegistryError::Other {
                    reference: reference.whole(),
                    message: format!("the registry gave an unusable upload location: {e}"),
                }
            })?;
        let mut request = self
            .request(Method::PUT, url.as_str())
            .header(CONTENT_TYPE, "application/octet-stream");
        if let Some(size) = size {
            request = request.header(CONTENT_LENGTH, size);
        }
        let response = self.send(request.body(body)).await?;
        if response.status() == StatusCode::CREATED {
            Ok(())
        } else {
            Err(self.refused(response, reference).await)
        }
    }

    /// The upload location an answer names, made absolute (it may be a
    /// path on the same host).
    fn location(
        &self,
        response: &Response,
        reference: &Reference,
    ) -> Result<String, RegistryError> {
        let Some(location) = header(response, LOCATION.as_str()) else {
            return Err(RegistryError::Other {
                reference: reference.whole(),
                message: "the registry started an upload but gave no Location".into(),
            });
        };
        Ok(if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        })
    }

    /// Blob `digest` of `reference`'s repository: the answer, whose body is
    /// the blob.
    async fn blob_response(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<Response, RegistryError> {
        let response = self
            .send(self.request(Method::GET, &self.blob_url(reference, digest)))
            .await?;
        if response.status() == StatusCode::OK {
            Ok(response)
        } else {
            Err(self.refused(response, reference).await)
        }
    }
}

#[async_trait]
impl Transport for Plain {
    async fn get_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let Some(response) = self.ask_manifest(Method::GET, reference).await? else {
            return Ok(None);
        };
        let stated = header(&response, "docker-content-digest");
        let what = format!("the manifest of {}", reference.whole());
        let bytes = read_capped(response, super::MAX_MANIFEST, &self.registry, &what).await?;
        checked_manifest(reference, bytes, stated)
    }

    /// The registry's `Docker-Content-Digest` to a `HEAD`; a registry that
    /// does not say gets a `GET`, and the digest is computed.
    async fn head_manifest(&self, reference: &Reference) -> Result<Option<String>, RegistryError> {
        let Some(response) = self.ask_manifest(Method::HEAD, reference).await? else {
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
            None => Ok(self.get_manifest(reference).await?.map(|(_, d)| d)),
        }
    }

    async fn put_manifest(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let request = self
            .request(Method::PUT, &manifest_url(&self.base, reference))
            .header(CONTENT_TYPE, media_type)
            .body(bytes);
        let response = self.send(request).await?;
        if response.status().is_success() {
            Ok(Some(header(&response, OCI_SUBJECT)))
        } else {
            Err(self.refused(response, reference).await)
        }
    }

    /// One page of one tag.
    async fn check(&self, repository: &Reference) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/tags/list?n=1", self.base, repository.repository());
        let response = self.send(self.request(Method::GET, &url)).await?;
        match response.status() {
            StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.refused(response, repository).await),
        }
    }

    async fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool, RegistryError> {
        let response = self
            .send(self.request(Method::HEAD, &self.blob_url(reference, digest)))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refused(response, reference).await),
        }
    }

    async fn put_blob(
        &self,
        reference: &Reference,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let size = bytes.len() as u64;
        self.push_blob(reference, digest, Some(size), bytes.into())
            .await
    }

    /// Read as it is sent rather than held in memory.
    async fn put_blob_file(&self, reference: &Reference, blob: &Blob) -> Result<(), RegistryError> {
        let file = tokio::fs::File::open(&blob.path)
            .await
            .map_err(|e| RegistryError::Other {
                reference: reference.whole(),
                message: format!("cannot read {}: {e}", blob.path.display()),
            })?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        self.push_blob(reference, &blob.digest, Some(blob.size), body)
            .await
    }

    async fn get_blob(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<BlobStream, RegistryError> {
        let response = self.blob_response(reference, digest).await?;
        Ok(BlobStream {
            size: response.content_length(),
            chunks: Box::pin(
                response
                    .bytes_stream()
                    .map_ok(|chunk| chunk.to_vec())
                    .map_err(std::io::Error::other),
            ),
        })
    }

    /// A mount (`POST …/blobs/uploads/?mount=…&from=…`); a registry that
    /// does not mount gets the blob downloaded and uploaded, streamed.
    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let url = format!(
            "{}/v2/{}/blobs/uploads/?mount={digest}&from={}",
            self.base,
            target.repository(),
            source.repository()
        );
        let response = self
            .send_as(self.request(Method::POST, &url), Some("a blob mount"))
            .await?;
        match response.status() {
            StatusCode::CREATED => return Ok(()),
            // A refused login will not get better by copying.
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(self.refused(response, target).await)
            }
            _ => {}
        }
        let from = source.clone_with_digest(digest.to_string());
        let blob = self.blob_response(&from, digest).await?;
        let size = blob.content_length();
        let body = reqwest::Body::wrap_stream(blob.bytes_stream());
        self.push_blob(target, digest, size, body).await
    }

    async fn get(
        &self,
        _reference: &Reference,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let request = self.request(Method::GET, url).header(ACCEPT, accept);
        self.send_as(request, Some(what)).await
    }
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
