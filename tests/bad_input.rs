//! Bad input is reported before anything runs: exit code 2, and a message
//! naming the file, the line and column, and what is wrong.
//!
//! Every case is checked twice: through the library (`load::plan` and
//! `error::render`, what the command line prints) and through the `strata`
//! binary. Each fixture is written into a fresh temporary folder, and every
//! test also checks that nothing was written into it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use strata::error::{render_with, EXIT_INPUT};
use strata::load::{self, LoadOptions};

/// A fixture: a folder with an inventory and the files it names.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `text` to `rel`, creating folders.
    fn file(self, rel: &str, text: &str) -> Self {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// An image folder with a plain Dockerfile.
    fn image(self, rel: &str) -> Self {
        self.file(&format!("{rel}/Dockerfile"), "FROM base\nRUN true\n")
    }

    /// A test folder with a Dockerfile without `FROM`.
    fn test(self, rel: &str) -> Self {
        self.file(&format!("{rel}/Dockerfile"), "RUN true\n")
    }

    fn dir(self, rel: &str) -> Self {
        std::fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    /// Every file and folder under the fixture, to prove nothing is created.
    fn listing(&self) -> BTreeSet<PathBuf> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf());
                if path.is_dir() {
                    walk(&path, root, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
}

/// `line:column` (1-based) of the first occurrence of `needle` in `text`,
/// or of occurrence number `nth` (0-based).
fn loc(text: &str, needle: &str, nth: usize) -> String {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} not in fixture"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map(|i| i + 1).unwrap_or(0)..]
        .chars()
        .count()
        + 1;
    format!("{line}:{col}")
}

/// What a case expects on stderr.
struct Expect<'a> {
    /// `FILE:LINE:COL` strings (or just a file when there is no line).
    places: Vec<String>,
    /// `(LINE:COL)` of second places in the same file, such as the first of
    /// two duplicate names.
    also: Vec<String>,
    /// Phrases the message must contain.
    phrases: Vec<&'a str>,
}

fn check_text(out: &str, expect: &Expect) {
    for place in &expect.places {
        assert!(
            out.contains(place.as_str()),
            "expected `{place}` in:\n{out}"
        );
    }
    for place in &expect.also {
        assert!(
            out.contains(place.as_str()),
            "expected `{place}` in:\n{out}"
        );
    }
    for phrase in &expect.phrases {
        assert!(out.contains(phrase), "expected `{phrase}` in:\n{out}");
    }
}

/// Checks the case through the library: `load` fails, and the rendered error
/// names the places and phrases.
fn check_lib(fixture: &Fixture, file: &Path, expect: &Expect) {
    let before = fixture.listing();
    let result = load::plan(file, &LoadOptions::default());
    let err = match result {
        Ok(plan) => panic!(
            "expected an error, got a plan of {} images",
            plan.images.len()
        ),
        Err(e) => e,
    };
    check_text(&render_with(&err, false), expect);
    assert_eq!(
        fixture.listing(),
        before,
        "loading must not write into the fixture"
    );
}

/// Checks the case through the binary with `args` (`-f FILE` is appended).
fn check_cli(fixture: &Fixture, file: &Path, args: &[&str], expect: &Expect) {
    let before = fixture.listing();
    let output = Command::cargo_bin("strata")
        .expect("the strata binary")
        .args(args)
        .arg("-f")
        .arg(file)
        .current_dir(fixture.dir.path())
        // Nothing may hang (a FIFO read would): a hang fails the case.
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run strata");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(EXIT_INPUT),
        "bad input must exit with {EXIT_INPUT}; stderr:\n{stderr}"
    );
    check_text(&stderr, expect);
    assert_eq!(
        fixture.listing(),
        before,
        "a refused run must not write into the fixture (no .strata)"
    );
}

/// A case: a fixture, the file to load, what stderr must say.
struct Case<'a> {
    fixture: Fixture,
    file: PathBuf,
    expect: Expect<'a>,
}

/// The inventory at `inventory.yml`, with places given as needles in it:
/// (needle, occurrence) pairs turned into `FILE:LINE:COL`.
fn inventory_case<'a>(
    fixture: Fixture,
    text: &str,
    at: &[(&str, usize)],
    phrases: Vec<&'a str>,
) -> Case<'a> {
    let fixture = fixture.file("inventory.yml", text);
    let file = fixture.path("inventory.yml");
    let places = at
        .iter()
        .map(|(needle, nth)| format!("{}:{}", file.display(), loc(text, needle, *nth)))
        .collect();
    Case {
        fixture,
        file,
        expect: Expect {
            places,
            also: Vec::new(),
            phrases,
        },
    }
}

