//! `strata catalog` against a planned, tested and pushed inventory on the
//! real engine and registry: it lists exactly what the registry got, and
//! puts it into a README between the markers without touching the rest.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, registry, unique, BUSYBOX_IMAGE};
use strata::catalog::{END_MARKER, START_MARKER};
use strata::engine::Engine;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The digest the registry holds for `repo:tag`, over plain HTTP.
fn registry_digest(repo: &str, tag: &str) -> Option<String> {
    let (host, path) = repo.split_once('/').unwrap();
    let url = format!("http://{host}/v2/{path}/manifests/{tag}");
    block_on(async move {
        let resp = reqwest::Client::new()
            .head(&url)
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .expect("the registry answers");
        resp.headers()
            .get("Docker-Content-Digest")
            .map(|v| v.to_str().unwrap().to_string())
    })
}

/// Two images that pass (one with aliases in two repositories), one whose
/// test fails and is never pushed.
fn write_tree(root: &Path, base: &str) {
    put(
        root,
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo 1.0 > /v\n"),
    );
    put(
        root,
        "old/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo 0.9 > /v\n"),
    );
    put(root, "tests/ok/Dockerfile", "RUN test -f /v\n");
    put(root, "tests/fail/Dockerfile", "RUN false\n");
    put(
        root,
        "inventory.yml",
        &format!(
            "images:\n\
             \x20 - name: \"{base}/app:1.0\"\n    path: ./app\n    test: ./tests/ok\n\
             \x20   alias: [\"{base}/app:1\", \"{base}/app:latest\", \"{base}/stable:app\"]\n\
             \x20 - name: \"{base}/app:0.9\"\n    path: ./old\n    test: ./tests/ok\n    alias: \"{base}/app:0\"\n\
             \x20 - name: \"{base}/broken:1\"\n    path: ./app\n    test: ./tests/fail\n    alias: \"{base}/broken:latest\"\n"
        ),
    );
}

#[test]
fn the_catalog_lists_what_was_pushed_and_goes_between_the_markers() {
    let e = block_on(engine());
    block_on(busybox_base(&e, BUSYBOX_IMAGE));
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let base = format!("{reg}/{}", unique("strata-catalog"));
    write_tree(root, &base);

    let tested = strata(root, &["test"]);
    assert_eq!(tested.status.code(), Some(1), "{}", text(&tested.stderr));
    // Tested is not published.
    let before = strata(root, &["catalog"]);
    assert_eq!(before.status.code(), Some(0), "{}", text(&before.stderr));
    assert_eq!(text(&before.stdout), "_Nothing is published yet._\n");

    // `broken` is refused (its test failed); the others are pushed.
    let pushed = strata(root, &["push"]);
    assert_eq!(pushed.status.code(), Some(1), "{}", text(&pushed.stderr));

    let markdown = strata(root, &["catalog"]);
    assert_eq!(
        markdown.status.code(),
        Some(0),
        "{}",
        text(&markdown.stderr)
    );
    let expected = format!(
        "### `{base}/app`\n\n\
         - `1.0`, `1`, `latest`: [`app/Dockerfile`](app/Dockerfile)\n\
         - `0.9`, `0`: [`old/Dockerfile`](old/Dockerfile)\n\n\
         ### `{base}/stable`\n\n\
         - `app`: [`app/Dockerfile`](app/Dockerfile)\n"
    );
    assert_eq!(text(&markdown.stdout), expected);

    // Every tag listed is in the registry, at the digest the catalog gives.
    let json = strata(root, &["catalog", "--format", "json"]);
    let catalog: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let mut checked = 0;
    for repo in catalog["repositories"].as_array().unwrap() {
        let name = repo["name"].as_str().unwrap();
        for entry in repo["images"].as_array().unwrap() {
            let digest = entry["digest"].as_str().unwrap();
            for tag in entry["tags"].as_array().unwrap() {
                let tag = tag.as_str().unwrap();
                assert_eq!(
                    registry_digest(name, tag).as_deref(),
                    Some(digest),
                    "{name}:{tag}"
                );
                checked += 1;
            }
            assert!(root.join(entry["dockerfile"].as_str().unwrap()).is_file());
        }
    }
    assert_eq!(checked, 6);
    assert_eq!(registry_digest(&format!("{base}/broken"), "1"), None);

    // From the registry: the same, until a tag is moved outside this
    // machine's state (as `publish` or another machine moves one).
    let from_registry = strata(root, &["catalog", "--registry"]);
    assert_eq!(
        from_registry.status.code(),
        Some(0),
        "{}",
        text(&from_registry.stderr)
    );
    assert_eq!(text(&from_registry.stdout), expected);
    let repo = base.split_once('/').unwrap().1;
    common::registry_retag(&reg, &format!("{repo}/app"), "0.9", "latest");
    let moved = strata(root, &["catalog", "--registry"]);
    assert_eq!(
        text(&moved.stdout),
        format!(
            "### `{base}/app`\n\n\
             - `1.0`, `1`: [`app/Dockerfile`](app/Dockerfile)\n\
             - `0.9`, `0`, `latest`: [`old/Dockerfile`](old/Dockerfile)\n\n\
             ### `{base}/stable`\n\n\
             - `app`: [`app/Dockerfile`](app/Dockerfile)\n"
        )
    );
    // The state still says what this machine's push did.
    assert_eq!(text(&strata(root, &["catalog"]).stdout), expected);
    common::registry_retag(&reg, &format!("{repo}/app"), "1.0", "latest");
    // --registry reads no state: both together are refused as bad input.
    let both = strata(root, &["catalog", "--registry", "--state-dir", "x"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));

    // Into a README: only the part between the markers changes.
    let head = "# Images\n\nThe supported tags:\n\n";
    let tail = "\n## License\n\nMIT\n";
    let readme = root.join("README.md");
    std::fs::write(
        &readme,
        format!("{head}{START_MARKER}\nstale list\n{END_MARKER}\n{tail}"),
    )
    .unwrap();
    let wrote = strata(root, &["catalog", "--write", "README.md"]);
    assert_eq!(wrote.status.code(), Some(0), "{}", text(&wrote.stderr));
    assert!(
        text(&wrote.stderr).contains("3 images, 6 tags"),
        "{}",
        text(&wrote.stderr)
    );
    let written = std::fs::read_to_string(&readme).unwrap();
    assert_eq!(
        written,
        format!("{head}{START_MARKER}\n\n{expected}\n{END_MARKER}\n{tail}")
    );
    let again = strata(root, &["catalog", "--write", "README.md"]);
    assert!(
        text(&again.stderr).contains("is current"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), written);

    // From a README in another folder, links lead back to the Dockerfiles.
    put(
        root,
        "docs/images.md",
        &format!("{START_MARKER}\n{END_MARKER}\n"),
    );
    let docs = strata(root, &["catalog", "--write", "docs/images.md"]);
    assert_eq!(docs.status.code(), Some(0), "{}", text(&docs.stderr));
    let docs = std::fs::read_to_string(root.join("docs/images.md")).unwrap();
    assert!(docs.contains("(../app/Dockerfile)"), "{docs}");

    block_on(async {
        for tag in [
            "app:1.0",
            "app:0.9",
            "app:1",
            "app:latest",
            "app:0",
            "stable:app",
            "app:1.0-test1",
            "app:0.9-test1",
            "broken:1",
        ] {
            let _ = e.remove(&common::image_ref(&format!("{base}/{tag}"))).await;
        }
    });
}

