//! `strata test` with an artifact served by a slow server: the run's
//! `--io-timeout` reaches the download, so the run ends instead of waiting.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};

/// A server on 127.0.0.1 that answers every request with a long body, one
/// byte every 5 s. Returns its base URL.
fn dripping_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
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
            });
        }
    });
    base
}

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn a_slow_artifact_server_is_given_up_after_the_io_timeout() {
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
    let url = format!("{}/node.tgz", dripping_server());
    let repo = unique("strata-slow-artifact");
    write(
        root,
        "strata.yml",
        &format!(
            "as_of: 2024-10-30\noutput: out\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \"22.11.0\"\nos:\n  - {{ name: bb, default: true, from: \"{BUSYBOX_IMAGE}\" }}\nimage:\n  name: \"{repo}/node:{{{{ version }}}}\"\n  template: tpl\nartifacts:\n  node:\n    url: \"{url}\"\n    sha256: \"{}\"\n    file: node.tgz\n",
            "ab".repeat(32)
        ),
    );
    let started = Instant::now();
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .args(["test", "-f", "strata.yml", "--io-timeout", "1"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}: {all}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("node.tgz") && all.contains("cannot download"),
        "{all}"
    );
}
