//! Checks an inventory against the disk: every image folder exists and holds
//! a Dockerfile; every test folder holds a Dockerfile without `FROM`, a
//! `run.yml` that parses, or both.
//!
//! Kept apart from parsing so an inventory can be read (and printed) where its
//! folders are not present. Only reads; never creates anything.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::inventory::Inventory;
use super::read;
use super::run_file::{RunTest, RUN_FILE};
use super::yaml::{Located, Source};
use crate::error::InputError;

/// The file every image folder must hold (and a test folder may).
pub const DOCKERFILE: &str = "Dockerfile";

/// What the disk holds for one image of an inventory.
#[derive(Debug, Clone)]
pub struct ImageFiles {
    /// The image folder (the build context).
    pub context: PathBuf,
    /// The text of its Dockerfile (read once, for `FROM` lines).
    pub dockerfile: String,
    /// Its test folders, in order.
    pub tests: Vec<PathBuf>,
}

/// Checks every folder the inventory names, relative to the inventory's
/// folder; reports every problem found. Returns the images' files in
/// inventory order.
pub fn check(inventory: &Inventory) -> Result<Vec<ImageFiles>, InputError> {
    let base = inventory.file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    // Dante inventories share test folders between hundreds of images: check
    // each once, and report a problem with it once.
    let mut tests_checked: HashMap<PathBuf, bool> = HashMap::new();
    let mut out = Vec::new();
    for image in &inventory.images {
        let context = resolve(base, &image.path.value);
        let dockerfile = match read_dockerfile(inventory, &image.path, &context, "image") {
            Ok(text) => text,
            Err(e) => {
                problems.push(e);
                String::new()
            }
        };
        let mut tests = Vec::new();
        for test in &image.tests {
            let folder = resolve(base, &test.value);
            if !tests_checked.contains_key(&folder) {
                let found = check_test(inventory, test, &folder, &image.name.value);
                tests_checked.insert(folder.clone(), found.is_empty());
                problems.extend(found);
            }
            tests.push(folder);
        }
        out.push(ImageFiles {
            context,
            dockerfile,
            tests,
        });
    }
    InputError::collect(problems)?;
    Ok(out)
}

/// `path` relative to `base`, with `.` components dropped so plans and
/// messages show `dir/tests/node`, not `dir/./tests/node`.
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    base.join(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Checks a test folder: it holds a Dockerfile (built as a layer on the
/// image) or a `run.yml` (run in a container from it), and each one it holds
/// is valid. Returns every problem, so a bad Dockerfile and a bad `run.yml`
/// are reported together.
fn check_test(
    inventory: &Inventory,
    named: &Located<String>,
    folder: &Path,
    image: &str,
) -> Vec<InputError> {
    if let Err(e) = check_folder(inventory, named, folder, "test") {
        return vec![e];
    }
    // Anything named Dockerfile counts; reading it refuses what is not a
    // regular file inside the tree.
    let has_dockerfile = std::fs::symlink_metadata(folder.join(DOCKERFILE)).is_ok();
    let mut problems = Vec::new();
    if has_dockerfile {
        let dockerfile = read_dockerfile(inventory, named, folder, "test")
            .and_then(|text| reject_from(folder, &text, image));
        problems.extend(dockerfile.err());
    }
    match RunTest::load(folder, Some(tree(inventory))) {
        Ok(None) if !has_dockerfile => problems.push(
            inventory
                .error(
                    named.span,
                    format!(
                        "test folder `{}` has no {DOCKERFILE} or {RUN_FILE}",
                        folder.display()
                    ),
                    "no Dockerfile or run.yml here",
                )
                .with_help(format!(
                    "add `{}` (a layer built on the image) or `{}` (a command run in it), or fix the path",
                    folder.join(DOCKERFILE).display(),
                    folder.join(RUN_FILE).display()
                )),
        ),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    problems
}

/// Says whether `folder` is missing or not a folder, pointing at the
/// inventory line that names it.
fn check_folder(
    inventory: &Inventory,
    named: &Located<String>,
    folder: &Path,
    what: &str,
) -> Result<(), InputError> {
    let dir = inventory.file.parent().map(Path::display);
    let relative_hint = match dir {
        Some(d) if !d.to_string().is_empty() => {
            format!("paths are relative to the inventory's folder `{d}`")
        }
        _ => "paths are relative to the inventory's folder".to_string(),
    };
    let fail = |message: String, label: &str, help: String| {
        Err(inventory.error(named.span, message, label).with_help(help))
    };
    if !folder.exists() {
        return fail(
            format!("{what} folder `{}` does not exist", folder.display()),
            "no such folder",
            format!("create it or fix the path; {relative_hint}"),
        );
    }
    if !folder.is_dir() {
        return fail(
            format!("{what} path `{}` is not a folder", folder.display()),
            "not a folder",
            format!("give the folder that holds the {DOCKERFILE}, not a file; {relative_hint}"),
        );
    }
    Ok(())
}

/// Reads `folder/Dockerfile`, or says which of the folder or file is missing,
/// pointing at the inventory line that names it.
fn read_dockerfile(
    inventory: &Inventory,
    named: &Located<String>,
    folder: &Path,
    what: &str,
) -> Result<String, InputError> {
    check_folder(inventory, named, folder, what)?;
    let fail = |message: String, label: &str, help: String| {
        Err(inventory.error(named.span, message, label).with_help(help))
    };
    let file = folder.join(DOCKERFILE);
    if std::fs::symlink_metadata(&file).is_err() {
        return fail(
            format!("{what} folder `{}` has no {DOCKERFILE}", folder.display()),
            "no Dockerfile here",
            format!("add `{}` or fix the path", file.display()),
        );
    }
    read::read_text(&file, Some(tree(inventory)), "Dockerfile").or_else(|e| {
        fail(
            e.message.clone(),
            "unusable Dockerfile",
            e.help.clone().unwrap_or_default(),
        )
    })
}

/// The folder every file an inventory names must be inside: the inventory's.
fn tree(inventory: &Inventory) -> &Path {
    inventory.file.parent().unwrap_or(Path::new(""))
}

/// A test is built on top of the image it tests, so its Dockerfile (`text`,
/// the Dockerfile of test folder `folder`) must not choose a base of its own
/// under any reading an engine could make of it. `image` names the image
/// tested, for the help text.
pub fn reject_from(folder: &Path, text: &str, image: &str) -> Result<(), InputError> {
    let Some(from) = crate::dockerfile::first_from_any_reading(text) else {
        return Ok(());
    };
    let file = folder.join(DOCKERFILE);
    let name = file.display().to_string();
    let src = Source::new(file, text);
    let span = crate::dockerfile::line_span(text, from.line);
    Err(src
        .error(
            span,
            format!(
                "test Dockerfile `{name}` has a FROM line (`FROM {}`)",
                from.image
            ),
            "tests must not have FROM",
        )
        .with_help(format!(
            "a test is built on top of the image it tests (here `{image}`); remove the FROM line"
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_drops_dot_components() {
        assert_eq!(
            resolve(Path::new("dir"), "./tests/node"),
            PathBuf::from("dir/tests/node")
        );
        assert_eq!(resolve(Path::new(""), "./a"), PathBuf::from("a"));
    }
}
