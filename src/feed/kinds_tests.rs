//! The `endoflife`, `npm` and `list` feed kinds on real snapshots.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::kind::{Feed, Selected};
use super::select::Pick;
use super::{endoflife, list, npm, FeedError};
use crate::config::native::CycleBy;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/feeds")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn pick(feed: &Feed, range: &str, pick: Pick, as_of: &str) -> Vec<Selected> {
    feed.select(
        &nodejs_semver::Range::parse(range).unwrap(),
        pick,
        day(as_of),
    )
}

fn texts(selected: &[Selected]) -> Vec<&str> {
    selected.iter().map(|s| s.text.as_str()).collect()
}

fn the<'a>(selected: &'a [Selected], version: &str) -> &'a serde_json::Map<String, Value> {
    &selected.iter().find(|s| s.text == version).unwrap().facts
}

#[test]
fn python_from_endoflife_gives_the_official_images_versions_and_facts() {
    let feed = Feed::Generic(endoflife::parse(&data("python-endoflife.json")).unwrap());
    // The official images carried these on 2024-10-29: the supported cycles.
    let picked = pick(&feed, ">=3.9", Pick::NewestOfMajor, "2024-10-29");
    assert_eq!(
        texts(&picked),
        ["3.13.0", "3.12.7", "3.11.10", "3.10.15", "3.9.20"]
    );
    let f = the(&picked, "3.13.0");
    assert_eq!(f["cycle"], "3.13");
    assert_eq!(f["major"], 3);
    assert_eq!(f["minor"], 13);
    assert_eq!(f["patch"], 0);
    assert_eq!(f["prerelease"], "");
    assert_eq!(f["released"], "2024-10-07");
    assert_eq!(f["eol"], "2029-10-31");
    assert_eq!(f["support"], "2026-10-01");
    assert_eq!(f["is_eol"], false);
    assert_eq!(f["is_lts"], false);
    assert_eq!(f["is_prerelease"], false);
    assert_eq!(f["is_newest"], true);
    assert_eq!(the(&picked, "3.12.7")["is_newest"], false);
    // 3.8's end of life was 2024-10-07: ended at the snapshot's date.
    let all = pick(&feed, ">=3.8", Pick::NewestOfMajor, "2024-10-29");
    assert_eq!(the(&all, "3.8.20")["is_eol"], true);
    assert_eq!(the(&all, "3.8.20")["is_supported"], false);
    assert_eq!(the(&all, "3.9.20")["is_supported"], true);
}

#[test]
fn ruby_from_endoflife_reads_every_cycle() {
    let entries = endoflife::parse(&data("ruby-endoflife.json")).unwrap();
    assert_eq!(entries.len(), 13);
    let feed = Feed::Generic(entries);
    let picked = pick(&feed, ">=3.1", Pick::NewestOfMajor, "2024-10-29");
    assert_eq!(texts(&picked), ["3.3.5", "3.2.5", "3.1.6"]);
    assert_eq!(the(&picked, "3.3.5")["cycle"], "3.3");
    assert_eq!(the(&picked, "3.3.5")["is_newest"], true);
    // A later Python snapshot: 3.14 is the newest line then.
    let later = Feed::Generic(endoflife::parse(&data("python-endoflife-2026.json")).unwrap());
    let picked = pick(&later, ">=3.13", Pick::NewestOfMajor, "2026-08-22");
    assert_eq!(texts(&picked), ["3.14.7", "3.13.15"]);
    // as_of decides which line is newest, not the snapshot.
    let before = pick(&later, ">=3.13", Pick::NewestOfMajor, "2025-01-01");
    assert_eq!(the(&before, "3.13.15")["is_newest"], false);
}

