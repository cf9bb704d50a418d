//! Printing a plan for people (`--dry-run`, `strata plan`) and machines (JSON).
//!
//! Both forms are deterministic: images in build order, aliases by tag, and
//! maps (build args, labels) in key order, so two plans can be diffed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{ArtifactSource, ImagePlan, Plan};

/// Version of the plan JSON layout; bumped when a field is removed or changes meaning.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// The plan as text for people: images (with parent, context, tests, aliases,
/// artifacts), then aliases with their candidates, then exclusions, then totals.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan from {}: {}",
        esc(&plan.source.display().to_string()),
        totals_line(plan)
    );
    if !plan.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {}", esc(w));
        }
    }

    out.push_str("\nImages, in build order:\n");
    if plan.images.is_empty() {
        out.push_str("  (none)\n");
    }
    let width = plan.images.len().to_string().len();
    for (i, img) in plan.images.iter().enumerate() {
        image_block(&mut out, plan, i + 1, width, img);
    }

    out.push_str("\nAliases:\n");
    if plan.aliases.is_empty() {
        out.push_str("  (none)\n");
    }
    let tag_width = plan
        .aliases
        .iter()
        .map(|a| esc(&a.tag).chars().count())
        .max()
        .unwrap_or(0);
    for a in &plan.aliases {
        let mut line = format!("  {:<tag_width$}", esc(&a.tag));
        match a.candidates.split_first() {
            Some((first, rest)) => {
                let _ = write!(line, " → {}", esc(first));
                if !rest.is_empty() {
                    let _ = write!(line, " (else {})", esc(&rest.join(", then ")));
                }
            }
            None => line.push_str(" → (no candidates)"),
        }
        if let Some(rule) = &a.rule {
            let _ = write!(line, "  [rule: {}]", esc(rule));
        }
        let _ = writeln!(out, "{line}");
    }

    if !plan.excluded.is_empty() {
        out.push_str("\nExcluded:\n");
        for e in &plan.excluded {
            let _ = writeln!(out, "  {}: {}", esc(&e.what), esc(&e.reason));
        }
    }

    if !plan.files.is_empty() {
        let _ = writeln!(
            out,
            "\nGenerated files ({}, written by `strata generate`):",
            plan.files.len()
        );
        for f in &plan.files {
            let _ = writeln!(out, "  {}", shown(plan, &f.path));
        }
    }

    let _ = writeln!(out, "\nTotal: {}", totals_line(plan));
    out
}

/// `path` relative to the config file's folder when inside it: plans hold
/// absolute paths, people read the ones they wrote. Escaped, as every value
/// printed here: a control character from a feed or a name is shown, never
/// sent to the terminal.
fn shown(plan: &Plan, path: &Path) -> String {
    let base = plan.source.parent().unwrap_or(Path::new(""));
    let text = match path.strip_prefix(base) {
        Ok(rel) if !base.as_os_str().is_empty() && !rel.as_os_str().is_empty() => {
            rel.display().to_string()
        }
        _ => path.display().to_string(),
    };
    esc(&text).into_owned()
}

/// A value as printed: see [`crate::text::escape`].
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape(text)
}

