//! A checked Dante inventory, turned into a [`Plan`].
//!
//! Pure: the Dockerfiles were read while checking the inventory's files. The
//! only decision made here is the build order, from the `FROM` lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::files::{ImageFiles, DOCKERFILE};
use crate::config::inventory::Inventory;
use crate::config::run_file::RunTest;
use crate::config::yaml::Located;
use crate::error::InputError;
use crate::plan::order;
use crate::plan::{AliasPlan, ImagePlan, Plan, TestPlan};
use crate::reference::ImageRef;

/// Builds the plan: images in build order (inventory order unless an image is
/// built `FROM` another one), their tests, and their aliases sorted by tag.
///
/// `files[i]` belongs to `inventory.images[i]`. A `FROM` cycle between images
/// is an error naming them.
pub fn plan(
    inventory: &Inventory,
    files: &[ImageFiles],
    tests: &TestFolders,
) -> Result<Plan, InputError> {
    // A secret's `file` is relative to the inventory's folder.
    let config_dir = inventory
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let images: Vec<ImagePlan> = inventory
        .images
        .iter()
        .zip(files)
        .map(|(image, files)| {
            let name = parse_reference(inventory, &image.name, "image")?;
            Ok(ImagePlan {
                tests: files
                    .tests
                    .iter()
                    .enumerate()
                    .map(|(t, path)| {
                        let (dockerfile, run) = tests.get(path).cloned().unwrap_or_default();
                        TestPlan {
                            index: t + 1,
                            path: path.clone(),
                            tag: crate::plan::test_tag(&name, t + 1),
                            timeout: None,
                            secrets: Vec::new(),
                            dockerfile,
                            run,
                        }
                    })
                    .collect(),
                name,
                context: files.context.clone(),
                dockerfile: DOCKERFILE.to_string(),
                needs: Vec::new(),
                build_args: Default::default(),
                artifacts: Vec::new(),
                labels: Default::default(),
                cell: None,
                timeout: image.timeout.map(|t| t.0),
                platforms: image.platforms.iter().map(|p| p.value.clone()).collect(),
                rename_bases: Default::default(),
                secrets: image.secrets.iter().map(|c| c.plan(&config_dir)).collect(),
            })
        })
        .collect::<Result<_, InputError>>()?;
    let dockerfiles: Vec<&str> = files.iter().map(|f| f.dockerfile.as_str()).collect();
    let images = order::order_by_from(images, &dockerfiles)
        .map_err(|cycle| cycle_error(inventory, &cycle))?;
    check_platforms(inventory, &images)?;

    let mut aliases = Vec::new();
    for image in &inventory.images {
        let name = parse_reference(inventory, &image.name, "image")?;
        for a in &image.aliases {
            aliases.push(AliasPlan {
                tag: parse_reference(inventory, a, "alias")?,
                candidates: vec![name.clone()],
                rule: None,
                fallback: false,
            });
        }
    }
    aliases.sort_by(|a, b| a.tag.cmp(&b.tag));

    Ok(Plan {
        source: inventory.file.clone(),
        images,
        aliases,
        excluded: Vec::new(),
        files: Vec::new(),
        output: None,
        warnings: Vec::new(),
        pull: inventory.pull,
        builder: inventory.builder,
    })
}

/// `written` (an image name or alias of `inventory`) parsed once, for the
/// rest of the run. The inventory's check refused a reference that does
/// not parse; one that still does not is an error at its line.
fn parse_reference(
    inventory: &Inventory,
    written: &Located<String>,
    what: &str,
) -> Result<ImageRef, InputError> {
    ImageRef::parse(&written.value).map_err(|e| {
        inventory.error(
            written.span,
            format!(
                "{what} `{}` is not a valid image reference: {e}",
                written.value
            ),
            "invalid reference",
        )
    })
}

/// Each test folder of an inventory: its Dockerfile's text and its parsed
/// `run.yml`, each `None` when the folder has none.
pub type TestFolders = BTreeMap<PathBuf, (Option<String>, Option<RunTest>)>;

