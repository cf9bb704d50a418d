//! The [`Transport`] for registries that want tokens: `oci-client`, which
//! fetches and caches a token per repository and operation.
//!
//! Reads whose bodies strata caps itself (manifests, tag lists, referrers)
//! are sent on strata's own connection pool with the token `oci-client`
//! fetched for pulling; writes go through `oci-client`.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::Response;

use super::transport::{
    answer_within, checked_manifest, error_chain, header, manifest_url, read_capped, read_prefix,
    redact, unreachable, BlobStream, Transport, MANIFEST_TYPES,
};
use super::upload::Blob;
use super::RegistryError;
use crate::secret::Secret;

/// A registry host spoken to through `oci-client`.
pub(super) struct Token {
    /// `oci-client`'s client, made on first use: making one loads the
    /// system's TLS roots.
    oci: tokio::sync::OnceCell<Client>,
    protocol: ClientProtocol,
    /// Establishing a connection, and silence on an open one.
    connect: Duration,
    io: Duration,
    auth: RegistryAuth,
    /// Kept only to scrub it out of error text the registry might echo back.
    password: Option<Secret>,
    /// The host as `oci-client` resolves it (`127.0.0.1:5000`, `index.docker.io`).
    registry: String,
    /// `http://host` or `https://host`.
    base: String,
    /// One connection pool for the reads strata makes itself.
    http: reqwest::Client,
}

impl Token {
    pub(super) fn new(
        http: reqwest::Client,
        base: String,
        registry: String,
        credentials: Option<(String, Secret)>,
        local: bool,
        (connect, io): (Duration, Duration),
    ) -> Token {
        let protocol = if local {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let auth = match &credentials {
            Some((user, password)) => {
                RegistryAuth::Basic(user.clone(), password.expose().to_string())
            }
            None => RegistryAuth::Anonymous,
        };
        Token {
            oci: tokio::sync::OnceCell::new(),
            protocol,
            connect,
            io,
            auth,
            password: credentials.map(|(_, p)| p),
            registry,
            base,
            http,
        }
    }

    /// `oci-client`'s client for this host, made on first use.
    async fn client(&self) -> &Client {
        self.oci
            .get_or_init(|| async {
                let client = Client::new(ClientConfig {
                    protocol: self.protocol.clone(),
                    connect_timeout: Some(self.connect),
                    read_timeout: Some(self.io),
                    ..Default::default()
                });
                // Calls that take no credentials (blob checks, mounts) use the stored ones.
                client
                    .store_auth_if_needed(&self.registry, &self.auth)
                    .await;
                client
            })
            .await
    }

    /// `request` (one without a body) answered within the connect timeout
    /// ([`answer_within`]), else the registry is unreachable.
    async fn within<F: std::future::Future>(
        &self,
        what: &str,
        request: F,
    ) -> Result<F::Output, RegistryError> {
        answer_within(self.connect, &self.registry, what, request).await
    }

    /// Maps a client error onto strata's kinds, with the password scrubbed
    /// from the text in case a registry or proxy echoed it back.
    fn error(&self, error: OciDistributionError, reference: &Reference) -> RegistryError {
        classify(error, reference, self.password.as_ref())
    }
}

#[async_trait]
impl Transport for Token {
    async fn get_manifest(
        &self,
        image: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let url = manifest_url(&self.base, image);
        let accept = MANIFEST_TYPES.join(", ");
        let response = self.get(image, &url, &accept, "GET of a manifest").await?;
        match response.status().as_u16() {
            200 => {
                let stated = header(&response, "docker-content-digest");
                let what = format!("the manifest of {}", image.whole());
                let bytes =
                    read_capped(response, super::MAX_MANIFEST, &self.registry, &what).await?;
                checked_manifest(image, bytes, stated)
            }
            404 => Ok(None),
            401 | 403 => Err(RegistryError::Unauthorized {
                registry: image.registry().to_string(),
                reference: image.whole(),
            }),
            code => {
                let body = read_prefix(response, 4096).await;
                Err(RegistryError::Other {
                    reference: image.whole(),
                    message: format!(
                        "the registry answered HTTP {code}: {}",
                        crate::text::cut(&redact(body.trim(), self.password.as_ref()), 300)
                    ),
                })
            }
        }
    }

    async fn head_manifest(&self, image: &Reference) -> Result<Option<String>, RegistryError> {
        let asked = self.client().await.fetch_manifest_digest(image, &self.auth);
        match self.within("HEAD of a manifest", asked).await? {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(e, image)),
        }
    }

