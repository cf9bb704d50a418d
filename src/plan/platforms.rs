//! One image, several platforms: the plan the executor runs.
//!
//! An image with `platforms` is built and tested once per platform. Each
//! platform's build is an image of its own in the executed plan (a *unit*),
//! named `<name>-<os>-<arch>[-<variant>]` locally, built with that platform
//! and its `TARGET*`/`BUILD*` arguments, on that platform's build of its
//! parent. The units are then published together under the image's name as
//! one OCI index, and only when every one of them passed.
//!
//! `expand` is pure: the plan a user sees keeps one image with its
//! platforms; the executor runs the expanded one.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ImagePlan, Plan, TestPlan};
use crate::reference::{ImageRef, Platform};

/// An image built for several platforms, and the unit of each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The image's name, under which the index is published.
    pub name: ImageRef,
    /// (platform, unit name), in the order the platforms were written.
    pub units: Vec<(Platform, String)>,
}

impl Group {
    pub fn unit_names(&self) -> impl Iterator<Item = &str> {
        self.units.iter().map(|(_, n)| n.as_str())
    }

    /// The units `done` does not say are done, in platform order.
    pub fn missing(&self, done: impl Fn(&str) -> bool) -> Vec<&str> {
        self.unit_names().filter(|u| !done(u)).collect()
    }

    /// The unit the image's own name stands for on an engine of platform
    /// `host`: that platform's unit, or the first (`None`: no unit at all).
    pub fn local_unit(&self, host: &Platform) -> Option<&str> {
        self.units
            .iter()
            .find(|(p, _)| p == host)
            .or(self.units.first())
            .map(|(_, unit)| unit.as_str())
    }
}

/// The local name of `image`'s build for `platform`: its tag, suffixed.
pub fn unit_name(image: &ImageRef, platform: &Platform) -> ImageRef {
    image.with_derived_tag(&platform.tag_suffix())
}

/// The executed plan: every image with platforms replaced by its units (in
/// the same place in the build order), and the groups that tie them to the
/// image's name. Images without platforms are unchanged, except that one
/// built on a multi-platform parent is built on the parent's unit for the
/// engine's own platform (the loader has checked the parent has one).
pub fn expand(plan: &Plan, host: &Platform) -> (Plan, Vec<Group>) {
    let platforms_of: BTreeMap<&str, (&ImageRef, &[Platform])> = plan
        .images
        .iter()
        .map(|i| (i.name.as_str(), (&i.name, i.platforms.as_slice())))
        .collect();
    // The unit a child built for `platform` uses in place of parent `name`.
    let parent_for = |name: &str, platform: &Platform| -> Option<String> {
        platforms_of
            .get(name)
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(parent, _)| unit_name(parent, platform).into())
    };
    let mut images = Vec::with_capacity(plan.images.len());
    let mut groups = Vec::new();
    for image in &plan.images {
        if image.platforms.is_empty() {
            let mut image = image.clone();
            rebase(&mut image, host, &parent_for);
            images.push(image);
            continue;
        }
        let mut group = Group {
            name: image.name.clone(),
            units: vec![],
        };
        for platform in &image.platforms {
            let name = unit_name(&image.name, platform);
            let mut unit = image.clone();
            unit.platforms = vec![platform.clone()];
            unit.tests = image
                .tests
                .iter()
                .map(|t| TestPlan {
                    tag: super::test_tag(&name, t.index),
                    ..t.clone()
                })
                .collect();
            unit.build_args.extend(platform.build_args(host));
            unit.labels.insert("platform".into(), platform.to_string());
            if let Some(cell) = &mut unit.cell {
                cell.platform = Some(platform.clone());
            }
            unit.name = name.clone();
            rebase(&mut unit, platform, &parent_for);
            group.units.push((platform.clone(), name.into()));
            images.push(unit);
        }
        groups.push(group);
    }
    let plan = Plan {
        images,
        ..plan.clone()
    };
    (plan, groups)
}

