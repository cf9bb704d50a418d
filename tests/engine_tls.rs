//! A remote engine over TCP with TLS, as Docker's client reaches one:
//! `DOCKER_HOST=tcp://…`, `DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH`.
//!
//! A second, real `dockerd --tlsverify` is started for this test with
//! certificates made here (a CA, the engine's certificate for 127.0.0.1, a
//! client certificate, and a second CA nobody trusts). It has its own data,
//! exec root, socket and bridge (`--iptables=false`), so the first engine and
//! its network are left alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::{busybox_rootfs, free_port, unique, write};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA in `dir` (`ca.pem`, `ca-key.pem`).
fn make_ca(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A certificate signed by the CA in `ca_dir`, written as `prefix-cert.pem`
/// and `prefix-key.pem` in `ca_dir`.
fn issue(ca_dir: &Path, prefix: &str, subject: &str, ext: &str) {
    let key = format!("{prefix}-key.pem");
    let csr = format!("{prefix}.csr");
    let cert = format!("{prefix}-cert.pem");
    let ext_file = format!("{prefix}.ext");
    std::fs::write(ca_dir.join(&ext_file), ext).unwrap();
    openssl(
        ca_dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    );
    openssl(
        ca_dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext_file,
        ],
    );
}

/// A client folder as `DOCKER_CERT_PATH` expects it.
fn client_dir(dir: &Path, ca: &Path, issued_by: &Path, prefix: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(ca.join("ca.pem"), dir.join("ca.pem")).unwrap();
    std::fs::copy(
        issued_by.join(format!("{prefix}-cert.pem")),
        dir.join("cert.pem"),
    )
    .unwrap();
    std::fs::copy(
        issued_by.join(format!("{prefix}-key.pem")),
        dir.join("key.pem"),
    )
    .unwrap();
    dir.to_path_buf()
}

/// The second engine; stopped, and its bridge removed, when dropped.
struct SecondEngine {
    child: Child,
    bridge: String,
    socket: PathBuf,
    root: PathBuf,
}

