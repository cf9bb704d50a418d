//! The Bun example, for real: the example's npm feed snapshot of `bun`, a
//! debootstrapped Debian base (the Node.js example's `make-bases.sh`), Bun's
//! per-platform binaries from npm (downloaded and verified against
//! `dist.integrity` on the host), the example's tests, built by the real
//! engine and pushed to the local registry.
//!
//! To bound the time it takes, the example is copied and narrowed to amd64
//! (arm64 under emulation is `scripts/example.sh bun`); both of its lines,
//! templates, tests, artifacts and alias rules are the example's own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use strata::engine::Engine;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bun")
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

/// The example's config, amd64 only, under a repository of its own.
fn narrowed_config(text: &str, repo: &str) -> String {
    let arm = "  - { platform: linux/arm64, when: \"platform in platforms\" }\n";
    assert!(text.contains(arm), "the example lists arm64:\n{text}");
    text.replace(arm, "")
        .replace("127.0.0.1:5000/strata-example", repo)
}

fn make_base() {
    let status = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node/make-bases.sh"))
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
fn bun_example_builds_tests_and_pushes_real_images() {
    let engine = common::block_on(common::engine());
    let registry = common::registry();
    make_base();

    let project = tempfile::tempdir().unwrap();
    copy_dir(&example(), project.path());
    let repo = format!("{registry}/{}", common::unique("strata-bun-example"));
    let config = narrowed_config(
        &std::fs::read_to_string(example().join("strata.yml")).unwrap(),
        &repo,
    );
    std::fs::write(project.path().join("strata.yml"), &config).unwrap();

    let (ok, out) = strata(&["test", "-f", "strata.yml"], project.path());
    assert!(ok, "strata test failed:\n{out}");
    // The matrix: a row per Bun line's newest release, newest first.
    let md = std::fs::read_to_string(project.path().join(".strata/runs/latest/report.md")).unwrap();
    let table = md.split("## Matrix").nth(1).expect("a matrix").to_string();
    let table = table.split("\n\n").nth(1).unwrap().to_string();
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{md}");
    assert!(rows[0].starts_with("| `1.4.5` | [✅ passed]"), "{md}");
    assert!(rows[1].starts_with("| `1.3.14` | [✅ passed]"), "{md}");
    assert!(
        rows[0].contains("`bun:latest`") && rows[0].contains("`bun:1`"),
        "{rows:?}"
    );

    let (ok, out) = strata(&["push", "-f", "strata.yml"], project.path());
    assert!(ok, "strata push failed:\n{out}");

    let images = [
        format!("{repo}/bun:1.4.5-bookworm"),
        format!("{repo}/bun:1.3.14-bookworm"),
    ];
    common::block_on(async {
        for image in &images {
            assert!(
                engine
                    .image_id(&common::image_ref(image))
                    .await
                    .unwrap()
                    .is_some()
                    || engine
                        .image_id(&common::image_ref(&format!("{image}-linux-amd64")))
                        .await
                        .unwrap()
                        .is_some(),
                "{image} was not built"
            );
        }
        let registry_client = strata::registry::oci::OciRegistry::new(|_| None);
        use strata::registry::RegistryRead;
        for (tag, image) in [
            (format!("{repo}/bun:1"), &images[0]),
            (format!("{repo}/bun:1.4"), &images[0]),
            (format!("{repo}/bun:latest"), &images[0]),
            (format!("{repo}/bun:1.3"), &images[1]),
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
fn the_bun_example_plans_both_lines_on_both_platforms() {
    let path = example().join("strata.yml");
    let plan = strata::load::plan(&path, &strata::load::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let names: Vec<(&str, String)> = plan
        .images
        .iter()
        .map(|i| {
            let platforms: Vec<String> = i.platforms.iter().map(|p| p.to_string()).collect();
            (i.name.as_str(), platforms.join(" "))
        })
        .collect();
    let both = "linux/amd64 linux/arm64".to_string();
    assert_eq!(
        names,
        [
            (
                "127.0.0.1:5000/strata-example/bun:1.4.5-bookworm",
                both.clone()
            ),
            ("127.0.0.1:5000/strata-example/bun:1.3.14-bookworm", both)
        ]
    );
    let narrowed = narrowed_config(&std::fs::read_to_string(&path).unwrap(), "127.0.0.1:5000/x");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    let path = dir.path().join("strata.yml");
    std::fs::write(&path, &narrowed).unwrap();
    let plan = strata::load::native(&path, narrowed.clone(), None).unwrap();
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "127.0.0.1:5000/x/bun:1.4.5-bookworm",
            "127.0.0.1:5000/x/bun:1.3.14-bookworm"
        ]
    );
    assert_eq!(plan.test_count(), 6);
}