/// The part of an expanded plan a machine runs when it runs only the
/// platforms `only` (empty: every platform); the rest is other machines'.
///
/// A unit stays when its platform is selected; an image without platforms
/// (built for the engine's own) when `host` is. An image of several
/// platforms is published (its index, then its aliases) only by a machine
/// that runs all of them, so a group stays only when all its units do, and
/// an alias keeps the candidates before the first one this machine cannot
/// complete: it is pointed here only if its newest image is whole here (the
/// same rule as a shard's). `strata publish --from` assembles the rest.
pub fn only(
    plan: Plan,
    groups: Vec<Group>,
    only: &[Platform],
    host: &Platform,
) -> (Plan, Vec<Group>) {
    if only.is_empty() {
        return (plan, groups);
    }
    let selected = |p: &Platform| only.contains(p);
    let images: Vec<ImagePlan> = plan
        .images
        .into_iter()
        .filter(|i| match i.platforms.as_slice() {
            [] => selected(host),
            ps => ps.iter().all(selected),
        })
        .collect();
    let (whole, partial): (Vec<Group>, Vec<Group>) = groups
        .into_iter()
        .partition(|g| g.units.iter().all(|(p, _)| selected(p)));
    let kept: std::collections::BTreeSet<&str> = images
        .iter()
        .map(|i| i.name.as_str())
        .chain(whole.iter().map(|g| g.name.as_str()))
        .filter(|n| !partial.iter().any(|g| g.name == *n))
        .collect();
    let aliases = plan
        .aliases
        .iter()
        .filter_map(|a| a.narrowed(|c| kept.contains(c)))
        .collect();
    let plan = Plan {
        images,
        aliases,
        ..plan
    };
    (plan, whole)
}