/// Reads every test folder `files` name, once each (Dante inventories
/// share test folders between hundreds of images), so the plan carries
/// what the run builds and runs; [`crate::config::files::check`] has
/// checked them. A file that became unreadable since is an error naming it.
pub fn read_tests(inventory: &Inventory, files: &[ImageFiles]) -> Result<TestFolders, InputError> {
    let tree = inventory.file.parent().unwrap_or(Path::new(""));
    let mut out = TestFolders::new();
    for folder in files.iter().flat_map(|f| &f.tests) {
        if out.contains_key(folder) {
            continue;
        }
        let file = folder.join(DOCKERFILE);
        let dockerfile = match std::fs::symlink_metadata(&file) {
            Ok(_) => Some(crate::config::read::read_text(
                &file,
                Some(tree),
                "Dockerfile",
            )?),
            Err(_) => None,
        };
        let run = RunTest::load(folder, Some(tree))?;
        out.insert(folder.clone(), (dockerfile, run));
    }
    Ok(out)
}

/// An image is built for each of its platforms on that platform's build of
/// its parent, so a parent of the plan must be built for every platform its
/// children are; a child without platforms is built on the engine's own
/// platform, which the parent must then include.
fn check_platforms(inventory: &Inventory, images: &[ImagePlan]) -> Result<(), InputError> {
    use crate::reference::Platform;
    let entry = |name: &str| inventory.images.iter().find(|i| i.name.value == name);
    let mut problems = Vec::new();
    for image in images {
        let Some(parent) = image
            .needs
            .first()
            .and_then(|n| images.iter().find(|i| &i.name == n))
        else {
            continue;
        };
        if parent.platforms.is_empty() && image.platforms.is_empty() {
            continue;
        }
        let wanted: Vec<Platform> = match image.platforms.is_empty() {
            true => vec![Platform::host()],
            false => image.platforms.clone(),
        };
        let parent_has: Vec<Platform> = match parent.platforms.is_empty() {
            true => vec![Platform::host()],
            false => parent.platforms.clone(),
        };
        let missing: Vec<String> = wanted
            .iter()
            .filter(|p| !parent_has.contains(p))
            .map(|p| p.to_string())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let Some(child) = entry(&image.name) else {
            continue;
        };
        let span = child.platforms.first().map_or(child.name.span, |p| p.span);
        problems.push(
            inventory
                .error(
                    span,
                    format!(
                        "{} is built from {}, which is not built for {}",
                        image.name,
                        parent.name,
                        missing.join(", ")
                    ),
                    "platforms",
                )
                .with_help(format!(
                    "add {} to the `platforms` of {}, or build this image for fewer platforms",
                    missing.join(", "),
                    parent.name
                )),
        );
    }
    InputError::collect(problems)
}

