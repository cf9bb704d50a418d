//! A run with nothing to do, on the real engine: `strata test` again on an
//! unchanged inventory moves no tag (the engine's own event stream says
//! which tags were set) and still reports every alias.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::Engine;

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The references the engine tagged between the two Unix times (seconds).
fn tagged_between(since: i64, until: i64) -> Vec<String> {
    block_on(async {
        let docker = bollard::Docker::connect_with_local_defaults().unwrap();
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: Some(until.to_string()),
            filters: Some(HashMap::from([
                ("type".to_string(), vec!["image".to_string()]),
                ("event".to_string(), vec!["tag".to_string()]),
            ])),
        };
        let mut events = docker.events(Some(options));
        let mut names = vec![];
        while let Some(event) = events.next().await {
            let event = event.expect("the engine's event stream");
            let name = event
                .actor
                .and_then(|a| a.attributes)
                .and_then(|a| a.get("name").cloned());
            names.extend(name);
        }
        names
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn an_unchanged_test_run_tags_nothing() {
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("noop");
    write(
        root,
        "a/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns} > /a\n"),
    );
    write(root, "t/Dockerfile", "RUN test -s /a\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./a\n    test: ./t\n    alias: [\"{ns}/app:stable\", \"{ns}/app:latest\"]\n"
        ),
    );
    let first = strata(root, &["test", "-q"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // Event times are whole seconds: leave the first run's second behind.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = now();
    let second = strata(root, &["test", "-q"]);
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let tagged: Vec<String> = tagged_between(since, now())
        .into_iter()
        .filter(|n| n.contains(&ns))
        .collect();
    assert!(tagged.is_empty(), "the no-op run tagged {tagged:?}");
    assert!(stdout.contains(&format!("{ns}/app:stable")), "{stdout}");
    assert_eq!(
        stdout.matches("up to date: inputs unchanged").count(),
        2,
        "{stdout}"
    );

    // An alias moved by someone else is put back, and only that one.
    block_on(async {
        let e = engine().await;
        let base = e
            .image_id(&common::image_ref(BUSYBOX_IMAGE))
            .await
            .unwrap()
            .unwrap();
        e.tag(&base, &common::image_ref(&format!("{ns}/app:stable")))
            .await
            .unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = now();
    let third = strata(root, &["test", "-q"]);
    assert_eq!(third.status.code(), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let tagged: Vec<String> = tagged_between(since, now())
        .into_iter()
        .filter(|n| n.contains(&ns))
        .collect();
    assert_eq!(tagged, vec![format!("{ns}/app:stable")]);

    block_on(async {
        let e = engine().await;
        for t in ["1", "1-test1", "stable", "latest"] {
            let _ = e.remove(&common::image_ref(&format!("{ns}/app:{t}"))).await;
        }
    });
}
