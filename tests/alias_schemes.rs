//! Worked examples: two real tagging schemes written as alias rules.
//!
//! 1. NodeSource's scheme, checked against their real Dante inventory
//!    (`tests/data/nodesource-inventory.yml`) with release facts from the real
//!    Node.js index and schedule.
//! 2. The official Node.js images' scheme, as a full expected table.
//!
//! ## Where the real NodeSource data disagrees, and why
//!
//! 16 OS repositories, 718 images. With the rules below, 5 repositories
//! (xenial, fedora20, fedora21, fedora24, centos5) match the inventory
//! exactly. The other 11 differ only in who gets a "newest of line" tag, and
//! every difference is the same mistake in the inventory: its "newest" was
//! picked by comparing versions as *strings*, so `0.12.9` beat `0.12.15`
//! (vivid: `0.12.13`) and `5.9.1` beat `5.12.0`. strata compares versions as
//! numbers and gives `:0.12` to 0.12.15 and `:5` to 5.12.0. The test lists
//! every such difference and checks that each is explained by string order.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};
use strata::alias::{self, AliasRule, Candidate};
use strata::feed::{self, Release, Schedule};
use strata::plan::AliasPlan;
use strata::reference::Reference;

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn real_feed() -> (Vec<Release>, Schedule) {
    let index = feed::load("node-dist-index.tab", data_dir()).unwrap();
    let schedule = feed::load("node-release-schedule.json", data_dir()).unwrap();
    (
        feed::index::parse(&index).unwrap(),
        feed::release_schedule::parse(&schedule).unwrap(),
    )
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn release<'a>(releases: &'a [Release], version: &str) -> &'a Release {
    releases
        .iter()
        .find(|r| r.version.to_string() == version)
        .unwrap_or_else(|| panic!("{version} is not in the release index"))
}

/// Release facts merged with axis facts, as the matrix expansion does.
fn candidate(
    image: String,
    release: &Release,
    schedule: &Schedule,
    as_of: NaiveDate,
    axes: Value,
) -> Candidate {
    let mut facts = feed::facts(release, schedule, as_of);
    facts.extend(axes.as_object().unwrap().clone());
    Candidate {
        image: image.parse().unwrap(),
        version: release.version.clone(),
        facts: Value::Object(facts),
    }
}

fn rules(yaml: &str) -> Vec<AliasRule> {
    serde_saphyr::from_str(yaml).unwrap()
}

/// What each image ends up carrying when every image passes: each tag goes
/// to its first candidate.
fn winners(plans: &[AliasPlan]) -> BTreeMap<String, BTreeSet<String>> {
    let mut won: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for plan in plans {
        won.entry(plan.candidates[0].to_string())
            .or_default()
            .insert(plan.tag.to_string());
    }
    won
}

// ---------------------------------------------------------------------------
// NodeSource

/// NodeSource's scheme. Per OS repository: `X.Y` for the newest of a minor,
/// `X` for the newest of a major (never for 0.x, whose minors were the
/// lines), the LTS codename and `LTS` for the newest LTS release, `latest` for
/// the newest release. The default OS (jessie) repeats them under
/// `nodesource/node`, which also gets every full version.
const NODESOURCE_RULES: &str = r#"
- "nodesource/{{ os.name }}:{{ major }}.{{ minor }}"
- tag: "nodesource/{{ os.name }}:{{ major }}"
  when: major > 0
- tag: "nodesource/{{ os.name }}:{{ codename }}"
  when: lts and codename
- tag: "nodesource/{{ os.name }}:LTS"
  when: lts
- "nodesource/{{ os.name }}:latest"
- tag: "nodesource/node:{{ version }}"
  when: os.default
- tag: "nodesource/node:{{ major }}.{{ minor }}"
  when: os.default
- tag: "nodesource/node:{{ major }}"
  when: os.default and major > 0
- tag: "nodesource/node:{{ codename }}"
  when: os.default and lts and codename
- tag: "nodesource/node:LTS"
  when: os.default and lts
- tag: "nodesource/node:latest"
  when: os.default
"#;

const DEFAULT_OS: &str = "jessie";

/// The part of a Dante inventory this test needs.
#[derive(Deserialize)]
struct Inventory {
    images: Vec<InventoryImage>,
}

