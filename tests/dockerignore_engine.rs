//! strata's `.dockerignore` rules against Docker's own.
//!
//! The engine API does not filter contexts: Docker's command-line client
//! does, before it sends the tar. So the reference here is the `docker`
//! client itself (classic builder, `DOCKER_BUILDKIT=0`): for each tricky
//! folder, the same Dockerfile copies the context into an image and lists it
//! with `find`, once through `docker build`, once through strata's
//! [`DockerEngine`]; both listings must equal what strata's filter predicts.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::{Log, BUSYBOX_IMAGE};
use strata::engine::dockerignore::DockerIgnore;
use strata::engine::{context, BuildContext, BuildRequest, Dockerfile, Engine};

/// Marks the lines of `find` output among the rest of the build log.
const MARK: &str = "@@ctx ";

fn dockerfile() -> String {
    format!(
        "FROM {BUSYBOX_IMAGE}\nCOPY . /ctx\n\
         RUN cd /ctx && find . -mindepth 1 | sed 's|^\\./|{MARK}|'\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn listed(lines: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    lines
        .into_iter()
        .filter_map(|l| l.trim().strip_prefix(MARK).map(str::to_string))
        .collect()
}

/// What `COPY . /ctx` should hold according to strata's filter: the
/// context's entries and their parent folders, minus the Dockerfile and
/// `.dockerignore` when ignored (the engine drops those itself).
fn predicted(dir: &Path) -> BTreeSet<String> {
    let ctx = BuildContext {
        dir: dir.to_path_buf(),
        dockerfile: Dockerfile::Path("Dockerfile".into()),
        extra_files: Vec::new(),
    };
    let ignore =
        DockerIgnore::parse(&fs::read_to_string(dir.join(".dockerignore")).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for name in context::list(&ctx).unwrap() {
        let mut prefix = String::new();
        for part in name.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            out.insert(prefix.clone());
        }
    }
    for special in ["Dockerfile", ".dockerignore"] {
        if ignore.is_excluded(special) {
            out.remove(special);
        }
    }
    out
}

/// The listing `docker build` produces for `dir`.
fn docker_cli_listing(dir: &Path) -> BTreeSet<String> {
    let output = Command::new("docker")
        .args(["build", "--no-cache", "--rm", "."])
        .current_dir(dir)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the docker client is needed as the reference ({e}): {}",
                common::SETUP_HINT
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "docker build failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    listed(stdout.lines().map(str::to_string))
}

/// The listing a build through strata's engine produces for `dir`.
async fn strata_listing(dir: &Path) -> BTreeSet<String> {
    let engine = common::engine().await;
    let log = Log::default();
    let request = BuildRequest {
        context: BuildContext {
            dir: dir.to_path_buf(),
            dockerfile: Dockerfile::Path("Dockerfile".into()),
            extra_files: Vec::new(),
        },
        tag: None,
        build_args: BTreeMap::new(),
        labels: BTreeMap::new(),
        no_cache: false,
        timeout: None,
        platform: None,
        builder: None,
        secrets: Vec::new(),
    };
    let id = engine
        .build(request, &log.sink())
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.text()));
    let _ = engine.remove_id(&id).await;
    listed(log.lines())
}

async fn compare(dir: &Path) {
    let engine = common::engine().await;
    common::busybox_base(&engine, BUSYBOX_IMAGE).await;
    let predicted = predicted(dir);
    let docker = docker_cli_listing(dir);
    assert!(!docker.is_empty(), "docker's listing is empty");
    assert_eq!(
        predicted,
        docker,
        "strata's filter (left) differs from docker's (right) for:\n{}",
        fs::read_to_string(dir.join(".dockerignore")).unwrap()
    );
    let ours = strata_listing(dir).await;
    assert_eq!(ours, docker, "strata's build context differs from docker's");
}

/// Files that every scenario carries: names that the tricky patterns below
/// are aimed at, at the root and deeper.
fn tricky_tree(dir: &Path) {
    write(dir, "Dockerfile", &dockerfile());
    for name in [
        "README.md",
        "CHANGES.md",
        "sub/NOTES.md",
        "node_modules/a.js",
        "node_modules/keep/k.js",
        "sub/node_modules/b.js",
        "x.log",
        "deep/er/y.log",
        "keep/z/k.log",
        "abs",
        "sub/abs",
        "docs/a.txt",
        "docs/keep/b.txt",
        "docs/keep/drop.txt",
        "build/out/bin",
        "vendor/lib/vendor-keep",
        "vendor/lib/other",
        "temp1",
        "temp12",
        "sub/q/x",
        "sub/q/y",
        "a/c",
        "a/d",
        "spaced",
        "{braces}",
        "b",
        "t.tmp",
        "important.tmp",
        ".env",
        "dir.with.dots/file",
        "star*",
        "stars",
    ] {
        write(dir, name, name);
    }
    fs::create_dir_all(dir.join("emptydir")).unwrap();
    fs::create_dir_all(dir.join("ignored-empty")).unwrap();
    symlink("README.md", dir.join("link-to-readme")).unwrap();
    symlink("nowhere", dir.join("dangling-link")).unwrap();
}

#[tokio::test]
async fn many_patterns_match_docker() {
    let dir = tempfile::tempdir().unwrap();
    tricky_tree(dir.path());
    write(
        dir.path(),
        ".dockerignore",
        "# a comment, then a blank line\n\
         \n\
         *.md\n\
         !README.md\n\
         node_modules\n\
         !node_modules/keep\n\
         **/*.log\n\
         !keep/**/*.log\n\
         /abs\n\
         docs\n\
         !docs/keep\n\
         docs/keep/drop.txt\n\
         build/**\n\
         vendor\n\
         !**/vendor-keep\n\
         temp?\n\
         sub/*/x\n\
         ./a//b/../c\n\
         \x20 spaced  \n\
         {braces}\n\
         *.tmp\n\
         !important.tmp\n\
         ignored-empty\n\
         dangling-link\n\
         star\\*\n\
         dir.with.dots\n\
         \x20#not-a-comment\n",
    );
    compare(dir.path()).await;
}

#[tokio::test]
async fn ignoring_everything_keeps_dockerfile_and_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    tricky_tree(dir.path());
    write(
        dir.path(),
        ".dockerignore",
        "*\n!sub\nsub/q\n!**/*.md\n!docs/keep/b.txt\nDockerfile\n.dockerignore\n",
    );
    compare(dir.path()).await;
}

#[tokio::test]
async fn double_star_and_anchoring_match_docker() {
    let dir = tempfile::tempdir().unwrap();
    tricky_tree(dir.path());
    write(
        dir.path(),
        ".dockerignore",
        "**/node_modules\n**/q\nsub/**\n!sub/NOTES.md\n**\n!*.md\n!a/**\n!.env\n",
    );
    compare(dir.path()).await;
}

#[tokio::test]
async fn a_bang_in_a_class_is_a_character_as_for_docker() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c", "!", "xay", "xby", "x!y"] {
        write(dir.path(), name, name);
    }
    write(dir.path(), "Dockerfile", &dockerfile());
    write(dir.path(), ".dockerignore", "[!a]\nx[!b]y\n");
    compare(dir.path()).await;
}
