//! Feed kinds other than Node's, through the loader: an endoflife.date
//! product, an npm package document and a written list plan into images,
//! pre-releases included, and a feed written for the wrong kind is refused
//! at its line.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata::error::InputError;
use strata::plan::Plan;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/feeds")
        .join(name)
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("feed")).unwrap();
        std::fs::create_dir_all(root.join("tpl")).unwrap();
        for name in ["python-endoflife.json", "bun-npm.json"] {
            std::fs::copy(data(name), root.join("feed").join(name)).unwrap();
        }
        std::fs::write(
            root.join("tpl/Dockerfile.j2"),
            "FROM {{ base }}\nENV V={{ version }} C={{ cycle }} P={{ prerelease }} EOL={{ eol }}\n",
        )
        .unwrap();
        Project { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("strata.yml")
    }

    fn load(&self, yaml: &str) -> Result<Plan, InputError> {
        std::fs::write(self.path(), yaml).unwrap();
        strata::load::native(&self.path(), yaml.to_string(), None)
    }

    fn error(&self, yaml: &str) -> InputError {
        self.load(yaml).expect_err("the config must be refused")
    }

    fn at_line(&self, err: &InputError, line: usize) {
        let prefix = format!("{}:{line}:", self.path().display());
        assert!(
            err.message.contains(&prefix),
            "expected `{prefix}` in: {}",
            err.message
        );
    }
}

const TAIL: &str = r#"os:
  - { name: bookworm, default: true, from: "debian:bookworm" }
image:
  name: "reg/python:{{ version }}-{{ os.name }}"
  template: tpl
aliases:
  - { tag: "reg/python:{{ cycle }}", when: "not is_prerelease" }
  - { tag: "reg/python:{{ cycle }}-rc", when: "is_prerelease" }
  - { tag: "reg/python:{{ major }}", when: "not is_prerelease" }
  - { tag: "reg/python:latest", when: "is_newest and not is_prerelease" }
"#;

fn aliases(plan: &Plan) -> Vec<(String, String)> {
    plan.aliases
        .iter()
        .map(|a| (a.tag.to_string(), a.candidates[0].to_string()))
        .collect()
}

#[test]
fn python_from_endoflife_plans_the_official_tags() {
    let p = Project::new();
    let yaml = format!(
        "as_of: 2024-10-29\nfeed:\n  kind: endoflife\n  source: feed/python-endoflife.json\n  range: \">=3.9\"\n{TAIL}"
    );
    let plan = p.load(&yaml).unwrap_or_else(|e| panic!("{}", e.message));
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reg/python:3.13.0-bookworm",
            "reg/python:3.12.7-bookworm",
            "reg/python:3.11.10-bookworm",
            "reg/python:3.10.15-bookworm",
            "reg/python:3.9.20-bookworm"
        ]
    );
    let a = aliases(&plan);
    assert!(
        a.contains(&(
            "reg/python:latest".into(),
            "reg/python:3.13.0-bookworm".into()
        )),
        "{a:?}"
    );
    assert!(
        a.contains(&("reg/python:3".into(), "reg/python:3.13.0-bookworm".into())),
        "{a:?}"
    );
    assert!(
        a.contains(&(
            "reg/python:3.12".into(),
            "reg/python:3.12.7-bookworm".into()
        )),
        "{a:?}"
    );
    let dockerfile = plan
        .files
        .iter()
        .find(|f| f.path.ends_with("images/bookworm/3.13.0/Dockerfile"))
        .unwrap();
    assert!(
        dockerfile
            .content
            .contains("V=3.13.0 C=3.13 P= EOL=2029-10-31"),
        "{}",
        dockerfile.content
    );
}

#[test]
fn a_listed_prerelease_is_built_and_tagged_next_to_the_final_lines() {
    let p = Project::new();
    let yaml = format!(
        r#"as_of: 2024-10-29
feed:
  kind: list
  cycle: minor
  pick: newest-with-prerelease
  range: ">=3.12"
  versions:
    - {{ version: "3.14.0a1", released: 2024-10-15 }}
    - {{ version: "3.13.0", released: 2024-10-07, eol: 2029-10-31 }}
    - {{ version: "3.13.0rc3", released: 2024-10-01 }}
    - {{ version: "3.12.7", released: 2024-10-01, eol: 2028-10-31 }}
{TAIL}"#
    );
    let plan = p.load(&yaml).unwrap_or_else(|e| panic!("{}", e.message));
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reg/python:3.14.0a1-bookworm",
            "reg/python:3.13.0-bookworm",
            "reg/python:3.12.7-bookworm"
        ]
    );
    let a = aliases(&plan);
    for (alias, image) in [
        ("reg/python:3.14-rc", "reg/python:3.14.0a1-bookworm"),
        ("reg/python:3.13", "reg/python:3.13.0-bookworm"),
        // The pre-release is newer but takes no final tag.
        ("reg/python:3", "reg/python:3.13.0-bookworm"),
        ("reg/python:latest", "reg/python:3.13.0-bookworm"),
    ] {
        assert!(a.contains(&(alias.into(), image.into())), "{alias}: {a:?}");
    }
    // The generated folder keeps the version as written.
    assert!(plan
        .files
        .iter()
        .any(|f| f.path.ends_with("images/bookworm/3.14.0a1/Dockerfile")));
}

