//! An engine reached over SSH, as Docker's CLI reaches one:
//! `DOCKER_HOST=ssh://user@host[:port]` runs `docker system dial-stdio`
//! there through the system's ssh client.
//!
//! A real `sshd` is started for this test on a free port with keys made
//! here. The ssh client is given its key and known-hosts file by a wrapper
//! first in `PATH` (as a user's `~/.ssh/config` would), and its port by the
//! wrapper or by the address, so nothing of the machine's own ssh setup is
//! read or changed. The remote machine is this one, so the build lands on
//! the engine `docker` reaches here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::{block_on, busybox_base, engine, free_port, unique, write, BUSYBOX_IMAGE};
use strata::engine::Engine;

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (Debian's openssh-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sshd` on 127.0.0.1:`port`, accepting `authorized`; stopped when dropped.
struct Sshd(Child);

impl Sshd {
    fn start(dir: &Path, port: u16, authorized: &Path) -> Sshd {
        keygen(&dir.join("host_key"));
        // Privilege separation needs this folder (a package's service
        // would make it).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nPidFile {}\n",
                dir.join("host_key").display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .spawn()
            .expect("sshd starts (Debian's openssh-server)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Sshd(child)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A folder with an `ssh` that uses `key`, `port` (if given; else the
/// address says it) and its own known hosts.
fn ssh_wrapper(dir: &Path, key: &Path, port: Option<u16>) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("ssh");
    let port = port.map(|p| format!("-p {p} ")).unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh {port}-i {} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new \"$@\"\n",
            key.display(),
            dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn strata(dir: &Path, path_first: &Path, host: &str, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                path_first.display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("DOCKER_HOST", host)
        .env("STRATA_CONNECT_TIMEOUT", "20")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn builds_and_tests_on_an_engine_reached_over_ssh() {
    let local = block_on(async {
        let e = engine().await;
        busybox_base(&e, BUSYBOX_IMAGE).await;
        e
    });
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    keygen(&dir.join("client_key"));
    keygen(&dir.join("stranger_key"));
    let authorized = dir.join("authorized_keys");
    std::fs::copy(dir.join("client_key.pub"), &authorized).unwrap();
    let port = free_port();
    let _sshd = Sshd::start(dir, port, &authorized);

    let project = dir.join("project");
    let name = format!("{}/app:1", unique("strata-ssh"));
    write(
        &project,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo over-ssh > /via\n"),
    );
    write(
        &project,
        "tests/via/Dockerfile",
        "RUN grep -qx over-ssh /via\n",
    );
    write(
        &project,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: ./app\n    test: ./tests/via\n"),
    );

    let good = ssh_wrapper(&dir.join("good"), &dir.join("client_key"), Some(port));
    let out = strata(&project, &good, "ssh://root@127.0.0.1", &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = block_on(async { local.image_id(&common::image_ref(&name)).await.unwrap() });
    assert!(id.is_some(), "{name} was built through ssh");

    // A key the server does not accept: exit 3, and it says ssh failed.
    let stranger = ssh_wrapper(&dir.join("stranger"), &dir.join("stranger_key"), Some(port));
    let out = strata(
        &project,
        &stranger,
        "ssh://root@127.0.0.1",
        &["test", "--no-cache"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("ssh://root@127.0.0.1"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).to_lowercase().contains("permission denied"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("docker group"), "{}", text(&out));

    // The port in the address, as Docker's client takes it: the ssh
    // client is told nothing else of it.
    let portless = ssh_wrapper(&dir.join("portless"), &dir.join("client_key"), None);
    let with_port = format!("ssh://root@127.0.0.1:{port}");
    let out = strata(&project, &portless, &with_port, &["test", "--no-cache"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Without it, ssh knocks on port 22, where no sshd of this test listens.
    let out = strata(&project, &portless, "ssh://root@127.0.0.1", &["test"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("ssh"), "{}", text(&out));
    // A port that is not one: exit 3 before ssh runs, saying so.
    let out = strata(&project, &portless, "ssh://root@127.0.0.1:ssh", &["test"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("not a number"), "{}", text(&out));

    // No private key's text in any output.
    let key = std::fs::read_to_string(dir.join("client_key")).unwrap();
    let line = key.lines().nth(1).unwrap();
    assert!(!text(&out).contains(line));
    block_on(async {
        let _ = local.remove(&common::image_ref(&name)).await;
    });
}
