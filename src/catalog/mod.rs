//! The tag catalog: what image users read as "supported tags".
//!
//! Computed from the plan and what is [`Published`]: by default the state
//! file (an image of the plan appears once the state records its push, with
//! the aliases the push pointed at it), or the registry itself (an image
//! once the registry has its name, with every alias that resolves to its
//! digest, whoever moved it: `push`, `publish`, another machine). Grouped by repository, as a
//! registry's page shows them, one line per image: every tag of it in that
//! repository, then its Dockerfile. An image with tags in several
//! repositories (`acme/bookworm:22.11.0` that is also `acme/node:22`) is
//! listed under each.
//!
//! [`replace_between_markers`] puts the Markdown into a README between two
//! marker comments, leaving the rest of the file as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::Plan;
use crate::reference::ImageRef;
use crate::state::State;

/// The comment a README's catalog starts after.
pub const START_MARKER: &str = "<!-- strata:catalog:start -->";
/// The comment a README's catalog ends before.
pub const END_MARKER: &str = "<!-- strata:catalog:end -->";

/// Version of the JSON layout; bumped when a field is removed or changes meaning.
pub const CATALOG_SCHEMA_VERSION: u32 = 1;

/// Every published image, by repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    pub schema_version: u32,
    pub repositories: Vec<Repository>,
}

/// One repository and the images with tags in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Repository {
    /// The repository, registry host included: `127.0.0.1:5000/acme/node`.
    pub name: String,
    pub images: Vec<Entry>,
}

/// One image as a repository lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The image's own full name.
    pub image: String,
    /// Its tags in this repository: its own first (when here), then its
    /// aliases, in plan order.
    pub tags: Vec<String>,
    /// The Dockerfile it was built from, relative to the folder the catalog
    /// is for (the README's, or the current one).
    pub dockerfile: PathBuf,
    /// The digest it was published as, when the state records one.
    pub digest: Option<String>,
}

impl Catalog {
    /// How many images and tags the catalog lists (an image counted once
    /// per repository it appears in).
    pub fn counts(&self) -> (usize, usize) {
        self.repositories
            .iter()
            .flat_map(|r| &r.images)
            .fold((0, 0), |(i, t), e| (i + 1, t + e.tags.len()))
    }
}

/// What is published, from one source: the state file's push records, or
/// the registry itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Image name → the digest it was published as (`None` when the
    /// source does not say: an index the state has no record of).
    images: BTreeMap<String, Option<String>>,
    /// Alias tag → the image it points at.
    aliases: BTreeMap<String, String>,
}

impl Published {
    /// As `state` records it: an image once its push (or every platform's)
    /// is recorded; an alias on the image whose push last pointed it.
    pub fn from_state(plan: &Plan, state: &State) -> Published {
        // Which record each alias was last pointed at by a push.
        let mut alias_owner: BTreeMap<&str, (&str, chrono::DateTime<chrono::Utc>)> =
            BTreeMap::new();
        for (name, image) in &state.images {
            if let Some(pushed) = &image.pushed {
                for alias in &pushed.aliases {
                    let newer = alias_owner
                        .get(alias.as_str())
                        .is_none_or(|(_, at)| pushed.pushed_at > *at);
                    if newer {
                        alias_owner.insert(alias, (name, pushed.pushed_at));
                    }
                }
            }
        }
        let mut published = Published::default();
        for image in &plan.images {
            let Some(digest) = pushed(state, image) else {
                continue;
            };
            published.images.insert(image.name.to_string(), digest);
            // The records an alias pointed at this image is written on: the
            // image's own, or each of its platforms'.
            let records: Vec<String> = if image.platforms.is_empty() {
                vec![image.name.to_string()]
            } else {
                image
                    .platforms
                    .iter()
                    .map(|p| crate::plan::platforms::unit_name(&image.name, p).into())
                    .collect()
            };
            for alias in &plan.aliases {
                let owned = alias_owner
                    .get(alias.tag.as_str())
                    .is_some_and(|(n, _)| records.iter().any(|r| r == n));
                if owned {
                    published
                        .aliases
                        .insert(alias.tag.to_string(), image.name.to_string());
                }
            }
        }
        published
    }

