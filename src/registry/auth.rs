//! Registry credentials: from the environment or the Docker config file.
//!
//! Credentials belong to one registry host, as `docker login` files them, and
//! are never sent to another:
//!
//! 1. `STRATA_REGISTRY_USERNAME` and `STRATA_REGISTRY_PASSWORD`, when both are
//!    set and non-empty, are used for the host `STRATA_REGISTRY` names (such
//!    as `ghcr.io` or `127.0.0.1:5001`), and for no other. Without
//!    `STRATA_REGISTRY` they are used for no host at all (the command line
//!    warns). A pipeline usually pushes to one registry, and three variables
//!    are the simplest thing a CI secret store can inject.
//! 2. Otherwise the Docker client's own `config.json`
//!    (`$DOCKER_CONFIG/config.json`, by default `~/.docker/config.json`):
//!    its `auths` entries and credential helpers (`credHelpers`, `credsStore`),
//!    which are filed per host already, so whatever `docker login` stored
//!    works unchanged.
//!
//! Identity tokens (an OAuth refresh token some helpers return) are not
//! username/password pairs and are skipped: the registry is then used anonymously.
//!
//! Every credential handed out is registered with [`crate::secret::register`],
//! so it is scrubbed from anything strata prints or writes.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use docker_credential::DockerCredential;

use crate::secret::{Credentials, Secret};

/// The registry host the environment's credentials belong to.
pub const REGISTRY_VAR: &str = "STRATA_REGISTRY";
/// Username for the host [`REGISTRY_VAR`] names.
pub const USERNAME_VAR: &str = "STRATA_REGISTRY_USERNAME";
/// Password for the host [`REGISTRY_VAR`] names.
pub const PASSWORD_VAR: &str = "STRATA_REGISTRY_PASSWORD";

/// The host Docker Hub's credentials are filed under in `config.json`.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Credentials for `registry_host` (as [`crate::reference::registry_of`]
/// names it), or `None`
/// to use the registry anonymously.
///
/// The environment variables win over the Docker config; see the module docs.
pub fn credentials_for(registry_host: &str) -> Option<Credentials> {
    let found = from_environment(registry_host).or_else(|| from_docker_config(registry_host));
    if let Some(c) = &found {
        crate::secret::register(c);
    }
    found
}

/// A warning for credentials in the environment that no host will get:
/// the username and password are set but `STRATA_REGISTRY` is not.
pub fn environment_warning() -> Option<String> {
    let set = |var| std::env::var(var).is_ok_and(|v| !v.is_empty());
    (set(USERNAME_VAR) && set(PASSWORD_VAR) && !set(REGISTRY_VAR)).then(|| {
        format!(
            "{USERNAME_VAR} and {PASSWORD_VAR} are set but {REGISTRY_VAR} is not, so they are \
             sent to no registry; set {REGISTRY_VAR} to the registry host they belong to \
             (such as ghcr.io or 127.0.0.1:5001)"
        )
    })
}

/// The same registry host, spelt as Docker spells it: Docker Hub's aliases
/// are one host, and a scheme or trailing slash is not part of it.
fn same_host(a: &str, b: &str) -> bool {
    fn norm(h: &str) -> String {
        let h = h.trim();
        let h = h
            .strip_prefix("https://")
            .or_else(|| h.strip_prefix("http://"))
            .unwrap_or(h);
        let h = h.split('/').next().unwrap_or(h).to_ascii_lowercase();
        match h.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
            _ => h,
        }
    }
    !a.trim().is_empty() && norm(a) == norm(b)
}

/// The pair of `STRATA_REGISTRY_*` variables, when both are set and
/// non-empty and `STRATA_REGISTRY` names `registry_host`.
fn from_environment(registry_host: &str) -> Option<Credentials> {
    let owner = std::env::var(REGISTRY_VAR).ok()?;
    if !same_host(&owner, registry_host) {
        return None;
    }
    let username = std::env::var(USERNAME_VAR).ok().filter(|v| !v.is_empty())?;
    let password = std::env::var(PASSWORD_VAR).ok().filter(|v| !v.is_empty())?;
    Some(Credentials {
        username,
        password: Secret::new(password),
    })
}