/// Like [`inventory_case`] for problems with a second place: `at` is the
/// problem's place, `also` the other one, shown as `(LINE:COL)`.
fn inventory_case_also<'a>(
    fixture: Fixture,
    text: &str,
    at: (&str, usize),
    also: (&str, usize),
    phrases: Vec<&'a str>,
) -> Case<'a> {
    let mut case = inventory_case(fixture, text, &[at], phrases);
    case.expect.also = vec![format!("({})", loc(text, also.0, also.1))];
    case
}

// ---- the cases -------------------------------------------------------------

fn missing_inventory() -> Case<'static> {
    let fixture = Fixture::new();
    let file = fixture.path("inventory.yml");
    Case {
        expect: Expect {
            places: vec![file.display().to_string()],
            also: Vec::new(),
            phrases: vec!["not found"],
        },
        fixture,
        file,
    }
}

fn inventory_is_a_folder() -> Case<'static> {
    let fixture = Fixture::new().dir("inventory.yml");
    let file = fixture.path("inventory.yml");
    Case {
        expect: Expect {
            places: vec![file.display().to_string()],
            also: Vec::new(),
            phrases: vec!["is a folder"],
        },
        fixture,
        file,
    }
}

fn inventory_not_text() -> Case<'static> {
    let fixture = Fixture::new();
    let file = fixture.path("inventory.yml");
    std::fs::write(&file, b"images:\n  - name: \xff\xfe\n").unwrap();
    Case {
        expect: Expect {
            places: vec![file.display().to_string()],
            also: Vec::new(),
            phrases: vec!["is not UTF-8 text"],
        },
        fixture,
        file,
    }
}

fn malformed_yaml() -> Case<'static> {
    let text = "images:\n  - name: \"acme/a:1\n    path: a\n";
    inventory_case(
        Fixture::new(),
        text,
        &[("\"acme", 0)],
        vec!["invalid YAML", "unclosed quote"],
    )
}

fn unknown_key() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    aliases: [acme/a:latest]\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("aliases", 0)],
        vec!["unknown key `aliases`", "did you mean `alias`?"],
    )
}

fn missing_key() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    test: t\n";
    inventory_case(
        Fixture::new().test("t"),
        text,
        &[("name", 0)],
        vec!["image has no `path`"],
    )
}

fn path_missing() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: ./nowhere\n";
    inventory_case(
        Fixture::new(),
        text,
        &[("./nowhere", 0)],
        vec!["image folder", "does not exist"],
    )
}

fn path_without_dockerfile() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n";
    inventory_case(
        Fixture::new().dir("a"),
        text,
        &[("a\n", 0)],
        vec!["has no Dockerfile"],
    )
}

fn test_missing() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: [t, gone]\n";
    inventory_case(
        Fixture::new().image("a").test("t"),
        text,
        &[("gone", 0)],
        vec!["test folder", "does not exist"],
    )
}

fn test_without_dockerfile() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    inventory_case(
        Fixture::new().image("a").dir("t"),
        text,
        &[("t\n", 0)],
        vec!["test folder", "has no Dockerfile or run.yml"],
    )
}

fn test_with_from() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let dockerfile = "# checks node\nRUN node --version\nFROM acme/a:1\n";
    let fixture = Fixture::new().image("a").file("t/Dockerfile", dockerfile);
    let mut case = inventory_case(
        fixture,
        text,
        &[],
        vec!["has a FROM line", "remove the FROM line"],
    );
    let test_file = case.fixture.path("t/Dockerfile");
    case.expect.places = vec![format!("{}:3:1", test_file.display())];
    case
}

/// `# escape=` with a line ending in the escape character: a reader that keeps
/// the directive while the engine loses it (behind the `FROM` strata adds)
/// would see no `FROM`. The directive stays in front, so both see one.
fn test_with_from_after_escape_directive() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let dockerfile = "# escape=`\nRUN echo hi `\nFROM acme/other:1\n";
    let fixture = Fixture::new().image("a").file("t/Dockerfile", dockerfile);
    let mut case = inventory_case(fixture, text, &[], vec!["has a FROM line"]);
    let test_file = case.fixture.path("t/Dockerfile");
    case.expect.places = vec![format!("{}:3:1", test_file.display())];
    case
}

