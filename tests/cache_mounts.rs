//! Cache mounts (`RUN --mount=type=cache`) under BuildKit persist across the
//! images of one run and across runs, on the real Docker engine: what one
//! image's step writes into the cache, a later image's step reads, so a
//! package download happens once.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};

fn strata(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir)
        .env("STRATA_RETRY_BACKOFF_MS", "10")
        .env_remove("STRATA_BUILDER")
        .args(args);
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An image whose step appends `word` to the shared cache `cache` and keeps
/// what the cache held before in `/seen-<word>`.
fn cache_step(from: &str, cache: &str, word: &str) -> String {
    format!(
        "FROM {from}\n\
         RUN --mount=type=cache,id={cache},target=/cache,sharing=locked \
         touch /cache/log && cp /cache/log /seen-{word} && echo {word} >> /cache/log\n"
    )
}

#[test]
fn a_cache_mount_is_shared_by_the_images_of_a_run_and_by_the_next_run() {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cache = unique("cache");
    let first = format!("strata-test/cache-{}:1", unique("first"));
    let second = format!("strata-test/cache-{}:1", unique("second"));
    let later = format!("strata-test/cache-{}:1", unique("later"));
    // `second` is built on `first`, so after it: its step sees `first`'s word.
    write(
        root,
        "first/Dockerfile",
        &cache_step(BUSYBOX_IMAGE, &cache, "first"),
    );
    write(
        root,
        "second/Dockerfile",
        &cache_step(&first, &cache, "second"),
    );
    write(
        root,
        "later/Dockerfile",
        &cache_step(BUSYBOX_IMAGE, &cache, "later"),
    );
    write(
        root,
        "tests/saw-first/Dockerfile",
        "RUN grep -qx first /seen-second\n",
    );
    write(
        root,
        "tests/saw-both/Dockerfile",
        "RUN grep -qx first /seen-later && grep -qx second /seen-later\n",
    );
    let image = |name: &str, path: &str, test: &str| {
        format!("  - name: {name}\n    path: ./{path}\n    test: ./tests/{test}\n")
    };
    write(
        root,
        "inventory.yml",
        &format!(
            "builder: buildkit\nimages:\n{}{}",
            image(&first, "first", "saw-first").replace("    test: ./tests/saw-first\n", ""),
            image(&second, "second", "saw-first"),
        ),
    );
    let out = strata(root, &["test", "inventory.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The next run: a new image reads what both images of the first wrote.
    write(
        root,
        "inventory.yml",
        &format!(
            "builder: buildkit\nimages:\n{}",
            image(&later, "later", "saw-both")
        ),
    );
    let out = strata(root, &["test", "inventory.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in [&first, &second, &later] {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", name])
            .output();
    }
}
