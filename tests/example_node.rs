//! The Node.js example, for real: a debootstrapped Debian base, Node.js and npm
//! from the npm registry (downloaded and verified on the host), and the
//! example's tests (`node -v` is exactly the image's version, npm runs, a
//! script runs), built by the real engine and pushed to the local registry.
//!
//! To bound the time it takes, the example is copied and narrowed to two
//! Node.js lines on bookworm; everything else (templates, tests, artifacts,
//! alias rules) is the example's own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use strata::engine::Engine;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "generated" || entry.file_name() == ".strata" {
                continue;
            }
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The example's config, narrowed to 2 versions × 1 OS, under a repository
/// of its own so it cannot clash with a user's run of the full example.
fn narrowed_config(text: &str, repo: &str) -> String {
    let mut out = text
        .replace("range: \"18.x || 20.x || >=22\"", "range: \"20.x || 22.x\"")
        .replace("127.0.0.1:5000/strata-example", repo);
    // amd64 only: arm64 under emulation is the README's example run, and
    // tests/multi_platform.rs covers platforms on busybox bases.
    let start = out
        .find("    platforms:\n")
        .expect("example lists platforms");
    let end = out[start..].find("major < 22\" }\n").unwrap() + start + "major < 22\" }\n".len();
    out.replace_range(start..end, "");
    // Keep bookworm only: drop the bullseye entry and its exclusion.
    let start = out
        .find("  - name: bullseye")
        .expect("example lists bullseye");
    let end = out[start..].find("\nexclude:").unwrap() + start + 1;
    out.replace_range(start..end, "");
    let start = out.find("exclude:").unwrap();
    let end = out[start..].find("\n\n").unwrap() + start + 1;
    out.replace_range(start..end, "");
    assert!(
        out.contains("20.x || 22.x")
            && !out.contains("name: bullseye")
            && !out.contains("exclude:")
            && !out.contains("platforms:"),
        "narrowing failed:\n{out}"
    );
    out
}

/// Makes `debian:bookworm` with the example's own script (skipped when present).
fn make_base() {
    let status = Command::new("bash")
        .arg(example().join("make-bases.sh"))
        .arg("bookworm")
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "examples/node/make-bases.sh failed; it needs debootstrap and the engine: {}",
        common::SETUP_HINT
    );
}

fn strata(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("strata runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn node_example_builds_tests_and_pushes_real_images() {
    let engine = common::block_on(common::engine());
    let registry = common::registry();
    make_base();

    let project = tempfile::tempdir().unwrap();
    copy_dir(&example(), project.path());
    let repo = format!("{registry}/{}", common::unique("strata-node-example"));
    let config = narrowed_config(
        &std::fs::read_to_string(example().join("strata.yml")).unwrap(),
        &repo,
    );
    std::fs::write(project.path().join("strata.yml"), &config).unwrap();

    let (ok, out) = strata(&["test", "-f", "strata.yml"], project.path());
    assert!(ok, "strata test failed:\n{out}");
    // The reports open with the matrix: a row per version, newest first,
    // one column (bookworm); each cell links to its image and lists its tags.
    let runs = project.path().join(".strata/runs/latest");
    let matrix_rows = |state: &str| {
        let md = std::fs::read_to_string(runs.join("report.md")).unwrap();
        let table = md.split("## Matrix").nth(1).expect("a matrix").to_string();
        let table = table.split("\n\n").nth(1).unwrap().to_string();
        let rows: Vec<String> = table.lines().skip(2).map(str::to_string).collect();
        assert_eq!(table.lines().next(), Some("| Version | bookworm |"), "{md}");
        assert_eq!(rows.len(), 2, "{md}");
        assert!(
            rows[0].starts_with(&format!("| `22.11.0` | [{state}](#image-")),
            "{md}"
        );
        assert!(
            rows[1].starts_with(&format!("| `20.18.0` | [{state}](#image-")),
            "{md}"
        );
        let html = std::fs::read_to_string(runs.join("report.html")).unwrap();
        let word = state.split_once(' ').unwrap().1.replace(' ', "-");
        assert_eq!(
            html.matches(&format!("data-state=\"{word}\"")).count(),
            2,
            "{html}"
        );
        rows
    };
    let rows = matrix_rows("✅ passed");
    assert!(
        rows[0].contains("`bookworm:22`") && rows[0].contains("`node:latest`"),
        "{rows:?}"
    );
    // Nothing changed: a second run builds nothing, and the grid says so.
    let (ok, out) = strata(&["test", "-f", "strata.yml"], project.path());
    assert!(ok, "strata test failed:\n{out}");
    matrix_rows("💤 up to date");
    let (ok, out) = strata(&["push", "-f", "strata.yml"], project.path());
    assert!(ok, "strata push failed:\n{out}");

    // Every image and every test image exists in the engine, and the registry
    // holds the images and their aliases.
    let images = [
        format!("{repo}/bookworm:22.11.0"),
        format!("{repo}/bookworm:20.18.0"),
    ];
    common::block_on(async {
        for image in &images {
            assert!(
                engine
                    .image_id(&common::image_ref(image))
                    .await
                    .unwrap()
                    .is_some(),
                "{image} was not built"
            );
            for n in 1..=5 {
                let test = strata::plan::test_tag(&image.parse().unwrap(), n);
                assert!(
                    engine
                        .image_id(&common::image_ref(&test))
                        .await
                        .unwrap()
                        .is_some(),
                    "test {test} did not pass"
                );
            }
        }
        let registry_client = strata::registry::oci::OciRegistry::new(|_| None);
        use strata::registry::RegistryRead;
        for (tag, image) in [
            (format!("{repo}/bookworm:22"), &images[0]),
            (format!("{repo}/bookworm:20"), &images[1]),
            (format!("{repo}/node:latest"), &images[0]),
            (format!("{repo}/official:lts-bookworm"), &images[0]),
        ] {
            let alias = registry_client
                .resolve(&tag.parse().unwrap())
                .await
                .unwrap();
            let target = registry_client
                .resolve(&image.parse().unwrap())
                .await
                .unwrap();
            let alias = alias.unwrap_or_else(|| panic!("alias {tag} was not pushed"));
            let target = target.unwrap_or_else(|| panic!("{image} was not pushed"));
            assert_eq!(alias.digest, target.digest, "{tag} must point at {image}");
        }
    });
}

#[test]
fn narrowing_keeps_the_example_intact() {
    // Guards the test above against silently testing nothing if the example
    // changes shape: the narrowed config must still plan two Node.js images.
    let text = std::fs::read_to_string(example().join("strata.yml")).unwrap();
    let narrowed = narrowed_config(&text, "127.0.0.1:5000/x");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    let path = dir.path().join("strata.yml");
    std::fs::write(&path, &narrowed).unwrap();
    let plan = strata::load::native(&path, narrowed.clone(), None).unwrap();
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "127.0.0.1:5000/x/base:bookworm",
            "127.0.0.1:5000/x/bookworm:22.11.0",
            "127.0.0.1:5000/x/bookworm:20.18.0"
        ]
    );
    assert_eq!(plan.test_count(), 10);
}