/// Points `image`'s `needs` and `FROM` lines at its parents' units for `platform`.
fn rebase(
    image: &mut ImagePlan,
    platform: &Platform,
    parent_for: &dyn Fn(&str, &Platform) -> Option<String>,
) {
    for need in image.needs.iter_mut() {
        if let Some(unit) = parent_for(need, platform) {
            image.rename_bases.insert(need.clone(), unit.clone());
            *need = unit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, needs: &[&str], platforms: &[&str]) -> ImagePlan {
        ImagePlan {
            name: crate::reference::ImageRef::parse(name).unwrap(),
            context: "ctx".into(),
            dockerfile: "Dockerfile".into(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            tests: vec![TestPlan {
                index: 1,
                path: "t".into(),
                tag: super::super::test_tag(&name.parse().unwrap(), 1),
                timeout: None,
                secrets: Vec::new(),
                dockerfile: None,
                run: None,
            }],
            build_args: BTreeMap::from([("A".into(), "1".into())]),
            artifacts: vec![],
            labels: Default::default(),
            cell: None,
            timeout: None,
            platforms: platforms.iter().map(|p| p.parse().unwrap()).collect(),
            rename_bases: Default::default(),
            secrets: Vec::new(),
        }
    }

    #[test]
    fn units_replace_a_multi_platform_image_and_build_on_their_parents_units() {
        let host: Platform = "linux/amd64".parse().unwrap();
        let plan = Plan {
            images: vec![
                image("acme/base:1", &[], &["linux/amd64", "linux/arm64"]),
                image("acme/app:1", &["acme/base:1"], &["linux/arm64"]),
                image("acme/tool:1", &["acme/base:1"], &[]),
                image("acme/plain:1", &[], &[]),
            ],
            ..Plan::default()
        };
        let (run, groups) = expand(&plan, &host);
        let names: Vec<&str> = run.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "acme/base:1-linux-amd64",
                "acme/base:1-linux-arm64",
                "acme/app:1-linux-arm64",
                "acme/tool:1",
                "acme/plain:1"
            ]
        );
        let app = &run.images[2];
        assert_eq!(app.needs, ["acme/base:1-linux-arm64"]);
        assert_eq!(app.rename_bases["acme/base:1"], "acme/base:1-linux-arm64");
        assert_eq!(app.build_args["TARGETARCH"], "arm64");
        assert_eq!(app.build_args["BUILDARCH"], "amd64");
        assert_eq!(app.build_args["A"], "1");
        assert_eq!(app.tests[0].tag, "acme/app:1-linux-arm64-test1");
        // Without platforms: built on the parent's unit for the host.
        assert_eq!(run.images[3].needs, ["acme/base:1-linux-amd64"]);
        assert_eq!(run.images[4], plan.images[3]);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].unit_names().collect::<Vec<_>>(),
            ["acme/base:1-linux-amd64", "acme/base:1-linux-arm64"]
        );
    }

    #[test]
    fn a_machine_running_some_platforms_publishes_only_what_it_completes() {
        let host: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm64".parse().unwrap();
        let plan = Plan {
            images: vec![
                image("acme/base:1", &[], &["linux/amd64", "linux/arm64"]),
                image("acme/armonly:1", &[], &["linux/arm64"]),
                image("acme/plain:1", &[], &[]),
            ],
            aliases: vec![
                crate::plan::AliasPlan {
                    tag: "acme/base:latest".parse().unwrap(),
                    candidates: vec!["acme/base:1".parse().unwrap()],
                    rule: None,
                    fallback: false,
                },
                crate::plan::AliasPlan {
                    tag: "acme/armonly:latest".parse().unwrap(),
                    candidates: vec!["acme/armonly:1".parse().unwrap()],
                    rule: None,
                    fallback: false,
                },
                crate::plan::AliasPlan {
                    tag: "acme/plain:latest".parse().unwrap(),
                    candidates: vec!["acme/plain:1".parse().unwrap()],
                    rule: None,
                    fallback: false,
                },
            ],
            ..Plan::default()
        };
        let (run, groups) = expand(&plan, &host);
        let (arm_run, arm_groups) = only(
            run.clone(),
            groups.clone(),
            std::slice::from_ref(&arm),
            &host,
        );
        let names: Vec<&str> = arm_run.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["acme/base:1-linux-arm64", "acme/armonly:1-linux-arm64"]
        );
        // The arm64-only image is whole here; the other needs amd64 too.
        let whole: Vec<&str> = arm_groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(whole, ["acme/armonly:1"]);
        let tags: Vec<&str> = arm_run.aliases.iter().map(|a| a.tag.as_str()).collect();
        assert_eq!(tags, ["acme/armonly:latest"]);

        let (amd_run, amd_groups) = only(
            run.clone(),
            groups.clone(),
            std::slice::from_ref(&host),
            &host,
        );
        let names: Vec<&str> = amd_run.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["acme/base:1-linux-amd64", "acme/plain:1"]);
        assert!(amd_groups.is_empty());
        let tags: Vec<&str> = amd_run.aliases.iter().map(|a| a.tag.as_str()).collect();
        assert_eq!(tags, ["acme/plain:latest"]);

        // Selecting nothing selects everything.
        let (all, all_groups) = only(run.clone(), groups, &[], &host);
        assert_eq!(all, run);
        assert_eq!(all_groups.len(), 2);
    }

    #[test]
    fn a_plan_without_platforms_is_unchanged() {
        let host = Platform::host();
        let plan = Plan {
            images: vec![
                image("acme/a:1", &[], &[]),
                image("acme/b", &["acme/a:1"], &[]),
            ],
            ..Plan::default()
        };
        let (run, groups) = expand(&plan, &host);
        assert_eq!(run, plan);
        assert!(groups.is_empty());
        assert_eq!(
            unit_name(&"acme/b".parse().unwrap(), &host).to_string(),
            format!("acme/b:latest-{}", host.tag_suffix())
        );
    }
}
