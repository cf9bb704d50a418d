//! The BuildKit session strata serves itself, for build secrets.
//!
//! BuildKit reads a `RUN --mount=type=secret,id=NAME` value from the
//! client's session: a gRPC server the client runs on a connection it opens
//! to the engine's `/session` endpoint (HTTP/1.1 upgraded to `h2c`; the
//! engine then speaks HTTP/2 as the client). bollard's own session serves
//! registry credentials only, so a build with secrets opens this one first,
//! under the ID the build request names; the engine keeps the first session
//! of an ID and refuses a second (`400`), so bollard's attempt is a no-op.
//!
//! The gRPC services are the ones bollard itself uses
//! (`bollard-buildkit-proto`), served with `tonic`: `Secrets` and `Health`
//! (BuildKit checks the session's health every few seconds).
//!
//! The values are held in memory only, handed out to BuildKit by ID and never
//! logged: an unknown ID is answered with the ID alone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse,
    HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tonic::{Request, Response, Status};

use super::EngineError;
use crate::secret::Secret;

/// The largest secret BuildKit accepts (its own limit is 500 KiB).
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

/// The longest answer to the upgrade request strata reads.
const MAX_UPGRADE_ANSWER: usize = 16 * 1024;

/// One secret a build may mount: its ID and its value.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildSecret {
    /// The ID a Dockerfile names (`--mount=type=secret,id=...`).
    pub id: String,
    /// The value; printed as `<redacted>`.
    pub value: Secret,
}

impl std::fmt::Debug for BuildSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuildSecret({}, <redacted>)", self.id)
    }
}

/// Where a session connection to the engine is opened.
#[derive(Debug, Clone)]
pub enum SessionAddress {
    /// A Unix socket (the local engine, or an `ssh://` engine's own socket).
    Unix(PathBuf),
    /// A plain TCP address, `host:port`.
    Tcp(String),
    /// No session can be opened here, and why.
    Unsupported(String),
}

impl SessionAddress {
    /// The session address of a `DOCKER_HOST` value (a `unix://` path or a
    /// plain `tcp://`/`http://` address); TLS engines have none.
    pub fn of(host: &str, tls: bool) -> SessionAddress {
        if let Some(path) = host.strip_prefix("unix://") {
            return SessionAddress::Unix(PathBuf::from(path));
        }
        let plain = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"));
        match plain {
            Some(address) if !tls => SessionAddress::Tcp(address.trim_end_matches('/').to_string()),
            _ => SessionAddress::Unsupported(format!(
                "build secrets are served on a session connection strata opens itself, \
                 which it does over a Unix socket, ssh:// or plain tcp://, not TLS ({host})"
            )),
        }
    }
}

/// A running session; dropping it closes the connection, and the engine
/// forgets the session.
pub struct Session {
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Opens session `id` at `address`, serving `secrets`, and returns once
/// the engine has registered it.
pub async fn open(
    address: &SessionAddress,
    id: &str,
    secrets: &[BuildSecret],
    timeout: Duration,
) -> Result<Session, EngineError> {
    let store: HashMap<String, Secret> = secrets
        .iter()
        .map(|s| (s.id.clone(), s.value.clone()))
        .collect();
    let provider = SecretStore(Arc::new(store));
    let unreachable = |what: &str, e: std::io::Error| EngineError::Unreachable {
        endpoint: what.to_string(),
        message: format!("cannot open the BuildKit session for build secrets: {e}"),
    };
    let server = match address {
        SessionAddress::Unix(path) => {
            let where_ = format!("unix://{}", path.display());
            let mut stream = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| unreachable(&where_, std::io::ErrorKind::TimedOut.into()))?
                .map_err(|e| unreachable(&where_, e))?;
            upgrade(&mut stream, id, timeout).await?;
            tokio::spawn(serve(stream, provider))
        }
        SessionAddress::Tcp(addr) => {
            let where_ = format!("tcp://{addr}");
            let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| unreachable(&where_, std::io::ErrorKind::TimedOut.into()))?
                .map_err(|e| unreachable(&where_, e))?;
            upgrade(&mut stream, id, timeout).await?;
            tokio::spawn(serve(stream, provider))
        }
        SessionAddress::Unsupported(why) => return Err(EngineError::Api(why.clone())),
    };
    Ok(Session { server })
}

/// Asks the engine to turn the connection into session `id`'s.
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    id: &str,
    timeout: Duration,
) -> Result<(), EngineError> {
    let method = format!("/{}/GetSecret", SECRETS_SERVICE);
    let request = format!(
        "POST /session HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\
         Content-Length: 0\r\nX-Docker-Expose-Session-Uuid: {id}\r\n\
         X-Docker-Expose-Session-Name: strata\r\n\
         X-Docker-Expose-Session-Grpc-Method: {method}\r\n\r\n"
    );
    let answer = tokio::time::timeout(timeout, async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        // Byte by byte up to the blank line: what follows is HTTP/2, the
        // server's to read.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < MAX_UPGRADE_ANSWER {
            if stream.read(&mut byte).await? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>(head)
    })
    .await
    .map_err(|_| EngineError::Api("the engine did not answer the session request".into()))?
    .map_err(|e| EngineError::Api(format!("the session request failed: {e}")))?;
    let head = String::from_utf8_lossy(&answer);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("101") {
        return Ok(());
    }
    Err(EngineError::Api(format!(
        "the engine refused a BuildKit session for build secrets: {}",
        crate::text::escape(status.trim())
    )))
}

/// The secrets service's gRPC name.
const SECRETS_SERVICE: &str = "moby.buildkit.secrets.v1.Secrets";

/// Serves the session on `stream` until the engine closes it.
async fn serve<S>(stream: S, secrets: SecretStore)
where
    S: AsyncRead + AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    let incoming = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(stream)]);
    let _ = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(SecretsServer::new(secrets))
        .serve_with_incoming(incoming)
        .await;
}

/// Secret values by ID.
#[derive(Clone)]
struct SecretStore(Arc<HashMap<String, Secret>>);

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.0.get(id) {
            Some(value) => Ok(Response::new(GetSecretResponse {
                data: value.expose().as_bytes().to_vec(),
            })),
            None => Err(Status::not_found(format!(
                "secret {} is not declared for this build: add it to the image's or \
                 test's `secrets:`",
                crate::text::escape(id)
            ))),
        }
    }
}

/// Answers BuildKit's health checks: serving while the session lives.
struct Healthy;

type HealthStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for Healthy {
    type WatchStream = HealthStream;

    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_addresses() {
        assert!(matches!(
            SessionAddress::of("unix:///var/run/docker.sock", false),
            SessionAddress::Unix(p) if p == std::path::Path::new("/var/run/docker.sock")
        ));
        assert!(matches!(
            SessionAddress::of("tcp://127.0.0.1:2375", false),
            SessionAddress::Tcp(a) if a == "127.0.0.1:2375"
        ));
        assert!(matches!(
            SessionAddress::of("tcp://host:2376", true),
            SessionAddress::Unsupported(_)
        ));
    }

    #[test]
    fn a_secret_prints_redacted() {
        let s = BuildSecret {
            id: "npm".into(),
            value: Secret::new("hunter2-token"),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