    /// As the registry holds it (`digests`: reference → manifest digest,
    /// for the references it has): an image whose name it has; an alias on
    /// the image whose digest it resolves to (its first candidate with that
    /// digest, else the first image of the plan), whoever moved it (`push`,
    /// `publish`, another machine); an alias at a digest no image has is
    /// not listed.
    pub fn from_registry(plan: &Plan, digests: &BTreeMap<String, String>) -> Published {
        let mut published = Published::default();
        for image in &plan.images {
            if let Some(digest) = digests.get(image.name.as_str()) {
                published
                    .images
                    .insert(image.name.to_string(), Some(digest.clone()));
            }
        }
        for alias in &plan.aliases {
            let Some(at) = digests.get(alias.tag.as_str()) else {
                continue;
            };
            // Its own candidates first; else any image of the plan with that
            // digest (the tag was moved outside the plan's rules).
            let owner = alias
                .candidates
                .iter()
                .chain(plan.images.iter().map(|i| &i.name))
                .map(ImageRef::as_str)
                .find(|c| digests.get(*c) == Some(at));
            if let Some(owner) = owner {
                published
                    .aliases
                    .insert(alias.tag.to_string(), owner.to_string());
            }
        }
        published
    }

    /// Every reference [`Published::from_registry`] needs resolved: each
    /// image's name and each alias's tag, once.
    pub fn references(plan: &Plan) -> Vec<ImageRef> {
        let mut all: Vec<ImageRef> = plan
            .images
            .iter()
            .map(|i| i.name.clone())
            .chain(plan.aliases.iter().map(|a| a.tag.clone()))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The catalog of `plan` as `published` says; Dockerfile paths relative to
/// the folder `relative_to`.
pub fn build(plan: &Plan, published: &Published, relative_to: &Path) -> Catalog {
    let mut repositories: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for image in &plan.images {
        let Some(digest) = published.images.get(image.name.as_str()) else {
            continue;
        };
        let mut tags = vec![&image.name];
        tags.extend(
            plan.aliases
                .iter()
                .filter(|a| {
                    published
                        .aliases
                        .get(a.tag.as_str())
                        .is_some_and(|i| *i == image.name)
                })
                .map(|a| &a.tag),
        );
        let dockerfile = relative(&image.context.join(&image.dockerfile), relative_to);
        let mut by_repo: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for tag in tags {
            by_repo
                .entry(tag.name())
                .or_default()
                .push(tag.tag_or_latest().to_string());
        }
        for (repo, tags) in by_repo {
            repositories
                .entry(repo.to_string())
                .or_default()
                .push(Entry {
                    image: image.name.to_string(),
                    tags,
                    dockerfile: dockerfile.clone(),
                    digest: digest.clone(),
                });
        }
    }
    Catalog {
        schema_version: CATALOG_SCHEMA_VERSION,
        repositories: repositories
            .into_iter()
            .map(|(name, images)| Repository { name, images })
            .collect(),
    }
}

/// `Some(digest)` when the state records `image`'s push (or, for an image
/// of several platforms, the push of every platform's image; their index's
/// digest is not recorded, hence `None` inside).
fn pushed(state: &State, image: &crate::plan::ImagePlan) -> Option<Option<String>> {
    if image.platforms.is_empty() {
        let pushed = state.images.get(image.name.as_str())?.pushed.as_ref()?;
        return Some(Some(pushed.digest.to_string()));
    }
    image
        .platforms
        .iter()
        .all(|p| {
            let unit = crate::plan::platforms::unit_name(&image.name, p);
            state
                .images
                .get(unit.as_str())
                .is_some_and(|s| s.pushed.is_some())
        })
        .then_some(None)
}

/// `path` as seen from `base` (`../app/Dockerfile` from `docs/`).
fn relative(path: &Path, base: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    pathdiff::diff_paths(absolute(path), absolute(base)).unwrap_or_else(|| path.to_path_buf())
}

/// The catalog as Markdown: a heading per repository, then a line per
/// image: its tags, then a link to its Dockerfile.
pub fn markdown(catalog: &Catalog) -> String {
    if catalog.repositories.is_empty() {
        return "_Nothing is published yet._\n".to_string();
    }
    let mut out = String::new();
    for repo in &catalog.repositories {
        out.push_str(&format!("### {}\n\n", code(&repo.name)));
        for entry in &repo.images {
            let tags: Vec<String> = entry.tags.iter().map(|t| code(t)).collect();
            let path = entry.dockerfile.to_string_lossy().replace('\\', "/");
            out.push_str(&format!(
                "- {}: [{}]({})\n",
                tags.join(", "),
                code(&path),
                link_target(&path)
            ));
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// A path as a Markdown link target: spaces, parentheses, angle brackets
/// and everything that is not printable ASCII percent-encoded, so that no
/// folder name can close the link or open an HTML comment (such as the
/// catalog's own end marker).
fn link_target(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b' ' | b'(' | b')' | b'<' | b'>' | b'`' | b'"' | b'\'' | b'[' | b']' | b'\\' | b'%' => {
                out.push_str(&format!("%{byte:02X}"))
            }
            0x21..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `text` shown as Markdown code (`` `text` ``) when it is plain; else as
/// escaped text, where HTML entities keep `<`, `&` and the like from
/// opening a tag or comment (a code span shows entities literally, and a
/// backtick would end it). Control characters are shown as `\u{..}`.
fn code(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() && !matches!(c, '<' | '>' | '&' | '`' | '\\'));
    if plain {
        return format!("`{text}`");
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("&#96;"),
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// The catalog as JSON, with its schema version.
pub fn json(catalog: &Catalog) -> String {
    let mut s = serde_json::to_string_pretty(catalog).expect("a catalog serializes");
    s.push('\n');
    s
}

/// Why the catalog cannot go into a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("has no `{0}` line")]
    Missing(&'static str),
    #[error("has `{0}` more than once")]
    Repeated(&'static str),
    #[error("has `{END_MARKER}` before `{START_MARKER}`")]
    Order,
}

/// `text` with everything between the marker lines replaced by `catalog`;
/// the markers and everything outside them are kept byte for byte.
pub fn replace_between_markers(text: &str, catalog: &str) -> Result<String, MarkerError> {
    let find = |marker: &'static str| -> Result<usize, MarkerError> {
        let mut hits = text.match_indices(marker).map(|(i, _)| i);
        let first = hits.next().ok_or(MarkerError::Missing(marker))?;
        match hits.next() {
            Some(_) => Err(MarkerError::Repeated(marker)),
            None => Ok(first),
        }
    };
    let start = find(START_MARKER)?;
    let end = find(END_MARKER)?;
    if end < start {
        return Err(MarkerError::Order);
    }
    let body_from = start + START_MARKER.len();
    let mut out = String::with_capacity(text.len() + catalog.len());
    out.push_str(&text[..body_from]);
    out.push_str("\n\n");
    out.push_str(catalog.trim_end_matches('\n'));
    out.push_str("\n\n");
    out.push_str(&text[end..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::plan::{AliasPlan, ImagePlan};
    use crate::state::{ImageState, PushState};

    fn image(name: &str, context: &str) -> ImagePlan {
        ImagePlan {
            name: crate::reference::ImageRef::parse(name).unwrap(),
            context: PathBuf::from("/repo").join(context),
            dockerfile: "Dockerfile".into(),
            needs: vec![],
            tests: vec![],
            build_args: BTreeMap::new(),
            artifacts: vec![],
            labels: BTreeMap::new(),
            cell: None,
            timeout: None,
            platforms: vec![],
            rename_bases: Default::default(),
            secrets: Vec::new(),
        }
    }

    fn pushed(aliases: &[&str], day: u32) -> ImageState {
        ImageState {
            image_id: format!("sha256:{:0>64}", day).into(),
            passed: true,
            tested_at: chrono::Utc
                .with_ymd_and_hms(2024, 11, day, 0, 0, 0)
                .unwrap(),
            tests: vec![],
            pushed: Some(PushState {
                digest: format!("sha256:{:f>64}", day).into(),
                pushed_at: chrono::Utc
                    .with_ymd_and_hms(2024, 11, day, 1, 0, 0)
                    .unwrap(),
                aliases: aliases.iter().map(|a| a.parse().unwrap()).collect(),
            }),
            inputs: None,
            bases: vec![],
            built: None,
            parts: None,
        }
    }

    fn alias(tag: &str, candidates: &[&str]) -> AliasPlan {
        AliasPlan {
            tag: tag.parse().unwrap(),
            candidates: candidates.iter().map(|c| c.parse().unwrap()).collect(),
            rule: None,
            fallback: false,
        }
    }

    fn plan() -> Plan {
        Plan {
            images: vec![
                image("reg/acme/bookworm:22.11.0", "gen/bookworm/22"),
                image("reg/acme/bookworm:20.18.0", "gen/bookworm/20"),
                image("reg/acme/bullseye:22.11.0", "gen/bullseye/22"),
            ],
            aliases: vec![
                alias("reg/acme/bookworm:22", &["reg/acme/bookworm:22.11.0"]),
                alias("reg/acme/bookworm:latest", &["reg/acme/bookworm:22.11.0"]),
                alias("reg/acme/node:22", &["reg/acme/bookworm:22.11.0"]),
                alias("reg/acme/bullseye:22", &["reg/acme/bullseye:22.11.0"]),
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn lists_only_what_was_pushed_with_the_aliases_its_push_pointed() {
        let mut state = State::default();
        state.images.insert(
            "reg/acme/bookworm:22.11.0".parse().unwrap(),
            pushed(
                &[
                    "reg/acme/bookworm:22",
                    "reg/acme/bookworm:latest",
                    "reg/acme/node:22",
                ],
                2,
            ),
        );
        state
            .images
            .insert("reg/acme/bookworm:20.18.0".parse().unwrap(), pushed(&[], 2));
        // Tested, never pushed: not published.
        let mut tested = pushed(&[], 2);
        tested.pushed = None;
        state
            .images
            .insert("reg/acme/bullseye:22.11.0".parse().unwrap(), tested);

        let catalog = build(
            &plan(),
            &Published::from_state(&plan(), &state),
            Path::new("/repo"),
        );
        assert_eq!(catalog.counts(), (3, 5));
        assert_eq!(
            markdown(&catalog),
            "### `reg/acme/bookworm`\n\n\
             - `22.11.0`, `22`, `latest`: [`gen/bookworm/22/Dockerfile`](gen/bookworm/22/Dockerfile)\n\
             - `20.18.0`: [`gen/bookworm/20/Dockerfile`](gen/bookworm/20/Dockerfile)\n\n\
             ### `reg/acme/node`\n\n\
             - `22`: [`gen/bookworm/22/Dockerfile`](gen/bookworm/22/Dockerfile)\n"
        );
        let json: serde_json::Value = serde_json::from_str(&json(&catalog)).unwrap();
        assert_eq!(
            json["repositories"][0]["images"][0]["image"],
            "reg/acme/bookworm:22.11.0"
        );
        assert_eq!(
            json["repositories"][0]["images"][0]["digest"],
            format!("sha256:{:f>64}", 2)
        );
    }

    #[test]
    fn an_alias_belongs_to_the_image_that_was_pushed_with_it_last() {
        let mut state = State::default();
        state.images.insert(
            "reg/acme/bookworm:22.11.0".parse().unwrap(),
            pushed(&["reg/acme/node:22"], 3),
        );
        state.images.insert(
            "reg/acme/bullseye:22.11.0".parse().unwrap(),
            pushed(&["reg/acme/node:22"], 2),
        );
        let mut p = plan();
        p.aliases = vec![alias(
            "reg/acme/node:22",
            &["reg/acme/bookworm:22.11.0", "reg/acme/bullseye:22.11.0"],
        )];
        let catalog = build(&p, &Published::from_state(&p, &state), Path::new("/repo"));
        let node = catalog
            .repositories
            .iter()
            .find(|r| r.name == "reg/acme/node")
            .unwrap();
        assert_eq!(node.images.len(), 1);
        assert_eq!(node.images[0].image, "reg/acme/bookworm:22.11.0");
    }

    #[test]
    fn an_image_of_several_platforms_is_published_when_every_platform_is() {
        let platforms: Vec<crate::reference::Platform> = vec![
            "linux/amd64".parse().unwrap(),
            "linux/arm64".parse().unwrap(),
        ];
        let mut p = plan();
        p.images[0].platforms = platforms.clone();
        let units: Vec<String> = platforms
            .iter()
            .map(|pl| {
                let image = "reg/acme/bookworm:22.11.0".parse().unwrap();
                crate::plan::platforms::unit_name(&image, pl).into()
            })
            .collect();
        let mut state = State::default();
        state.images.insert(
            units[0].parse().unwrap(),
            pushed(&["reg/acme/bookworm:22"], 2),
        );
        let only_one = build(&p, &Published::from_state(&p, &state), Path::new("/repo"));
        assert_eq!(only_one.counts(), (0, 0), "{only_one:?}");

        state.images.insert(
            units[1].parse().unwrap(),
            pushed(&["reg/acme/bookworm:22"], 2),
        );
        let both = build(&p, &Published::from_state(&p, &state), Path::new("/repo"));
        assert_eq!(
            markdown(&both),
            "### `reg/acme/bookworm`\n\n\
             - `22.11.0`, `22`: [`gen/bookworm/22/Dockerfile`](gen/bookworm/22/Dockerfile)\n"
        );
        assert_eq!(both.repositories[0].images[0].digest, None);
    }

    #[test]
    fn from_the_registry_an_alias_belongs_to_the_image_at_its_digest_whoever_moved_it() {
        let d = |n: u32| format!("sha256:{n:0>64}");
        let mut p = plan();
        p.aliases.push(alias(
            "reg/acme/node:lts",
            &["reg/acme/bookworm:22.11.0", "reg/acme/bookworm:20.18.0"],
        ));
        let digests: BTreeMap<String, String> = [
            ("reg/acme/bookworm:22.11.0", d(1)),
            ("reg/acme/bookworm:20.18.0", d(2)),
            // Moved by `publish` on another machine: no state knows it.
            ("reg/acme/node:22", d(1)),
            // Held back on the older image (never backwards).
            ("reg/acme/node:lts", d(2)),
            // At a digest no image of the plan has: not listed.
            ("reg/acme/bookworm:latest", d(9)),
        ]
        .into_iter()
        .map(|(r, d)| (r.to_string(), d))
        .collect();
        assert_eq!(Published::references(&p).len(), 8);
        let catalog = build(
            &p,
            &Published::from_registry(&p, &digests),
            Path::new("/repo"),
        );
        assert_eq!(
            markdown(&catalog),
            "### `reg/acme/bookworm`\n\n\
             - `22.11.0`: [`gen/bookworm/22/Dockerfile`](gen/bookworm/22/Dockerfile)\n\
             - `20.18.0`: [`gen/bookworm/20/Dockerfile`](gen/bookworm/20/Dockerfile)\n\n\
             ### `reg/acme/node`\n\n\
             - `22`: [`gen/bookworm/22/Dockerfile`](gen/bookworm/22/Dockerfile)\n\
             - `lts`: [`gen/bookworm/20/Dockerfile`](gen/bookworm/20/Dockerfile)\n"
        );
        assert_eq!(
            catalog.repositories[0].images[0].digest.as_deref(),
            Some(d(1).as_str())
        );
    }

    #[test]
    fn paths_are_relative_to_the_readme_folder() {
        assert_eq!(
            relative(Path::new("/repo/gen/a/Dockerfile"), Path::new("/repo/docs")),
            PathBuf::from("../gen/a/Dockerfile")
        );
        assert_eq!(
            relative(Path::new("/repo/gen/a/Dockerfile"), Path::new("/repo")),
            PathBuf::from("gen/a/Dockerfile")
        );
    }

    #[test]
    fn nothing_published_says_so() {
        let catalog = build(&plan(), &Published::default(), Path::new("/repo"));
        assert_eq!(markdown(&catalog), "_Nothing is published yet._\n");
    }

    #[test]
    fn markers_keep_everything_outside_them() {
        let text =
            format!("# Title\n\nIntro.\n\n{START_MARKER}\nold\nlines\n{END_MARKER}\n\nAfter.\n");
        let new = replace_between_markers(&text, "- `1`: x\n").unwrap();
        assert_eq!(
            new,
            format!("# Title\n\nIntro.\n\n{START_MARKER}\n\n- `1`: x\n\n{END_MARKER}\n\nAfter.\n")
        );
        // Replacing again gives the same text.
        assert_eq!(replace_between_markers(&new, "- `1`: x\n").unwrap(), new);
    }

    #[test]
    fn marker_like_folder_names_are_escaped_in_the_markdown() {
        let mut plan = plan();
        let evil = format!("app/{END_MARKER}x/22");
        plan.images[0].context = PathBuf::from(&evil);
        let mut published = Published::default();
        published.images.insert(
            plan.images[0].name.to_string(),
            Some("sha256:1".to_string()),
        );
        let md = markdown(&build(&plan, &published, Path::new(".")));
        assert!(!md.contains("<!--"), "{md}");
        assert!(
            md.contains("[app/&lt;!-- strata:catalog:end --&gt;x/22/Dockerfile]"),
            "{md}"
        );
        assert!(
            md.contains("(app/%3C!--%20strata:catalog:end%20--%3Ex/22/"),
            "{md}"
        );
        // Written into a README, the file keeps exactly one pair of markers.
        let readme = format!("{START_MARKER}\n{END_MARKER}\n");
        let new = replace_between_markers(&readme, &md).unwrap();
        assert!(replace_between_markers(&new, "").is_ok(), "{new}");
    }

    #[test]
    fn missing_repeated_or_swapped_markers_are_refused() {
        assert_eq!(
            replace_between_markers("no markers", "x"),
            Err(MarkerError::Missing(START_MARKER))
        );
        let only_start = format!("{START_MARKER}\n");
        assert_eq!(
            replace_between_markers(&only_start, "x"),
            Err(MarkerError::Missing(END_MARKER))
        );
        let twice = format!("{START_MARKER}\n{END_MARKER}\n{START_MARKER}\n");
        assert_eq!(
            replace_between_markers(&twice, "x"),
            Err(MarkerError::Repeated(START_MARKER))
        );
        let swapped = format!("{END_MARKER}\n{START_MARKER}\n");
        assert_eq!(
            replace_between_markers(&swapped, "x"),
            Err(MarkerError::Order)
        );
    }
}
