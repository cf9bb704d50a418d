//! Build secrets (`secrets:`) on the real Docker engine with BuildKit:
//! `RUN --mount=type=secret` reads the value from strata's own session, and
//! the value is found nowhere afterwards (the image as `docker save` writes
//! it, the build log, reports, events, the state file); a changed value
//! rebuilds; a missing variable is bad input before any build.

mod common;

use std::path::Path;

use common::{
    block_on, busybox_base, engine, request, strata_with, unique, write, Log, BUSYBOX_IMAGE,
};
use strata::engine::session::BuildSecret;
use strata::engine::{Builder, Dockerfile, Engine};
use strata::secret::Secret;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256_hex(value: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// A value no file on this machine holds by chance.
fn secret_value() -> String {
    format!("s3cret-{}", unique("value").replace('-', "x"))
}

/// A Dockerfile whose step passes only if the mounted secret has the value
/// whose SHA-256 is `hash` (the value itself is written nowhere).
fn checking_dockerfile(hash: &str, marker: &str) -> String {
    format!(
        "FROM {BUSYBOX_IMAGE}\n\
         RUN --mount=type=secret,id=tok,required=true \
         sha256sum /run/secrets/tok | grep -q {hash} && echo {marker} > /checked\n"
    )
}

/// `docker save` of `image`, every layer tar unpacked into the one byte
/// string searched (Engine 20.10 saves layers uncompressed).
fn saved_bytes(image: &str) -> Vec<u8> {
    let out = std::process::Command::new("docker")
        .args(["save", image])
        .output()
        .expect("docker save");
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every file under `dir`, searched for `needle`; the ones that hold it.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                if contains(&bytes, needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

#[test]
fn a_secret_mount_builds_through_strata_s_own_session() {
    block_on(async {
        let e = engine()
            .await
            .with_builder(Builder::Buildkit)
            .await
            .unwrap();
        busybox_base(&e, BUSYBOX_IMAGE).await;
        let value = secret_value();
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "Dockerfile",
            &checking_dockerfile(&sha256_hex(&value), "engine"),
        );
        let tag = format!("strata-test/secret-{}:1", unique("engine"));
        let mut req = request(
            dir.path(),
            Dockerfile::Path("Dockerfile".into()),
            Some(tag.clone()),
        );
        req.secrets = vec![BuildSecret {
            id: "tok".into(),
            value: Secret::new(value.clone()),
        }];
        let log = Log::default();
        let id = e
            .build(req, &log.sink())
            .await
            .unwrap_or_else(|err| panic!("{err}\n{}", log.text()));
        assert_eq!(
            e.image_id(&common::image_ref(&tag)).await.unwrap(),
            Some(id)
        );
        assert!(!log.text().contains(&value), "{}", log.text());
        let saved = saved_bytes(&tag);
        assert!(contains(&saved, "engine"), "the step ran");
        assert!(!contains(&saved, &value), "the value is in the saved image");

        // Without the secret the same step fails: the value came from the session.
        let log = Log::default();
        let mut req = request(dir.path(), Dockerfile::Path("Dockerfile".into()), None);
        req.no_cache = true;
        let refused = e.build(req, &log.sink()).await;
        assert!(refused.is_err(), "{}", log.text());
        let _ = e.remove(&common::image_ref(&tag)).await;
    });
}

#[test]
fn a_run_with_secrets_leaves_the_value_nowhere_and_a_new_value_rebuilds() {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let value = secret_value();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let registry = common::registry();
    let checked = format!("{registry}/strata-test/secret-{}:1", unique("checked"));
    let printed = format!("{registry}/strata-test/secret-{}:1", unique("printed"));
    write(
        root,
        "checked/Dockerfile",
        &checking_dockerfile(&sha256_hex(&value), "cli"),
    );
    // A careless step printing the secret: its output is redacted.
    write(
        root,
        "printed/Dockerfile",
        &format!(
            "FROM {BUSYBOX_IMAGE}\n\
             RUN --mount=type=secret,id=tok cat /run/secrets/tok; echo; echo printed\n"
        ),
    );
    // The test's layer reads the image's secret too (BuildKit builds it).
    write(
        root,
        "tests/ok/Dockerfile",
        &format!(
            "RUN --mount=type=secret,id=tok,required=true \
             sha256sum /run/secrets/tok | grep -q {} && test -f /checked\n",
            sha256_hex(&value)
        ),
    );
    write(
        root,
        "inventory.yml",
        &format!(
            "builder: buildkit\nimages:\n\
             \x20 - name: {checked}\n    path: ./checked\n    test: ./tests/ok\n\
             \x20   secrets: [{{id: tok, env: STRATA_TEST_TOKEN}}]\n\
             \x20 - name: {printed}\n    path: ./printed\n\
             \x20   secrets:\n      - id: tok\n        env: STRATA_TEST_TOKEN\n"
        ),
    );
    let envs = [("STRATA_TEST_TOKEN", value.as_str())];
    let out = strata_with(root, &["test", "inventory.yml"], &envs);
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains(&value), "{all}");
    // Reports, events, step logs and the state file: not the value, and
    // the printing step's output shows where it was cut out.
    assert_eq!(files_holding(root, &value), Vec::<String>::new());
    assert!(
        !files_holding(&root.join(".strata"), "<redacted>").is_empty(),
        "the printed secret shows as <redacted> in the step log"
    );
    for image in [&checked, &printed] {
        assert!(
            !contains(&saved_bytes(image), &value),
            "{image} holds the value"
        );
    }

    // `push` builds nothing: it needs no secret.
    let out = strata_with(root, &["push", "inventory.yml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Unchanged: up to date. A new value: rebuilt (and the old hash fails it).
    let out = strata_with(root, &["test", "inventory.yml"], &envs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let again = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(again.contains("up to date"), "{again}");
    let other = secret_value();
    let out = strata_with(
        root,
        &["test", "inventory.yml"],
        &[("STRATA_TEST_TOKEN", other.as_str())],
    );
    let changed = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{changed}");
    assert!(!changed.contains(&other), "{changed}");
    for image in [&checked, &printed] {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", image])
            .output();
    }
}

#[test]
fn a_missing_secret_is_bad_input_naming_the_image_before_any_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = format!("strata-test/secret-{}:1", unique("missing"));
    write(root, "img/Dockerfile", &checking_dockerfile("00", "x"));
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: {name}\n    path: ./img\n\
             \x20   secrets: [{{id: tok, env: STRATA_TEST_SURELY_UNSET}}, {{id: key, file: key.txt}}]\n"
        ),
    );
    let out = strata_with(
        root,
        &["test", "inventory.yml", "--builder", "buildkit"],
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("image {name}: secret tok")), "{err}");
    assert!(err.contains("STRATA_TEST_SURELY_UNSET is not set"), "{err}");
    assert!(err.contains("secret key"), "{err}");
    assert!(!root.join(".strata/runs").exists(), "no run was started");

    // With the classic builder, secrets are refused up front.
    let out = strata_with(
        root,
        &["test", "inventory.yml", "--builder", "classic"],
        &[("STRATA_TEST_SURELY_UNSET", "abcdefgh")],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs BuildKit"), "{err}");

    // A secret without a source is refused where it is written.
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: {name}\n    path: ./img\n    secrets: [{{id: tok}}]\n"),
    );
    let out = strata_with(root, &["test", "inventory.yml"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("inventory.yml:"), "{err}");
    assert!(err.contains("exactly one of"), "{err}");
}