#[test]
fn endoflife_refuses_a_malformed_cycle_naming_it() {
    let err = endoflife::parse(r#"[{"cycle": "3.13", "latest": "3.13.x", "eol": false}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`3.13`") && err.contains("3.13.x"), "{err}");
    let err = endoflife::parse(r#"[{"cycle": "3.13", "latest": "3.13.0", "eol": 5}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`eol`"), "{err}");
    let err = endoflife::parse("[{\"cycle\": \n").unwrap_err();
    assert!(matches!(err, FeedError::Json { line: 2, .. }), "{err}");
    assert!(endoflife::parse(r#"{"cycle": "1"}"#).is_err());
}

#[test]
fn bun_from_npm_gives_lines_by_minor_dist_tags_and_platforms() {
    let entries = npm::parse(&data("bun-npm.json"), CycleBy::Minor).unwrap();
    let feed = Feed::Generic(entries);
    let picked = pick(&feed, ">=1.3", Pick::NewestOfMajor, "2026-11-20");
    assert_eq!(texts(&picked), ["1.4.5", "1.3.14"]);
    let f = the(&picked, "1.4.5");
    assert_eq!(f["cycle"], "1.4");
    assert_eq!(f["dist_tags"], json!(["latest"]));
    assert_eq!(f["platforms"], json!(["linux/amd64", "linux/arm64"]));
    assert_eq!(f["released"], "2026-11-19");
    assert_eq!(f["is_newest"], true);
    assert_eq!(f["is_eol"], Value::Null);
    assert_eq!(the(&picked, "1.3.14")["dist_tags"], json!([]));
    // Canaries are pre-releases: left out unless the range names one...
    let all = pick(&feed, ">=1.4.0", Pick::All, "2026-11-20");
    assert!(all.iter().all(|s| s.facts["is_prerelease"] == false));
    let canaries = pick(&feed, ">=1.4.2-canary.0 <1.4.2", Pick::All, "2026-11-20");
    assert_eq!(canaries.len(), 3);
    assert_eq!(canaries[0].text, "1.4.2-canary.20260928.1");
    assert_eq!(canaries[0].facts["prerelease"], "canary.20260928.1");
    // ...and newest first by semver, canaries before their release.
    let orders: Vec<_> = pick(&feed, "*", Pick::All, "2026-11-20")
        .into_iter()
        .map(|s| s.order)
        .collect();
    assert!(orders.windows(2).all(|w| w[0] > w[1]));
    // By major, Bun 1 is one line.
    let by_major = Feed::Generic(npm::parse(&data("bun-npm.json"), CycleBy::Major).unwrap());
    assert_eq!(
        texts(&pick(&by_major, "*", Pick::NewestOfMajor, "2026-11-20")),
        ["1.4.5"]
    );
}

#[test]
fn npm_refuses_a_document_without_versions() {
    let err = npm::parse(r#"{"name": "bun"}"#, CycleBy::Major)
        .unwrap_err()
        .to_string();
    assert!(err.contains("versions"), "{err}");
    let err = npm::parse(r#"{"versions": {"one": {}}}"#, CycleBy::Major)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`one`"), "{err}");
}

const PYTHON_LIST: &str = r#"
- { version: "3.14.0a1", released: 2024-10-15, codename: null }
- { version: "3.13.0", released: 2024-10-07, eol: 2029-10-31, lts: false, flavour: cpython }
- { version: "3.13.0rc3", released: 2024-10-01 }
- { version: "3.12.7", released: 2024-10-01, eol: 2028-10-31, platforms: [linux/amd64] }
"#;

#[test]
fn a_list_with_a_prerelease_tags_it_next_to_the_final_lines() {
    let feed = Feed::Generic(list::parse_text(PYTHON_LIST, CycleBy::Minor).unwrap());
    // Newest of each line, and the newest pre-release of a line with none.
    let picked = pick(&feed, ">=3.12", Pick::NewestWithPrerelease, "2024-10-29");
    assert_eq!(texts(&picked), ["3.14.0a1", "3.13.0", "3.12.7"]);
    let a1 = the(&picked, "3.14.0a1");
    assert_eq!(a1["prerelease"], "a1");
    assert_eq!(a1["is_prerelease"], true);
    assert_eq!(a1["cycle"], "3.14");
    // The newest line is the newest with a final release.
    assert_eq!(a1["is_newest"], false);
    assert_eq!(the(&picked, "3.13.0")["is_newest"], true);
    assert_eq!(the(&picked, "3.13.0")["flavour"], "cpython");
    assert_eq!(the(&picked, "3.13.0")["eol"], "2029-10-31");
    assert_eq!(the(&picked, "3.12.7")["platforms"], json!(["linux/amd64"]));
    // Without that pick, pre-releases stay out, as npm ranges keep them.
    let finals = pick(&feed, ">=3.12", Pick::NewestOfMajor, "2024-10-29");
    assert_eq!(texts(&finals), ["3.13.0", "3.12.7"]);
    // The pre-release orders before its final (never backwards); a range
    // naming a pre-release admits that version's pre-releases only, as npm.
    let all = pick(&feed, ">=3.13.0-0", Pick::All, "2024-10-29");
    assert_eq!(texts(&all), ["3.13.0", "3.13.0rc3"]);
    assert!(all[0].order > all[1].order);
}

#[test]
fn a_list_refuses_bad_entries_naming_them() {
    let err = |text: &str| {
        list::parse_text(text, CycleBy::Major)
            .unwrap_err()
            .to_string()
    };
    assert!(err("- { released: 2024-01-01 }").contains("#1"));
    assert!(err("- { version: \"1.0\", major: 2 }").contains("`major`"));
    assert!(err("- { version: \"1.0\" }\n- { version: \"1.0.0\" }").contains("twice"));
    assert!(err("- { version: \"1.0\", eol: soon }").contains("`eol`"));
    assert!(err("[]").contains("empty"));
    assert!(err("version: 1").contains("list"));
}

#[test]
fn every_kind_gives_every_documented_release_fact() {
    use super::facts::{Scope, FACTS};
    let documented: std::collections::BTreeSet<&str> = FACTS
        .iter()
        .filter(|f| f.scope == Scope::Release)
        .map(|f| f.name)
        .collect();
    let node = Feed::Node {
        releases: super::index::parse(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/node-dist-index.tab"),
            )
            .unwrap(),
        )
        .unwrap(),
        schedule: super::release_schedule::parse(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/node-release-schedule.json"),
            )
            .unwrap(),
        )
        .unwrap(),
    };
    let feeds = [
        ("node", node, ">=22"),
        (
            "endoflife",
            Feed::Generic(endoflife::parse(&data("python-endoflife.json")).unwrap()),
            ">=3.12",
        ),
        (
            "npm",
            Feed::Generic(npm::parse(&data("bun-npm.json"), CycleBy::Minor).unwrap()),
            ">=1.4",
        ),
        (
            "list",
            Feed::Generic(
                list::parse(
                    &[Default::default()].map(|m: std::collections::BTreeMap<String, Value>| {
                        let mut m = m;
                        m.insert("version".into(), "1.0.0".into());
                        m
                    }),
                    CycleBy::Major,
                )
                .unwrap(),
            ),
            "*",
        ),
    ];
    for (kind, feed, range) in feeds {
        let selected = pick(&feed, range, Pick::NewestOfMajor, "2024-10-30");
        let offered: std::collections::BTreeSet<&str> =
            selected[0].facts.keys().map(String::as_str).collect();
        assert_eq!(offered, documented, "{kind}");
    }
    // Node's own facts keep their meaning; the common ones are added.
    let node = Feed::Node {
        releases: super::index::parse("version\tdate\tfiles\tnpm\tv8\tuv\tzlib\topenssl\tmodules\tlts\tsecurity\nv22.11.0\t2024-10-29\tlinux-x64\t10.9.0\t-\t-\t-\t-\t-\tJod\t-\nv23.1.0\t2024-10-24\tlinux-x64\t10.9.0\t-\t-\t-\t-\t-\t-\t-\n").unwrap(),
        schedule: super::release_schedule::parse(&std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/node-release-schedule.json"),
        ).unwrap()).unwrap(),
    };
    let picked = pick(&node, "*", Pick::NewestOfMajor, "2024-10-30");
    let f = the(&picked, "22.11.0");
    assert_eq!(f["cycle"], "22");
    assert_eq!(f["line"], "22");
    assert_eq!(f["is_lts"], true);
    assert_eq!(f["eol"], "2027-04-30");
    assert_eq!(f["is_newest"], false);
    assert_eq!(the(&picked, "23.1.0")["is_newest"], true);
    assert_eq!(the(&picked, "23.1.0")["is_lts"], false);
}