/// `FR\` + newline + `OM other`: the engine joins the parts as they are.
fn test_with_from_split_by_a_continuation() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let dockerfile = "RUN true\nFR\\\nOM acme/other:1\nRUN true\n";
    let fixture = Fixture::new().image("a").file("t/Dockerfile", dockerfile);
    let mut case = inventory_case(
        fixture,
        text,
        &[],
        vec!["has a FROM line", "FROM acme/other:1"],
    );
    let test_file = case.fixture.path("t/Dockerfile");
    case.expect.places = vec![format!("{}:2:1", test_file.display())];
    case
}

/// A `FROM` in a heredoc body is an instruction for the classic builder.
fn test_with_from_in_a_heredoc() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let dockerfile = "RUN <<EOF\necho hi\nFROM acme/other:1\nEOF\n";
    let fixture = Fixture::new().image("a").file("t/Dockerfile", dockerfile);
    let mut case = inventory_case(fixture, text, &[], vec!["has a FROM line"]);
    let test_file = case.fixture.path("t/Dockerfile");
    case.expect.places = vec![format!("{}:3:1", test_file.display())];
    case
}

/// A `docker login` config outside the config's folder: what a hostile
/// `run.yml` symlink would quote in its error snippet.
const OUTSIDE_SECRET: &str = "{\"auths\": {\"r\": {\"auth\": \"c3RyYXRhOmh1bnRlcjI=\"}}}\n";

/// A fixture whose inventory lives in `cfg/`, the config's tree, with a file
/// beside that tree.
fn nested_case(fixture: Fixture, problem_file: &str, phrases: Vec<&'static str>) -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let fixture = fixture
        .file("outside/config.json", OUTSIDE_SECRET)
        .image("cfg/a")
        .file("cfg/inventory.yml", text);
    let file = fixture.path("cfg/inventory.yml");
    Case {
        expect: Expect {
            places: vec![fixture.path(problem_file).display().to_string()],
            also: Vec::new(),
            phrases,
        },
        fixture,
        file,
    }
}

fn symlink(fixture: &Fixture, target: &str, link: &str) {
    let link = fixture.path(link);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(fixture.path(target), link).unwrap();
}

fn mkfifo(fixture: &Fixture, rel: &str) {
    let path = fixture.path(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

fn run_yml_links_outside_the_tree() -> Case<'static> {
    let case = nested_case(
        Fixture::new(),
        "cfg/t/run.yml",
        vec!["leads outside the config's folder"],
    );
    symlink(&case.fixture, "outside/config.json", "cfg/t/run.yml");
    case
}

fn dockerfile_links_outside_the_tree() -> Case<'static> {
    let case = nested_case(
        Fixture::new(),
        "cfg/t/Dockerfile",
        vec!["leads outside the config's folder"],
    );
    symlink(&case.fixture, "outside/config.json", "cfg/t/Dockerfile");
    case
}

fn run_yml_is_a_fifo() -> Case<'static> {
    let case = nested_case(
        Fixture::new(),
        "cfg/t/run.yml",
        vec!["is not a regular file (it is a FIFO)"],
    );
    mkfifo(&case.fixture, "cfg/t/run.yml");
    case
}

fn inventory_is_a_fifo() -> Case<'static> {
    let fixture = Fixture::new();
    mkfifo(&fixture, "inventory.yml");
    let file = fixture.path("inventory.yml");
    Case {
        expect: Expect {
            places: vec![file.display().to_string()],
            also: Vec::new(),
            phrases: vec!["is not a regular file (it is a FIFO)"],
        },
        fixture,
        file,
    }
}

fn config_is_a_device() -> Case<'static> {
    Case {
        expect: Expect {
            places: vec!["/dev/zero".into()],
            also: Vec::new(),
            phrases: vec!["(it is a device)"],
        },
        fixture: Fixture::new(),
        file: PathBuf::from("/dev/zero"),
    }
}