#[derive(Deserialize)]
struct InventoryImage {
    name: String,
    #[serde(default)]
    alias: OneOrMany,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_set(&self) -> BTreeSet<String> {
        match self {
            OneOrMany::None => BTreeSet::new(),
            OneOrMany::One(a) => BTreeSet::from([a.clone()]),
            OneOrMany::Many(list) => list.iter().cloned().collect(),
        }
    }
}

fn real_inventory() -> Inventory {
    let text = std::fs::read_to_string(data_dir().join("nodesource-inventory.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// `nodesource/jessie:4.4.7` → (`jessie`, `4.4.7`).
fn os_and_version(image: &str) -> (String, String) {
    let Reference {
        name: repo, tag, ..
    } = Reference::split(image);
    let os = repo.rsplit('/').next().unwrap().to_string();
    (os, tag.unwrap().to_string())
}

/// One image whose computed aliases differ from the inventory's.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    tag: String,
    inventory_gives_it_to: String,
    strata_gives_it_to: String,
}

/// The differences found, documented in the module comment.
fn expected_differences() -> BTreeSet<Difference> {
    let mut expected = BTreeSet::new();
    let mut add = |tag: String, inventory: String, strata: String| {
        expected.insert(Difference {
            tag,
            inventory_gives_it_to: inventory,
            strata_gives_it_to: strata,
        });
    };
    for os in [
        "jessie", "sid", "wheezy", "precise", "trusty", "wily", "fedora22", "centos6", "centos7",
    ] {
        add(
            format!("nodesource/{os}:0.12"),
            format!("nodesource/{os}:0.12.9"),
            format!("nodesource/{os}:0.12.15"),
        );
    }
    // vivid stopped at 0.12.13.
    add(
        "nodesource/vivid:0.12".into(),
        "nodesource/vivid:0.12.9".into(),
        "nodesource/vivid:0.12.13".into(),
    );
    // jessie is the default OS: `nodesource/node:0.12` repeats its mistake.
    add(
        "nodesource/node:0.12".into(),
        "nodesource/jessie:0.12.9".into(),
        "nodesource/jessie:0.12.15".into(),
    );
    for os in ["fedora22", "fedora23", "centos6", "centos7"] {
        add(
            format!("nodesource/{os}:5"),
            format!("nodesource/{os}:5.9.1"),
            format!("nodesource/{os}:5.12.0"),
        );
    }
    expected
}

#[test]
fn nodesource_scheme_matches_the_real_inventory() {
    let (releases, schedule) = real_feed();
    let inventory = real_inventory();
    assert_eq!(inventory.images.len(), 718);

    let images: Vec<Candidate> = inventory
        .images
        .iter()
        .map(|image| {
            let (os, version) = os_and_version(&image.name);
            let release = release(&releases, &version);
            // The inventory was written in July 2016 (newest release: 6.3.1).
            let axes = json!({"os": {"name": os, "default": os == DEFAULT_OS}});
            candidate(
                image.name.clone(),
                release,
                &schedule,
                day("2016-07-15"),
                axes,
            )
        })
        .collect();
    let plans = alias::compute(&rules(NODESOURCE_RULES), &images).unwrap();
    let computed = winners(&plans);
    let candidates_of: BTreeMap<&str, &AliasPlan> =
        plans.iter().map(|p| (p.tag.as_str(), p)).collect();

    // Which image holds each tag, on each side.
    let mut inventory_holder: BTreeMap<String, String> = BTreeMap::new();
    for image in &inventory.images {
        for tag in image.alias.to_set() {
            let previous = inventory_holder.insert(tag.clone(), image.name.clone());
            assert!(previous.is_none(), "the inventory gives {tag} twice");
        }
    }
    let strata_holder: BTreeMap<String, String> = computed
        .iter()
        .flat_map(|(image, tags)| tags.iter().map(move |t| (t.clone(), image.clone())))
        .collect();
    // The rules produce exactly the inventory's set of tags.
    let theirs: BTreeSet<&String> = inventory_holder.keys().collect();
    let ours: BTreeSet<&String> = strata_holder.keys().collect();
    assert_eq!(
        theirs.difference(&ours).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "tags only the inventory has"
    );
    assert_eq!(
        ours.difference(&theirs).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "tags only the rules produce"
    );

    let mut differences = BTreeSet::new();
    for (tag, holder) in &inventory_holder {
        let ours = &strata_holder[tag];
        if ours == holder {
            continue;
        }
        // Every difference is the inventory sorting versions as strings.
        let plan = candidates_of[tag.as_str()];
        let string_newest = plan
            .candidates
            .iter()
            .max_by_key(|image| os_and_version(image).1)
            .unwrap();
        assert_eq!(
            holder, string_newest,
            "{tag}: the inventory's choice is not the string-wise newest"
        );
        differences.insert(Difference {
            tag: tag.clone(),
            inventory_gives_it_to: holder.clone(),
            strata_gives_it_to: ours.clone(),
        });
    }
    assert_eq!(differences, expected_differences());

    // Which OS repositories match exactly.
    let differing_os: BTreeSet<String> = differences
        .iter()
        .map(|d| os_and_version(&d.strata_gives_it_to).0)
        .collect();
    let all_os: BTreeSet<String> = inventory
        .images
        .iter()
        .map(|i| os_and_version(&i.name).0)
        .collect();
    let exact: Vec<&String> = all_os.difference(&differing_os).collect();
    assert_eq!(
        exact,
        ["centos5", "fedora20", "fedora21", "fedora24", "xenial"]
    );
    assert_eq!(all_os.len(), 16);
}

#[test]
fn nodesource_scheme_worked_example() {
    let (releases, schedule) = real_feed();
    let as_of = day("2016-07-15");
    let images: Vec<Candidate> = ["4.4.7", "4.3.2", "6.3.1", "0.12.15", "0.10.46"]
        .iter()
        .flat_map(|v| ["jessie", "trusty"].map(|os| (os, *v)))
        .map(|(os, v)| {
            let axes = json!({"os": {"name": os, "default": os == DEFAULT_OS}});
            candidate(
                format!("nodesource/{os}:{v}"),
                release(&releases, v),
                &schedule,
                as_of,
                axes,
            )
        })
        .collect();
    let won = winners(&alias::compute(&rules(NODESOURCE_RULES), &images).unwrap());
    let get = |image: &str| {
        won.get(image)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("nodesource/jessie:4.4.7"),
        [
            "nodesource/jessie:4",
            "nodesource/jessie:4.4",
            "nodesource/jessie:LTS",
            "nodesource/jessie:argon",
            "nodesource/node:4",
            "nodesource/node:4.4",
            "nodesource/node:4.4.7",
            "nodesource/node:LTS",
            "nodesource/node:argon",
        ]
    );
    assert_eq!(get("nodesource/trusty:4.3.2"), ["nodesource/trusty:4.3"]);
    assert_eq!(
        get("nodesource/trusty:6.3.1"),
        [
            "nodesource/trusty:6",
            "nodesource/trusty:6.3",
            "nodesource/trusty:latest"
        ]
    );
    // No major-only tag for 0.x: `0.12` is the line.
    assert_eq!(get("nodesource/trusty:0.12.15"), ["nodesource/trusty:0.12"]);
    assert_eq!(
        get("nodesource/jessie:0.10.46"),
        [
            "nodesource/jessie:0.10",
            "nodesource/node:0.10",
            "nodesource/node:0.10.46"
        ]
    );
}

// ---------------------------------------------------------------------------
// Official Node.js images

/// The official images' scheme, per variant V of X.Y.Z.
const OFFICIAL_RULES: &str = r#"
- "node:{{ version }}-{{ variant.name }}"
- "node:{{ major }}.{{ minor }}-{{ variant.name }}"
- "node:{{ major }}-{{ variant.name }}"
- tag: "node:{{ codename }}-{{ variant.name }}"
  when: codename
- tag: "node:{{ version }}"
  when: variant.default
- tag: "node:{{ major }}.{{ minor }}"
  when: variant.default
- tag: "node:{{ major }}"
  when: variant.default
- tag: "node:{{ codename }}"
  when: variant.default and codename
- tag: "node:{{ variant.name }}"
  when: is_current
- tag: "node:current-{{ variant.name }}"
  when: is_current
- tag: "node:latest"
  when: is_current and variant.default
- tag: "node:current"
  when: is_current and variant.default
- tag: "node:lts-{{ variant.name }}"
  when: is_active_lts
- tag: "node:lts"
  when: is_active_lts and variant.default
- tag: "node:lts-{{ codename }}"
  when: is_active_lts and variant.default
"#;

const OFFICIAL_VERSIONS: [&str; 5] = ["23.1.0", "22.11.0", "22.10.0", "20.18.0", "18.20.4"];

/// Images are built under a staging name and published under `node:`.
fn official_plan() -> Vec<AliasPlan> {
    let (releases, schedule) = real_feed();
    let as_of = day("2024-10-30");
    let images: Vec<Candidate> = OFFICIAL_VERSIONS
        .iter()
        .flat_map(|v| [("bookworm", true), ("slim", false)].map(|variant| (*v, variant)))
        .map(|(v, (variant, default))| {
            let axes = json!({"variant": {"name": variant, "default": default}});
            candidate(
                format!("ci/node:{v}-{variant}"),
                release(&releases, v),
                &schedule,
                as_of,
                axes,
            )
        })
        .collect();
    alias::compute(&rules(OFFICIAL_RULES), &images).unwrap()
}

#[test]
fn official_scheme_full_table() {
    let plans = official_plan();
    let table: Vec<(&str, Vec<&str>)> = plans
        .iter()
        .map(|p| {
            (
                p.tag.as_str(),
                p.candidates.iter().map(|c| c.as_str()).collect(),
            )
        })
        .collect();
    #[rustfmt::skip]
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("node:18",                    vec!["ci/node:18.20.4-bookworm"]),
        ("node:18-bookworm",           vec!["ci/node:18.20.4-bookworm"]),
        ("node:18-slim",               vec!["ci/node:18.20.4-slim"]),
        ("node:18.20",                 vec!["ci/node:18.20.4-bookworm"]),
        ("node:18.20-bookworm",        vec!["ci/node:18.20.4-bookworm"]),
        ("node:18.20-slim",            vec!["ci/node:18.20.4-slim"]),
        ("node:18.20.4",               vec!["ci/node:18.20.4-bookworm"]),
        ("node:18.20.4-bookworm",      vec!["ci/node:18.20.4-bookworm"]),
        ("node:18.20.4-slim",          vec!["ci/node:18.20.4-slim"]),
        ("node:20",                    vec!["ci/node:20.18.0-bookworm"]),
        ("node:20-bookworm",           vec!["ci/node:20.18.0-bookworm"]),
        ("node:20-slim",               vec!["ci/node:20.18.0-slim"]),
        ("node:20.18",                 vec!["ci/node:20.18.0-bookworm"]),
        ("node:20.18-bookworm",        vec!["ci/node:20.18.0-bookworm"]),
        ("node:20.18-slim",            vec!["ci/node:20.18.0-slim"]),
        ("node:20.18.0",               vec!["ci/node:20.18.0-bookworm"]),
        ("node:20.18.0-bookworm",      vec!["ci/node:20.18.0-bookworm"]),
        ("node:20.18.0-slim",          vec!["ci/node:20.18.0-slim"]),
        ("node:22",                    vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:22-bookworm",           vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:22-slim",               vec!["ci/node:22.11.0-slim", "ci/node:22.10.0-slim"]),
        ("node:22.10",                 vec!["ci/node:22.10.0-bookworm"]),
        ("node:22.10-bookworm",        vec!["ci/node:22.10.0-bookworm"]),
        ("node:22.10-slim",            vec!["ci/node:22.10.0-slim"]),
        ("node:22.10.0",               vec!["ci/node:22.10.0-bookworm"]),
        ("node:22.10.0-bookworm",      vec!["ci/node:22.10.0-bookworm"]),
        ("node:22.10.0-slim",          vec!["ci/node:22.10.0-slim"]),
        ("node:22.11",                 vec!["ci/node:22.11.0-bookworm"]),
        ("node:22.11-bookworm",        vec!["ci/node:22.11.0-bookworm"]),
        ("node:22.11-slim",            vec!["ci/node:22.11.0-slim"]),
        ("node:22.11.0",               vec!["ci/node:22.11.0-bookworm"]),
        ("node:22.11.0-bookworm",      vec!["ci/node:22.11.0-bookworm"]),
        ("node:22.11.0-slim",          vec!["ci/node:22.11.0-slim"]),
        ("node:23",                    vec!["ci/node:23.1.0-bookworm"]),
        ("node:23-bookworm",           vec!["ci/node:23.1.0-bookworm"]),
        ("node:23-slim",               vec!["ci/node:23.1.0-slim"]),
        ("node:23.1",                  vec!["ci/node:23.1.0-bookworm"]),
        ("node:23.1-bookworm",         vec!["ci/node:23.1.0-bookworm"]),
        ("node:23.1-slim",             vec!["ci/node:23.1.0-slim"]),
        ("node:23.1.0",                vec!["ci/node:23.1.0-bookworm"]),
        ("node:23.1.0-bookworm",       vec!["ci/node:23.1.0-bookworm"]),
        ("node:23.1.0-slim",           vec!["ci/node:23.1.0-slim"]),
        ("node:bookworm",              vec!["ci/node:23.1.0-bookworm"]),
        ("node:current",               vec!["ci/node:23.1.0-bookworm"]),
        ("node:current-bookworm",      vec!["ci/node:23.1.0-bookworm"]),
        ("node:current-slim",          vec!["ci/node:23.1.0-slim"]),
        ("node:hydrogen",              vec!["ci/node:18.20.4-bookworm"]),
        ("node:hydrogen-bookworm",     vec!["ci/node:18.20.4-bookworm"]),
        ("node:hydrogen-slim",         vec!["ci/node:18.20.4-slim"]),
        ("node:iron",                  vec!["ci/node:20.18.0-bookworm"]),
        ("node:iron-bookworm",         vec!["ci/node:20.18.0-bookworm"]),
        ("node:iron-slim",             vec!["ci/node:20.18.0-slim"]),
        ("node:jod",                   vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:jod-bookworm",          vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:jod-slim",              vec!["ci/node:22.11.0-slim", "ci/node:22.10.0-slim"]),
        ("node:latest",                vec!["ci/node:23.1.0-bookworm"]),
        ("node:lts",                   vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:lts-bookworm",          vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:lts-jod",               vec!["ci/node:22.11.0-bookworm", "ci/node:22.10.0-bookworm"]),
        ("node:lts-slim",              vec!["ci/node:22.11.0-slim", "ci/node:22.10.0-slim"]),
        ("node:slim",                  vec!["ci/node:23.1.0-slim"]),
    ];
    assert_eq!(table, expected);
    // Each alias records the rule it came from.
    let lts = plans.iter().find(|p| p.tag == "node:lts-slim").unwrap();
    assert_eq!(lts.rule.as_deref(), Some("node:lts-{{ variant.name }}"));
}

/// What the executor does with the plan when an alias opts into falling back
/// (`fallback: true` or `--fallback`): each tag goes to its first candidate
/// that passed. Without the opt-in it stays where it is (never backwards).
fn assign(plans: &[AliasPlan], failed: &HashSet<&str>) -> BTreeMap<String, Option<String>> {
    plans
        .iter()
        .map(|p| {
            let winner = p
                .candidates
                .iter()
                .find(|c| !failed.contains(c.as_str()))
                .map(ToString::to_string);
            (p.tag.to_string(), winner)
        })
        .collect()
}

#[test]
fn with_fallback_a_failed_newest_image_hands_its_aliases_to_the_next_newest() {
    let plans = official_plan();
    let all_pass = assign(&plans, &HashSet::new());
    let failed = HashSet::from(["ci/node:22.11.0-bookworm"]);
    let after = assign(&plans, &failed);

    let changed: Vec<(&str, Option<&str>)> = all_pass
        .iter()
        .filter(|(tag, winner)| after[*tag] != **winner)
        .map(|(tag, _)| (tag.as_str(), after[tag].as_deref()))
        .collect();
    assert_eq!(
        changed,
        vec![
            ("node:22", Some("ci/node:22.10.0-bookworm")),
            ("node:22-bookworm", Some("ci/node:22.10.0-bookworm")),
            // Its own version tags have no one else to go to.
            ("node:22.11", None),
            ("node:22.11-bookworm", None),
            ("node:22.11.0", None),
            ("node:22.11.0-bookworm", None),
            ("node:jod", Some("ci/node:22.10.0-bookworm")),
            ("node:jod-bookworm", Some("ci/node:22.10.0-bookworm")),
            ("node:lts", Some("ci/node:22.10.0-bookworm")),
            ("node:lts-bookworm", Some("ci/node:22.10.0-bookworm")),
            ("node:lts-jod", Some("ci/node:22.10.0-bookworm")),
        ]
    );
    // The slim variant passed, so its tags do not move.
    assert_eq!(
        after["node:22-slim"].as_deref(),
        Some("ci/node:22.11.0-slim")
    );
}
