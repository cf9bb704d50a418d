//! Feed tests against the real Node.js index and schedule in `tests/data/`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::json;

use super::select::{select, Pick};
use super::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn real_index() -> Vec<Release> {
    index::parse(&load("node-dist-index.tab", &data_dir()).unwrap()).unwrap()
}

fn real_schedule() -> Schedule {
    release_schedule::parse(&load("node-release-schedule.json", &data_dir()).unwrap()).unwrap()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn v(text: &str) -> semver::Version {
    semver::Version::parse(text).unwrap()
}

fn versions(releases: &[Release]) -> Vec<String> {
    releases.iter().map(|r| r.version.to_string()).collect()
}

#[test]
fn parses_the_real_tab_index() {
    let releases = real_index();
    assert_eq!(releases.len(), 759);
    assert_eq!(releases[0].version, v("23.1.0"));
    let jod = releases.iter().find(|r| r.version == v("22.11.0")).unwrap();
    assert_eq!(jod.date, day("2024-10-29"));
    assert_eq!(jod.lts.as_deref(), Some("Jod"));
    assert_eq!(jod.npm.as_deref(), Some("10.9.0"));
    assert!(!jod.security);
    assert!(jod.files.iter().any(|f| f == "linux-x64"));
    let oldest = releases.last().unwrap();
    assert_eq!(oldest.version, v("0.1.14"));
    assert_eq!(oldest.npm, None, "`-` means no npm");
    assert_eq!(oldest.lts, None);
    let security = releases.iter().find(|r| r.version == v("18.20.4")).unwrap();
    assert!(security.security);
    assert_eq!(releases.iter().filter(|r| r.security).count(), 116);
}

#[test]
fn json_and_tab_parsers_agree() {
    let from_json =
        index::parse(&load("node-dist-index-sample.json", &data_dir()).unwrap()).unwrap();
    assert_eq!(from_json.len(), 8);
    let from_tab = real_index();
    for release in &from_json {
        let same = from_tab
            .iter()
            .find(|r| r.version == release.version)
            .unwrap_or_else(|| panic!("{} not in the tab index", release.version));
        assert_eq!(release, same);
    }
    // The sample covers what differs between the formats: `lts` false vs a
    // codename, a security release, and an old release without npm.
    assert!(from_json.iter().any(|r| r.lts.is_some()));
    assert!(from_json.iter().any(|r| r.security));
    assert!(from_json.iter().any(|r| r.npm.is_none()));
}

#[test]
fn tab_errors_name_the_line() {
    let header = "version\tdate\tfiles\tnpm\tv8\tuv\tzlib\topenssl\tmodules\tlts\tsecurity\n";
    let good = "v1.0.0\t2015-01-14\tsrc\t-\t-\t-\t-\t-\t-\t-\t-\n";
    let bad_date = "v1.0.1\t2015-13-01\tsrc\t-\t-\t-\t-\t-\t-\t-\t-\n";
    let err = index::parse_tab(&format!("{header}{good}{bad_date}")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 3") && text.contains("2015-13-01"),
        "{text}"
    );

    let err = index::parse_tab(&format!("{header}v1.0.0\t2015-01-14\n")).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2: has 2 columns, the header has 11"),
        "{err}"
    );

    let err = index::parse_tab(&format!("{header}{}", good.replace("v1.0.0", "vX"))).unwrap_err();
    assert!(
        err.to_string().contains("`vX` is not a semver version"),
        "{err}"
    );

    let err = index::parse_tab("name\tdate\n").unwrap_err();
    assert!(err.to_string().contains("no `version` column"), "{err}");
}