fn cycle_error(inventory: &Inventory, cycle: &order::Cycle) -> InputError {
    let names: Vec<&str> = cycle
        .0
        .iter()
        .map(|&i| inventory.images[i].name.value.as_str())
        .collect();
    // Each is built FROM the next: `a` FROM `b` FROM `a`.
    let chain: Vec<String> = names
        .iter()
        .chain(&names[..1])
        .map(|n| format!("`{n}`"))
        .collect();
    let chain = chain.join(" FROM ");
    let first = &inventory.images[cycle.0[0]];
    let mut err = inventory.error(
        first.name.span,
        format!("images are built from each other in a cycle: {chain}"),
        "part of the cycle",
    );
    for &i in &cycle.0[1..] {
        err = err.also_at(inventory.images[i].name.span, "part of the cycle");
    }
    err.with_help(
        "an image cannot be built from itself, directly or through others; change one FROM line",
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::inventory;

    /// The plan of test folders that hold nothing.
    fn plan(inventory: &Inventory, files: &[ImageFiles]) -> Result<Plan, InputError> {
        super::plan(inventory, files, &TestFolders::new())
    }

    fn inv(yaml: &str) -> Inventory {
        inventory::parse(PathBuf::from("dir/inv.yml"), yaml.to_string()).unwrap()
    }

    fn files(dockerfiles: &[&str], tests: usize) -> Vec<ImageFiles> {
        dockerfiles
            .iter()
            .enumerate()
            .map(|(i, d)| ImageFiles {
                context: PathBuf::from(format!("dir/img{i}")),
                dockerfile: d.to_string(),
                tests: (0..tests)
                    .map(|t| PathBuf::from(format!("dir/t{t}")))
                    .collect(),
            })
            .collect()
    }

    const THREE: &str = "images:\n  - name: acme/app:1\n    path: a\n    alias: [acme/app:latest, acme/a]\n  - name: acme/base:1\n    path: b\n    alias: acme/base:latest\n  - name: acme/other\n    path: c\n";

    #[test]
    fn parents_are_built_first() {
        let inventory = inv(THREE);
        let plan = plan(
            &inventory,
            &files(
                &["FROM acme/base:1\n", "FROM debian\n", "FROM scratch\n"],
                2,
            ),
        )
        .unwrap();
        let names: Vec<_> = plan.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["acme/base:1", "acme/app:1", "acme/other"]);
        assert_eq!(plan.images[1].base(), Some("acme/base:1"));
        assert_eq!(plan.images[0].base(), None);
        assert_eq!(plan.images[1].context, PathBuf::from("dir/img0"));
        assert_eq!(plan.images[1].dockerfile, "Dockerfile");
        assert_eq!(plan.source, PathBuf::from("dir/inv.yml"));
    }

    #[test]
    fn from_matches_normalized_names() {
        let inventory = inv(THREE);
        // `acme/other` is `acme/other:latest`; docker.io/ is the default registry.
        let plan = plan(
            &inventory,
            &files(
                &[
                    "FROM docker.io/acme/other:latest\n",
                    "FROM debian\n",
                    "FROM debian\n",
                ],
                0,
            ),
        )
        .unwrap();
        let names: Vec<_> = plan.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["acme/base:1", "acme/other", "acme/app:1"]);
        assert_eq!(plan.image("acme/app:1").unwrap().base(), Some("acme/other"));
    }

    #[test]
    fn tests_and_aliases() {
        let inventory = inv(THREE);
        let plan = plan(&inventory, &files(&["FROM x\n", "FROM x\n", "FROM x\n"], 2)).unwrap();
        let app = plan.image("acme/app:1").unwrap();
        assert_eq!(
            app.tests,
            vec![
                TestPlan {
                    index: 1,
                    path: PathBuf::from("dir/t0"),
                    tag: "acme/app:1-test1".parse().unwrap(),
                    timeout: None,
                    secrets: Vec::new(),
                    dockerfile: None,
                    run: None,
                },
                TestPlan {
                    index: 2,
                    path: PathBuf::from("dir/t1"),
                    tag: "acme/app:1-test2".parse().unwrap(),
                    timeout: None,
                    secrets: Vec::new(),
                    dockerfile: None,
                    run: None,
                },
            ]
        );
        let tags: Vec<_> = plan.aliases.iter().map(|a| a.tag.as_str()).collect();
        assert_eq!(tags, ["acme/a", "acme/app:latest", "acme/base:latest"]);
        assert_eq!(plan.aliases[2].candidates, ["acme/base:1"]);
        assert!(plan.aliases.iter().all(|a| a.rule.is_none()));
    }

    #[test]
    fn an_alias_that_is_no_reference_is_an_error_at_its_line() {
        // The inventory's check refuses it first; the plan does not trust
        // that and parses each alias once, where it is made.
        let mut inventory = inv(THREE);
        inventory.images[1].aliases[0].value = "Acme/Base:latest".into();
        let err = plan(&inventory, &files(&["FROM x\n", "FROM x\n", "FROM x\n"], 0)).unwrap_err();
        assert!(
            err.message.contains("alias `Acme/Base:latest`") && err.message.contains("lowercase"),
            "{}",
            err.message
        );
        let out = crate::error::render_with(&err, false);
        assert!(out.contains("inv.yml:7"), "{out}");
    }

    #[test]
    fn cycles_name_their_images() {
        let inventory = inv(THREE);
        let err = plan(
            &inventory,
            &files(&["FROM acme/base:1\n", "FROM acme/app:1\n", "FROM x\n"], 0),
        )
        .unwrap_err();
        assert!(err.message.contains("cycle"), "{}", err.message);
        assert!(
            err.message.contains("acme/app:1") && err.message.contains("acme/base:1"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("acme/other"), "{}", err.message);
        assert_eq!(err.also.len(), 1);
    }
}
