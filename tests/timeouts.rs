//! Nothing hangs forever: a silent registry, a silent engine and a build
//! step that never ends are each given up on after their timeout, with a
//! message saying what timed out and after how long; an unreachable service
//! or refused credentials exit 3 before anything is pushed.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{busybox_base, engine, request, unique, write, BUSYBOX_IMAGE};
use strata::engine::docker::{DockerEngine, Timeouts};
use strata::engine::{Dockerfile, Engine, EngineError};
use strata::error::EXIT_ENVIRONMENT;

/// A server that accepts connections and never answers. Returns `host:port`.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    host
}

/// A port nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    host
}

fn fixture(image: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN true\n"),
    );
    write(
        dir.path(),
        "inventory.yml",
        &format!("images:\n  - name: \"{image}\"\n    path: ./app\n"),
    );
    dir
}

/// Runs strata; a hang guard kills it after two minutes (a failure).
fn strata(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir).timeout(Duration::from_secs(120));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn push_to_a_silent_registry_exits_3_after_the_timeout() {
    let host = silent_server();
    let dir = fixture(&format!("{host}/harden-silent:1"));
    let (code, text) = strata(dir.path(), &[], &["push", "--io-timeout", "2"]);
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains(&host), "{text}");
    assert!(text.contains("no answer within"), "{text}");
}

/// With the I/O timeout left at its default (300 s), a registry that
/// accepts the connection and never answers is given up on within the
/// connect timeout: the check before the first push is a question, not an
/// upload.
#[test]
fn push_to_a_silent_registry_gives_up_within_the_connect_timeout() {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let host = silent_server();
    let name = format!("{host}/harden-silent-connect:1");
    let dir = fixture(&name);
    let (code, text) = strata(dir.path(), &[], &["test"]);
    assert_eq!(code, 0, "{text}");
    let started = std::time::Instant::now();
    let (code, text) = strata(dir.path(), &[], &["push", "--connect-timeout", "2"]);
    let took = started.elapsed();
    common::block_on(async {
        let _ = engine().await.remove(&common::image_ref(&name)).await;
    });
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains(&host), "{text}");
    assert!(text.contains("no answer within 2 s"), "{text}");
    assert!(text.contains("--connect-timeout"), "{text}");
    assert!(took < Duration::from_secs(30), "took {took:?}: {text}");
}

#[test]
fn push_to_a_registry_that_is_down_exits_3() {
    let host = closed_port();
    let dir = fixture(&format!("{host}/harden-down:1"));
    let (code, text) = strata(dir.path(), &[], &["push"]);
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains("cannot reach registry"), "{text}");
}

#[test]
fn push_with_refused_credentials_exits_3() {
    let (registry, credentials) = common::auth_registry();
    let dir = fixture(&format!("{registry}/{}:1", unique("harden-refused")));
    let envs = [
        ("STRATA_REGISTRY", registry.as_str()),
        ("STRATA_REGISTRY_USERNAME", credentials.username.as_str()),
        ("STRATA_REGISTRY_PASSWORD", "wrong-password-for-harden"),
    ];
    let (code, text) = strata(dir.path(), &envs, &["push"]);
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("wrong-password-for-harden"), "{text}");
}

#[test]
fn a_dead_or_silent_engine_says_what_happened() {
    let dir = fixture("harden-engine/app:1");
    let closed = format!("tcp://{}", closed_port());
    let (code, text) = strata(dir.path(), &[("DOCKER_HOST", &closed)], &["test"]);
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains("not running"), "{text}");
    assert!(!text.contains("hyper legacy client"), "{text}");

    let silent = format!("tcp://{}", silent_server());
    let (code, text) = strata(
        dir.path(),
        &[("DOCKER_HOST", &silent)],
        &["test", "--connect-timeout", "2"],
    );
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains("did not answer within 2 s"), "{text}");
}