#[test]
fn writing_refuses_a_file_without_markers_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tree(root, "127.0.0.1:5000/strata-catalog-markers");
    let readme = root.join("README.md");
    let cases = [
        "# No markers here\n".to_string(),
        format!("{START_MARKER}\nonly the start\n"),
        format!("{START_MARKER}\n{END_MARKER}\n{START_MARKER}\n{END_MARKER}\n"),
        format!("{END_MARKER}\n{START_MARKER}\n"),
    ];
    for original in cases {
        std::fs::write(&readme, &original).unwrap();
        let out = strata(root, &["catalog", "--write", "README.md"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{original:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains("README.md"), "{err}");
        assert!(err.contains(START_MARKER), "{err}");
        assert_eq!(std::fs::read_to_string(&readme).unwrap(), original);
    }
    let missing = strata(root, &["catalog", "--write", "NOPE.md"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(!root.join("NOPE.md").exists());
    let json = strata(
        root,
        &["catalog", "--format", "json", "--write", "README.md"],
    );
    assert_eq!(json.status.code(), Some(2));
}

#[test]
fn a_damaged_state_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tree(root, "127.0.0.1:5000/strata-catalog-state");
    put(root, ".strata/state.json", "{ not json");
    let out = strata(root, &["catalog"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn a_registry_that_does_not_answer_is_exit_3_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let down = format!("127.0.0.1:{}", common::free_port());
    write_tree(root, &format!("{down}/strata-catalog-down"));
    let out = strata(root, &["catalog", "--registry"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&down), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

/// Runs strata like [`strata`], killed after 60 s: a hang fails the test.
fn strata_bounded(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn writing_into_a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tree(root, "127.0.0.1:5000/strata-catalog-fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("README.md"))
        .status()
        .unwrap();
    assert!(made.success());
    let out = strata_bounded(root, &["catalog", "--write", "README.md"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("README.md") && err.contains("it is a FIFO"),
        "{err}"
    );
    std::os::unix::fs::symlink("/dev/zero", root.join("ZERO.md")).unwrap();
    let out = strata_bounded(root, &["catalog", "--write", "ZERO.md"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("it is a device"), "{err}");
}

#[test]
fn a_folder_named_like_the_end_marker_does_not_break_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let folder = format!("app{END_MARKER}");
    put(root, &format!("{folder}/Dockerfile"), "FROM scratch\n");
    let name = "127.0.0.1:5000/strata-catalog-marker/app:1";
    put(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{name}\"\n    path: \"./{folder}\"\n"),
    );
    let state = serde_json::json!({
        "version": 1,
        "images": {name: {
            "image_id": format!("sha256:{}", "a".repeat(64)),
            "passed": true,
            "tested_at": "2026-01-01T00:00:00Z",
            "tests": [],
            "pushed": {
                "digest": format!("sha256:{}", "b".repeat(64)),
                "pushed_at": "2026-01-01T00:00:00Z",
                "aliases": []
            }
        }}
    });
    put(root, ".strata/state.json", &state.to_string());
    put(
        root,
        "README.md",
        &format!("# Images\n\n{START_MARKER}\n{END_MARKER}\n"),
    );
    for round in 0..2 {
        let out = strata_bounded(root, &["catalog", "--write", "README.md"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            text(&out.stderr)
        );
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert_eq!(readme.matches(END_MARKER).count(), 1, "{readme}");
        assert_eq!(readme.matches("<!--").count(), 2, "{readme}");
        assert!(readme.contains("strata-catalog-marker/app`"), "{readme}");
    }
}