impl SecondEngine {
    fn start(root: &Path, certs: &Path, port: u16) -> SecondEngine {
        // Its own bridge: with `--bridge=none` in the host's network
        // namespace, dockerd would take the first engine's docker0 away.
        let bridge = format!("strtls{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("ip runs")
        };
        let _ = ip(&["link", "del", &bridge]);
        assert!(ip(&["link", "add", "name", &bridge, "type", "bridge"]).success());
        let subnet = format!("172.31.{}.1/24", 200 + std::process::id() % 50);
        assert!(ip(&["addr", "add", &subnet, "dev", &bridge]).success());
        assert!(ip(&["link", "set", &bridge, "up"]).success());
        let socket = root.join("engine.sock");
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--data-root", &root.join("data").to_string_lossy()])
            .args(["--exec-root", &root.join("exec").to_string_lossy()])
            .args(["--pidfile", &root.join("dockerd.pid").to_string_lossy()])
            .args(["-H", &format!("unix://{}", socket.display())])
            .args(["-H", &format!("tcp://127.0.0.1:{port}")])
            .arg("--tlsverify")
            .args(["--tlscacert", &certs.join("ca.pem").to_string_lossy()])
            .args([
                "--tlscert",
                &certs.join("server-cert.pem").to_string_lossy(),
            ])
            .args(["--tlskey", &certs.join("server-key.pem").to_string_lossy()])
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd starts (Debian's docker.io)");
        let engine = SecondEngine {
            child,
            bridge,
            socket,
            root: root.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not start: {}",
                std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        engine
    }

    /// Docker's own client on the engine's unix socket: an outside view.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn strata(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_TLS")
        .env("STRATA_CONNECT_TIMEOUT", "10")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn builds_tests_and_imports_on_an_engine_reached_over_tls() {
    let root = tempfile::Builder::new()
        .prefix("strata-tls-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let certs = root.path().join("ca");
    make_ca(&certs, "strata test CA");
    issue(
        &certs,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    issue(
        &certs,
        "client",
        "/CN=strata",
        "extendedKeyUsage=clientAuth\n",
    );
    // A CA the engine does not trust, with a client certificate of its own.
    let other = root.path().join("other-ca");
    make_ca(&other, "someone else");
    issue(
        &other,
        "client",
        "/CN=intruder",
        "extendedKeyUsage=clientAuth\n",
    );

    let good = client_dir(&root.path().join("client"), &certs, &certs, "client");
    let untrusted_client = client_dir(&root.path().join("untrusted"), &certs, &other, "client");
    // Trusts another CA, so the engine's certificate must be refused.
    let wrong_ca = client_dir(&root.path().join("wrong-ca"), &other, &certs, "client");

    let port = free_port();
    let engine_root = root.path().join("engine");
    std::fs::create_dir_all(&engine_root).unwrap();
    let engine = SecondEngine::start(&engine_root, &certs, port);
    let host = format!("tcp://127.0.0.1:{port}");
    let tls = |dir: &Path| {
        vec![
            ("DOCKER_HOST", host.clone()),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", dir.to_string_lossy().into_owned()),
        ]
    };

    // The base, imported over TLS.
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("rootfs.tar"), busybox_rootfs()).unwrap();
    let base = format!("{}/busybox:tls", unique("strata-tls"));
    let good_env = tls(&good);
    let mut outputs = Vec::new();
    let out = strata(&work, &good_env, &["import", "rootfs.tar", &base]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    outputs.push(text(&out));

    // An image and its test layer, built and run on that engine.
    let name = format!("{}/app:1", unique("strata-tls"));
    write(
        &work,
        "app/Dockerfile",
        &format!("FROM {base}\nRUN echo over-tls > /proof\n"),
    );
    write(
        &work,
        "tests/proof/Dockerfile",
        "RUN test \"$(cat /proof)\" = over-tls\n",
    );
    write(
        &work,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{name}\"\n    path: \"./app\"\n    test: \"./tests/proof\"\n"
        ),
    );
    let out = strata(&work, &good_env, &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    outputs.push(text(&out));

    // The image is on the TLS engine, as its own client sees it, and not on
    // the first engine.
    let seen = engine.docker(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert!(seen.status.success(), "{}", text(&seen));
    let first = Command::new("docker")
        .args(["image", "inspect", &name])
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(!first.status.success(), "built on the first engine instead");

    // A client certificate from a CA the engine does not trust: refused by
    // the engine, exit 3, nothing built.
    let out = strata(&work, &tls(&untrusted_client), &["test", "--no-cache"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    outputs.push(text(&out));
    assert!(
        text(&out).contains(&host),
        "names the engine: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("client certificate"),
        "says the engine refused the client certificate: {}",
        text(&out)
    );

    // An engine certificate strata's CA did not sign: refused by strata.
    let out = strata(&work, &tls(&wrong_ca), &["test", "--no-cache"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    outputs.push(text(&out));
    assert!(
        text(&out).contains("does not trust the engine's certificate"),
        "says it is the engine's certificate: {}",
        text(&out)
    );

    // Plain HTTP to a TLS port.
    let out = strata(
        &work,
        &[("DOCKER_HOST", host.clone())],
        &["test", "--no-cache"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("set DOCKER_TLS_VERIFY=1"),
        "{}",
        text(&out)
    );
    outputs.push(text(&out));

    // TLS without checking the engine's certificate is refused.
    let out = strata(
        &work,
        &[
            ("DOCKER_HOST", host.clone()),
            ("DOCKER_TLS", "1".to_string()),
        ],
        &["test", "--no-cache"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("DOCKER_TLS asks for TLS without checking"),
        "{}",
        text(&out)
    );
    outputs.push(text(&out));

    // A certificate folder without the files: named, with what to set.
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = strata(&work, &tls(&empty), &["test", "--no-cache"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    outputs.push(text(&out));
    assert!(
        text(&out).contains("ca.pem") && text(&out).contains("DOCKER_CERT_PATH"),
        "{}",
        text(&out)
    );
    // No key's text appears in any output.
    for dir in [&good, &untrusted_client, &wrong_ca] {
        let key = std::fs::read_to_string(dir.join("key.pem")).unwrap();
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            for out in &outputs {
                assert!(!out.contains(line), "a key line was printed: {out}");
            }
        }
    }

    drop(engine);
    // The first engine's network is untouched.
    let bridge = Command::new("ip")
        .args(["link", "show", "docker0"])
        .output()
        .unwrap();
    assert!(bridge.status.success(), "docker0 is gone");
}

/// `ca.pem` a FIFO or `/dev/zero`: refused at once as an unusable
/// environment (exit 3), naming the file; never a read that blocks or never
/// ends. No engine is needed: the files are checked before connecting.
#[test]
fn a_cert_file_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    write(&work, "app/Dockerfile", "FROM scratch\n");
    write(
        &work,
        "inventory.yml",
        "images:\n  - name: \"tls-fifo/app:1\"\n    path: \"./app\"\n",
    );
    let certs = root.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("cert.pem"), "x").unwrap();
    std::fs::write(certs.join("key.pem"), "x").unwrap();
    let ca = certs.join("ca.pem");
    let made = Command::new("mkfifo").arg(&ca).status().unwrap();
    assert!(made.success());
    let run = || {
        let started = Instant::now();
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .current_dir(&work)
            .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", free_port()))
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &certs)
            .env_remove("DOCKER_TLS")
            .env("STRATA_CONNECT_TIMEOUT", "5")
            .args(["test"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            text(&out)
        );
        out
    };
    let out = run();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("ca.pem") && text(&out).contains("it is a FIFO"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&ca).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &ca).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("it is a device"), "{}", text(&out));
}
