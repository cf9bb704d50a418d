//! External bases followed upstream, on the real engine with a local
//! registry playing upstream: a base absent from the engine is resolved and
//! pulled by digest; when its tag moves, exactly the images built on it
//! rebuild, and the next run rebuilds nothing; `--pull never` stays offline.

mod common;

use std::path::Path;
use std::process::Output;

use common::{
    architecture, arm64_rootfs, block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE,
};
use strata::engine::{Dockerfile, Engine};

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// A socket in front of the engine that keeps the request line (method
/// and path) of every request strata sends it.
struct Counting {
    host: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn counting_engine(dir: &Path) -> Counting {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    let engine = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string());
    let path = dir.join("engine.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let mut server = UnixStream::connect(&engine).unwrap();
            let (mut back_from, mut back_to) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                std::io::copy(&mut back_from, &mut back_to).ok();
                back_to.shutdown(std::net::Shutdown::Both).ok();
            });
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 || server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        let mut words = line.split(' ');
                        let (method, target, version) = (words.next(), words.next(), words.next());
                        if let (Some(m), Some(t), Some(v)) = (method, target, version) {
                            if ["GET", "POST", "HEAD", "DELETE", "PUT"].contains(&m)
                                && v.starts_with("HTTP/")
                            {
                                seen.lock().unwrap().push(format!("{m} {t}"));
                            }
                        }
                    }
                }
                server.shutdown(std::net::Shutdown::Both).ok();
            });
        }
    });
    Counting {
        host: format!("unix://{}", path.display()),
        requests,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The images whose build `out` reported as up to date.
fn skipped(out: &Output, names: &[&str]) -> Vec<String> {
    let stdout = text(&out.stdout);
    names
        .iter()
        .filter(|n| {
            stdout.split("## Image: ").any(|section| {
                let build = section.split("### Test").next().unwrap_or_default();
                section.starts_with(&format!("{n}\n")) && build.contains("up to date")
            })
        })
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn a_base_is_pulled_by_digest_and_its_move_rebuilds_exactly_its_dependents() {
    let registry = common::registry();
    let path = unique("upstream");
    let ns = format!("{registry}/{path}");
    let base = format!("{ns}/base:stable");
    let engine = block_on(engine());
    block_on(busybox_base(&engine, BUSYBOX_IMAGE));
    // v1, pushed upstream, then gone from the engine.
    let v1 = block_on(busybox_base(&engine, &base));
    common::docker_push(&base);
    let d1 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    block_on(engine.remove(&common::image_ref(&base))).unwrap();
    block_on(engine.remove_id(&v1)).ok();
    assert_eq!(
        block_on(engine.image_id(&common::image_ref(&base))).unwrap(),
        None
    );

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {base}\nRUN echo app > /app\n"),
    );
    write(
        root,
        "child/Dockerfile",
        &format!("FROM {ns}/app:1\nRUN echo child > /child\n"),
    );
    write(
        root,
        "other/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo other > /other\n"),
    );
    write(root, "t/Dockerfile", "RUN test -f /bin/sh\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    test: ./t\n  - name: \"{ns}/child:1\"\n    path: ./child\n    test: ./t\n  - name: \"{ns}/other:1\"\n    path: ./other\n    test: ./t\n"
        ),
    );
    let (app, child, other) = (
        format!("{ns}/app:1"),
        format!("{ns}/child:1"),
        format!("{ns}/other:1"),
    );
    let names = [app.as_str(), child.as_str(), other.as_str()];

    // `never` with the base absent: exit 2 before any build, naming it.
    let never = strata(root, &["test", "--pull", "never"]);
    assert_eq!(never.status.code(), Some(2), "{}", text(&never.stderr));
    assert!(
        text(&never.stderr).contains(&base),
        "{}",
        text(&never.stderr)
    );
    assert_eq!(
        block_on(engine.image_id(&common::image_ref(&app))).unwrap(),
        None
    );

    let first = strata(root, &["test", "-j", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let pinned = format!("{ns}/base@{d1}");
    assert!(
        text(&first.stderr).contains(&format!("pulled {base} ({pinned})")),
        "{}",
        text(&first.stderr)
    );
    assert!(block_on(engine.image_id(&common::image_ref(&pinned)))
        .unwrap()
        .is_some());
    // The state records the digest the image was built on.
    let state = || std::fs::read_to_string(root.join(".strata/state.json")).unwrap();
    assert!(
        state().contains(&format!("\"digest\": \"{d1}\"")),
        "{}",
        state()
    );

    // v2 pushed to the same tag; the engine's tag still names v1, and v2
    // is not on the engine.
    let v1 = block_on(engine.image_id(&common::image_ref(&pinned)))
        .unwrap()
        .unwrap();
    let v2 = block_on(engine.build(
        common::request(
            &root.join("t"),
            Dockerfile::Inline(format!("FROM {}\nRUN echo v2 > /v2\n", v1.as_str())),
            Some(base.clone()),
        ),
        &|_| {},
    ))
    .unwrap();
    common::docker_push(&base);
    let d2 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    assert_ne!(d1, d2);
    block_on(engine.tag(&v1, &common::image_ref(&base))).unwrap();
    block_on(engine.remove_id(&v2)).ok();

    // Predicted before it happens, from the registry alone.
    let predicted = strata(root, &["plan", "--changes"]);
    assert_eq!(
        predicted.status.code(),
        Some(0),
        "{}",
        text(&predicted.stderr)
    );
    let said = text(&predicted.stdout);
    assert!(
        said.contains(&format!(
            "{app}: would rebuild: base {base} moved: {d1} → {d2}"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "{child}: would rebuild: its base {app} would be rebuilt"
        )),
        "{said}"
    );
    assert!(said.contains(&format!("{other}: up to date")), "{said}");
    let json = strata(root, &["plan", "--changes", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["rebuild"], true, "{json}");
    let predicted_for = |name: &str| {
        json["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        predicted_for(&app)["reasons"][0]["kind"],
        "base-moved",
        "{json}"
    );
    assert_eq!(predicted_for(&child)["rebuild"], true, "{json}");
    assert_eq!(predicted_for(&other)["rebuild"], false, "{json}");

    let second = strata(root, &["test", "-j", "2"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains(&format!("pulled {base} ({ns}/base@{d2})")),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        skipped(&second, &names),
        vec![other.clone()],
        "{}",
        text(&second.stdout)
    );
    assert!(
        state().contains(&format!("\"digest\": \"{d2}\"")),
        "{}",
        state()
    );
    // Each rebuilt image says why: the base's old and new digests, and
    // the child its base rebuilt; in the terminal line, the Markdown and
    // the JSON report.
    let moved = format!("base {base} moved: {d1} → {d2}");
    assert!(
        text(&second.stderr).contains(&format!("rebuild {app} … {moved}")),
        "{}",
        text(&second.stderr)
    );
    let section = |out: &Output, name: &str| {
        text(&out.stdout)
            .split("## Image: ")
            .find(|s| s.starts_with(&format!("{name}\n")))
            .unwrap_or_default()
            .split("### ")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        section(&second, &app).contains(&format!("Rebuilt because: {moved}")),
        "{}",
        text(&second.stdout)
    );
    assert!(
        section(&second, &child)
            .contains(&format!("Rebuilt because: base {app} is another image now")),
        "{}",
        text(&second.stdout)
    );
    assert!(!section(&second, &other).contains("Rebuilt because"));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(".strata/runs/latest/report.json")).unwrap(),
    )
    .unwrap();
    let reasons = |name: &str| {
        report["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .map(|i| i["reasons"].clone())
            .unwrap()
    };
    assert_eq!(reasons(&app)[0]["kind"], "base-moved", "{report}");
    assert_eq!(reasons(&app)[0]["text"], moved.as_str(), "{report}");
    assert_eq!(reasons(&child)[0]["kind"], "base", "{report}");
    assert!(reasons(&other).is_null(), "{report}");
    assert!(!state().contains(&d1), "{}", state());

    // The no-op run, through a socket that counts what the engine is asked:
    // one list of images (tags and repository digests) answers every
    // look-up, the base's included; no inspect.
    let sock = tempfile::tempdir().unwrap();
    let counting = counting_engine(sock.path());
    let third = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("DOCKER_HOST", &counting.host)
        .args(["test", "-j", "2"])
        .output()
        .unwrap();
    let asked: Vec<String> = counting.requests.lock().unwrap().clone();
    let images: Vec<&String> = asked.iter().filter(|r| r.contains("/images/")).collect();
    eprintln!("engine requests of the no-op run: {asked:?}");
    assert_eq!(images.len(), 1, "{asked:#?}");
    assert!(images[0].starts_with("GET /images/json?"), "{asked:#?}");
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert!(
        !text(&third.stderr).contains("pulled"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(skipped(&third, &names).len(), 3, "{}", text(&third.stdout));
    assert!(
        !text(&third.stdout).contains("Rebuilt because"),
        "{}",
        text(&third.stdout)
    );
    let quiet = strata(root, &["plan", "--changes", "--format", "json"]);
    let quiet: serde_json::Value = serde_json::from_slice(&quiet.stdout).unwrap();
    assert_eq!(quiet["rebuild"], false, "{quiet}");

    // Offline: the engine's copies, no registry asked.
    let offline = strata(root, &["test", "--pull", "never"]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
}

/// A registry that does not answer, and one that refuses strata's (absent)
/// credentials: exit 3 before any build, naming the base.
#[test]
fn an_unreachable_or_refusing_upstream_stops_the_run_before_any_build() {
    let (auth, _) = common::auth_registry();
    let down = format!("127.0.0.1:{}", common::free_port());
    for host in [down, auth] {
        let ns = format!("{host}/{}", unique("upstream-down"));
        let base = format!("{ns}/base:1");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app/Dockerfile", &format!("FROM {base}\nRUN true\n"));
        write(
            root,
            "inventory.yml",
            &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n"),
        );
        let config = tempfile::tempdir().unwrap();
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .current_dir(root)
            .env("DOCKER_CONFIG", config.path())
            .args(["test", "--connect-timeout", "3"])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&format!("base image {base}")), "{stderr}");
        let engine = block_on(engine());
        assert_eq!(
            block_on(engine.image_id(&common::image_ref(&format!("{ns}/app:1")))).unwrap(),
            None
        );
    }
}

/// A `FROM` line naming no valid image reference (build arguments
/// replaced) is bad input, told before any build, as a reference the
/// engine is never asked about.
#[test]
fn a_from_line_naming_no_valid_reference_stops_the_run_as_bad_input() {
    let ns = format!("127.0.0.1:5000/{}", unique("bad-from"));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app/Dockerfile", "FROM Upper/Case:1\nRUN true\n");
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n"),
    );
    let out = strata(root, &["test"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("base image Upper/Case:1 is not a valid image reference"),
        "{stderr}"
    );
    let engine = block_on(engine());
    assert_eq!(
        block_on(engine.image_id(&common::image_ref(&format!("{ns}/app:1")))).unwrap(),
        None
    );
}

/// `rootfs` with one more file, `/etc/strata-test`, holding `marker`.
fn with_marker(rootfs: Vec<u8>, marker: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(rootfs.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.append(&header, data.as_slice()).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(marker.len() as u64);
    out.append_data(&mut header, "etc/strata-test", marker.as_bytes())
        .unwrap();
    out.into_inner().unwrap()
}

/// Upstream `{registry}/{path}/base:stable`: a two-platform index (amd64
/// and arm64 busybox), put together over plain HTTP as another tool would,
/// then gone from the engine. Returns the index's digest and each
/// platform's manifest digest, amd64 first.
fn two_platform_base(root: &Path, registry: &str, path: &str) -> (String, String, String) {
    let ns = format!("{registry}/{path}");
    let engine = block_on(engine());
    let mut children = Vec::new();
    for (arch, rootfs) in [
        ("amd64", common::busybox_rootfs()),
        ("arm64", arm64_rootfs()),
    ] {
        let tar = root.join(format!("rootfs-{arch}.tar"));
        // Content of its own: an import of the same files would be the
        // engine's cached image of other tests, which the push would mark
        // as pulled from this registry.
        std::fs::write(&tar, with_marker(rootfs, &ns)).unwrap();
        let tag = format!("{ns}/base:{arch}");
        let platform = format!("linux/{arch}");
        let out = strata(
            root,
            &[
                "import",
                "--platform",
                &platform,
                tar.to_str().unwrap(),
                &tag,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(architecture(&tag), arch);
        common::docker_push(&tag);
        let digest = common::manifest_digest(registry, &format!("{path}/base"), arch).unwrap();
        let id = block_on(engine.image_id(&common::image_ref(&tag)))
            .unwrap()
            .unwrap();
        block_on(engine.remove(&common::image_ref(&tag))).unwrap();
        block_on(engine.remove_id(&id)).ok();
        children.push((arch, digest));
    }
    let index = block_on(async {
        let client = reqwest::Client::new();
        let mut manifests = Vec::new();
        for (arch, digest) in &children {
            let got = client
                .get(format!("http://{registry}/v2/{path}/base/manifests/{digest}"))
                .header(
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
                )
                .send()
                .await
                .unwrap();
            let media_type = got.headers()["Content-Type"].to_str().unwrap().to_string();
            let size = got.bytes().await.unwrap().len();
            manifests.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": size,
                "platform": {"os": "linux", "architecture": arch},
            }));
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": manifests,
        }))
        .unwrap();
        let put = client
            .put(format!("http://{registry}/v2/{path}/base/manifests/stable"))
            .header(
                "Content-Type",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.status());
        put.headers()["Docker-Content-Digest"]
            .to_str()
            .unwrap()
            .to_string()
    });
    assert_eq!(
        block_on(engine.image_id(&common::image_ref(&format!("{ns}/base:stable")))).unwrap(),
        None
    );
    let (amd64, arm64) = (children[0].1.clone(), children[1].1.clone());
    (index, amd64, arm64)
}

/// An app for amd64 and arm64 on `{ns}/base:stable`, each platform's
/// build recording where it ran.
fn two_platform_app(root: &Path, ns: &str) {
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {ns}/base:stable\nRUN uname -m > /built-on\n"),
    );
    write(root, "t/Dockerfile", "RUN test -s /built-on\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    platforms: [linux/amd64, linux/arm64]\n    test: ./t\n"
        ),
    );
}

