//! `strata test` with an artifact served by a slow server: the run's
//! `--io-timeout` reaches the download, so the run ends instead of waiting.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};

/// A server on 127.0.0.1 answering every request (read up to its blank
/// line) with `answer`, each on a thread of its own. Returns its base URL.
fn serve<F>(answer: F) -> String
where
    F: Fn(&mut std::net::TcpStream) + Send + Sync + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                answer(&mut stream);
            });
        }
    });
    base
}

/// A server that answers with a long body, one byte every 5 s.
fn dripping_server() -> String {
    serve(|stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\nconnection: close\r\n\r\n"
        );
        loop {
            std::thread::sleep(Duration::from_secs(5));
            if stream.write_all(b"x").is_err() {
                return;
            }
        }
    })
}

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A project whose one image copies the artifact at `url` (checked against
/// `sha256`), on the busybox base.
fn project(url: &str, sha256: &str) -> tempfile::TempDir {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("feed")).unwrap();
    std::fs::copy(data("node-dist-index.tab"), root.join("feed/index.tab")).unwrap();
    std::fs::copy(
        data("node-release-schedule.json"),
        root.join("feed/schedule.json"),
    )
    .unwrap();
    write(
        root,
        "tpl/Dockerfile.j2",
        "FROM {{ os.from }}\nCOPY {{ artifacts.node }} /opt/\n",
    );
    let repo = unique("strata-artifact-cli");
    write(
        root,
        "strata.yml",
        &format!(
            "as_of: 2024-10-30\noutput: out\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \"22.11.0\"\nos:\n  - {{ name: bb, default: true, from: \"{BUSYBOX_IMAGE}\" }}\nimage:\n  name: \"{repo}/node:{{{{ version }}}}\"\n  template: tpl\nartifacts:\n  node:\n    url: \"{url}\"\n    sha256: \"{sha256}\"\n    file: node.tgz\n"
        ),
    );
    dir
}

/// `strata ARGS -f strata.yml` in `dir`, killed after 120 s: (exit code,
/// stdout and stderr).
fn strata(dir: &Path, args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .args(["-f", "strata.yml"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all, started.elapsed())
}

#[test]
fn a_slow_artifact_server_is_given_up_after_the_io_timeout() {
    let url = format!("{}/node.tgz", dripping_server());
    let dir = project(&url, &"ab".repeat(32));
    let (code, all, took) = strata(dir.path(), &["test", "--io-timeout", "1"]);
    assert!(took < Duration::from_secs(90), "took {took:?}: {all}");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("node.tgz") && all.contains("cannot download"),
        "{all}"
    );
}

#[test]
fn a_redirect_to_another_host_is_said_with_verbose() {
    use sha2::Digest;
    let body = b"redirected artifact".to_vec();
    let sum = hex::encode(sha2::Sha256::digest(&body));
    // The mirror, reached under another name than the server asked.
    let mirror = serve(move |stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&body);
    })
    .replace("127.0.0.1", "localhost");
    let target = format!("{mirror}/mirror/node.tgz");
    let moved = target.clone();
    let origin = serve(move |stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nlocation: {moved}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    });
    let dir = project(&format!("{origin}/node.tgz"), &sum);
    let (code, all, _) = strata(dir.path(), &["test", "-v"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(
        all.contains("redirected to another host") && all.contains(&target),
        "{all}"
    );
}

/// A machine without usable CA certificates cannot make an HTTP client:
/// the run says what to install and exits 3 (its setup, not the image),
/// where it used to panic.
#[test]
fn no_ca_certificates_is_said_and_exits_3() {
    let url = format!("{}/node.tgz", serve(|_| {}));
    let dir = project(&url, &"ab".repeat(32));
    let root = dir.path();
    std::fs::write(root.join("no-certs.pem"), "").unwrap();
    std::fs::create_dir_all(root.join("no-certs")).unwrap();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args([
            "test",
            "--pull",
            "never",
            "--retries",
            "0",
            "-f",
            "strata.yml",
        ])
        .env("SSL_CERT_FILE", root.join("no-certs.pem"))
        .env("SSL_CERT_DIR", root.join("no-certs"))
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("panicked"), "{all}");
    assert!(all.contains("CA certificates"), "{all}");
    assert_eq!(out.status.code(), Some(3), "{all}");
}