/// `$DOCKER_CONFIG`, else `~/.docker`: where the Docker client keeps `config.json`.
fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
}

/// Looks `registry_host` up in the Docker config file. A missing or unreadable
/// file, or a helper that fails, means "no credentials", not an error: the
/// registry then says whether anonymous access is enough.
fn from_docker_config(registry_host: &str) -> Option<Credentials> {
    from_config_file(&docker_config_dir()?.join("config.json"), registry_host)
}

/// [`from_docker_config`] with the file named.
fn from_config_file(path: &Path, registry_host: &str) -> Option<Credentials> {
    server_keys(registry_host).into_iter().find_map(|server| {
        // The file is reopened per key: the crate consumes the reader.
        let file = open_config(path)?;
        match docker_credential::get_credential_from_reader(BufReader::new(file), &server) {
            Ok(DockerCredential::UsernamePassword(username, password)) => Some(Credentials {
                username,
                password: Secret::new(password),
            }),
            Ok(DockerCredential::IdentityToken(_)) | Err(_) => None,
        }
    })
}

/// The largest Docker config file read: 4 MiB, far above any real one.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Opens the Docker config file only when it is a regular file under
/// [`MAX_CONFIG_BYTES`], reading at most that much: a FIFO there would block
/// the run forever and a device such as `/dev/zero` would never end.
fn open_config(path: &Path) -> Option<std::io::Take<File>> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CONFIG_BYTES {
        return None;
    }
    Some(File::open(path).ok()?.take(MAX_CONFIG_BYTES))
}

