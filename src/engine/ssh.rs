//! Engines reached over SSH, as Docker's CLI reaches them: for each
//! connection, the system's `ssh` client runs `docker system dial-stdio` on
//! the engine's machine, and its standard input and output carry the Engine
//! API. strata serves those connections on a socket of its own (in a private
//! temporary folder), which the API client connects to like a local engine.
//!
//! The address is `ssh://[user@]host[:port]`, as for Docker's client; the
//! user's ssh config, keys, agent and known hosts apply. ssh never prompts
//! (`BatchMode`): a login it cannot make fails, with ssh's own words.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Command;

/// What is wrong with an `ssh://` address; each names the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not an ssh:// address")]
    NotSsh(String),
    #[error("{0}: an ssh:// address has no path (write ssh://user@host or ssh://user@host:port)")]
    Path(String),
    #[error("{0}: an unclosed [ in the host")]
    Unclosed(String),
    #[error("{address}: the port {port:?} is not a number from 1 to 65535")]
    Port { address: String, port: String },
    #[error("{0}: the host (or the user before @) is empty")]
    Empty(String),
}

/// Where an `ssh://` address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Target {
    /// Reads `ssh://[user@]host[:port][/]`; `Err` says what is wrong.
    pub fn parse(address: &str) -> Result<Target, AddressError> {
        let rest = address
            .strip_prefix("ssh://")
            .ok_or_else(|| AddressError::NotSsh(address.to_string()))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') {
            return Err(AddressError::Path(address.to_string()));
        }
        let (user, machine) = match authority.rsplit_once('@') {
            Some((user, machine)) => (Some(user.to_string()), machine),
            None => (None, authority),
        };
        // `[::1]:2222`, `host:2222`, `host`.
        let (host, port) = match machine.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) => (host, Some(port.strip_prefix(':').unwrap_or(port))),
                None => return Err(AddressError::Unclosed(address.to_string())),
            },
            None => match machine.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (machine, None),
            },
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| AddressError::Port {
                        address: address.to_string(),
                        port: p.to_string(),
                    })
            })
            .transpose()?;
        if host.is_empty() || user.as_deref() == Some("") {
            return Err(AddressError::Empty(address.to_string()));
        }
        Ok(Target {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// The `ssh` arguments that open the engine's API on the machine.
    pub fn ssh_args(&self, connect_timeout: Duration) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-o".to_string(),
            format!("ConnectTimeout={}", connect_timeout.as_secs().max(1)),
            "-T".to_string(),
        ];
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(
            ["--", &self.host, "docker", "system", "dial-stdio"]
                .iter()
                .map(|s| s.to_string()),
        );
        args
    }
}

/// The socket strata serves an ssh engine on, while it lives.
#[derive(Debug)]
pub struct Tunnel {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    accept: tokio::task::JoinHandle<()>,
    /// What ssh last wrote to its error output, for an error to quote.
    said: Arc<Mutex<String>>,
}

impl Tunnel {
    /// Starts serving `target` on a fresh socket.
    pub fn start(target: &Target, connect_timeout: Duration) -> std::io::Result<Tunnel> {
        let dir = tempfile::Builder::new().prefix("strata-ssh-").tempdir()?;
        let socket = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&socket)?;
        let args = Arc::new(target.ssh_args(connect_timeout));
        let said: Arc<Mutex<String>> = Arc::default();
        let accept = tokio::spawn({
            let said = said.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, args.clone(), said.clone()));
                }
            }
        });
        Ok(Tunnel {
            _dir: dir,
            socket,
            accept,
            said,
        })
    }

    /// `unix://` address of the socket.
    pub fn address(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// What ssh last said on its error output (empty when nothing).
    pub fn said(&self) -> String {
        self.said.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// [`Tunnel::said`], after giving a connection that just failed a
    /// moment to say it.
    pub async fn last_words(&self) -> String {
        for _ in 0..20 {
            let said = self.said();
            if !said.is_empty() {
                return said;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        String::new()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Carries one API connection over one `ssh … docker system dial-stdio`.
async fn serve(stream: UnixStream, args: Arc<Vec<String>>, said: Arc<Mutex<String>>) {
    let note = |text: String| {
        if let Ok(mut s) = said.lock() {
            *s = text;
        }
    };
    let spawned = Command::new("ssh")
        .args(args.iter())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            note(format!("cannot run ssh: {e} (install an OpenSSH client)"));
            return;
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let (mut from_client, mut to_client) = stream.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        let _ = stdin.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    let errors = async {
        let mut lines = BufReader::new(stderr).lines();
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line.trim_end());
            note(text.clone());
        }
    };
    tokio::join!(up, down, errors);
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_host_and_port_as_dockers_client_does() {
        let t = Target::parse("ssh://root@build-1:2222").unwrap();
        assert_eq!(t.user.as_deref(), Some("root"));
        assert_eq!(t.host, "build-1");
        assert_eq!(t.port, Some(2222));
        let t = Target::parse("ssh://build-1").unwrap();
        assert_eq!((t.user, t.port), (None, None));
        let t = Target::parse("ssh://me@[::1]:22/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
        let t = Target::parse("ssh://[fe80::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", None));
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        for (address, says) in [
            ("ssh://root@host:ssh", "not a number"),
            ("ssh://root@host:0", "not a number"),
            ("ssh://root@host:70000", "not a number"),
            ("ssh://@host", "empty"),
            ("ssh://", "empty"),
            ("ssh://host/var/run", "no path"),
            ("ssh://[::1", "unclosed"),
        ] {
            let e = Target::parse(address).unwrap_err().to_string();
            assert!(e.contains(says), "{address}: {e}");
        }
    }

    #[test]
    fn ssh_gets_the_port_and_user_as_options_and_never_prompts() {
        let t = Target::parse("ssh://ci@engine.example:2222").unwrap();
        let args = t.ssh_args(Duration::from_secs(7)).join(" ");
        assert_eq!(
            args,
            "-o BatchMode=yes -o ConnectTimeout=7 -T -l ci -p 2222 -- engine.example docker system dial-stdio"
        );
    }
}
