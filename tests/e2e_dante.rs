//! End to end, through the `strata` binary: a Dante inventory is built, tested
//! as layers, aliased and pushed on the real engine and registry, and what the
//! registry holds is read back over plain HTTP.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{block_on, busybox_base, engine, registry, unique, BUSYBOX_IMAGE};
use strata::engine::Engine;

/// Writes a file, creating its folder.
fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Every file under `root` (but the state folder) with its content.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env("STRATA_RETRY_BACKOFF_MS", "10")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A manifest digest as the registry reports it, over plain HTTP.
fn registry_digest(registry: &str, repo: &str, tag: &str) -> Option<String> {
    let url = format!("http://{registry}/v2/{repo}/manifests/{tag}");
    reqwest::blocking_get_with_accept(&url)
}

mod reqwest {
    //! The few blocking HTTP calls these tests make, on the async client.
    pub fn blocking_get_with_accept(url: &str) -> Option<String> {
        let url = url.to_owned();
        super::block_on(async move {
            let resp = ::reqwest::Client::new()
                .head(&url)
                .header(
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
                )
                .send()
                .await
                .expect("registry answers");
            if resp.status() == 404 {
                return None;
            }
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            resp.headers()
                .get("Docker-Content-Digest")
                .map(|v| v.to_str().unwrap().to_owned())
        })
    }

    pub fn tags(url: &str) -> Vec<String> {
        let url = url.to_owned();
        super::block_on(async move {
            let resp = ::reqwest::get(&url).await.expect("registry answers");
            if resp.status() == 404 {
                return vec![];
            }
            let v: serde_json::Value = resp.json().await.unwrap();
            let mut tags: Vec<String> = v["tags"]
                .as_array()
                .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            tags.sort();
            tags
        })
    }
}

/// The example in Dante's own shape, plus one image whose test fails and one
/// whose build fails.
fn write_tree(root: &Path, repo: &str) {
    put(
        root,
        "app/server/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nCOPY . /srv/\nRUN echo server > /srv/role\n"),
    );
    put(root, "app/server/.dockerignore", "secret.txt\n");
    put(root, "app/server/secret.txt", "must not reach the image\n");
    put(root, "app/server/index.html", "hello\n");
    put(
        root,
        "app/client/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo client > /role\n"),
    );
    put(
        root,
        "app/plain/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo plain > /role\n"),
    );
    put(
        root,
        "app/flawed/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo flawed > /role\n"),
    );
    put(
        root,
        "app/broken/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo about to fail && false\n"),
    );
    // Tests: Dockerfiles without FROM, built on the exact image.
    put(
        root,
        "app/tests/http/Dockerfile",
        "RUN test -f /srv/index.html || test -f /role\nRUN test ! -e /srv/secret.txt\n",
    );
    put(
        root,
        "app/tests/db/Dockerfile",
        "COPY check.sh /check.sh\nRUN sh /check.sh\n",
    );
    put(
        root,
        "app/tests/db/check.sh",
        "test -s /role && echo role is $(cat /role)\n",
    );
    put(
        root,
        "app/tests/fails/Dockerfile",
        "RUN echo this test fails && false\n",
    );
    put(
        root,
        "inventory.yml",
        &format!(
            r#"images:
  - name: "{repo}/app:server"
    path: "./app/server"
    test: "./app/tests/http"
    alias: "{repo}/app:latest"
  - name: "{repo}/app:client"
    path: "./app/client"
    test: ["./app/tests/http", "./app/tests/db"]
    alias: ["{repo}/app:client-stable", "{repo}/client:1"]
  - name: "{repo}/app:plain"
    path: "./app/plain"
  - name: "{repo}/app:flawed"
    path: "./app/flawed"
    test: ["./app/tests/db", "./app/tests/fails"]
    alias: "{repo}/app:flawed-stable"
  - name: "{repo}/app:broken"
    path: "./app/broken"
    test: "./app/tests/http"
    alias: "{repo}/app:broken-stable"
"#
        ),
    );
}