fn inventory_too_large() -> Case<'static> {
    let mut text = String::from("images:\n");
    while text.len() <= 4 * 1024 * 1024 {
        text.push_str("  - name: acme/a:1\n    path: a\n");
    }
    let mut case = inventory_case(
        Fixture::new().image("a"),
        &text,
        &[],
        vec!["at most 4194304 are read"],
    );
    case.expect.places = vec![case.file.display().to_string()];
    case
}

/// A test folder's `run.yml` is checked with the inventory: a problem in it
/// is named by its own file, line and column.
fn run_yml_case(run_yml: &str, needle: &str, phrases: Vec<&'static str>) -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    test: t\n";
    let fixture = Fixture::new().image("a").file("t/run.yml", run_yml);
    let mut case = inventory_case(fixture, text, &[], phrases);
    let file = case.fixture.path("t/run.yml");
    case.expect.places = vec![format!("{}:{}", file.display(), loc(run_yml, needle, 0))];
    case
}

fn run_yml_malformed() -> Case<'static> {
    run_yml_case(
        "command: [node, --version\nexpect:\n  exit: 0\n",
        ":\n  exit",
        vec!["run.yml:2:7: invalid YAML"],
    )
}

fn run_yml_unknown_key() -> Case<'static> {
    run_yml_case(
        "command: [node, --version]\nexpect:\n  stdot: \"v22\\n\"\n",
        "stdot",
        vec!["unknown field `stdot`", "did you mean `stdout`?"],
    )
}

fn empty_name() -> Case<'static> {
    let text = "images:\n  - name: \"\"\n    path: a\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("\"\"", 0)],
        vec!["image name is empty"],
    )
}

fn duplicate_names() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n  - name: acme/a:1\n    path: b\n";
    inventory_case_also(
        Fixture::new().image("a").image("b"),
        text,
        ("acme/a:1", 1),
        ("acme/a:1", 0),
        vec![
            "two images are named `acme/a:1`",
            "first image with this name",
        ],
    )
}

fn alias_is_another_name() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    alias: acme/b:1\n  - name: acme/b:1\n    path: b\n";
    inventory_case_also(
        Fixture::new().image("a").image("b"),
        text,
        ("acme/b:1", 0),
        ("acme/b:1", 1),
        vec!["alias `acme/b:1` is the name of another image"],
    )
}

fn alias_is_its_own_name() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    alias: docker.io/acme/a:1\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("docker.io/acme/a:1", 0)],
        vec!["is the image's own name"],
    )
}

fn alias_claimed_twice() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    alias: [acme/x:latest]\n  - name: acme/b:1\n    path: b\n    alias: acme/x:latest\n";
    inventory_case_also(
        Fixture::new().image("a").image("b"),
        text,
        ("acme/x:latest", 1),
        ("acme/x:latest", 0),
        vec!["alias `acme/x:latest` is claimed by two images"],
    )
}

fn invalid_name() -> Case<'static> {
    let text = "images:\n  - name: Acme/App:1\n    path: a\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("Acme", 0)],
        vec![
            "not a valid image reference",
            "repository name must be lowercase",
        ],
    )
}

fn invalid_alias_tag() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    alias: \"acme/a:-bad\"\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("\"acme/a:-bad\"", 0)],
        vec![
            "alias `acme/a:-bad` is not a valid image reference",
            "tag `-bad`",
        ],
    )
}

fn unknown_platform() -> Case<'static> {
    let text =
        "images:\n  - name: acme/a:1\n    path: a\n    platforms: [linux/amd64, linux/x86_64]\n";
    inventory_case(
        Fixture::new().image("a"),
        text,
        &[("linux/x86_64", 0)],
        vec!["unknown architecture `x86_64`", "linux/arm64"],
    )
}

fn child_on_more_platforms_than_its_parent() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n    platforms: [linux/amd64]\n  - name: acme/b:1\n    path: b\n    platforms: [linux/amd64, linux/arm64]\n";
    let fixture = Fixture::new()
        .image("a")
        .file("b/Dockerfile", "FROM acme/a:1\nRUN true\n");
    inventory_case(
        fixture,
        text,
        &[("linux/amd64, linux/arm64", 0)],
        vec!["acme/b:1 is built from acme/a:1, which is not built for linux/arm64"],
    )
}

