//! `--shard K/N` through the binary: the shards of the bundled example cover
//! every image exactly once, and keep each image with the images it builds on.

use std::collections::BTreeSet;

fn plan_json(args: &[&str]) -> serde_json::Value {
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["plan", "-f", "examples/node/strata.yml", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn images(plan: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let needs = i["needs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            (i["name"].as_str().unwrap().to_string(), needs)
        })
        .collect()
}

#[test]
fn shards_cover_the_plan_once_and_keep_families_together() {
    let whole: BTreeSet<String> = images(&plan_json(&[]))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut seen = BTreeSet::new();
    for k in 1..=2 {
        let part = images(&plan_json(&["--shard", &format!("{k}/2")]));
        assert!(!part.is_empty(), "shard {k}/2 has work");
        let names: BTreeSet<String> = part.iter().map(|(n, _)| n.clone()).collect();
        for (name, needs) in &part {
            for need in needs {
                assert!(
                    names.contains(need),
                    "{name} needs {need}, which is on another shard"
                );
            }
            assert!(seen.insert(name.clone()), "{name} is on two shards");
        }
    }
    assert_eq!(seen, whole, "every image is on some shard");
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let out = assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["plan", "-f", "examples/node/strata.yml", "--shard", "3/2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("K/N"));
}
