//! The documentation: the guide's reference parts that come from the code
//! are kept equal to it, so they cannot drift; every relative link and
//! `#anchor` of the README and the guide resolves; every Markdown table row
//! is one row of its table; troubleshooting quotes messages the code prints.
//!
//! After an intended change, `STRATA_UPDATE_DOCS=1 cargo test --test docs`
//! rewrites the generated parts; review the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The guide's chapters (`docs/src`).
fn guide() -> PathBuf {
    root().join("docs/src")
}

/// Checks (or, with `STRATA_UPDATE_DOCS=1`, rewrites) the text of `file`
/// between `<!-- strata:NAME:start -->` and `<!-- strata:NAME:end -->`.
fn generated_part(file: &Path, name: &str, expected: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let start = format!("<!-- strata:{name}:start -->\n");
    let end = format!("<!-- strata:{name}:end -->");
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("{}: no {start}", relative(file)))
        + start.len();
    let to = from
        + text[from..]
            .find(&end)
            .unwrap_or_else(|| panic!("{}: no {end}", relative(file)));
    if std::env::var_os("STRATA_UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &text[..from], &text[to..]);
        std::fs::write(file, updated).unwrap();
        return;
    }
    assert!(
        text[from..to] == *expected,
        "{}'s {name} part differs from the code; rewrite it with \
         `STRATA_UPDATE_DOCS=1 cargo test --test docs`\n--- docs\n{}\n--- code\n{expected}",
        relative(file),
        &text[from..to]
    );
}

#[test]
fn the_fact_reference_is_the_code_s() {
    generated_part(
        &guide().join("config/facts.md"),
        "facts",
        &strata::feed::facts::reference_table(),
    );
}

/// Every fact name the guide uses in backticks in its table rows is one the
/// code offers, and each documented fact is named exactly once.
#[test]
fn the_fact_table_names_each_fact_once() {
    let table = strata::feed::facts::reference_table();
    for fact in strata::feed::facts::FACTS {
        let row = format!("| `{}` |", fact.name);
        assert_eq!(table.matches(&row).count(), 1, "{}", fact.name);
    }
    assert_eq!(
        table.lines().count(),
        strata::feed::facts::FACTS.len() + 2,
        "{table}"
    );
}

#[test]
fn the_exit_codes_are_the_code_s() {
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in strata::error::EXIT_CODES {
        table.push_str(&format!("| {code} | {meaning} |\n"));
    }
    generated_part(&guide().join("running/exit-codes.md"), "exit-codes", &table);
}

/// The command line as the guide shows it: clap's own long help, with the
/// values of environment variables never shown (they are the reader's,
/// not the program's) and the default of `-j` (this machine's CPUs) left
/// to its description, at a fixed width.
fn help(path: &[&str]) -> String {
    fn for_docs(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd.term_width(80).mut_args(|arg| {
            let arg = arg.hide_env_values(true);
            if arg.get_id() == "jobs" {
                arg.hide_default_value(true)
            } else {
                arg
            }
        });
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|sub| sub.get_name().to_string())
            .collect();
        for name in names {
            cmd = cmd.mut_subcommand(name, for_docs);
        }
        cmd
    }
    let mut cmd = for_docs(strata::cli::Cli::command());
    cmd.build();
    let mut at = &mut cmd;
    for name in path {
        at = at
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
    }
    let text = at.render_long_help().to_string();
    let text: Vec<&str> = text.lines().map(str::trim_end).collect();
    format!("```text\n{}\n```\n", text.join("\n").trim_end())
}

/// Every command's `--help`, in its chapter (the top-level one in the
/// commands overview).
#[test]
fn each_command_s_help_is_the_code_s() {
    let chapters = guide().join("commands");
    generated_part(&chapters.join("index.md"), "help-strata", &help(&[]));
    let mut documented = BTreeSet::new();
    for (chapter, path) in [
        ("test", &["test"][..]),
        ("push", &["push"]),
        ("plan", &["plan"]),
        ("generate", &["generate"]),
        ("import", &["import"]),
        ("catalog", &["catalog"]),
        ("init", &["init"]),
        ("schema", &["schema"]),
        ("completions", &["completions"]),
        ("man", &["man"]),
        ("key", &["key"]),
        ("key", &["key", "generate"]),
        ("pins", &["pins"]),
        ("pins", &["pins", "update"]),
        ("verify", &["verify"]),
        ("publish", &["publish"]),
        ("ci", &["ci"]),
        ("ci", &["ci", "github"]),
    ] {
        let name = format!("help-{}", path.join("-"));
        generated_part(&chapters.join(format!("{chapter}.md")), &name, &help(path));
        documented.insert(path[0]);
    }
    // A new command gets a chapter too.
    for sub in strata::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        if name != "help" {
            assert!(
                documented.contains(name),
                "no chapter shows `strata {name} --help`"
            );
        }
    }
}

