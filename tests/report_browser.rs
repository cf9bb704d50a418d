//! The HTML report's matrix as a browser shows it: the fixture runs are
//! rendered, opened in headless Chromium, and a probe script appended to a
//! copy of the page reads the DOM the browser built (cells, links, computed
//! colours, column positions) into JSON that the test asserts on.
//!
//! Skipped only when `chromium` is not installed and
//! `STRATA_REQUIRE_CHROMIUM` is unset; the test script sets it, so CI runs it.

mod report_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report_fixture::*;
use serde_json::Value;
use strata::events::record::RunRecord;
use strata::report::html;

/// Reads the grid as the browser laid it out, into `<pre id="probe">`.
const PROBE: &str = r#"<script>
(function () {
  const text = (el) => (el ? el.textContent.trim() : null);
  const main = document.querySelector("main");
  const order = [...main.children].map((el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
  const table = document.querySelector("section.matrix table.grid");
  const out = { order: order, grid: null };
  if (table) {
    const headRows = [...table.tHead.rows];
    const left = (el) => Math.round(el.getBoundingClientRect().left);
    const columnLefts = [...headRows[headRows.length - 1].cells]
      .filter((th) => th.scope === "col" && th.textContent.trim() !== "Version")
      .map(left);
    out.grid = {
      heads: [...headRows[0].cells].map((th) => ({ text: text(th), span: th.colSpan })),
      platforms: headRows.length > 1 ? [...headRows[1].cells].map(text) : [],
      columnLefts: columnLefts,
      rows: [...table.tBodies[0].rows].map((tr) => ({
        version: text(tr.cells[0]),
        cells: [...tr.cells].slice(1).map((td) => {
          const a = td.querySelector("a");
          const href = a ? a.getAttribute("href") : null;
          const target = href ? document.getElementById(href.slice(1)) : null;
          return {
            state: td.dataset.state,
            word: text(td.querySelector(".state")),
            detail: text(td.querySelector(".detail")),
            tags: [...td.querySelectorAll("ul.tags code")].map(text),
            href: href,
            target: target ? text(target.querySelector("summary code")) : null,
            targetIsDetails: target ? target.tagName === "DETAILS" : null,
            background: getComputedStyle(td).backgroundColor,
            left: left(td),
            visible: td.getBoundingClientRect().width > 0,
          };
        }),
      })),
    };
  }
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// The browser, or `None` when this machine may skip the test.
fn browser_or_skip() -> Option<PathBuf> {
    match chromium() {
        Some(path) => Some(path),
        None if std::env::var_os("STRATA_REQUIRE_CHROMIUM").is_some() => {
            panic!("STRATA_REQUIRE_CHROMIUM is set but chromium is not installed (apt-get install chromium)")
        }
        None => {
            eprintln!("skipped: chromium is not installed (STRATA_REQUIRE_CHROMIUM unset)");
            None
        }
    }
}

/// Renders `record`, opens it in headless Chromium and returns what the
/// probe read from the DOM.
fn probe(browser: &Path, record: &RunRecord) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let page = html::render(record);
    let page = page.replace("</body>", &format!("{PROBE}\n</body>"));
    let file = dir.path().join("report.html");
    std::fs::write(&file, page).unwrap();
    let profile = dir.path().join("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Never hang: the browser gets two minutes.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = dom
        .find(r#"<pre id="probe">"#)
        .unwrap_or_else(|| panic!("the probe did not run; the DOM was:\n{dom}"))
        + r#"<pre id="probe">"#.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn the_report_opens_with_the_matrix_and_its_cells_lead_to_their_images() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dom = probe(&browser, &record());
    let order = strs(&dom["order"]);
    let matrix = order.iter().position(|e| *e == "section.matrix").unwrap();
    let tiles = order.iter().position(|e| *e == "section.tiles").unwrap();
    assert!(matrix < tiles, "the grid comes first: {order:?}");

    let grid = &dom["grid"];
    let heads: Vec<&str> = grid["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert_eq!(heads, ["Version", "bookworm", "alpine", "alpine · dev"]);
    let rows = grid["rows"].as_array().unwrap();
    let versions: Vec<&str> = rows
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["22.11.0", "20.18.0"], "newest first");

    let top = rows[0]["cells"].as_array().unwrap();
    // Passed: links to its section, lists its tag and both aliases.
    assert_eq!(top[0]["state"], "passed");
    assert_eq!(top[0]["word"], "passed");
    assert_eq!(top[0]["target"], BOOKWORM);
    assert_eq!(top[0]["targetIsDetails"], true);
    assert_eq!(
        strs(&top[0]["tags"]),
        ["node:22-bookworm", "node:22", "node:lts"]
    );
    // Failed: names the failing step and why.
    assert_eq!(top[1]["state"], "failed");
    assert_eq!(top[1]["target"], ALPINE);
    let detail = top[1]["detail"].as_str().unwrap();
    assert!(detail.starts_with("test 1 (tests/node): "), "{detail}");
    assert!(detail.contains("process.exit(3)"), "{detail}");
    // Skipped: says why.
    assert_eq!(top[2]["state"], "skipped");
    assert_eq!(top[2]["target"], ALPINE_DEV);
    assert!(top[2]["detail"].as_str().unwrap().contains(SKIP_REASON));
    // 20.18.0 has no alpine images: empty cells.
    let second = rows[1]["cells"].as_array().unwrap();
    assert_eq!(second[0]["target"], NODE20);
    assert_eq!(second[1]["state"], "none");
    assert_eq!(second[2]["state"], "none");

    // Colour tells passed, failed and skipped apart.
    let bg = |c: &Value| c["background"].as_str().unwrap().to_string();
    let colours = [bg(&top[0]), bg(&top[1]), bg(&top[2])];
    for c in &colours {
        assert_ne!(c, "rgba(0, 0, 0, 0)", "every cell is coloured: {colours:?}");
    }
    assert_ne!(colours[0], colours[1]);
    assert_ne!(colours[0], colours[2]);
    assert_ne!(colours[1], colours[2]);
}

#[test]
fn platforms_are_columns_and_up_to_date_is_its_own_colour() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dom = probe(&browser, &platform_matrix_record());
    let grid = &dom["grid"];
    let heads: Vec<(&str, i64)> = grid["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["text"].as_str().unwrap(), h["span"].as_i64().unwrap()))
        .collect();
    assert_eq!(heads, [("Version", 1), ("bookworm", 2), ("bullseye", 1)]);
    assert_eq!(
        strs(&grid["platforms"]),
        ["linux/amd64", "linux/arm64", "–"]
    );

    let rows = grid["rows"].as_array().unwrap();
    let top = rows[0]["cells"].as_array().unwrap();
    let second = rows[1]["cells"].as_array().unwrap();
    // Each cell sits under its platform's heading.
    let lefts: Vec<i64> = grid["columnLefts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    for row in [top, second] {
        let cells: Vec<i64> = row.iter().map(|c| c["left"].as_i64().unwrap()).collect();
        assert_eq!(cells, lefts, "cells line up with their columns");
        assert!(row.iter().all(|c| c["visible"] == true));
    }

    assert_eq!(top[0]["state"], "passed");
    assert_eq!(top[0]["target"], unit(PLATFORM_IMAGE, "linux/amd64"));
    assert_eq!(top[1]["state"], "failed");
    assert_eq!(top[1]["target"], unit(PLATFORM_IMAGE, "linux/arm64"));
    assert!(top[1]["detail"]
        .as_str()
        .unwrap()
        .starts_with("test 1 (tests/node): RUN node -e"));
    // Its alias was withheld: the image carries only its own tag.
    assert_eq!(strs(&top[1]["tags"]), ["bookworm:22.11.0"]);
    assert_eq!(top[2]["state"], "passed");

    for c in &second[..2] {
        assert_eq!(c["state"], "up-to-date");
        assert_eq!(c["word"], "up to date");
        assert_eq!(
            strs(&c["tags"]),
            ["bookworm:20.18.0", "bookworm:20", "node:lts"]
        );
    }
    assert_eq!(second[2]["state"], "skipped");

    let bg = |c: &Value| c["background"].as_str().unwrap().to_string();
    assert_ne!(bg(&second[0]), bg(&top[0]), "up to date is not 'built now'");
    assert_ne!(bg(&second[0]), bg(&top[1]));
    assert_ne!(bg(&second[0]), bg(&second[2]));
    assert_eq!(bg(&second[0]), bg(&second[1]));
}

#[test]
fn a_run_outside_a_matrix_has_no_grid() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let mut record = record();
    record.matrix.clear();
    let dom = probe(&browser, &record);
    assert_eq!(dom["grid"], Value::Null);
    assert!(!strs(&dom["order"]).contains(&"section.matrix"));
}