fn from_cycle() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: a\n  - name: acme/b:1\n    path: b\n";
    let fixture = Fixture::new().file("a/Dockerfile", "FROM acme/b:1\n").file(
        "b/Dockerfile",
        "FROM --platform=linux/amd64 acme/a:1 AS base\nRUN true\n",
    );
    inventory_case_also(
        fixture,
        text,
        ("acme/a:1", 0),
        ("acme/b:1", 0),
        vec!["cycle", "`acme/a:1` FROM `acme/b:1` FROM `acme/a:1`"],
    )
}

fn many_problems() -> Case<'static> {
    let text = "images:\n  - name: acme/a:1\n    path: nowhere\n  - name: acme/b:1\n    path: b\n    tset: t\n  - name: acme/c:1\n";
    inventory_case(
        Fixture::new().image("b"),
        text,
        &[("tset", 0), ("name: acme/c", 0)],
        vec![
            "unknown key `tset`",
            "did you mean `test`?",
            "image has no `path`",
        ],
    )
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// Through the library, so the checks stand on their own.
        mod lib {
            $(
                #[test]
                fn $case() {
                    let case = super::$case();
                    super::check_lib(&case.fixture, &case.file, &case.expect);
                }
            )*
        }
        /// Through the binary: `strata test --dry-run -f FILE` exits 2.
        mod cli {
            $(
                #[test]
                fn $case() {
                    let case = super::$case();
                    super::check_cli(&case.fixture, &case.file, &["test", "--dry-run"], &case.expect);
                }
            )*
        }
    };
}

cases!(
    missing_inventory,
    inventory_is_a_folder,
    inventory_not_text,
    malformed_yaml,
    unknown_key,
    missing_key,
    path_missing,
    path_without_dockerfile,
    test_missing,
    test_without_dockerfile,
    test_with_from,
    test_with_from_after_escape_directive,
    test_with_from_split_by_a_continuation,
    test_with_from_in_a_heredoc,
    alias_is_its_own_name,
    run_yml_links_outside_the_tree,
    dockerfile_links_outside_the_tree,
    run_yml_is_a_fifo,
    inventory_is_a_fifo,
    config_is_a_device,
    inventory_too_large,
    run_yml_malformed,
    run_yml_unknown_key,
    empty_name,
    duplicate_names,
    alias_is_another_name,
    alias_claimed_twice,
    invalid_name,
    invalid_alias_tag,
    from_cycle,
    unknown_platform,
    child_on_more_platforms_than_its_parent,
    many_problems,
);

/// `push` refuses bad input the same way, before touching a registry.
#[test]
fn push_dry_run_refuses_bad_input() {
    let case = unknown_key();
    check_cli(
        &case.fixture,
        &case.file,
        &["push", "--dry-run"],
        &case.expect,
    );
}

/// The checks are not simply failing: a good inventory of the same shape loads.
#[test]
fn good_inventory_loads() {
    let text = "images:\n  - name: acme/a:1\n    path: ./a\n    test: [t]\n    alias: acme/a:latest\n  - name: acme/b:1\n    path: b\n";
    let fixture = Fixture::new()
        .file("a/Dockerfile", "FROM acme/b:1\n")
        .image("b")
        .test("t")
        .file("inventory.yml", text);
    let before = fixture.listing();
    let plan = load::plan(&fixture.path("inventory.yml"), &LoadOptions::default()).unwrap();
    let names: Vec<_> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["acme/b:1", "acme/a:1"]);
    assert_eq!(plan.images[1].base(), Some("acme/b:1"));
    assert_eq!(plan.images[1].tests[0].path, fixture.path("t"));
    assert_eq!(plan.aliases[0].tag, "acme/a:latest");
    assert_eq!(fixture.listing(), before);
}

/// A `run.yml` linked to a credentials file is refused without quoting it.
#[test]
fn a_linked_credentials_file_is_never_quoted() {
    let case = run_yml_links_outside_the_tree();
    let output = Command::cargo_bin("strata")
        .unwrap()
        .args(["test", "--dry-run", "-f"])
        .arg(&case.file)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(EXIT_INPUT));
    let all = [output.stdout, output.stderr].concat();
    let all = String::from_utf8_lossy(&all);
    assert!(all.contains("leads outside"), "{all}");
    for secret in ["c3RyYXRhOmh1bnRlcjI=", "auths", "hunter2"] {
        assert!(!all.contains(secret), "`{secret}` shown in:\n{all}");
    }
}