/// Point 1 of following upstream: a base that is an index gives each
/// platform its own child, pulled by that digest and recorded per unit.
#[test]
fn a_two_platform_base_index_builds_each_platform_on_its_own_child() {
    let registry = common::registry();
    let path = unique("upstream-index");
    let ns = format!("{registry}/{path}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (index, amd64, arm64) = two_platform_base(root, &registry, &path);
    two_platform_app(root, &ns);
    let base = format!("{ns}/base:stable");

    let out = strata(root, &["test", "-j", "2"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (arch, digest) in [("amd64", &amd64), ("arm64", &arm64)] {
        let pinned = format!("{ns}/base@{digest}");
        assert!(
            stderr.contains(&format!("pulled {base} ({pinned})")),
            "{stderr}"
        );
        // Pulled by digest: the engine holds that child, for its platform.
        assert_eq!(architecture(&pinned), arch);
        assert_eq!(architecture(&format!("{ns}/app:1-linux-{arch}")), arch);
    }
    assert!(!stderr.contains(&index), "the index itself is never pulled");

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(".strata/state.json")).unwrap()).unwrap();
    for (arch, digest) in [("amd64", &amd64), ("arm64", &arm64)] {
        let unit = format!("{ns}/app:1-linux-{arch}");
        let bases = &state["images"][&unit]["bases"];
        assert_eq!(
            bases,
            &serde_json::json!([{
                "reference": base, "platform": format!("linux/{arch}"), "digest": digest,
            }]),
            "{unit}: {state:#}"
        );
    }
}

/// `skopeo inspect --raw` of `reference` (`host/repo:tag` or `@digest`),
/// read without strata.
fn skopeo(args: &[&str], reference: &str) -> serde_json::Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(args)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is not installed: run scripts/setup.sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .env("GIT_AUTHOR_DATE", "@1500000000 +0000")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Point 7: every pushed image and index says what it is built on, as
/// labels in the image config and annotations on the manifest and index,
/// read back by skopeo. `created` is the commit's time, or
/// `SOURCE_DATE_EPOCH`; a new commit that changes no input rebuilds nothing.
#[test]
fn pushed_images_and_indexes_say_what_they_are_built_on() {
    let registry = common::registry();
    let path = unique("upstream-annotated");
    let ns = format!("{registry}/{path}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (_, amd64, arm64) = two_platform_base(root, &registry, &path);
    two_platform_app(root, &ns);
    write(root, ".gitignore", ".strata/\n*.tar\n");
    git(root, &["init", "-q"]);
    git(
        root,
        &[
            "remote",
            "add",
            "origin",
            "https://someone:ghp_notshown@example.org/acme/images.git",
        ],
    );
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "images"]);
    let head = git(root, &["rev-parse", "HEAD"]);

    for command in ["test", "push"] {
        let out = strata(root, &[command, "-j", "2"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let base = format!("{ns}/base:stable");
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    let common = serde_json::json!({
        key("base.name"): base,
        key("version"): "1",
        // The commit's time (committer), not the clock's.
        key("created"): "2020-09-13T12:26:40Z",
        key("revision"): head,
        key("source"): "https://example.org/acme/images",
    });
    let index = skopeo(&["--raw"], &format!("{ns}/app:1"));
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index:#}"
    );
    // Each platform's base digest differs: the index says what they share.
    assert_eq!(index["annotations"], common, "{index:#}");
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index:#}");
    for entry in entries {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        let want_base = match arch {
            "amd64" => &amd64,
            "arm64" => &arm64,
            other => panic!("{other} in {index:#}"),
        };
        let mut want = common.clone();
        want[key("base.digest")] = serde_json::json!(want_base);
        let child = format!("{ns}/app@{}", entry["digest"].as_str().unwrap());
        let manifest = skopeo(&["--raw"], &child);
        assert_eq!(manifest["annotations"], want, "{arch}: {manifest:#}");
        // The same values are labels in the image config (the image ID).
        let config = skopeo(&["--config"], &child);
        let labels = &config["config"]["Labels"];
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&labels[k], v, "{arch} label {k}: {config:#}");
        }
    }
    assert!(!text(&std::fs::read(root.join(".strata/state.json")).unwrap()).contains("ghp_"));

    // A commit that changes none of the image's inputs rebuilds nothing:
    // the image keeps the commit it was built at.
    write(root, "NOTES.md", "notes\n");
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "notes"]);
    let again = strata(root, &["test", "-j", "2"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let names = [
        format!("{ns}/app:1-linux-amd64"),
        format!("{ns}/app:1-linux-arm64"),
    ];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(skipped(&again, &names).len(), 2, "{}", text(&again.stdout));

    // SOURCE_DATE_EPOCH decides `created` when set (a build it does not
    // cause: the stamp is no input); a bad one is bad input.
    let epoch = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["test", "-j", "2", "--no-cache"])
        .output()
        .unwrap();
    assert_eq!(epoch.status.code(), Some(0), "{}", text(&epoch.stderr));
    let engine = block_on(engine());
    let id = block_on(engine.image_id(&common::image_ref(names[0])))
        .unwrap()
        .unwrap();
    let inspect = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            id.as_str(),
        ])
        .output()
        .unwrap();
    let labels: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(labels[key("created")], "2023-11-14T22:13:20Z", "{labels}");
    let bad = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "last tuesday")
        .args(["test"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("SOURCE_DATE_EPOCH"),
        "{}",
        text(&bad.stderr)
    );
}