    /// The answer's headers are not seen: `None`.
    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let content_type = media_type.parse().map_err(|_| RegistryError::Other {
            reference: target.whole(),
            message: format!("unusable media type {media_type:?}"),
        })?;
        self.client()
            .await
            .push_manifest_raw(target, bytes, content_type)
            .await
            .map_err(|e| self.error(e, target))?;
        Ok(None)
    }

    async fn check(&self, repo: &Reference) -> Result<(), RegistryError> {
        let asked = self
            .client()
            .await
            .list_tags(repo, &self.auth, Some(1), None);
        match self.within("a tag list", asked).await? {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.error(e, repo)),
        }
    }

    async fn has_blob(&self, target: &Reference, digest: &str) -> Result<bool, RegistryError> {
        self.within(
            "HEAD of a blob",
            self.client().await.blob_exists(target, digest),
        )
        .await?
        .map_err(|e| self.error(e, target))
    }

    async fn put_blob(
        &self,
        target: &Reference,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<(), RegistryError> {
        self.client()
            .await
            .push_blob(target, bytes, digest)
            .await
            .map_err(|e| self.error(e, target))?;
        Ok(())
    }

    async fn put_blob_file(&self, target: &Reference, blob: &Blob) -> Result<(), RegistryError> {
        let bytes = tokio::fs::read(&blob.path)
            .await
            .map_err(|e| RegistryError::Other {
                reference: target.whole(),
                message: format!("cannot read {}: {e}", blob.path.display()),
            })?;
        self.put_blob(target, &blob.digest, bytes).await
    }

    async fn get_blob(&self, image: &Reference, digest: &str) -> Result<BlobStream, RegistryError> {
        let stream = self
            .within(
                "GET of a blob",
                self.client().await.pull_blob_stream(image, digest),
            )
            .await?
            .map_err(|e| self.error(e, image))?;
        Ok(BlobStream {
            size: stream.content_length,
            chunks: Box::pin(stream.stream.map_ok(|chunk| chunk.to_vec())),
        })
    }

    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let mount = self.client().await.mount_blob(target, source, digest);
        match self.within("a blob mount", mount).await? {
            Ok(()) => return Ok(()),
            Err(e) => {
                // A refused login or a dead connection will not get better by copying.
                let e = self.error(e, target);
                if !matches!(e, RegistryError::Other { .. }) {
                    return Err(e);
                }
            }
        }
        let from = source.clone_with_digest(digest.to_string());
        let blob = self
            .within(
                "GET of a blob",
                self.client().await.pull_blob_stream(&from, digest),
            )
            .await?
            .map_err(|e| self.error(e, &from))?;
        let size = blob.content_length;
        let stream = blob.stream.map_err(OciDistributionError::from);
        self.client()
            .await
            .push_blob_stream(target, stream, digest, size)
            .await
            .map_err(|e| self.error(e, target))?;
        Ok(())
    }

    /// With the token `oci-client` fetches and caches for pulling from the
    /// repository (or the Basic credentials). strata reads the body itself,
    /// with a cap: `oci-client` reads bodies whole.
    async fn get(
        &self,
        image: &Reference,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let token = self
            .within(
                "a token request",
                self.client()
                    .await
                    .auth(image, &self.auth, oci_client::RegistryOperation::Pull),
            )
            .await?
            .map_err(|e| self.error(e, image))?;
        let mut request = self.http.get(url).header("Accept", accept);
        request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            (None, _) => request,
        };
        self.within(what, request.send())
            .await?
            .map_err(|e| unreachable(&self.registry, &e, self.password.as_ref()))
    }
}

/// Maps an `oci-client` error onto [`RegistryError`]: refused credentials
/// become `Unauthorized`, failed connections `Unreachable`, the rest `Other`.
fn classify(
    error: OciDistributionError,
    reference: &Reference,
    password: Option<&Secret>,
) -> RegistryError {
    let registry = reference.registry().to_string();
    let whole = reference.whole();
    if is_unauthorized(&error) {
        return RegistryError::Unauthorized {
            registry,
            reference: whole,
        };
    }
    let message = redact(&error_chain(&error), password);
    if let OciDistributionError::RequestError(e) = &error {
        if e.is_timeout() {
            return RegistryError::Unreachable {
                registry,
                message: format!(
                    "no answer within the timeout (--io-timeout, --connect-timeout): {message}"
                ),
            };
        }
        if e.is_connect() {
            return RegistryError::Unreachable { registry, message };
        }
    }
    RegistryError::Other {
        reference: whole,
        message,
    }
}

fn is_unauthorized(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        OciDistributionError::RequestError(e) => e
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        _ => false,
    }
}

/// Whether the registry said the manifest, tag or repository does not exist.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError};

    fn reference() -> Reference {
        "127.0.0.1:5001/acme/app:1".parse().unwrap()
    }

    #[test]
    fn classifies_errors() {
        let r = reference();
        let unauthorized = classify(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            &r,
            None,
        );
        assert!(matches!(unauthorized, RegistryError::Unauthorized { .. }));
        let denied = classify(
            OciDistributionError::ServerError {
                code: 403,
                url: "u".into(),
                message: "denied".into(),
            },
            &r,
            None,
        );
        assert!(matches!(denied, RegistryError::Unauthorized { .. }));
        let missing = OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code: OciErrorCode::ManifestUnknown,
                    message: "manifest unknown".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "u".into(),
        };
        assert!(is_not_found(&missing));
        assert!(matches!(
            classify(missing, &r, None),
            RegistryError::Other { .. }
        ));
    }

    #[test]
    fn scrubs_the_password_from_error_text() {
        let password = Secret::new("hunter2-very-secret");
        let error = OciDistributionError::ServerError {
            code: 500,
            url: "http://127.0.0.1:5001/v2/".into(),
            message: "bad login strata:hunter2-very-secret".into(),
        };
        let mapped = classify(error, &reference(), Some(&password));
        let shown = format!("{mapped} {mapped:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
