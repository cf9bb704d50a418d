//! The generated tree is the user's own (it is committed), so anything in it
//! may have been planted; and every name in it comes from the matrix. These
//! run the real `strata` on small projects.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn put(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A project: the real feed, one template, `os` values and `image.name` as
/// given (the `os:` values start at line 9 of strata.yml, `image.name` is at line 11).
fn project(os_block: &str, image_name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("feed")).unwrap();
    std::fs::copy(data("node-dist-index.tab"), root.join("feed/index.tab")).unwrap();
    std::fs::copy(
        data("node-release-schedule.json"),
        root.join("feed/schedule.json"),
    )
    .unwrap();
    put(
        root,
        "tpl/Dockerfile.j2",
        "FROM {{ os.from }}\nENV V={{ version }}\n",
    );
    put(root, "strata.yml", &config(os_block, image_name, ""));
    dir
}

fn config(os_block: &str, image_name: &str, more: &str) -> String {
    format!(
        "as_of: 2024-10-30\noutput: generated\nfeed:\n  index: feed/index.tab\n  schedule: feed/schedule.json\n  range: \">=22\"\n  pick: newest-of-major\nos:\n{os_block}image:\n  name: {image_name}\n  template: tpl\n{more}"
    )
}

const OS: &str = "  - { name: bb, from: busybox }\n";
const NAME: &str = "\"img:{{ version }}-{{ os.name }}\"";

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(unix)]
#[test]
fn generate_never_deletes_through_a_planted_symlink() {
    let dir = project(OS, NAME);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("important.txt"), "precious").unwrap();
    let out = strata(dir.path(), &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A pull request plants a link and lists a file behind it (in the line
    // format an older strata wrote, which is still read).
    let gen = dir.path().join("generated");
    std::os::unix::fs::symlink(outside.path(), gen.join("evil")).unwrap();
    let mut listed = String::new();
    let mut stack = vec![gen.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let t = std::fs::symlink_metadata(&p).unwrap().file_type();
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() && !p.ends_with(".strata-generated") {
                listed.push_str(&format!("{}\n", p.strip_prefix(&gen).unwrap().display()));
            }
        }
    }
    listed.push_str("evil/important.txt\n");
    std::fs::write(gen.join(".strata-generated"), listed).unwrap();
    let out = strata(dir.path(), &["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("evil"), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("symlink"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("important.txt")).unwrap(),
        "precious"
    );
}

#[cfg(unix)]
#[test]
fn generate_never_writes_through_a_planted_symlink() {
    let dir = project(OS, NAME);
    let outside = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["generate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let gen = dir.path().join("generated");
    std::fs::remove_dir_all(gen.join("images")).unwrap();
    std::os::unix::fs::symlink(outside.path(), gen.join("images")).unwrap();
    let out = strata(dir.path(), &["generate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("generated/images"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn an_axis_value_name_must_be_one_safe_path_segment() {
    let long = "b".repeat(10_000);
    for (os, why) in [
        (
            "  - { name: bb, from: busybox }\n  - { name: bb/., from: busybox }\n",
            "path separator",
        ),
        (
            "  - { name: bb, from: busybox }\n  - { name: \"..\", from: busybox }\n",
            "not a folder name",
        ),
        (
            "  - { name: bb, from: busybox }\n  - { name: \"b\\nb\", from: busybox }\n",
            "control character",
        ),
        (
            &format!("  - {{ name: bb, from: busybox }}\n  - {{ name: {long}, from: busybox }}\n"),
            "more than 128",
        ),
    ] {
        let dir = project(os, NAME);
        let out = strata(dir.path(), &["plan"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{os}: {err}");
        assert!(err.contains("strata.yml:10:"), "{os}: {err}");
        assert!(err.contains(why), "{os}: {err}");
        assert!(
            err.len() < 4000,
            "the long name is quoted in full: {} bytes",
            err.len()
        );
    }
    // Further axes follow the same rule.
    let dir = project(OS, "\"img:{{ version }}-{{ variant.name }}\"");
    let more = "axes:\n  variant:\n    - { name: a }\n    - { name: a/b }\n";
    put(
        dir.path(),
        "strata.yml",
        &config(OS, "\"img:{{ version }}-{{ variant.name }}\"", more),
    );
    let out = strata(dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("path separator"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn two_cells_rendering_into_one_folder_are_refused_naming_both() {
    let name = "\"img:{{ version }}-{{ a.name }}{{ b.name }}-{{ os.name }}\"";
    let dir = project(OS, name);
    // (x, y-z) and (x-y, z) are both `…-x-y-z`.
    let more = "axes:\n  a:\n    - { name: x }\n    - { name: x-y }\n  b:\n    - { name: y-z }\n    - { name: z }\n";
    put(dir.path(), "strata.yml", &config(OS, name, more));
    let out = strata(dir.path(), &["plan"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("both render into"), "{err}");
    assert!(err.contains("bb × 23.1.0 × x × y-z"), "{err}");
    assert!(err.contains("bb × 23.1.0 × x-y × z"), "{err}");
    assert!(err.contains("strata.yml:9, 16, 19"), "{err}");
}

#[test]
fn a_rendered_image_reference_is_checked_at_load() {
    // Upper case in the repository, build metadata from the feed in a tag.
    for (name, rule) in [
        ("\"Img:{{ version }}-{{ os.name }}\"", "lowercase"),
        ("\"img:{{ version }}+b-{{ os.name }}\"", "tag"),
    ] {
        let dir = project(OS, name);
        let out = strata(dir.path(), &["plan"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("strata.yml:11:"), "{name}: {err}");
        assert!(err.contains("bb × 23.1.0"), "{name}: {err}");
        assert!(err.contains(rule), "{name}: {err}");
    }
}

#[test]
fn an_escape_sequence_from_the_feed_never_reaches_the_terminal() {
    let dir = project(OS, "\"img:{{ version }}-{{ codename or 'x' }}\"");
    // The feed's LTS codename of 22.x carries an escape sequence that would
    // clear the screen.
    let index = std::fs::read_to_string(dir.path().join("feed/index.tab")).unwrap();
    let index = index.replace("\tJod\t", "\t\u{1b}[2J\u{1b}[HJod\t");
    std::fs::write(dir.path().join("feed/index.tab"), index).unwrap();
    let out = strata(dir.path(), &["plan"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(!so.contains('\u{1b}') && !se.contains('\u{1b}'), "{se}");
    assert!(se.contains("\\u{1b}[2j"), "{se}");
}

#[test]
fn a_template_that_never_ends_or_grows_without_end_is_refused() {
    for (template, what) in [
        (
            "FROM x\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
            "fuel",
        ),
        (
            "FROM x\n{% for i in range(100000) %}{{ \"y\" * 1000 }}{% endfor %}\n",
            "more than 4 MiB",
        ),
    ] {
        let dir = project(OS, NAME);
        put(dir.path(), "tpl/Dockerfile.j2", template);
        let started = std::time::Instant::now();
        let out = strata(dir.path(), &["plan"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(started.elapsed().as_secs() < 60);
        assert!(err.contains("tpl/Dockerfile.j2"), "{err}");
        assert!(err.contains(what), "{err}");
    }
}

/// Runs `strata generate` in `n` processes at once on a fresh project.
fn generate_at_once(n: usize) -> Vec<Output> {
    let os = "  - { name: bb, from: busybox }\n  - { name: cc, from: busybox }\n  - { name: dd, from: busybox }\n";
    let dir = project(os, NAME);
    put(
        dir.path(),
        "strata.yml",
        &config(os, NAME, "").replace(">=22", ">=4"),
    );
    let children: Vec<_> = (0..n)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
                .current_dir(dir.path())
                .arg("generate")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn runs_at_once_in_one_folder_take_turns() {
    for _round in 0..4 {
        for out in generate_at_once(8) {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        }
    }
}

/// A `test` run keeps the output folder locked until it ends: another run
/// (here a `generate`) waits for it instead of rewriting the tree under it.
#[test]
fn a_test_run_holds_the_output_folder_until_it_ends() {
    common::block_on(async {
        common::busybox_base(&common::engine().await, common::BUSYBOX_IMAGE).await;
    });
    let ns = common::unique("lock");
    let os = format!("  - {{ name: bb, from: \"{}\" }}\n", common::BUSYBOX_IMAGE);
    let name = format!("\"{ns}/img:{{{{ version }}}}-{{{{ os.name }}}}\"");
    let dir = project(&os, &name);
    put(
        dir.path(),
        "tpl/Dockerfile.j2",
        "FROM {{ os.from }}\nRUN sleep 4\n",
    );
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .current_dir(dir.path())
        .args(["test", "--no-cache", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let manifest = dir.path().join("generated/.strata-generated");
    let started = std::time::Instant::now();
    while !manifest.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the run never wrote its tree"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = strata(dir.path(), &["generate"]);
    let finished_first = first.try_wait().unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains("waiting for another strata run"),
        "{}",
        text(&second.stderr)
    );
    assert!(
        finished_first.is_some(),
        "`generate` returned while the test run was still going"
    );
}

#[test]
fn a_cell_folder_name_too_long_for_the_disk_is_refused_at_load() {
    let name = NAME;
    let dir = project(OS, name);
    let more = format!(
        "axes:\n  a:\n    - {{ name: {} }}\n  b:\n    - {{ name: {} }}\n",
        "a".repeat(128),
        "b".repeat(128)
    );
    put(dir.path(), "strata.yml", &config(OS, name, &more));
    let out = strata(dir.path(), &["generate"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("more than the 255"), "{err}");
    assert!(!dir.path().join("generated").exists());
}