#[test]
fn a_build_step_that_never_ends_is_stopped_and_its_container_removed() {
    common::block_on(async {
        let engine = engine().await;
        busybox_base(&engine, BUSYBOX_IMAGE).await;
        let engine = DockerEngine::connect_to_with(
            engine.endpoint(),
            Timeouts {
                step: Duration::from_secs(3),
                ..Timeouts::default()
            },
        )
        .await
        .unwrap();
        let marker = unique("harden-sleep");
        let dir = tempfile::tempdir().unwrap();
        let dockerfile = format!("FROM {BUSYBOX_IMAGE}\nRUN sleep 100000 || echo {marker}\n");
        let log = common::Log::default();
        let err = engine
            .build(
                request(dir.path(), Dockerfile::Inline(dockerfile), None),
                &log.sink(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::TimedOut { after, .. } if after == Duration::from_secs(3)),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("within 3 s"), "{text}");
        assert!(text.contains("was removed"), "{text}\n{}", log.text());
        // No container of that step is left, running or not.
        let ps = std::process::Command::new("docker")
            .args(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"])
            .output()
            .unwrap();
        let ps = String::from_utf8_lossy(&ps.stdout);
        assert!(!ps.contains(&marker), "left behind:\n{ps}");

        // A per-request timeout wins over the engine's default.
        let mut req = request(
            dir.path(),
            Dockerfile::Inline(format!(
                "FROM {BUSYBOX_IMAGE}\nRUN sleep 100000 || echo {marker}-2\n"
            )),
            None,
        );
        req.timeout = Some(Duration::from_secs(1));
        let err = engine.build(req, &log.sink()).await.unwrap_err();
        assert!(err.to_string().contains("within 1 s"), "{err}");
    });
}

/// A `timeout` on an inventory image bounds its build and its tests' layer
/// builds, whatever `--step-timeout` says; a bad one is refused before any build.
#[test]
fn an_inventory_image_timeout_bounds_its_build_and_its_tests() {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("itimeout");
    write(
        root,
        "slow/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN sleep 100000 || echo {ns}\n"),
    );
    write(
        root,
        "quick/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns}\n"),
    );
    write(
        root,
        "tests/slow/Dockerfile",
        &format!("RUN sleep 100000 || echo {ns}-t\n"),
    );
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/a:slow\"\n    path: ./slow\n    timeout: 2\n  - name: \"{ns}/a:quick\"\n    path: ./quick\n    test: ./tests/slow\n    timeout: 3\n"
        ),
    );
    let started = std::time::Instant::now();
    let (code, out) = strata(root, &[], &["test", "-j", "2", "--step-timeout", "3600"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not finish within 2 s"), "{out}");
    assert!(out.contains("did not finish within 3 s"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(120), "{out}");

    for bad in ["0", "86401", "10m"] {
        write(
            root,
            "inventory.yml",
            &format!(
                "images:\n  - name: \"{ns}/a:quick\"\n    path: ./quick\n    timeout: {bad}\n"
            ),
        );
        let (code, out) = strata(root, &[], &["test"]);
        assert_eq!(code, 2, "{bad}: {out}");
        assert!(out.contains("inventory.yml:4"), "{bad}: {out}");
    }
}

/// A registry of this test's own (`docker-registry` on a free port), its
/// log read line by line: it is killed as soon as it has answered the
/// first request about a blob, so the push loses it mid-run.
struct DyingRegistry {
    host: String,
    child: std::sync::Arc<std::sync::Mutex<std::process::Child>>,
    _dir: tempfile::TempDir,
}

impl DyingRegistry {
    fn start() -> DyingRegistry {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{ level: info }}\nstorage: {{ filesystem: {{ rootdirectory: {} }} }}\nhttp: {{ addr: {host} }}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker-registry (scripts/setup.sh installs it)");
        let log = child.stderr.take().unwrap();
        let child = std::sync::Arc::new(std::sync::Mutex::new(child));
        let killer = child.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(log).lines() {
                let Ok(line) = line else { break };
                if line.contains("/blobs/") {
                    let _ = killer.lock().unwrap().kill();
                }
            }
        });
        for _ in 0..100 {
            if std::net::TcpStream::connect(&host).is_ok() {
                return DyingRegistry {
                    host,
                    child,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry on {host} did not start");
    }
}

impl Drop for DyingRegistry {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The registry answers the check before the push, then dies: every
/// failure of the run is the registry's absence, and the exit is 3, as the
/// README's table says for an unreachable registry.
#[test]
fn a_registry_that_dies_mid_push_exits_3() {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let registry = DyingRegistry::start();
    let name = format!("{}/{}:1", registry.host, unique("harden-dies"));
    let dir = fixture(&name);
    let (code, text) = strata(dir.path(), &[], &["test"]);
    assert_eq!(code, 0, "{text}");
    let envs = [("STRATA_RETRY_BACKOFF_MS", "10")];
    let (code, text) = strata(dir.path(), &envs, &["push", "-r", "1"]);
    let killed = registry.child.lock().unwrap().try_wait().unwrap().is_some();
    assert!(killed, "the registry was never asked about a blob: {text}");
    assert_eq!(code, EXIT_ENVIRONMENT, "{text}");
    assert!(text.contains("cannot reach registry"), "{text}");
    assert!(
        text.contains("could not reach the engine or a registry"),
        "{text}"
    );
    // Cleanup, never the verdict: a test of identical content may have
    // removed the same image already.
    common::block_on(async {
        let _ = engine().await.remove(&common::image_ref(&name)).await;
    });
}
