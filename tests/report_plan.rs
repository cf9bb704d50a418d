//! `strata plan` output for a plan made from a real Dante inventory on disk.

use std::fs;
use std::path::Path;

use strata::plan::print;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// A Dante project whose child image is listed before its parent.
fn project() -> (tempfile::TempDir, strata::plan::Plan) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "inventory.yml",
        r#"images:
  - name: "acme/app:server"
    path: "./server"
    test: ["./tests/smoke", "./tests/http"]
  - name: "acme/app:base"
    path: "./base"
    test: "./tests/smoke"
    alias: ["acme/app:latest", "acme/app:1"]
"#,
    );
    write(
        root,
        "base/Dockerfile",
        "FROM scratch\nCOPY busybox /bin/sh\n",
    );
    write(root, "server/Dockerfile", "FROM acme/app:base\nRUN true\n");
    write(root, "tests/smoke/Dockerfile", "RUN true\n");
    write(root, "tests/http/Dockerfile", "RUN true\n");
    let path = root.join("inventory.yml");
    let text = fs::read_to_string(&path).unwrap();
    let plan = strata::load::inventory(&path, text).unwrap_or_else(|e| panic!("{e:?}"));
    (dir, plan)
}

#[test]
fn text_puts_parents_first_and_lists_tests_and_aliases() {
    let (dir, plan) = project();
    let t = print::text(&plan);
    let base = t
        .find("1. acme/app:base\n")
        .unwrap_or_else(|| panic!("{t}"));
    let server = t
        .find("2. acme/app:server\n")
        .unwrap_or_else(|| panic!("{t}"));
    assert!(base < server, "{t}");
    assert!(t.contains("parent:    acme/app:base\n"), "{t}");
    assert!(t.contains("→ acme/app:server-test2"), "{t}");
    assert!(
        t.contains("aliases:   acme/app:1, acme/app:latest\n"),
        "{t}"
    );
    assert!(t.contains("acme/app:latest → acme/app:base\n"), "{t}");
    assert!(t.ends_with("Total: 2 images, 3 tests, 2 aliases\n"), "{t}");
    // Paths are shown relative to the inventory's folder.
    assert!(t.contains("context:   server\n"), "{t}");
    assert!(
        t.contains("tests:     1. tests/smoke  → acme/app:server-test1\n"),
        "{t}"
    );
    assert!(
        t.contains("           2. tests/http   → acme/app:server-test2\n"),
        "{t}"
    );
    let source = dir.path().join("inventory.yml");
    assert!(
        t.starts_with(&format!("Plan from {}:", source.display())),
        "{t}"
    );
}

#[test]
fn json_is_stable_and_matches_the_plan() {
    let (_dir, plan) = project();
    let a = print::json(&plan);
    assert_eq!(a, print::json(&plan));
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["totals"]["tests"], 3);
    assert_eq!(v["images"][0]["name"], "acme/app:base");
    assert_eq!(v["images"][1]["needs"][0], "acme/app:base");
    assert_eq!(v["images"][1]["tests"][1]["tag"], "acme/app:server-test2");
}
