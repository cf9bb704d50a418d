//! `scripts/module-graph.sh`: no cycle between top-level modules and no
//! circle of files. The file check is run on small source trees that hold
//! a circle, or only what is not one, then on this repository.

use std::path::Path;
use std::process::{Command, Output};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn run_script(root: &Path) -> Output {
    Command::new("bash")
        .arg(root.join("scripts/module-graph.sh"))
        .output()
        .unwrap()
}

/// The script run on a tree made of `files` (path, text) beside a copy of it.
fn graph_of(files: &[(&str, &str)]) -> (Option<i32>, String) {
    let root = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/module-graph.sh");
    write(
        root.path(),
        "scripts/module-graph.sh",
        &std::fs::read_to_string(script).unwrap(),
    );
    write(root.path(), "src/lib.rs", "pub mod m;\npub mod other;\n");
    for (path, text) in files {
        write(root.path(), path, text);
    }
    let out = run_script(root.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_circle_of_three_files_is_found_and_printed() {
    let (code, out) = graph_of(&[
        ("src/m/mod.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/m/a.rs", "use super::b::Bee;\npub struct Ay;\n"),
        (
            "src/m/b.rs",
            "pub struct Bee;\nfn f() { super::c::see(); }\n",
        ),
        ("src/m/c.rs", "pub fn see() { let _ = crate::m::a::Ay; }\n"),
        ("src/other.rs", "pub fn o() {}\n"),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("src/m/a.rs -> src/m/b.rs -> src/m/c.rs -> src/m/a.rs"),
        "{out}"
    );
    assert!(out.contains("src/m/b.rs uses super::c::see"), "{out}");
}

#[test]
fn a_circle_through_a_re_export_is_found() {
    // b.rs names `Thing` through the folder's mod.rs, which re-exports a.rs's.
    let (code, out) = graph_of(&[
        ("src/m/mod.rs", "mod a;\nmod b;\npub use a::Thing;\n"),
        (
            "src/m/a.rs",
            "use super::b::{self as bee};\npub struct Thing;\nfn f() { bee::g() }\n",
        ),
        ("src/m/b.rs", "use super::Thing;\npub fn g() {}\n"),
        ("src/other.rs", ""),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("src/m/a.rs -> src/m/b.rs -> src/m/a.rs"),
        "{out}"
    );
}

#[test]
fn what_is_no_circle_passes() {
    // A file uses its folder's mod.rs, which uses it back; tests, comments
    // and strings name the other way round; two top-level modules use
    // each other's files in one direction only.
    let (code, out) = graph_of(&[
        (
            "src/m/mod.rs",
            "mod a;\nmod b;\n#[cfg(test)]\nmod fake;\npub struct Shared;\npub fn top() { a::f(); b::g(); }\n",
        ),
        (
            "src/m/a.rs",
            "use super::Shared;\npub fn f() { let _ = Shared; super::b::g(); }\n",
        ),
        (
            "src/m/b.rs",
            "// super::a::f() would make a circle\npub fn g() { let _ = \"super::a::f\"; let _ = crate::other::o; }\n#[cfg(test)]\n#[allow(unused)]\nfn t() { super::a::f(); }\n#[cfg(test)]\nmod tests {\n    use super::super::a;\n}\n",
        ),
        ("src/m/fake.rs", "use super::a;\nuse super::b;\n"),
        ("src/other.rs", "pub fn o() {}\n"),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("file circles: none"), "{out}");
}

/// This repository: no module cycle and no circle of files.
#[test]
fn this_repository_has_no_cycle_and_no_circle_of_files() {
    let out = run_script(Path::new(env!("CARGO_MANIFEST_DIR")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("cycles: none"), "{text}");
    assert!(text.contains("file circles: none"), "{text}");
}