/// Pushes a v2 of `base` (on `v1`) to its registry; the engine's tag stays
/// on v1 and v2 leaves the engine. Returns v2's manifest digest.
fn push_v2(engine: &strata::engine::docker::DockerEngine, base: &str, dir: &Path) -> String {
    let v1 = block_on(engine.image_id(&common::image_ref(base)))
        .unwrap()
        .unwrap();
    let v2 = block_on(engine.build(
        common::request(
            dir,
            Dockerfile::Inline(format!("FROM {}\nRUN echo v2 > /v2\n", v1.as_str())),
            Some(base.to_string()),
        ),
        &|_| {},
    ))
    .unwrap();
    common::docker_push(base);
    block_on(engine.tag(&v1, &common::image_ref(base))).unwrap();
    block_on(engine.remove_id(&v2)).ok();
    let (registry, rest) = base.split_once('/').unwrap();
    let (repo, tag) = rest.rsplit_once(':').unwrap();
    common::manifest_digest(registry, repo, tag).unwrap()
}

/// `strata.lock` holds a build on v1 after upstream moved to v2, and
/// `plan --changes` reports the drift, until `pins update`; a lock naming
/// a base the config does not use is exit 2 at its line.
#[test]
fn pins_hold_a_build_on_v1_until_pins_update() {
    let registry = common::registry();
    let path = unique("pins");
    let ns = format!("{registry}/{path}");
    let base = format!("{ns}/base:stable");
    let engine = block_on(engine());
    block_on(busybox_base(&engine, BUSYBOX_IMAGE));
    block_on(busybox_base(&engine, &base));
    common::docker_push(&base);
    let d1 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {base}\nRUN echo app > /app\n"),
    );
    write(
        root,
        "other/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo other > /other\n"),
    );
    write(root, "t/Dockerfile", "RUN test -f /bin/sh\n");
    let (app, other) = (format!("{ns}/app:1"), format!("{ns}/other:1"));
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{app}\"\n    path: ./app\n    test: ./t\n  - name: \"{other}\"\n    path: ./other\n    test: ./t\n"
        ),
    );
    let lock = || std::fs::read_to_string(root.join("strata.lock")).unwrap();

    let pins = strata(root, &["pins", "update"]);
    assert_eq!(pins.status.code(), Some(0), "{}", text(&pins.stderr));
    assert!(lock().contains(&d1), "{}", lock());
    assert!(
        lock().contains("\"local\": true"),
        "the busybox base is made here: {}",
        lock()
    );

    let first = strata(root, &["test"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));

    let d2 = push_v2(&engine, &base, &root.join("t"));
    assert_ne!(d1, d2);

    // Pinned: nothing would rebuild, and the drift is reported.
    let predicted = strata(root, &["plan", "--changes"]);
    assert_eq!(
        predicted.status.code(),
        Some(0),
        "{}",
        text(&predicted.stderr)
    );
    let said = text(&predicted.stdout);
    assert!(said.contains(&format!("{app}: up to date")), "{said}");
    assert!(
        said.contains(&format!(
            "base {base} would move if pins were updated: {d1} → {d2}"
        )),
        "{said}"
    );
    let json = strata(root, &["plan", "--changes", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["rebuild"], false, "{json}");
    assert_eq!(json["drift"][0]["upstream"], d2.as_str(), "{json}");

    let held = strata(root, &["test"]);
    assert_eq!(held.status.code(), Some(0), "{}", text(&held.stderr));
    assert_eq!(
        skipped(&held, &[app.as_str(), other.as_str()]).len(),
        2,
        "{}",
        text(&held.stdout)
    );
    assert!(
        !text(&held.stderr).contains("pulled"),
        "{}",
        text(&held.stderr)
    );

    // Updated: the build moves to v2 and says so.
    let pins = strata(root, &["pins", "update"]);
    assert_eq!(pins.status.code(), Some(0), "{}", text(&pins.stderr));
    assert!(lock().contains(&d2) && !lock().contains(&d1), "{}", lock());
    let moved = strata(root, &["test"]);
    assert_eq!(moved.status.code(), Some(0), "{}", text(&moved.stderr));
    assert!(
        text(&moved.stdout).contains(&format!("Rebuilt because: base {base} moved: {d1} → {d2}")),
        "{}",
        text(&moved.stdout)
    );
    assert_eq!(
        skipped(&moved, &[app.as_str(), other.as_str()]),
        vec![other.clone()]
    );

    // A lock naming a base the config does not build on: exit 2 at its line.
    let stale = lock().replace(&base, &format!("{ns}/gone:1"));
    std::fs::write(root.join("strata.lock"), stale).unwrap();
    let refused = strata(root, &["test"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    let err = text(&refused.stderr);
    assert!(err.contains("strata.lock:"), "{err}");
    assert!(err.contains(&format!("{ns}/gone:1")), "{err}");
    assert!(err.contains("strata pins update"), "{err}");
}