fn image_block(out: &mut String, plan: &Plan, n: usize, width: usize, img: &ImagePlan) {
    let _ = writeln!(out, "  {n:>width$}. {}", esc(&img.name));
    let pad = " ".repeat(width + 4);
    let field = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "{pad}{key:<10} {}", esc(value));
    };

    field(
        out,
        "parent:",
        img.base().unwrap_or("– (not built by this plan)"),
    );
    let context = if img.dockerfile == "Dockerfile" {
        shown(plan, &img.context)
    } else {
        format!(
            "{} (dockerfile {})",
            shown(plan, &img.context),
            img.dockerfile
        )
    };
    field(out, "context:", &context);
    if !img.platforms.is_empty() {
        let list: Vec<String> = img.platforms.iter().map(|p| p.to_string()).collect();
        field(out, "platforms:", &list.join(", "));
    }

    if img.tests.is_empty() {
        field(out, "tests:", "–");
    }
    let paths: Vec<String> = img.tests.iter().map(|t| shown(plan, &t.path)).collect();
    let path_width = paths.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    for (i, (t, path)) in img.tests.iter().zip(&paths).enumerate() {
        let key = if i == 0 { "tests:" } else { "" };
        field(
            out,
            key,
            &format!("{}. {path:<path_width$}  → {}", t.index, t.tag),
        );
    }

    let aliases: Vec<&str> = plan.aliases_of(&img.name).map(|a| a.tag.as_str()).collect();
    field(
        out,
        "aliases:",
        &if aliases.is_empty() {
            "–".to_owned()
        } else {
            aliases.join(", ")
        },
    );

    for (i, a) in img.artifacts.iter().enumerate() {
        let key = if i == 0 { "artifacts:" } else { "" };
        let source = match &a.source {
            ArtifactSource::Npm { package, version } => format!("npm {package}@{version}"),
            ArtifactSource::Url {
                url,
                sha256,
                shasums_url,
            } => {
                let check = match (sha256, shasums_url) {
                    (Some(h), _) => format!("sha256 {}", short(h)),
                    (None, Some(s)) => format!("sha256 from {s}"),
                    (None, None) => "unverified".to_owned(),
                };
                format!("{url} ({check})")
            }
        };
        field(out, key, &format!("{} ← {source}", a.file_name));
    }

    if !img.build_args.is_empty() {
        let args: Vec<_> = img
            .build_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        field(out, "args:", &args.join(" "));
    }
    if !img.labels.is_empty() {
        let labels: Vec<_> = img.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        field(out, "labels:", &labels.join(" "));
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn totals_line(plan: &Plan) -> String {
    let n = plan.images.len();
    let t = plan.test_count();
    let a = plan.aliases.len();
    let mut s = format!(
        "{n} image{}, {t} test{}, {a} alias{}",
        plural(n),
        plural(t),
        if a == 1 { "" } else { "es" }
    );
    if !plan.excluded.is_empty() {
        let _ = write!(s, ", {} excluded", plan.excluded.len());
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Serialize)]
struct PlanDocument<'a> {
    schema_version: u32,
    totals: PlanTotals,
    #[serde(flatten)]
    plan: &'a Plan,
}

#[derive(Serialize)]
struct PlanTotals {
    images: usize,
    tests: usize,
    aliases: usize,
    excluded: usize,
}