#[test]
fn json_errors_name_the_position() {
    let err = index::parse("[\n{\"version\": \"v1.0.0\",\n \"date\": 5}\n]").unwrap_err();
    assert!(err.to_string().contains("line 3 column"), "{err}");
    let err =
        index::parse(r#"[{"version": "v1.0.0", "date": "2015-01-14", "lts": true}]"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("entry #1 (v1.0.0): `lts` is `true`"),
        "{err}"
    );
    let err = index::parse(r#"[{"version": "one", "date": "2015-01-14"}]"#).unwrap_err();
    assert!(
        err.to_string().contains("`one` is not a semver version"),
        "{err}"
    );
    let err = index::parse("[\n{\"version\": \"v1.0.0\"\n").unwrap_err();
    match err {
        FeedError::Json { line, .. } => assert_eq!(line, 3),
        other => panic!("expected a JSON position error, got {other}"),
    }
    assert!(index::parse("  \n").is_err());
}

#[test]
fn parses_the_real_schedule() {
    let schedule = real_schedule();
    let names: Vec<String> = schedule.lines.iter().map(Line::name).collect();
    assert_eq!(&names[..4], ["0.8", "0.10", "0.12", "4"]);
    let argon = schedule.line_of(&v("4.4.7")).unwrap();
    assert_eq!(argon.codename.as_deref(), Some("Argon"));
    assert_eq!(argon.lts, Some(day("2015-10-12")));
    assert_eq!(schedule.line_of(&v("0.12.9")).unwrap().minor, Some(12));
    assert!(schedule.line_of(&v("0.11.0")).is_none());
    assert_eq!(schedule.codename(22), Some("Jod"));
    assert_eq!(schedule.codename(23), None);
    assert_eq!(
        schedule.codename(26),
        None,
        "an empty codename is no codename"
    );
}

#[test]
fn schedule_errors_name_the_entry() {
    let err =
        release_schedule::parse(r#"{"v4": {"start": "2015-09-08", "end": "soon"}}"#).unwrap_err();
    assert!(
        err.to_string().contains("entry `v4`: end: date `soon`"),
        "{err}"
    );
    let err = release_schedule::parse(r#"{"four": {"start": "2015-09-08", "end": "2018-04-30"}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("entry `four`"), "{err}");
    let err = release_schedule::parse("{\n\"v4\": [}").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn current_and_active_lts_follow_the_date() {
    let s = real_schedule();
    // The day after v22 became LTS: v23 is Current, v22 the active LTS.
    assert_eq!(s.current_major(day("2024-10-30")), Some(23));
    assert_eq!(s.active_lts_major(day("2024-10-30")), Some(22));
    // Before v23 came out, v22 was still Current and v20 the active LTS.
    assert_eq!(s.current_major(day("2024-10-01")), Some(22));
    assert_eq!(s.active_lts_major(day("2024-10-01")), Some(20));
    // On its LTS date a line stops being Current.
    assert_eq!(s.current_major(day("2024-10-29")), Some(23));
    assert_eq!(s.active_lts_major(day("2024-10-28")), Some(20));
    assert_eq!(s.active_lts_major(day("2024-10-29")), Some(22));
    // Before any LTS line: no active LTS; 0.12 is current.
    assert_eq!(s.active_lts_major(day("2015-03-01")), None);
    assert_eq!(
        s.current_line(day("2015-03-01")).map(Line::name).as_deref(),
        Some("0.12")
    );
    // Between v4's LTS and v5's release nothing is Current.
    assert_eq!(s.current_major(day("2015-10-20")), None);
}

#[test]
fn select_newest_of_major_counts_0x_by_minor() {
    let releases = real_index();
    let range = nodejs_semver::Range::parse("<5").unwrap();
    let picked = select(&releases, &range, Pick::NewestOfMajor);
    assert_eq!(
        versions(&picked),
        [
            "4.9.1", "0.12.18", "0.11.16", "0.10.48", "0.9.12", "0.8.28", "0.7.12", "0.6.21",
            "0.5.10", "0.4.12", "0.3.8", "0.2.6", "0.1.104"
        ]
    );
}

#[test]
fn select_all_and_newest_of_minor() {
    let releases = real_index();
    let range = nodejs_semver::Range::parse(">=22.9 <23").unwrap();
    assert_eq!(
        versions(&select(&releases, &range, Pick::All)),
        ["22.11.0", "22.10.0", "22.9.0"]
    );
    let range = nodejs_semver::Range::parse("^20.16").unwrap();
    assert_eq!(
        versions(&select(&releases, &range, Pick::NewestOfMinor)),
        ["20.18.0", "20.17.0", "20.16.0"]
    );
    let range = nodejs_semver::Range::parse(">=18").unwrap();
    assert_eq!(
        versions(&select(&releases, &range, Pick::NewestOfMajor)),
        ["23.1.0", "22.11.0", "21.7.3", "20.18.0", "19.9.0", "18.20.4"]
    );
}

#[test]
fn pick_uses_kebab_case() {
    let picks: Vec<Pick> =
        serde_json::from_str(r#"["all", "newest-of-major", "newest-of-minor"]"#).unwrap();
    assert_eq!(picks, [Pick::All, Pick::NewestOfMajor, Pick::NewestOfMinor]);
    assert!(serde_json::from_str::<Pick>(r#""newest""#).is_err());
}

#[test]
fn facts_of_a_release() {
    let releases = real_index();
    let schedule = real_schedule();
    let find = |text: &str| releases.iter().find(|r| r.version == v(text)).unwrap();
    let as_of = day("2024-10-30");

    let facts = facts(find("22.10.0"), &schedule, as_of);
    assert_eq!(
        serde_json::Value::Object(facts),
        json!({
            "version": "22.10.0", "major": 22, "minor": 10, "patch": 0, "line": "22",
            "codename": "jod", "lts": false, "is_current": false, "is_active_lts": true,
            "is_supported": true, "is_eol": false, "date": "2024-10-16", "npm": "10.9.0", "security": false,
            "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"],
        })
    );
    // 0.12 had no arm64 binaries.
    let old_arm = super::facts(find("0.12.9"), &schedule, as_of);
    assert!(!old_arm["platforms"]
        .as_array()
        .unwrap()
        .contains(&json!("linux/arm64")));
    // Before v22 went LTS its Current releases had no codename yet; a
    // release published as LTS always has one.
    let early = super::facts(find("22.10.0"), &schedule, day("2024-10-20"));
    assert_eq!(early["codename"], json!(null));
    let published = super::facts(find("22.11.0"), &schedule, day("2024-10-20"));
    assert_eq!(published["codename"], json!("jod"));
    let current = super::facts(find("23.1.0"), &schedule, as_of);
    assert_eq!(current["codename"], json!(null));
    assert_eq!(current["is_current"], json!(true));
    assert_eq!(current["is_active_lts"], json!(false));

    let old = super::facts(find("0.12.9"), &schedule, as_of);
    assert_eq!(old["line"], json!("0.12"));
    assert_eq!(old["codename"], json!(null));
    assert_eq!(old["is_current"], json!(false));
    let argon = super::facts(find("4.4.7"), &schedule, day("2016-07-01"));
    assert_eq!(
        (argon["codename"].clone(), argon["lts"].clone()),
        (json!("argon"), json!(true))
    );
    assert_eq!(argon["is_active_lts"], json!(true));
}

#[test]
fn end_of_life_from_the_schedule() {
    let releases = real_index();
    let schedule = real_schedule();
    let find = |text: &str| releases.iter().find(|r| r.version == v(text)).unwrap();
    let at = |version: &str, date: &str| {
        let f = super::facts(find(version), &schedule, day(date));
        (f["is_supported"].clone(), f["is_eol"].clone())
    };
    // v18 ends 2025-04-30: supported the day before, end of life on the day.
    assert_eq!(at("18.20.4", "2025-04-29"), (json!(true), json!(false)));
    assert_eq!(at("18.20.4", "2025-04-30"), (json!(false), json!(true)));
    // An odd line is supported while Current and in its short maintenance.
    assert_eq!(at("23.1.0", "2024-10-30"), (json!(true), json!(false)));
    assert_eq!(at("23.1.0", "2025-06-01"), (json!(false), json!(true)));
    assert_eq!(at("4.4.7", "2024-10-30"), (json!(false), json!(true)));
    // A line the schedule does not list is neither.
    let unlisted = Schedule::default();
    let f = super::facts(find("22.11.0"), &unlisted, day("2024-10-30"));
    assert_eq!(
        (f["is_supported"].clone(), f["is_eol"].clone()),
        (json!(null), json!(null))
    );
}

#[test]
fn every_fact_of_a_release_is_in_the_reference_and_back() {
    use super::facts::{Scope, FACTS};
    let releases = real_index();
    let f = super::facts(&releases[0], &real_schedule(), day("2024-10-30"));
    let offered: std::collections::BTreeSet<&str> = f.keys().map(String::as_str).collect();
    let documented: std::collections::BTreeSet<&str> = FACTS
        .iter()
        .filter(|f| f.scope == Scope::Release)
        .map(|f| f.name)
        .collect();
    // Node's own facts; the ones every kind gives are added by
    // `kind::Feed::select` (kinds_tests checks every kind gives them all).
    assert!(offered.is_subset(&documented), "{offered:?}");
    assert!(offered.contains("is_active_lts") && !offered.contains("cycle"));
}

#[test]
fn load_reports_missing_files_and_unreachable_urls() {
    let err = load("no-such-index.tab", &data_dir()).unwrap_err();
    assert!(err.to_string().contains("no-such-index.tab"), "{err}");
    // Port 9 on localhost: nothing listens, so the fetch fails fast.
    let err = load("http://127.0.0.1:9/index.json", &data_dir()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("http://127.0.0.1:9/index.json") && text.contains("local copy"),
        "{text}"
    );
}

/// A one-thread HTTP server answering each connection with the next of
/// `responses` (status, body), then stopping. Returns its base URL and a
/// handle yielding how many requests it served.
fn serve(responses: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<usize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut served = 0;
        for (status, body) in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            served += 1;
        }
        served
    });
    (url, handle)
}

#[test]
fn load_fetches_urls_and_retries_server_errors() {
    let index = std::fs::read_to_string(data_dir().join("node-dist-index-sample.json")).unwrap();
    let (url, server) = serve(vec![(503, "busy".into()), (200, index.clone())]);
    let text = load(&format!("{url}/dist/index.json"), &data_dir()).unwrap();
    assert_eq!(text, index);
    assert_eq!(server.join().unwrap(), 2, "one failed attempt, one retry");
    assert_eq!(index::parse(&text).unwrap().len(), 8);
}

#[test]
fn load_does_not_retry_a_missing_url() {
    let (url, server) = serve(vec![(404, "not found".into())]);
    let err = load(&format!("{url}/dist/nope.json"), &data_dir()).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.join().unwrap(), 1);
}
