//! `strata init` as a user meets it: a starter written into a new or empty
//! folder plans at once; anything else is refused before a file is written.

use std::path::Path;
use std::process::Output;

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

#[test]
fn a_starter_in_a_new_folder_plans_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = strata(tmp.path(), &["init", "images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("strata plan images"),
        "{}",
        text(&out.stderr)
    );
    let root = tmp.path().join("images");
    for file in [
        "strata.yml",
        "strata.schema.json",
        "templates/node/Dockerfile.j2",
        "tests/node-version/Dockerfile.j2",
        "feed/index.tab",
        "feed/schedule.json",
        ".gitignore",
    ] {
        assert!(root.join(file).is_file(), "{file} was not written");
    }
    // The schema it names is the one this strata prints.
    let schema = strata(tmp.path(), &["schema"]);
    assert_eq!(
        std::fs::read_to_string(root.join("strata.schema.json")).unwrap(),
        text(&schema.stdout)
    );

    // Planned from the folder above (the config named) and from inside it.
    let plan = strata(
        tmp.path(),
        &["plan", "images/strata.yml", "--format", "json"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let images: Vec<&str> = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        [
            "localhost:5000/my-images/node:23.1.0-bookworm",
            "localhost:5000/my-images/node:22.11.0-bookworm",
            "localhost:5000/my-images/node:20.18.0-bookworm",
            "localhost:5000/my-images/node:18.20.4-bookworm",
        ]
    );
    // Lines past their end of life are left out by the `when` exclusion.
    let excluded = plan["excluded"].to_string();
    assert!(excluded.contains("past its end of life"), "{excluded}");
    assert!(excluded.contains("21."), "{excluded}");
    let tests: usize = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tests"].as_array().unwrap().len())
        .sum();
    assert_eq!(tests, images.len(), "one test per image");
    let aliases = plan["aliases"].to_string();
    assert!(aliases.contains("my-images/node:lts"), "{aliases}");
    assert!(aliases.contains("my-images/node:latest"), "{aliases}");

    let inside = strata(&root, &["plan"]);
    assert_eq!(inside.status.code(), Some(0), "{}", text(&inside.stderr));
    // The rendered test checks the exact version.
    let generate = strata(&root, &["generate"]);
    assert_eq!(
        generate.status.code(),
        Some(0),
        "{}",
        text(&generate.stderr)
    );
    let rendered = std::fs::read_dir(root.join("generated/tests"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(rendered > 0, "the templated test is rendered per image");
}

#[test]
fn a_folder_that_is_not_empty_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine\n").unwrap();
    let out = strata(tmp.path(), &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("is not empty") && err.contains("notes.txt"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing was written");

    // A second init into a starter is refused too.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    assert_eq!(strata(&fresh, &["init"]).status.code(), Some(0));
    let before = std::fs::read_to_string(fresh.join("strata.yml")).unwrap();
    assert_eq!(strata(&fresh, &["init"]).status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(fresh.join("strata.yml")).unwrap(),
        before
    );

    // A file is not a folder.
    let out = strata(tmp.path(), &["init", "notes.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a folder"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine\n"
    );
}

/// A write that fails half way (a full disk; here the file size limit, which
/// stops the process as a full disk would stop its writes) leaves the folder
/// as it was, so running `init` again just works.
#[cfg(unix)]
#[test]
fn an_interrupted_init_leaves_nothing_and_a_retry_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("strata");
    for target in ["new", "empty"] {
        if target == "empty" {
            std::fs::create_dir(tmp.path().join(target)).unwrap();
        }
        let cut_short = std::process::Command::new("sh")
            .current_dir(tmp.path())
            .arg("-c")
            .arg(format!(
                "ulimit -f 4; exec '{}' init {target}",
                bin.display()
            ))
            .output()
            .unwrap();
        assert_ne!(
            cut_short.status.code(),
            Some(0),
            "the size limit must stop it"
        );
        let left = tmp.path().join(target);
        let entries = std::fs::read_dir(&left).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            entries, 0,
            "{target}: a stopped init left files in the folder"
        );
        let out = strata(tmp.path(), &["init", target]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(left.join("strata.yml").is_file());
        assert!(left.join("feed/index.tab").is_file());
    }
}

/// `--runtime bun` and `--runtime list` write starters that plan at once
/// from their own feeds; an unknown runtime is refused (exit 2).
#[test]
fn a_starter_for_each_runtime_plans_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    for (runtime, feed_file, images) in [
        (
            "bun",
            Some("feed/bun.json"),
            vec![
                "localhost:5000/my-images/bun:1.4.5-bookworm",
                "localhost:5000/my-images/bun:1.3.14-bookworm",
            ],
        ),
        (
            "list",
            None,
            vec!["localhost:5000/my-images/runtime:1.4.5-bookworm"],
        ),
    ] {
        let out = strata(tmp.path(), &["init", "--runtime", runtime, runtime]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let root = tmp.path().join(runtime);
        let config = std::fs::read_to_string(root.join("strata.yml")).unwrap();
        assert!(config.contains(&format!(
            "kind: {}",
            if runtime == "bun" { "npm" } else { "list" }
        )));
        if let Some(feed) = feed_file {
            assert!(root.join(feed).is_file(), "{feed} was not written");
        }
        let plan = strata(
            tmp.path(),
            &["plan", &format!("{runtime}/strata.yml"), "--format", "json"],
        );
        assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let names: Vec<&str> = plan["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, images, "{runtime}");
    }
    let out = strata(tmp.path(), &["init", "--runtime", "perl", "perl"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!tmp.path().join("perl").exists());
}
