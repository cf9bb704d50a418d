//! The JSON Schema of `strata.yml`: the shipped copy is what `strata schema`
//! prints, the bundled configs validate against it, and configs strata
//! refuses are refused by the schema too.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The configs the repository ships.
fn examples() -> Vec<PathBuf> {
    [
        "examples/node/strata.yml",
        "examples/bun/strata.yml",
        "benches/plan-all/strata.yml",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect()
}

fn printed_schema() -> String {
    let out = Command::cargo_bin("strata")
        .unwrap()
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&printed_schema()).unwrap();
    jsonschema::draft7::new(&schema).expect("the schema is a valid draft-07 schema")
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn the_shipped_schema_is_current() {
    let shipped =
        std::fs::read_to_string(root().join("schema/strata.schema.json")).unwrap_or_default();
    assert!(
        shipped == printed_schema(),
        "schema/strata.schema.json differs from what the config types give; \
         regenerate it with `cargo run -q -- schema > schema/strata.schema.json`"
    );
}

#[test]
fn the_bundled_configs_are_valid() {
    let validator = validator();
    for path in examples() {
        let doc = yaml(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn the_bundled_configs_name_the_schema_for_editors() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{} has no schema line", path.display()));
        let target = path.parent().unwrap().join(line.trim());
        assert_eq!(
            target.canonicalize().unwrap(),
            root()
                .join("schema/strata.schema.json")
                .canonicalize()
                .unwrap(),
            "{}",
            path.display()
        );
    }
}

/// A valid config with one change, which the schema and strata both refuse.
#[test]
fn configs_strata_refuses_are_refused_by_the_schema() {
    let validator = validator();
    let good = std::fs::read_to_string(root().join("examples/node/strata.yml")).unwrap();
    let cases = [
        ("a misspelt top-level key", "image:", "imag:"),
        ("an unknown pick", "pick: newest-of-major", "pick: newest"),
        ("a timeout of 0", "image:\n", "image:\n  timeout: 0\n"),
        ("an alias rule with `if`", "when: \"lts\"", "if: \"lts\""),
        (
            "an exclusion without a reason",
            "    reason: \"Current releases are published on the newest Debian only\"\n",
            "",
        ),
        (
            "an OS that is not a map",
            "  - name: bullseye\n",
            "  - bullseye\n  - name: bullseye\n",
        ),
        (
            "a test entry with an unknown key",
            "  - tests/script\n",
            "  - { path: tests/script, whn: os.default }\n",
        ),
        (
            "a node feed without its schedule",
            "  schedule: feed/schedule.json\n",
            "",
        ),
        (
            "an npm feed without its source",
            "  index: feed/index.tab\n  schedule: feed/schedule.json\n",
            "  kind: npm\n",
        ),
        (
            "an unknown feed kind",
            "  index: feed/index.tab\n",
            "  kind: pypi\n  index: feed/index.tab\n",
        ),
    ];
    for (what, from, to) in cases {
        assert!(good.contains(from), "{what}: the example has no `{from}`");
        let bad = good.replacen(from, to, 1);
        assert!(
            !validator.is_valid(&yaml(&bad)),
            "{what}: the schema accepts it"
        );
        let dir = tempfile::tempdir().unwrap();
        let copy = copy_example(dir.path());
        std::fs::write(&copy, &bad).unwrap();
        let planned = strata::load::plan(&copy, &Default::default()).is_ok();
        assert!(!planned, "{what}: strata accepts it, the schema does not");
    }
}

/// The node example's folder copied into `dir`; returns its config's path.
fn copy_example(dir: &Path) -> PathBuf {
    let from = root().join("examples/node");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    dir.join("strata.yml")
}

#[test]
fn the_starter_config_of_strata_init_is_valid() {
    for name in ["strata.yml", "bun.strata.yml", "list.strata.yml"] {
        let path = root().join("src/init/starter").join(name);
        let doc = yaml(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator()
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}