#[test]
fn dante_inventory_test_alias_push_end_to_end() {
    let reg = registry();
    let ns = unique("e2e");
    let repo = format!("{reg}/{ns}");
    let engine = block_on(async {
        let e = engine().await;
        busybox_base(&e, BUSYBOX_IMAGE).await;
        e
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    write_tree(&root, &repo);
    let state_dir = dir.path().join("state");
    let state_arg = state_dir.to_str().unwrap();
    let before = snapshot(&root);

    // --- dry run: prints the plan, touches nothing, needs no engine.
    let dry = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(&root)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["test", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let plan = text(&dry.stdout);
    for tag in ["app:server", "app:client", "app:server-test1", "client:1"] {
        assert!(plan.contains(tag), "dry run names {tag}:\n{plan}");
    }

    // --- test: two failures (a test, a build) → exit 1; the rest pass.
    let out = strata(
        &root,
        &["test", "-j", "2", "-r", "1", "--state-dir", state_arg],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(snapshot(&root), before, "the user's tree is untouched");
    assert!(
        stdout.contains(&format!("{repo}/app:server")),
        "markdown names images:\n{stdout}"
    );
    assert!(
        stdout.contains("this test fails"),
        "markdown has the failing test's log"
    );
    assert!(
        stdout.contains("failed after 2 attempts"),
        "with -r 1 the report says both attempts failed:\n{stdout}"
    );
    assert!(
        stdout.contains("about to fail"),
        "markdown has the failing build's log"
    );

    let ids = block_on(async {
        let mut ids = BTreeMap::new();
        for t in [
            "server",
            "client",
            "plain",
            "flawed",
            "broken",
            "latest",
            "client-stable",
            "flawed-stable",
            "broken-stable",
            "server-test1",
            "client-test1",
            "client-test2",
            "flawed-test1",
            "flawed-test2",
        ] {
            ids.insert(
                t,
                engine
                    .image_id(&common::image_ref(&format!("{repo}/app:{t}")))
                    .await
                    .unwrap(),
            );
        }
        ids.insert(
            "client:1",
            engine
                .image_id(&common::image_ref(&format!("{repo}/client:1")))
                .await
                .unwrap(),
        );
        ids
    });
    assert!(ids["server"].is_some() && ids["client"].is_some() && ids["plain"].is_some());
    assert_eq!(ids["latest"], ids["server"], "alias on the same image ID");
    assert_eq!(ids["client-stable"], ids["client"]);
    assert_eq!(ids["client:1"], ids["client"]);
    assert!(
        ids["server-test1"].is_some() && ids["client-test2"].is_some(),
        "passing tests tagged"
    );
    assert!(
        ids["flawed-test1"].is_some(),
        "the flawed image's first test passed"
    );
    assert_eq!(ids["flawed-test2"], None, "a failing test gets no tag");
    assert_eq!(
        ids["flawed-stable"], None,
        "no alias for an image whose test failed"
    );
    assert_eq!(ids["broken"], None, "a failed build leaves no image");
    assert_eq!(ids["broken-stable"], None);

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["images"][format!("{repo}/app:server")]["passed"],
        true
    );
    assert_eq!(
        state["images"][format!("{repo}/app:flawed")]["passed"],
        false
    );
    let runs: Vec<_> = std::fs::read_dir(state_dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("latest"))
        .collect();
    assert_eq!(runs.len(), 1, "one run folder: {runs:?}");
    let run_dir = runs[0].clone();
    assert_eq!(
        std::fs::canonicalize(state_dir.join("runs/latest")).unwrap(),
        std::fs::canonicalize(&run_dir).unwrap(),
        "runs/latest points at the newest run"
    );
    let build_log = run_dir.join(format!(
        "logs/{}%2Fapp%3Aflawed/test2.attempt2.log",
        repo.replace(':', "%3A").replace('/', "%2F")
    ));
    assert!(
        std::fs::read_to_string(&build_log)
            .unwrap_or_else(|e| panic!("{}: {e}", build_log.display()))
            .contains("this test fails"),
        "each attempt's raw log is kept"
    );
    for f in [
        "events.jsonl",
        "report.md",
        "report.json",
        "junit.xml",
        "report.html",
    ] {
        assert!(run_dir.join(f).is_file(), "run folder has {f}");
    }

    // --- push --dry-run: what push would do, from the state file alone.
    let preview = strata(&root, &["push", "--dry-run", "--state-dir", state_arg]);
    let preview_text = text(&preview.stdout);
    assert_eq!(preview.status.code(), Some(0), "{}", text(&preview.stderr));
    assert!(
        preview_text.contains(&format!("ready      {repo}/app:server")),
        "{preview_text}"
    );
    assert!(
        preview_text.contains(&format!("refused    {repo}/app:flawed")),
        "{preview_text}"
    );

    // --- push: passed images and their aliases go; the rest are refused.
    let out = strata(&root, &["push", "-j", "2", "--state-dir", state_arg]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "refusals fail the run:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("refused"), "the report says why:\n{stdout}");

    let (app_tags, referrers) = split_referrer_tags(reqwest::tags(&format!(
        "http://{reg}/v2/{ns}/app/tags/list"
    )));
    assert_eq!(
        app_tags,
        vec!["client", "client-stable", "latest", "plain", "server"],
        "only tested images and their aliases reach the registry"
    );
    // Each pushed image's test attestation is listed under its digest's
    // referrers tag (`sha256-<hex>`), and nothing else is.
    let mut attested: Vec<String> = ["client", "plain", "server"]
        .iter()
        .map(|t| {
            registry_digest(&reg, &format!("{ns}/app"), t)
                .expect("pushed")
                .replacen(':', "-", 1)
        })
        .collect();
    attested.sort();
    assert_eq!(referrers, attested);
    let digest = |repo: &str, tag: &str| registry_digest(&reg, &format!("{ns}/{repo}"), tag);
    let server = digest("app", "server").expect("server pushed");
    assert_eq!(
        digest("app", "latest"),
        Some(server.clone()),
        "alias resolves to the image's digest"
    );
    let client = digest("app", "client").expect("client pushed");
    assert_eq!(digest("app", "client-stable"), Some(client.clone()));
    assert_eq!(
        digest("client", "1"),
        Some(client.clone()),
        "alias in another repository"
    );
    assert_ne!(server, client);
    // The alias in another repository verifies where users pull it: the
    // image's attestation is attached there too.
    let out = strata(&root, &["verify", &format!("{repo}/client:1")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["images"][format!("{repo}/app:server")]["pushed"]["digest"],
        server.as_str()
    );

    // --- a name moved to another image after testing is refused by push.
    block_on(async {
        let plain = engine
            .image_id(&common::image_ref(&format!("{repo}/app:plain")))
            .await
            .unwrap()
            .unwrap();
        engine
            .tag(&plain, &common::image_ref(&format!("{repo}/app:server")))
            .await
            .unwrap();
    });
    let out = strata(&root, &["push", "--state-dir", state_arg]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("not the one tested"), "{stdout}");
    assert_eq!(
        digest("app", "server"),
        Some(server),
        "the registry still holds the tested image"
    );
}

#[test]
fn engine_unreachable_is_an_environment_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "app/Dockerfile", "FROM scratch\n");
    put(
        dir.path(),
        "inventory.yml",
        "images:\n  - name: \"x/y:1\"\n    path: \"./app\"\n",
    );
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("/nonexistent/docker.sock"), "{err}");
    assert!(
        err.contains("dockerd") || err.contains("setup"),
        "says how to start it: {err}"
    );
}

/// The same pipeline, test and push, through Podman's Docker-compatible service.
#[test]
fn podman_runs_the_test_pipeline() {
    let host = std::env::var("STRATA_TEST_PODMAN_HOST")
        .unwrap_or_else(|_| panic!("STRATA_TEST_PODMAN_HOST is not set: {}", common::SETUP_HINT));
    block_on(async {
        let p = common::podman().await;
        busybox_base(&p, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let reg = registry();
    let ns = format!("{reg}/{}", unique("podman"));
    put(
        root,
        "img/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo podman > /who\n"),
    );
    put(root, "t/ok/Dockerfile", "RUN grep -q podman /who\n");
    put(root, "t/bad/Dockerfile", "RUN grep -q docker /who\n");
    put(root, "inventory.yml", &format!(
        "images:\n  - name: \"{ns}/p:good\"\n    path: ./img\n    test: ./t/ok\n    alias: \"{ns}/p:latest\"\n  - name: \"{ns}/p:bad\"\n    path: ./img\n    test: [./t/ok, ./t/bad]\n    alias: \"{ns}/p:bad-latest\"\n"));
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("DOCKER_HOST", &host)
        // Podman records a repository digest for every image, so the base
        // it imported here cannot be told from a pulled one: never pull.
        .env("STRATA_PULL", "never")
        .args(["test", "-j", "2"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("Podman"), "ran on Podman: {stderr}");
    let (good, latest, bad_latest) = block_on(async {
        let p = common::podman().await;
        (
            p.image_id(&common::image_ref(&format!("{ns}/p:good")))
                .await
                .unwrap(),
            p.image_id(&common::image_ref(&format!("{ns}/p:latest")))
                .await
                .unwrap(),
            p.image_id(&common::image_ref(&format!("{ns}/p:bad-latest")))
                .await
                .unwrap(),
        )
    });
    assert!(good.is_some());
    assert_eq!(latest, good, "alias on the tested image");
    assert_eq!(bad_latest, None, "no alias for the image whose test failed");

    // Push through Podman: the tested image and its alias, nothing else.
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(root)
        .env("DOCKER_HOST", &host)
        .args(["push"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "`bad` is refused:\n{stdout}\n{stderr}"
    );
    let repo = ns.strip_prefix(&format!("{reg}/")).unwrap().to_string() + "/p";
    let (tags, referrers) =
        split_referrer_tags(reqwest::tags(&format!("http://{reg}/v2/{repo}/tags/list")));
    assert_eq!(tags, vec!["good", "latest"]);
    let good_digest = registry_digest(&reg, &repo, "good").expect("pushed");
    assert_eq!(referrers, vec![good_digest.replacen(':', "-", 1)]);
    assert_eq!(registry_digest(&reg, &repo, "latest"), Some(good_digest));
}

/// A second `strata test` skips images whose inputs did not change; a
/// changed file, a changed base or `--no-cache` makes an image run again.
#[test]
fn unchanged_images_are_not_rebuilt() {
    block_on(async {
        let e = engine().await;
        busybox_base(&e, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("incr");
    put(
        root,
        "a/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nCOPY a.txt /a.txt\n"),
    );
    put(root, "a/a.txt", "one\n");
    put(
        root,
        "b/Dockerfile",
        &format!("FROM {ns}/i:a\nCOPY b.txt /b.txt\n"),
    );
    put(root, "b/b.txt", "one\n");
    put(root, "t/Dockerfile", "RUN test -f /a.txt\n");
    put(root, "inventory.yml", &format!(
        "images:\n  - name: \"{ns}/i:a\"\n    path: ./a\n    test: ./t\n  - name: \"{ns}/i:b\"\n    path: ./b\n    test: ./t\n"));
    let up_to_date = |out: &Output| {
        text(&out.stdout)
            .matches("up to date: inputs unchanged")
            .count()
    };

    let first = strata(root, &["test"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(up_to_date(&first), 0, "the first run builds everything");

    let second = strata(root, &["test"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    // Build and one test per image, all reported as up to date.
    assert_eq!(up_to_date(&second), 4, "{}", text(&second.stdout));

    // A changed file in `a` rebuilds `a`, and `b`, whose base is now a new image.
    put(root, "a/a.txt", "two\n");
    let third = strata(root, &["test"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert_eq!(up_to_date(&third), 0, "{}", text(&third.stdout));

    // A change in `b` only rebuilds `b`.
    put(root, "b/b.txt", "two\n");
    let fourth = strata(root, &["test"]);
    assert_eq!(up_to_date(&fourth), 2, "{}", text(&fourth.stdout));

    let forced = strata(root, &["test", "--no-cache"]);
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(up_to_date(&forced), 0, "--no-cache runs everything again");
}

/// Ctrl-C stops a run cleanly: exit 130, results so far kept in the state
/// file, reports written and saying the run was cut short.
#[test]
fn an_interrupted_run_keeps_what_it_finished() {
    block_on(async {
        let e = engine().await;
        busybox_base(&e, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("intr");
    put(
        root,
        "fast/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo fast\n"),
    );
    put(
        root,
        "slow/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns} && sleep 60\n"),
    );
    put(root, "inventory.yml", &format!(
        "images:\n  - name: \"{ns}/i:fast\"\n    path: ./fast\n    alias: \"{ns}/i:latest\"\n  - name: \"{ns}/i:slow\"\n    path: ./slow\n"));
    let bin = assert_cmd::cargo::cargo_bin("strata");
    let child = std::process::Command::new(bin)
        .current_dir(root)
        .args(["test", "-j", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the fast image is recorded, then interrupt the slow one.
    let state = root.join(".strata/state.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&state).is_ok_and(|s| s.contains(&format!("{ns}/i:fast"))) {
        assert!(
            std::time::Instant::now() < deadline,
            "the fast image was never recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "did not wait for the slow build"
    );
    assert!(stdout.contains("**Interrupted:**"), "{stdout}");
    assert!(stderr.contains("INTERRUPTED"), "{stderr}");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        st["images"][format!("{ns}/i:fast")]["passed"],
        true,
        "finished work is kept"
    );
    assert!(
        st["images"].get(format!("{ns}/i:slow")).is_none(),
        "nothing recorded for the abandoned image"
    );
    let run_dir = root.join(".strata/runs/latest");
    assert!(std::fs::read_to_string(run_dir.join("report.md"))
        .unwrap()
        .contains("Interrupted"));
    // Aliases move only at the end of a run.
    let latest = block_on(async {
        engine()
            .await
            .image_id(&common::image_ref(&format!("{ns}/i:latest")))
            .await
            .unwrap()
    });
    assert_eq!(latest, None, "no alias moved in an interrupted run");
}

/// A repository's tags: (the images' and aliases' tags, the referrers tags
/// `sha256-<hex>` that list each pushed digest's test attestation).
fn split_referrer_tags(tags: Vec<String>) -> (Vec<String>, Vec<String>) {
    tags.into_iter().partition(|t| !t.starts_with("sha256-"))
}
