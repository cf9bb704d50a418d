//! Credentials stay with their registry and never leave strata in any
//! encoding, even when a registry echoes the `Authorization` header back.
//!
//! A tiny hostile registry on 127.0.0.1 answers every request that carries
//! credentials with an error quoting the header. The image is built and
//! tested on the real engine, then pushed by the real engine to that
//! registry; stdout, stderr and every file of the run folder are searched
//! for the password, for the base64 of `user:password`, and for the header.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::{busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::Engine;

const USER: &str = "echo-user";
const PASSWORD: &str = "Echo-pa55-9d1f2c";

/// A registry that asks for Basic credentials, then quotes them back in an
/// error. Returns its `host:port` and the Authorization values it was sent.
fn echo_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let is_head = head.starts_with("HEAD ");
            let auth = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("authorization")
                    .then(|| v.trim().to_string())
            });
            let listing = head
                .split_whitespace()
                .nth(1)
                .is_some_and(|p| p.contains("/tags/list"));
            let (status, extra, body) = match auth {
                None => (
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"echo\"\r\n",
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_string(),
                ),
                // The credentials check before a push passes; blobs are
                // missing; everything else fails quoting the header.
                Some(value) if listing => {
                    record.lock().unwrap().push(value);
                    ("200 OK", "", r#"{"name":"x","tags":[]}"#.to_string())
                }
                Some(value) if is_head => {
                    record.lock().unwrap().push(value);
                    ("404 Not Found", "", String::new())
                }
                Some(value) => {
                    record.lock().unwrap().push(value.clone());
                    (
                        "400 Bad Request",
                        "",
                        serde_json::json!({"errors": [{
                            "code": "UNKNOWN",
                            "message": format!("you sent Authorization: {value}"),
                            "detail": value,
                        }]})
                        .to_string(),
                    )
                }
            };
            let body = if is_head { String::new() } else { body };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Docker-Distribution-API-Version: registry/2.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (host, seen)
}

/// A one-image inventory whose image lives on `host`.
fn fixture(host: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{host}/{}:1", unique("harden-echo"));
    write(
        dir.path(),
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo echo > /role\n"),
    );
    write(
        dir.path(),
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: ./app\n"),
    );
    (dir, name)
}

fn strata(dir: &Path, registry: &str, args: &[&str]) -> (i32, String) {
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env("STRATA_REGISTRY", registry)
        .env("STRATA_REGISTRY_USERNAME", USER)
        .env("STRATA_REGISTRY_PASSWORD", PASSWORD)
        .env("STRATA_RETRY_BACKOFF_MS", "10")
        .args(args)
        .output()
        .unwrap();
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), all)
}

/// Every file under `dir`, as (path, text).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

fn build_and_test(dir: &Path, registry: &str) {
    common::block_on(async { busybox_base(&engine().await, BUSYBOX_IMAGE).await });
    let (code, all) = strata(dir, registry, &["test"]);
    assert_eq!(code, 0, "{all}");
}

fn remove(name: &str) {
    common::block_on(async { engine().await.remove(name).await.unwrap() });
}

#[test]
fn an_echoed_authorization_header_appears_nowhere() {
    let (host, seen) = echo_registry();
    let (dir, name) = fixture(&host);
    build_and_test(dir.path(), &host);

    let (code, all) = strata(dir.path(), &host, &["push", "-r", "1"]);
    remove(&name);
    assert_ne!(code, 0, "{all}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    // The registry did get the credentials and did echo them back.
    let sent = seen.lock().unwrap().clone();
    assert!(sent.iter().any(|v| v.contains(&basic)), "{sent:?}");

    let run = dir.path().join(".strata/runs/latest");
    let mut places = vec![("stdout+stderr".to_string(), all)];
    places.extend(files(&run));
    let names: Vec<_> = places.iter().map(|(p, _)| p.clone()).collect();
    for wanted in ["report.md", "report.json", "junit.xml", "events.jsonl"] {
        assert!(
            names.iter().any(|n| n.ends_with(wanted)),
            "{wanted} missing: {names:?}"
        );
    }
    let mut leaks = Vec::new();
    for (place, text) in &places {
        for secret in [PASSWORD, basic.as_str(), basic.trim_end_matches('=')] {
            if text.contains(secret) {
                leaks.push(place.clone());
            }
        }
    }
    assert!(leaks.is_empty(), "the secret appears in {leaks:?}");
    // The echo did reach the reports, scrubbed: the test would see a leak.
    assert!(
        places.iter().any(|(_, t)| t.contains("<redacted>")),
        "the echoed header reached no output at all"
    );
}

#[test]
fn environment_credentials_are_not_sent_to_another_registry() {
    let (host, seen) = echo_registry();
    let (dir, name) = fixture(&host);
    // The credentials belong to a different registry than the image's.
    build_and_test(dir.path(), "127.0.0.1:5001");
    let (code, all) = strata(dir.path(), "127.0.0.1:5001", &["push"]);
    remove(&name);
    assert_ne!(code, 0, "{all}");
    let sent = seen.lock().unwrap().clone();
    assert!(sent.is_empty(), "the registry was sent {sent:?}");
    assert!(!all.contains(PASSWORD), "{all}");
}