/// The plan as pretty JSON: the serde form of [`Plan`] plus `schema_version`
/// and `totals`.
pub fn json(plan: &Plan) -> String {
    let doc = PlanDocument {
        schema_version: PLAN_SCHEMA_VERSION,
        totals: PlanTotals {
            images: plan.images.len(),
            tests: plan.test_count(),
            aliases: plan.aliases.len(),
            excluded: plan.excluded.len(),
        },
        plan,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("a plan always serializes");
    s.push('\n');
    s
}

/// The shards of `plan` split `count` ways, as a GitHub Actions matrix on
/// one line (for `$GITHUB_OUTPUT`): `{"include":[{"shard":"1/3","images":4,
/// "tests":8},…]}`. A shard with no image is left out, so no job idles.
pub fn github_matrix(plan: &Plan, count: usize) -> String {
    let include: Vec<serde_json::Value> = (1..=count)
        .map(|index| super::shard::Shard { index, count })
        .filter_map(|shard| {
            let part = super::shard::select(plan, shard);
            (!part.images.is_empty()).then(|| {
                serde_json::json!({
                    "shard": shard.to_string(),
                    "images": part.images.len(),
                    "tests": part.test_count(),
                })
            })
        })
        .collect();
    let mut s = serde_json::json!({ "include": include }).to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{AliasPlan, Artifact, Excluded, TestPlan};
    use super::*;

    fn image(name: &str, parent: Option<&str>, tests: &[&str]) -> ImagePlan {
        ImagePlan {
            needs: parent.map(String::from).into_iter().collect(),
            name: crate::reference::ImageRef::parse(name).unwrap(),
            context: format!("images/{}", name.rsplit(':').next().unwrap()).into(),
            dockerfile: "Dockerfile".into(),
            tests: tests
                .iter()
                .enumerate()
                .map(|(i, p)| TestPlan {
                    index: i + 1,
                    path: (*p).into(),
                    tag: super::super::test_tag(&name.parse().unwrap(), i + 1),
                    timeout: None,
                    secrets: Vec::new(),
                    dockerfile: None,
                    run: None,
                })
                .collect(),
            build_args: BTreeMap::from([("NODE_VERSION".into(), "22.11.0".into())]),
            artifacts: vec![],
            labels: BTreeMap::new(),
            cell: None,
            timeout: None,
            platforms: vec![],
            rename_bases: Default::default(),
            secrets: Vec::new(),
        }
    }

    fn sample() -> Plan {
        let mut base = image("acme/node:22-bookworm", None, &["tests/node", "tests/npm"]);
        base.artifacts.push(Artifact {
            file_name: "node.tar.xz".into(),
            source: ArtifactSource::Url {
                url: "https://nodejs.org/dist/v22.11.0/node-v22.11.0-linux-x64.tar.xz".into(),
                sha256: None,
                shasums_url: Some("https://nodejs.org/dist/v22.11.0/SHASUMS256.txt".into()),
            },
        });
        Plan {
            pull: None,
            source: "strata.yml".into(),
            images: vec![
                base,
                image(
                    "acme/node:22-bookworm-dev",
                    Some("acme/node:22-bookworm"),
                    &[],
                ),
            ],
            aliases: vec![AliasPlan {
                tag: "acme/node:lts".parse().unwrap(),
                candidates: vec![
                    "acme/node:22-bookworm".parse().unwrap(),
                    "acme/node:20-bookworm".parse().unwrap(),
                ],
                rule: Some("lts".into()),
                fallback: false,
            }],
            excluded: vec![Excluded {
                what: "bullseye × 23.1.0".into(),
                reason: "23 is not built for bullseye".into(),
            }],
            files: vec![],
            output: None,
            warnings: vec![],
            builder: None,
        }
    }

    #[test]
    fn text_lists_images_in_order_with_their_details() {
        let t = text(&sample());
        let base = t.find("1. acme/node:22-bookworm\n").expect(&t);
        let dev = t.find("2. acme/node:22-bookworm-dev").expect(&t);
        assert!(base < dev);
        assert!(t.contains("parent:    acme/node:22-bookworm\n"), "{t}");
        assert!(
            t.contains("1. tests/node  → acme/node:22-bookworm-test1"),
            "{t}"
        );
        assert!(t.contains("aliases:   acme/node:lts"), "{t}");
        assert!(t.contains("sha256 from https://nodejs.org/dist/v22.11.0/SHASUMS256.txt"));
        assert!(t.contains(
            "acme/node:lts → acme/node:22-bookworm (else acme/node:20-bookworm)  [rule: lts]"
        ));
        assert!(t.contains("bullseye × 23.1.0: 23 is not built for bullseye"));
        assert!(
            t.ends_with("Total: 2 images, 2 tests, 1 alias, 1 excluded\n"),
            "{t}"
        );
        // Sections come in a fixed order.
        let order = ["Images, in build order:", "Aliases:", "Excluded:", "Total:"];
        let pos: Vec<_> = order.iter().map(|s| t.find(s).expect(s)).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{t}");
    }

    #[test]
    fn text_is_deterministic() {
        assert_eq!(text(&sample()), text(&sample()));
    }

    #[test]
    fn json_has_schema_and_totals() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["totals"]["images"], 2);
        assert_eq!(v["totals"]["tests"], 2);
        assert_eq!(v["images"][1]["needs"][0], "acme/node:22-bookworm");
        assert_eq!(v["images"][0]["artifacts"][0]["source"]["kind"], "url");
        assert_eq!(v["aliases"][0]["candidates"][1], "acme/node:20-bookworm");
    }
}