/// Every Markdown file the checks read: the README, ARCHITECTURE.md, the
/// examples' READMEs and the guide's chapters.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "md") {
                into.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    for example in ["node", "bun"] {
        files.push(root().join("examples").join(example).join("README.md"));
    }
    walk(&guide(), &mut files);
    files
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// A heading's anchor as mdBook makes it (and GitHub, for the README):
/// letters, digits, `_` and `-` kept in lower case, white space made `-`,
/// the rest dropped; a repeated one gets `-1`, `-2`, ….
fn anchor(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// A heading of a page.
struct Heading {
    level: HeadingLevel,
    /// An id written in the heading (`{#id}`), if any.
    id: Option<String>,
    text: String,
    /// Its inline code spans.
    code: Vec<String>,
    line: usize,
}

/// What one Markdown file holds for the checks.
#[derive(Default)]
struct Page {
    anchors: BTreeSet<String>,
    /// Link targets with their line.
    links: Vec<(String, usize)>,
    headings: Vec<Heading>,
    /// Byte ranges of tables.
    tables: Vec<std::ops::Range<usize>>,
}

fn read_page(text: &str) -> Page {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut page = Page::default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut heading: Option<Heading> = None;
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                heading = Some(Heading {
                    level,
                    id: id.map(|id| id.to_string()),
                    text: String::new(),
                    code: Vec::new(),
                    line: line_of(range.start),
                });
            }
            Event::End(TagEnd::Heading(_)) => {
                let mut h = heading.take().unwrap();
                let id = h.id.take().unwrap_or_else(|| {
                    let base = anchor(&h.text);
                    let n = seen.entry(base.clone()).or_insert(0);
                    *n += 1;
                    if *n == 1 {
                        base
                    } else {
                        format!("{base}-{}", *n - 1)
                    }
                });
                page.anchors.insert(id);
                page.headings.push(h);
            }
            Event::Text(t) => {
                if let Some(h) = heading.as_mut() {
                    h.text.push_str(&t);
                }
            }
            Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.text.push_str(&t);
                    h.code.push(t.to_string());
                }
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => {
                page.links
                    .push((dest_url.to_string(), line_of(range.start)));
            }
            Event::Start(Tag::Table(_)) => page.tables.push(range),
            _ => {}
        }
    }
    page
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every relative link of the README, ARCHITECTURE.md and the guide leads to
/// a file that exists, and every `#anchor` to a heading of its page. Links
/// with a scheme (`https:`) are not fetched.
#[test]
fn every_relative_link_and_anchor_resolves() {
    let files = markdown_files();
    let pages: BTreeMap<PathBuf, Page> = files
        .iter()
        .map(|f| (f.clone(), read_page(&std::fs::read_to_string(f).unwrap())))
        .collect();
    let mut broken = Vec::new();
    let mut checked = 0;
    for (file, page) in &pages {
        for (link, line) in &page.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = match link.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else if path.starts_with('/') {
                broken.push(format!("{}:{line}: `{link}` is absolute", relative(file)));
                continue;
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(target) = target.canonicalize() else {
                broken.push(format!("{}:{line}: `{link}`: no such file", relative(file)));
                continue;
            };
            if !target.starts_with(root().canonicalize().unwrap()) {
                broken.push(format!(
                    "{}:{line}: `{link}` leads out of the repository",
                    relative(file)
                ));
                continue;
            }
            // mdBook publishes `docs/src` only: a chapter's link out of it
            // would be dead in the built guide.
            if file.starts_with(guide()) && !target.starts_with(guide().canonicalize().unwrap()) {
                broken.push(format!(
                    "{}:{line}: `{link}` leads out of the guide (name the file in code instead)",
                    relative(file)
                ));
                continue;
            }
            if let Some(fragment) = fragment {
                let anchors = pages
                    .iter()
                    .find(|(f, _)| f.canonicalize().ok().as_ref() == Some(&target))
                    .map(|(_, p)| &p.anchors);
                match anchors {
                    Some(anchors) if anchors.contains(fragment) => {}
                    Some(_) => broken.push(format!(
                        "{}:{line}: `{link}`: {} has no heading `#{fragment}`",
                        relative(file),
                        relative(&target)
                    )),
                    None => broken.push(format!(
                        "{}:{line}: `{link}`: an anchor into a file that is not checked",
                        relative(file)
                    )),
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 50, "only {checked} links checked");
}

/// The link checker itself: a missing file, a missing anchor and a link out
/// of the tree are found; a good link and an anchor made from a heading
/// with code and punctuation are not.
#[test]
fn the_link_checker_reads_anchors_as_mdbook_makes_them() {
    let page = read_page(
        "# strata\n\n## Following upstream: `--pull always|missing|never`\n\n## Usage\n\n## Usage\n\n\
         [a](other.md#usage-1) ![b](pic.png)\n",
    );
    let want = [
        "strata",
        "following-upstream---pull-alwaysmissingnever",
        "usage",
        "usage-1",
    ];
    assert_eq!(page.anchors, want.iter().map(|s| s.to_string()).collect());
    let links: Vec<&str> = page.links.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(links, ["other.md#usage-1", "pic.png"]);
}

/// Every chapter file is in `SUMMARY.md` (mdBook builds only those), and
/// every `SUMMARY.md` entry exists.
#[test]
fn every_chapter_is_in_the_summary() {
    let summary = guide().join("SUMMARY.md");
    let page = read_page(&std::fs::read_to_string(&summary).unwrap());
    let listed: BTreeSet<PathBuf> = page.links.iter().map(|(l, _)| guide().join(l)).collect();
    for file in markdown_files() {
        if file.starts_with(guide()) && file != summary {
            assert!(
                listed.contains(&file),
                "{} is not in SUMMARY.md",
                relative(&file)
            );
        }
    }
    for file in &listed {
        assert!(
            file.is_file(),
            "SUMMARY.md lists {}, which does not exist",
            relative(file)
        );
    }
}

/// The number of cell separators of a table line: `|` not escaped.
fn pipes(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
    }
    count
}

/// Problems of one file's tables: a line that is not one row of its table
/// (text after its last `|`, a stray `|` inside a cell, a cell short).
fn table_problems(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for range in read_page(text).tables {
        let first = text[..range.start].matches('\n').count() + 1;
        let lines: Vec<&str> = text[range].lines().collect();
        let columns = pipes(lines[0]);
        for (n, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if !line.starts_with('|') || !line.ends_with('|') || pipes(line) != columns {
                problems.push(format!(
                    "{name}:{}: not one row of {} cells: escape a `|` inside a cell as `\\|`, \
                     and end the row with `|`",
                    first + n,
                    columns.saturating_sub(1)
                ));
            }
        }
    }
    problems
}

#[test]
fn every_table_row_is_one_row() {
    let mut problems = Vec::new();
    for file in markdown_files() {
        problems.extend(table_problems(
            &relative(&file),
            &std::fs::read_to_string(&file).unwrap(),
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_table_check_finds_a_broken_row() {
    let good = "| a | b |\n|---|---|\n| `x\\|y` | z |\n";
    assert!(table_problems("t", good).is_empty());
    let trailing = "| a | b |\n|---|---|\n| x | y |; and more\n";
    assert_eq!(table_problems("t", trailing).len(), 1);
    let stray = "| a | b |\n|---|---|\n| `x|y` | z |\n";
    assert_eq!(table_problems("t", stray), ["t:3: not one row of 2 cells: escape a `|` inside a cell as `\\|`, and end the row with `|`"]);
}

/// Each troubleshooting heading quotes (in code) words strata prints: the
/// text is in the source, so a reworded message fails here, not in a
/// reader's search.
#[test]
fn troubleshooting_quotes_the_code_s_messages() {
    fn sources(dir: &Path, into: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut code = String::new();
    sources(&root().join("src"), &mut code);
    let page = read_page(&std::fs::read_to_string(guide().join("troubleshooting.md")).unwrap());
    let mut quoted = 0;
    for Heading {
        level,
        text,
        code: spans,
        line,
        ..
    } in &page.headings
    {
        if *level != HeadingLevel::H3 || spans.is_empty() {
            continue;
        }
        for span in spans {
            quoted += 1;
            assert!(
                code.contains(span.as_str()),
                "troubleshooting.md:{line}: `{span}` (in \"{text}\") is not a message in src/"
            );
        }
    }
    assert!(quoted >= 15, "only {quoted} messages quoted");
}

/// The README is a front page: short, with the two commands that work on a
/// fresh machine and the tour's five steps; the rest is in the guide.
#[test]
fn the_readme_is_a_front_page() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move detail into docs/src"
    );
    for command in ["bash scripts/example.sh\n", "bash scripts/test.sh\n"] {
        assert!(
            text.contains(command),
            "README.md lost `{}`",
            command.trim()
        );
    }
    for step in [
        "strata init",
        "strata plan",
        "strata test",
        "strata push",
        "strata verify",
    ] {
        assert!(text.contains(step), "the tour lost `{step}`");
    }
    for script in ["scripts/example.sh", "scripts/test.sh"] {
        assert!(root().join(script).is_file(), "{script}");
    }
}