/// The keys `docker login` may have filed a host's credentials under. Docker
/// Hub is special: the Docker client stores it under its old v1 URL.
fn server_keys(registry_host: &str) -> Vec<String> {
    match registry_host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => vec![
            DOCKER_HUB_SERVER.to_string(),
            "docker.io".to_string(),
            "index.docker.io".to_string(),
        ],
        host => vec![host.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use base64::Engine as _;

    /// A Docker config file that is a FIFO or `/dev/zero` gives no
    /// credentials at once: opened as it was, the FIFO blocked forever and
    /// the device was read without end.
    #[test]
    fn a_docker_config_that_is_not_a_regular_file_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("config.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [fifo, PathBuf::from("/dev/zero"), big];
        std::thread::spawn(move || {
            let found: Vec<bool> = paths
                .iter()
                .map(|p| from_config_file(p, "127.0.0.1:5000").is_some())
                .collect();
            let _ = tx.send(found);
        });
        let found = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading the Docker config hung");
        assert_eq!(found, vec![false, false, false]);
    }

    /// Environment variables are process-wide: tests that set them take this lock.
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    /// Runs `body` with the given variables set (`None` = removed), restoring
    /// the previous values afterwards, under [`ENV_LOCK`].
    fn with_env<T>(vars: &[(&str, Option<&str>)], body: impl FnOnce() -> T) -> T {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let saved: Vec<_> = vars
            .iter()
            .map(|(k, _)| (k.to_string(), std::env::var_os(k)))
            .collect();
        for (k, v) in vars {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        for (k, v) in saved {
            match v {
                Some(v) => std::env::set_var(&k, v),
                None => std::env::remove_var(&k),
            }
        }
        result.unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    fn write_config(dir: &tempfile::TempDir, json: &str) -> String {
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir.path().to_str().unwrap().to_string()
    }

    fn basic(user: &str, pass: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    }

    #[test]
    fn environment_belongs_to_its_registry_only() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(&dir, "{}");
        with_env(
            &[
                (REGISTRY_VAR, Some("127.0.0.1:5001")),
                (USERNAME_VAR, Some("ci")),
                (PASSWORD_VAR, Some("from-env")),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || {
                let c =
                    credentials_for("127.0.0.1:5001").expect("credentials from the environment");
                assert_eq!(c.username, "ci");
                assert_eq!(c.password.expose(), "from-env");
                for host in ["127.0.0.1:5000", "docker.io", "ghcr.io", "127.0.0.1:50011"] {
                    assert!(
                        credentials_for(host).is_none(),
                        "{host} got the credentials"
                    );
                }
                assert!(environment_warning().is_none());
            },
        );
        with_env(
            &[
                (REGISTRY_VAR, None),
                (USERNAME_VAR, Some("ci")),
                (PASSWORD_VAR, Some("from-env")),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || {
                assert!(credentials_for("127.0.0.1:5001").is_none());
                assert!(environment_warning().unwrap().contains(REGISTRY_VAR));
            },
        );
        with_env(
            &[
                (REGISTRY_VAR, Some("https://index.docker.io/v1/")),
                (USERNAME_VAR, Some("ci")),
                (PASSWORD_VAR, Some("from-env")),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || assert!(credentials_for("docker.io").is_some()),
        );
    }

    #[test]
    fn environment_beats_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let auth = basic("filed", "from-file");
        let config = write_config(
            &dir,
            &format!(r#"{{"auths":{{"ghcr.io":{{"auth":"{auth}"}}}}}}"#),
        );
        with_env(
            &[
                (REGISTRY_VAR, Some("ghcr.io")),
                (USERNAME_VAR, Some("ci")),
                (PASSWORD_VAR, Some("from-env")),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || assert_eq!(credentials_for("ghcr.io").unwrap().username, "ci"),
        );
    }

    #[test]
    fn half_set_environment_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(&dir, "{}");
        with_env(
            &[
                (REGISTRY_VAR, Some("ghcr.io")),
                (USERNAME_VAR, Some("ci")),
                (PASSWORD_VAR, None),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || assert!(credentials_for("ghcr.io").is_none()),
        );
    }

    #[test]
    fn reads_auths_from_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let local = basic("strata", "local-pass");
        let hub = basic("hubuser", "hub-pass");
        let config = write_config(
            &dir,
            &format!(
                r#"{{"auths":{{
                    "127.0.0.1:5001":{{"auth":"{local}"}},
                    "https://index.docker.io/v1/":{{"auth":"{hub}"}}
                }}}}"#
            ),
        );
        with_env(
            &[
                (USERNAME_VAR, None),
                (PASSWORD_VAR, None),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || {
                let c = credentials_for("127.0.0.1:5001").expect("local credentials");
                assert_eq!(c.username, "strata");
                assert_eq!(c.password.expose(), "local-pass");

                let c = credentials_for(crate::reference::registry_of("acme/app:1"))
                    .expect("hub credentials");
                assert_eq!(c.username, "hubuser");
                assert_eq!(c.password.expose(), "hub-pass");

                assert!(credentials_for("127.0.0.1:5000").is_none());
            },
        );
    }

    #[test]
    fn runs_credential_helpers() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        // A credential helper is `docker-credential-<name>` on PATH, reading the
        // server on stdin and answering JSON.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let helper = bin.join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"helped\\\",\\\"Secret\\\":\\\"helper-pass\\\"}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = write_config(&dir, r#"{"credHelpers":{"registry.example.com":"fake"}}"#);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        with_env(
            &[
                (USERNAME_VAR, None),
                (PASSWORD_VAR, None),
                ("DOCKER_CONFIG", Some(&config)),
                ("PATH", Some(&path)),
            ],
            || {
                let c = credentials_for("registry.example.com").expect("helper credentials");
                assert_eq!(c.username, "helped");
                assert_eq!(c.password.expose(), "helper-pass");
                assert!(credentials_for("other.example.com").is_none());
            },
        );
    }

    #[test]
    fn missing_or_broken_config_means_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("nothing-here");
        with_env(
            &[
                (USERNAME_VAR, None),
                (PASSWORD_VAR, None),
                ("DOCKER_CONFIG", Some(empty.to_str().unwrap())),
            ],
            || assert!(credentials_for("ghcr.io").is_none()),
        );
        let config = write_config(&dir, "not json");
        with_env(
            &[
                (USERNAME_VAR, None),
                (PASSWORD_VAR, None),
                ("DOCKER_CONFIG", Some(&config)),
            ],
            || assert!(credentials_for("ghcr.io").is_none()),
        );
    }
}
