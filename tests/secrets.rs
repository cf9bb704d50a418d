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
    hostile_registry(|value| {
        serde_json::json!({"errors": [{
            "code": "UNKNOWN",
            "message": format!("you sent Authorization: {value}"),
            "detail": value,
        }]})
        .to_string()
    })
}

/// The password of a `Basic` Authorization value.
fn basic_password(value: &str) -> String {
    let b64 = value.trim_start_matches("Basic ").trim();
    let pair = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_default();
    let pair = String::from_utf8_lossy(&pair).into_owned();
    pair.split_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default()
}

/// The password as a registry may quote it: JSON-escaped, percent-encoded
/// (as `encodeURIComponent` does), in hex, and base64 of the password alone.
fn echoed_forms(password: &str) -> Vec<String> {
    let json = serde_json::to_string(password).unwrap();
    let percent: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    vec![
        json[1..json.len() - 1].to_string(),
        percent,
        password.bytes().map(|b| format!("{b:02x}")).collect(),
        base64::engine::general_purpose::STANDARD.encode(password),
    ]
}

/// A registry like [`echo_registry`] whose errors quote the Basic password
/// in every form of [`echoed_forms`], as plain text.
fn encoding_echo_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    hostile_registry(|value| {
        let forms = echoed_forms(&basic_password(value));
        format!(
            "bad credentials: json \"{}\" percent {} hex {} base64 {}",
            forms[0], forms[1], forms[2], forms[3]
        )
    })
}

/// The hostile registry: 401 without credentials, the `/v2/` check and tag
/// lists pass, `HEAD` finds nothing, every other request with credentials
/// fails with the body `echo` makes of the Authorization value.
fn hostile_registry(
    echo: impl Fn(&str) -> String + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
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
                    ("400 Bad Request", "", echo(&value))
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
    strata_as(dir, registry, PASSWORD, args)
}

fn strata_as(dir: &Path, registry: &str, password: &str, args: &[&str]) -> (i32, String) {
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env("STRATA_REGISTRY", registry)
        .env("STRATA_REGISTRY_USERNAME", USER)
        .env("STRATA_REGISTRY_PASSWORD", password)
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

/// Removes the test's tag. The tests of this file build images of the same
/// content, so another test may have removed the image behind the tag a
/// moment before (Docker then says "unrecognized image ID"): cleanup only,
/// never the test's verdict.
fn remove(name: &str) {
    common::block_on(async {
        let _ = engine().await.remove(&common::image_ref(name)).await;
    });
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

/// A password with characters JSON and URLs escape, echoed back by the
/// registry JSON-escaped, percent-encoded, in hex and in base64: none of
/// those forms reaches stdout, stderr or the run folder.
#[test]
fn a_password_echoed_in_other_encodings_appears_nowhere() {
    let password = r#"Enc"pa55\/9d+f&c=2"#;
    let (host, seen) = encoding_echo_registry();
    let (dir, name) = fixture(&host);
    build_and_test(dir.path(), &host);

    let (code, all) = strata_as(dir.path(), &host, password, &["push", "-r", "1"]);
    remove(&name);
    assert_ne!(code, 0, "{all}");
    let sent = seen.lock().unwrap().clone();
    assert!(
        sent.iter().any(|v| basic_password(v) == password),
        "{sent:?}"
    );
    let mut places = vec![("stdout+stderr".to_string(), all)];
    places.extend(files(&dir.path().join(".strata/runs/latest")));
    let forms = echoed_forms(password);
    let mut leaks = Vec::new();
    for (place, text) in &places {
        for form in forms.iter().chain([&password.to_string()]) {
            if text.contains(form.as_str()) {
                leaks.push(format!("{form} in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "the password appears: {leaks:?}");
    // The echo did reach the output, scrubbed.
    assert!(
        places
            .iter()
            .any(|(_, t)| t.contains("bad credentials: json \"<redacted>\" percent <redacted>")),
        "the echoed body reached no output: {places:?}"
    );
}

/// `STRATA_SIGNING_KEY` holding the key in a form strata does not read
/// (base64 of the PEM, a PEM whose lines were joined) is refused before
/// anything runs, exit 2, without its value; a PEM with a byte-order mark
/// is read.
#[test]
fn a_signing_key_setting_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "inventory.yml", "images: []\n");
    let prefix = dir.path().join("k");
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .args(["key", "generate", "--out", prefix.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pem = std::fs::read_to_string(dir.path().join("k.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pem);
    let push = |value: &str| {
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .current_dir(dir.path())
            .env("STRATA_SIGNING_KEY", value)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .arg("push")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), all)
    };
    let (code, all) = push(&b64);
    assert!(
        all.contains("neither a PEM key nor the path"),
        "{code:?} {all}"
    );
    for value in [b64.clone(), pem.replace('\n', " ")] {
        let (code, all) = push(&value);
        assert_eq!(code, Some(2), "{all}");
        assert!(all.contains("STRATA_SIGNING_KEY"), "{all}");
        for line in body.as_bytes().chunks(16) {
            let piece = std::str::from_utf8(line).unwrap();
            assert!(!all.contains(piece), "{piece} shown: {all}");
        }
        assert!(!all.contains(&b64[..16]), "{all}");
    }
    // With a byte-order mark the key is read: the run gets past the key (to
    // the config, whose empty image list stops it), and never shows it.
    let (_, all) = push(&format!("\u{feff}{pem}"));
    assert!(!all.contains("signing key"), "{all}");
    assert!(all.contains("`images:` list is empty"), "{all}");
    assert!(!all.contains(&body[..16]), "{all}");
}