#[test]
fn bun_from_npm_plans_its_lines() {
    let p = Project::new();
    let yaml = format!(
        "as_of: 2026-11-20\nfeed:\n  kind: npm\n  source: feed/bun-npm.json\n  cycle: minor\n  range: \">=1.3\"\n{}",
        TAIL.replace("python", "bun")
    );
    let plan = p.load(&yaml).unwrap_or_else(|e| panic!("{}", e.message));
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["reg/bun:1.4.5-bookworm", "reg/bun:1.3.14-bookworm"]);
}

#[test]
fn a_feed_written_for_another_kind_is_refused_at_its_line() {
    let p = Project::new();
    // `index` on an npm feed.
    let err = p.error(&format!(
        "feed:\n  kind: npm\n  index: feed/index.tab\n  source: feed/bun-npm.json\n{TAIL}"
    ));
    p.at_line(&err, 3);
    assert!(err.message.contains("feed.index"), "{}", err.message);
    assert!(
        err.help.as_deref().unwrap_or("").contains("`source`"),
        "{:?}",
        err.help
    );
    // A kind without its source: at the feed.
    let err = p.error(&format!("feed:\n  kind: endoflife\n  range: \"*\"\n{TAIL}"));
    p.at_line(&err, 2);
    assert!(err.message.contains("needs `source`"), "{}", err.message);
    // Node without its index (the default kind).
    let err = p.error(&format!("feed:\n  schedule: feed/schedule.json\n{TAIL}"));
    assert!(err.message.contains("needs `index`"), "{}", err.message);
    // A list entry setting a computed fact, at the list.
    let err = p.error(&format!(
        "feed:\n  kind: list\n  versions:\n    - {{ version: \"1.0\", major: 2 }}\n{TAIL}"
    ));
    p.at_line(&err, 4);
    assert!(err.message.contains("`major`"), "{}", err.message);
    // A version the scheme cannot read, naming the file.
    std::fs::write(
        p.dir.path().join("feed/bad.json"),
        r#"[{"cycle": "3.13", "latest": "three", "eol": false}]"#,
    )
    .unwrap();
    let err = p.error(&format!(
        "feed:\n  kind: endoflife\n  source: feed/bad.json\n{TAIL}"
    ));
    p.at_line(&err, 3);
    assert!(
        err.message.contains("feed/bad.json") && err.message.contains("`three`"),
        "{}",
        err.message
    );
    // An unknown kind is a parse error naming the kinds.
    let err = p.error(&format!("feed:\n  kind: pypi\n{TAIL}"));
    p.at_line(&err, 2);
}

#[test]
fn the_binary_refuses_a_wrong_kind_with_exit_2() {
    let p = Project::new();
    std::fs::write(
        p.path(),
        format!("feed:\n  kind: npm\n  schedule: feed/schedule.json\n  source: feed/bun-npm.json\n{TAIL}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["plan", "-f"])
        .arg(p.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("strata.yml:3:") && err.contains("feed.schedule"),
        "{err}"
    );
}

/// An alias's candidates follow the feed's order: a final release before its
/// release candidates, `a10` after `a2`; so "never backwards" keeps to it.
#[test]
fn alias_candidates_follow_the_pep440_like_order() {
    let p = Project::new();
    let yaml = r#"as_of: 2024-10-29
feed:
  kind: list
  cycle: minor
  pick: all
  range: ">=3.13.0-0"
  versions:
    - { version: "3.13.0rc1" }
    - { version: "3.13.0" }
    - { version: "3.13.0a10" }
    - { version: "3.13.0a2" }
    - { version: "3.13.0b1" }
os:
  - { name: bookworm, default: true, from: "debian:bookworm" }
image:
  name: "reg/python:{{ version }}"
  template: tpl
aliases:
  - "reg/python:{{ cycle }}"
"#;
    let plan = p.load(yaml).unwrap_or_else(|e| panic!("{}", e.message));
    let alias = plan
        .aliases
        .iter()
        .find(|a| a.tag == "reg/python:3.13")
        .unwrap();
    assert_eq!(
        alias.candidates,
        [
            "reg/python:3.13.0",
            "reg/python:3.13.0rc1",
            "reg/python:3.13.0b1",
            "reg/python:3.13.0a10",
            "reg/python:3.13.0a2"
        ]
    );
}
