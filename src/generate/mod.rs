//! Expanding a native matrix config into images and rendered files.
//!
//! [`plan`] is pure apart from reading the config's template folders and its
//! release feed: OS releases × selected runtime versions × further axes, minus
//! exclusions, each cell rendered from the templates into a [`Plan`] whose
//! `files` hold every file of the generated tree. The same input gives the
//! same plan, byte for byte. [`write()`] puts the tree on disk without ever
//! touching a file it did not write; [`inventory_yaml`] renders a Dante
//! `inventory.yml` for it.

mod cells;
pub mod export;
pub mod render;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::config::files::{reject_from, DOCKERFILE};
use crate::config::native::NativeConfig;
use crate::config::run_file::{RunTest, RUN_FILE};
use crate::config::yaml::{suggest, Source};
use crate::error::InputError;
use crate::feed::{self, kind::Feed, kind::Selected};
use crate::plan::{test_tag, Artifact, ArtifactSource, GeneratedFile, ImagePlan, Plan, TestPlan};

use cells::Exclusions;
use render::{TemplateDir, Templates};

pub use export::inventory_yaml;
pub use write::{write, WriteError, WriteSummary};

/// The longest folder name a cell may get (`<version>-<value>…`), in bytes:
/// what common file systems allow for one name.
const MAX_FOLDER_NAME: usize = 255;

/// The file `generate::write` keeps in the output folder, listing what it wrote.
pub const MARKER: &str = ".strata-generated";

/// Expands `config` (read from `source`) into a plan. `as_of` overrides the
/// file's `as_of`; with neither, today is used.
pub fn plan(
    config: &NativeConfig,
    source: &Source,
    as_of: Option<NaiveDate>,
) -> Result<Plan, InputError> {
    let base_dir = source.base_dir();
    let as_of = resolve_as_of(config, source, as_of)?;
    let axes = cells::axes(config, source)?;
    let feed = load_feed(config, source, &base_dir)?;
    let selected = select(config, source, &feed, as_of)?;

    let mut templates = Templates::new(source);
    let exclusions = Exclusions::compile(config, source, &axes, &mut templates)?;
    let out_rel = PathBuf::from(&config.output);
    let out_dir = base_dir.join(&out_rel);
    let mut plan = Plan {
        source: source.path.clone(),
        pull: config.pull,
        builder: config.builder,
        ..Plan::default()
    };

    // Per-OS base images, built first.
    let mut bases: BTreeMap<String, String> = BTreeMap::new();
    if let Some(base) = &config.base {
        let name_key = templates.add_inline("base.name", &base.name)?;
        for os in &config.os {
            let folder = os.template.as_ref().unwrap_or(&base.template);
            let dir = TemplateDir::read(&base_dir, &folder.value, &mut templates, &|m| {
                source.error_at(folder, m, "this folder")
            })?;
            require_dockerfile(&dir, source, folder)?;
            let mut ctx = Map::new();
            ctx.insert("os".into(), cells::axis_object(os));
            let ctx = Value::Object(ctx);
            let name = templates.render(&name_key, &ctx)?.trim().to_string();
            let name = check_reference(source, &base.name, "base name", &name, &os.name.value)?;
            let rel = PathBuf::from("base").join(&os.name.value);
            push_files(&mut plan, &rel, dir.render(&templates, &ctx)?);
            bases.insert(os.name.value.clone(), name.to_string());
            plan.images.push(ImagePlan {
                name,
                context: out_dir.join(&rel),
                dockerfile: "Dockerfile".into(),
                needs: Vec::new(),
                tests: Vec::new(),
                build_args: BTreeMap::new(),
                artifacts: Vec::new(),
                labels: BTreeMap::from([
                    ("os".to_string(), os.name.value.clone()),
                    ("role".to_string(), "base".to_string()),
                ]),
                timeout: None,
                platforms: Vec::new(),
                rename_bases: Default::default(),
                secrets: base.secrets.iter().map(|c| c.plan(&base_dir)).collect(),
            });
        }
    }

    let image_name = templates.add_inline("image.name", &config.image.name)?;
    let image_dir = TemplateDir::read(
        &base_dir,
        &config.image.template.value,
        &mut templates,
        &|m| source.error_at(&config.image.template, m, "this folder"),
    )?;
    require_dockerfile(&image_dir, source, &config.image.template)?;
    let artifacts = compile_artifacts(config, &mut templates)?;
    let default_platforms = compile_platforms(&config.platforms, source, &mut templates)?;
    let mut os_platforms: BTreeMap<String, Vec<PlatformRule>> = BTreeMap::new();
    for os in &config.os {
        if let Some(entries) = &os.platforms {
            let rules = compile_platforms(entries, source, &mut templates)?;
            os_platforms.insert(os.name.value.clone(), rules);
        }
    }
    let tests = compile_tests(config, source, &base_dir, &mut templates)?;

    let mut candidates = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut folders: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut used_exclusions = std::collections::BTreeSet::new();
    for release in &selected {
        let release_facts = &release.facts;
        for point in cells::points(&axes) {
            let what = point.describe(&release.text);
            let os = point.os();
            let mut facts = release_facts.clone();
            point.add_facts(&mut facts);
            let base = bases
                .get(os)
                .cloned()
                .or_else(|| point.os_from().map(str::to_string));
            facts.insert(
                feed::facts::BASE.into(),
                base.clone().map_or(Value::Null, Value::from),
            );
            let cell_facts = Value::Object(facts.clone());
            if let Some((rule, reason)) =
                exclusions.reason_for(&point, &release.order, &cell_facts, &templates)?
            {
                used_exclusions.insert(rule);
                plan.excluded.push(crate::plan::Excluded {
                    what,
                    reason: reason.to_string(),
                });
                continue;
            }
            let rules = os_platforms.get(os).unwrap_or(&default_platforms);
            let mut platforms = Vec::new();
            for rule in rules {
                let holds = match &rule.when {
                    None => true,
                    Some(key) => {
                        let mut f = facts.clone();
                        f.insert(
                            feed::facts::PLATFORM.into(),
                            rule.platform.to_string().into(),
                        );
                        templates.holds(key, &Value::Object(f))?
                    }
                };
                match holds {
                    true => platforms.push(rule.platform.clone()),
                    false => plan.excluded.push(crate::plan::Excluded {
                        what: format!("{what} on {}", rule.platform),
                        reason: "its platform's `when` is false".into(),
                    }),
                }
            }
            if !rules.is_empty() && platforms.is_empty() {
                plan.excluded.push(crate::plan::Excluded {
                    what,
                    reason: "none of its platforms applies".into(),
                });
                continue;
            }

            let mut files = Map::new();
            let mut image_artifacts = Vec::new();
            let ctx = Value::Object(facts.clone());
            for a in &artifacts {
                if let Some(when) = &a.when {
                    if !templates.holds(when, &ctx)? {
                        continue;
                    }
                }
                let (file, source) = a.render(&templates, &ctx)?;
                files.insert(a.name.clone(), Value::from(file.clone()));
                image_artifacts.push(Artifact {
                    file_name: file,
                    source,
                });
            }
            facts.insert(feed::facts::ARTIFACTS.into(), Value::Object(files));
            let name = templates
                .render(&image_name, &Value::Object(facts.clone()))?
                .trim()
                .to_string();
            let parsed = check_reference(source, &config.image.name, "image name", &name, &what)?;
            if let Some(other) = seen.insert(name.clone(), what.clone()) {
                return Err(source
                    .error_at(
                        &config.image.name,
                        format!("the image name template gives `{name}` for both {other} and {what}"),
                        "not unique",
                    )
                    .with_help("use every axis in the name, such as `{{ version }}-{{ os.name }}-{{ variant.name }}`"));
            }
            facts.insert(feed::facts::IMAGE.into(), Value::from(name.clone()));
            let ctx = Value::Object(facts.clone());

            let rel = PathBuf::from("images")
                .join(os)
                .join(point.slug(&release.text));
            let slug = point.slug(&release.text);
            if slug.len() > MAX_FOLDER_NAME {
                return Err(source
                    .error_at(
                        point.last_value(),
                        format!(
                            "the folder of cell {} would be {} bytes long, more than the {MAX_FOLDER_NAME} a file system allows",
                            crate::text::quote(&what),
                            slug.len()
                        ),
                        "folder name too long",
                    )
                    .with_help("use shorter axis value names (the folder is `<version>-<value>-<value>…`)"));
            }
            // Case folded: on a case-insensitive disk `A` and `a` are one folder.
            let folder_key = rel.to_string_lossy().to_lowercase();
            if let Some((other, other_lines)) =
                folders.insert(folder_key, (what.clone(), point.lines(source)))
            {
                return Err(source
                    .error_at(
                        point.last_value(),
                        format!(
                            "cells {} ({other_lines}) and {} ({}) both render into {}",
                            crate::text::quote(&other),
                            crate::text::quote(&what),
                            point.lines(source),
                            crate::text::quote(&rel.to_string_lossy())
                        ),
                        "same folder as another cell",
                    )
                    .with_help("rename an axis value so each cell has its own folder (`images/<os>/<version>-<values…>`)"));
            }
            push_files(&mut plan, &rel, image_dir.render(&templates, &ctx)?);

            let mut image_tests = Vec::new();
            for test in &tests {
                if let Some(when) = &test.when {
                    if !templates.holds(when, &ctx)? {
                        continue;
                    }
                }
                let index = image_tests.len() + 1;
                let path = match &test.kind {
                    TestKind::Static(path) => path.clone(),
                    TestKind::Template(dir) => {
                        let test_rel = PathBuf::from("tests")
                            .join(os)
                            .join(point.slug(&release.text))
                            .join(&test.name);
                        let files = dir.render(&templates, &ctx)?;
                        check_test_files(&out_dir.join(&test_rel), &files, &name)?;
                        push_files(&mut plan, &test_rel, files);
                        out_dir.join(test_rel)
                    }
                };
                let tag = test_tag(&parsed, index);
                check_reference(source, &config.image.name, "test tag", &tag, &what)?;
                image_tests.push(TestPlan {
                    index,
                    path,
                    tag,
                    timeout: test.timeout,
                    secrets: test.secrets.clone(),
                });
            }

            let mut labels = point.labels();
            labels.insert("version".into(), release.text.clone());
            plan.images.push(ImagePlan {
                name: parsed.clone(),
                context: out_dir.join(&rel),
                dockerfile: "Dockerfile".into(),
                needs: Vec::new(),
                tests: image_tests,
                build_args: BTreeMap::new(),
                artifacts: image_artifacts,
                labels,
                timeout: config.image.timeout.map(|t| t.0),
                platforms,
                rename_bases: Default::default(),
                secrets: config
                    .image
                    .secrets
                    .iter()
                    .map(|c| c.plan(&base_dir))
                    .collect(),
            });
            candidates.push(crate::alias::Candidate {
                image: name,
                version: release.order.clone(),
                facts: Value::Object(facts),
            });
        }
    }

    // A base is built for every platform an image on it is.
    let mut wanted: BTreeMap<String, Vec<crate::reference::Platform>> = BTreeMap::new();
    for image in &plan.images {
        let Some(os) = image.labels.get("os") else {
            continue;
        };
        if image.labels.get("role").map(String::as_str) == Some("base") {
            continue;
        }
        let list = wanted.entry(os.clone()).or_default();
        for p in &image.platforms {
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
    }
    for image in plan.images.iter_mut() {
        if image.labels.get("role").map(String::as_str) == Some("base") {
            if let Some(list) = image.labels.get("os").and_then(|os| wanted.get(os)) {
                let rules = os_platforms
                    .get(&image.labels["os"])
                    .unwrap_or(&default_platforms);
                // In the order the platforms were written.
                image.platforms = rules
                    .iter()
                    .map(|r| r.platform.clone())
                    .filter(|p| list.contains(p))
                    .collect();
            }
        }
    }

    plan.aliases = crate::alias::compute(&config.aliases, &candidates).map_err(|e| {
        InputError::plain(format!("{}: aliases: {e}", source.name()))
            .with_help("alias rules see the same facts as the templates")
    })?;
    plan.warnings = exclusions.unused(&used_exclusions);
    order_images(&mut plan, &out_dir)?;
    plan.files.sort_by(|a, b| a.path.cmp(&b.path));
    plan.output = Some(out_dir);
    Ok(plan)
}

/// Orders images by what their rendered Dockerfiles say, not by how the
/// matrix was walked: an image built `FROM` another image of the plan comes
/// after it, and a cycle is an error naming the images in it.
fn order_images(plan: &mut Plan, out_dir: &Path) -> Result<(), InputError> {
    let texts: BTreeMap<PathBuf, &str> = plan
        .files
        .iter()
        .map(|f| (out_dir.join(&f.path), f.content.as_str()))
        .collect();
    let dockerfiles: Vec<&str> = plan
        .images
        .iter()
        .map(|i| {
            texts
                .get(&i.context.join(&i.dockerfile))
                .copied()
                .unwrap_or("")
        })
        .collect();
    let names: Vec<String> = plan.images.iter().map(|i| i.name.to_string()).collect();
    plan.images = crate::plan::order::order_by_from(std::mem::take(&mut plan.images), &dockerfiles)
        .map_err(|cycle| {
            let chain: Vec<String> = cycle.0.iter().map(|&i| format!("`{}`", names[i])).collect();
            InputError::plain(format!(
                "images are built from each other in a cycle: {} FROM {}",
                chain.join(" FROM "),
                chain[0]
            ))
            .with_help("an image cannot be built from itself, directly or through others; change a template's FROM line")
        })?;
    Ok(())
}

/// Checks a reference rendered for `cell` from the template at `at` and
/// returns it parsed: one the engine or a registry would refuse is an input
/// error now, naming the cell and the rule, not a failed build later.
fn check_reference(
    source: &Source,
    at: &serde_saphyr::Spanned<String>,
    what: &str,
    rendered: &str,
    cell: &str,
) -> Result<crate::reference::ImageRef, InputError> {
    let rule = match crate::reference::ImageRef::parse(rendered) {
        Ok(r) if r.digest().is_some() => "a name to build cannot carry a digest".to_string(),
        Ok(r) => return Ok(r),
        Err(e) => e.to_string(),
    };
    Err(source
        .error_at(
            at,
            format!(
                "the {what} for {} renders as `{}`, not a valid image reference: {rule}",
                crate::text::quote(cell),
                crate::text::quote(rendered)
            ),
            "renders an invalid reference",
        )
        .with_help(
            "image references are `[registry/]repository[:tag]`: a lowercase repository, a tag of at most 128 letters, digits, `_`, `.` or `-`; a feed version with build metadata (`1.0.0+b`) cannot be a tag as it is, use `major`/`minor`/`patch` or a filter such as `replace`",
        ))
}

fn push_files(plan: &mut Plan, rel: &Path, files: Vec<(PathBuf, String)>) {
    for (path, content) in files {
        plan.files.push(GeneratedFile {
            path: rel.join(path),
            content,
        });
    }
}

fn require_dockerfile(
    dir: &TemplateDir,
    source: &Source,
    at: &serde_saphyr::Spanned<String>,
) -> Result<(), InputError> {
    if dir.has_dockerfile() {
        return Ok(());
    }
    Err(source.error_at(
        at,
        format!(
            "template folder {} has no Dockerfile.j2 (or Dockerfile)",
            dir.display
        ),
        "this folder",
    ))
}

fn resolve_as_of(
    config: &NativeConfig,
    source: &Source,
    cli: Option<NaiveDate>,
) -> Result<NaiveDate, InputError> {
    if let Some(date) = cli {
        return Ok(date);
    }
    match &config.as_of {
        Some(text) => NaiveDate::parse_from_str(text.value.trim(), "%Y-%m-%d").map_err(|e| {
            source.error_at(
                text,
                format!("as_of `{}` is not a date: {e}", text.value),
                "expected YYYY-MM-DD",
            )
        }),
        None => Ok(chrono::Local::now().date_naive()),
    }
}

fn load_feed(config: &NativeConfig, source: &Source, base_dir: &Path) -> Result<Feed, InputError> {
    use crate::config::native::FeedKind;
    let f = &config.feed.value;
    let kind = f.kind;
    // A key another kind reads is a mistake worth naming: it would be ignored.
    let misplaced = |key: &str, at: &dyn Fn() -> InputError| -> InputError {
        at().with_help(format!(
            "`{key}` is read by {}; the `{}` kind reads {}",
            match key {
                "index" | "schedule" => "the `node` kind",
                "versions" => "the `list` kind",
                _ => "the `endoflife`, `npm` and `list` kinds",
            },
            kind.name(),
            match kind {
                FeedKind::Node => "`index` and `schedule`",
                FeedKind::List => "`versions` or `source`",
                _ => "`source`",
            }
        ))
    };
    let wrong = |key: &str, at: &serde_saphyr::Spanned<String>| {
        misplaced(key, &|| {
            source.error_at(
                at,
                format!("`feed.{key}` does not belong to a `{}` feed", kind.name()),
                "not for this kind",
            )
        })
    };
    let missing = |what: &str| {
        source
            .error_at(
                &config.feed,
                format!("a `{}` feed needs `{what}`", kind.name()),
                "this feed",
            )
            .with_help(match kind {
                FeedKind::Node => "add `index: feed/index.tab` and `schedule: feed/schedule.json` (files or URLs)",
                FeedKind::Endoflife => "add `source:` with an endoflife.date product file or URL, such as https://endoflife.date/api/python.json",
                FeedKind::Npm => "add `source:` with an npm package document file or URL, such as https://registry.npmjs.org/bun",
                FeedKind::List => "add `versions:` (a list of maps with `version`) or `source:` (a YAML or JSON file holding one)",
            })
    };
    // Reads a feed file or URL through the feed loader.
    let text = |at: &serde_saphyr::Spanned<String>, what: &str| {
        feed::load(&at.value, base_dir).map_err(|e| {
            let err = source.error_at(at, format!("{what}: {e}"), "this feed");
            // A feed URL that cannot be reached is the environment's fault (exit 3).
            if e.is_environment() {
                err.unreachable()
            } else {
                err
            }
        })
    };
    let parsed = |at: &serde_saphyr::Spanned<String>, e: feed::FeedError| {
        source.error_at(at, format!("{}: {e}", at.value), "this feed")
    };
    if kind != FeedKind::Node {
        for (key, at) in [("index", &f.index), ("schedule", &f.schedule)] {
            if let Some(at) = at {
                return Err(wrong(key, at));
            }
        }
    }
    if kind != FeedKind::List {
        if let Some(at) = &f.versions {
            return Err(misplaced("versions", &|| {
                source.error_at(
                    at,
                    format!(
                        "`feed.versions` does not belong to a `{}` feed",
                        kind.name()
                    ),
                    "not for this kind",
                )
            }));
        }
    }
    match kind {
        FeedKind::Node => {
            if let Some(at) = &f.source {
                return Err(wrong("source", at));
            }
            let index_at = f.index.as_ref().ok_or_else(|| missing("index"))?;
            let sched_at = f.schedule.as_ref().ok_or_else(|| missing("schedule"))?;
            let index_text = text(index_at, "release index")?;
            let releases = feed::index::parse(&index_text).map_err(|e| parsed(index_at, e))?;
            let sched_text = text(sched_at, "release schedule")?;
            let schedule =
                feed::release_schedule::parse(&sched_text).map_err(|e| parsed(sched_at, e))?;
            Ok(Feed::Node { releases, schedule })
        }
        FeedKind::Endoflife => {
            let at = f.source.as_ref().ok_or_else(|| missing("source"))?;
            let body = text(at, "endoflife.date product")?;
            feed::endoflife::parse(&body)
                .map(Feed::Generic)
                .map_err(|e| parsed(at, e))
        }
        FeedKind::Npm => {
            let at = f.source.as_ref().ok_or_else(|| missing("source"))?;
            let body = text(at, "npm package document")?;
            feed::npm::parse(&body, f.cycle)
                .map(Feed::Generic)
                .map_err(|e| parsed(at, e))
        }
        FeedKind::List => match (&f.versions, &f.source) {
            (Some(at), None) => feed::list::parse(&at.value, f.cycle)
                .map(Feed::Generic)
                .map_err(|e| source.error_at(at, format!("feed.versions: {e}"), "these versions")),
            (None, Some(at)) => {
                let body = text(at, "list of versions")?;
                feed::list::parse_text(&body, f.cycle)
                    .map(Feed::Generic)
                    .map_err(|e| parsed(at, e))
            }
            (Some(_), Some(at)) => Err(source
                .error_at(
                    at,
                    "a `list` feed has `versions` and `source`",
                    "one too many",
                )
                .with_help("keep the versions in `strata.yml` or in a file, not both")),
            (None, None) => Err(missing("versions")),
        },
    }
}

/// Where the feed's releases were read from, for messages.
fn feed_name(config: &NativeConfig) -> String {
    let f = &config.feed.value;
    f.index
        .as_ref()
        .or(f.source.as_ref())
        .map_or_else(|| "in `feed.versions`".to_string(), |at| at.value.clone())
}

fn select(
    config: &NativeConfig,
    source: &Source,
    feed: &Feed,
    as_of: NaiveDate,
) -> Result<Vec<Selected>, InputError> {
    let range_at = &config.feed.value.range;
    let range = nodejs_semver::Range::parse(&range_at.value).map_err(|e| {
        source.error_at(
            range_at,
            format!("`{}` is not a semver range: {e}", range_at.value),
            "bad range",
        )
    })?;
    let selected = feed.select(&range, config.feed.value.pick, as_of);
    if selected.is_empty() {
        let newest = feed
            .newest()
            .map(|v| format!(", the newest is {v}"))
            .unwrap_or_default();
        return Err(source
            .error_at(
                range_at,
                format!(
                    "no release matches `{}`: the feed {} lists {} releases{newest}",
                    range_at.value,
                    feed_name(config),
                    feed.len()
                ),
                "selects nothing",
            )
            .with_help("widen the range, or check that the feed is the one you meant"));
    }
    Ok(selected)
}

/// An artifact entry with its templates compiled.
struct ArtifactTemplates {
    name: String,
    file: String,
    /// Where `file` is written in the config, for errors about its value.
    file_at: serde_saphyr::Spanned<String>,
    kind: ArtifactKind,
    /// The key of its `when` template, if any.
    when: Option<String>,
}

enum ArtifactKind {
    Npm {
        package: String,
        version: String,
    },
    Url {
        url: String,
        sha256: Option<String>,
        shasums: Option<String>,
    },
}

impl ArtifactTemplates {
    fn render(
        &self,
        t: &Templates<'_>,
        ctx: &Value,
    ) -> Result<(String, ArtifactSource), InputError> {
        let file = t.render(&self.file, ctx)?.trim().to_string();
        if let Err(problem) = check_artifact_file(&file) {
            return Err(t
                .config_error(
                    &self.file_at,
                    format!(
                        "artifacts.{}.file gives `{}`, which {problem}",
                        self.name,
                        crate::text::cut(&file.escape_debug().to_string(), 200)
                    ),
                )
                .with_help(
                    "give a file name inside the build context, such as `node.tar.gz` or `dist/node.tar.gz`",
                ));
        }
        let source = match &self.kind {
            ArtifactKind::Npm { package, version } => ArtifactSource::Npm {
                package: package.clone(),
                version: t.render(version, ctx)?.trim().to_string(),
            },
            ArtifactKind::Url {
                url,
                sha256,
                shasums,
            } => ArtifactSource::Url {
                url: t.render(url, ctx)?.trim().to_string(),
                sha256: sha256
                    .as_ref()
                    .map(|k| t.render(k, ctx))
                    .transpose()?
                    .map(|s| s.trim().to_string()),
                shasums_url: shasums
                    .as_ref()
                    .map(|k| t.render(k, ctx))
                    .transpose()?
                    .map(|s| s.trim().to_string()),
            },
        };
        Ok((file, source))
    }
}

/// Why `file` cannot name an artifact's place in a build context: it must
/// be a relative path of plain names (no `..`, `.`, empty or absolute parts,
/// no control characters), at most 255 bytes.
fn check_artifact_file(file: &str) -> Result<(), &'static str> {
    if file.is_empty() {
        return Err("is empty");
    }
    if file.len() > 255 {
        return Err("is longer than 255 bytes");
    }
    if file.chars().any(char::is_control) || file.contains('\\') {
        return Err("holds a control character or a backslash");
    }
    if file.starts_with('/') {
        return Err("is an absolute path");
    }
    if file
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("has an empty, `.` or `..` part: it must stay inside the build context");
    }
    Ok(())
}

/// A platform an image may be built for, and the condition for it.
struct PlatformRule {
    platform: crate::reference::Platform,
    /// The key of a `when` template, if any.
    when: Option<String>,
}

/// Reads `platforms` entries, each checked where it was written.
fn compile_platforms(
    entries: &[serde_saphyr::Spanned<crate::config::native::PlatformEntry>],
    source: &Source,
    t: &mut Templates<'_>,
) -> Result<Vec<PlatformRule>, InputError> {
    let mut rules: Vec<PlatformRule> = Vec::new();
    for entry in entries {
        let text = entry.value.platform().trim();
        let platform: crate::reference::Platform =
            text.parse().map_err(|m: crate::reference::PlatformError| {
                source
                    .error_at(entry, m.to_string(), "not a platform")
                    .with_help(
                    "write platforms as the engine does: linux/amd64, linux/arm64, linux/arm/v7",
                )
            })?;
        if rules.iter().any(|r| r.platform == platform) {
            return Err(source
                .error_at(
                    entry,
                    format!("platform {platform} is listed twice"),
                    "again",
                )
                .with_help("list each platform once"));
        }
        let when = entry
            .value
            .when()
            .map(|w| {
                t.add_unplaced(
                    &format!("platforms[{platform}].when"),
                    &format!("{{% if {w} %}}1{{% endif %}}"),
                )
            })
            .transpose()?;
        rules.push(PlatformRule { platform, when });
    }
    Ok(rules)
}

fn compile_artifacts(
    config: &NativeConfig,
    t: &mut Templates<'_>,
) -> Result<Vec<ArtifactTemplates>, InputError> {
    let mut out = Vec::new();
    for (name, a) in &config.artifacts {
        let what = format!("artifacts.{name}");
        let file = t.add_inline(&format!("{what}.file"), &a.file)?;
        let kind = match (&a.npm, &a.url) {
            (Some(package), None) => {
                let version = match &a.version {
                    Some(v) => t.add_inline(&format!("{what}.version"), v)?,
                    None => t.add_unplaced(&format!("{what}.version"), "{{ version }}")?,
                };
                ArtifactKind::Npm {
                    package: package.clone(),
                    version,
                }
            }
            (None, Some(url)) => {
                if a.sha256.is_none() && a.shasums.is_none() {
                    return Err(t.config_error(
                        url,
                        format!(
                            "{what}: a URL artifact needs `sha256` or `shasums` to be verified"
                        ),
                    ));
                }
                ArtifactKind::Url {
                    url: t.add_inline(&format!("{what}.url"), url)?,
                    sha256: a
                        .sha256
                        .as_ref()
                        .map(|s| t.add_inline(&format!("{what}.sha256"), s))
                        .transpose()?,
                    shasums: a
                        .shasums
                        .as_ref()
                        .map(|s| t.add_inline(&format!("{what}.shasums"), s))
                        .transpose()?,
                }
            }
            _ => {
                return Err(t.config_error(
                    &a.file,
                    format!("{what}: give exactly one of `npm` or `url`"),
                ));
            }
        };
        let when = a
            .when
            .as_ref()
            .map(|w| {
                let condition = serde_saphyr::Spanned {
                    value: format!("{{% if {} %}}1{{% endif %}}", w.value),
                    referenced: w.referenced,
                    defined: w.defined,
                };
                t.add_inline(&format!("{what}.when"), &condition)
            })
            .transpose()?;
        out.push(ArtifactTemplates {
            name: name.clone(),
            file,
            file_at: a.file.clone(),
            kind,
            when,
        });
    }
    Ok(out)
}

/// A test folder of the config, ready to be given to each image.
struct TestTemplates {
    /// The folder's last component: names the rendered copy.
    name: String,
    when: Option<String>,
    kind: TestKind,
    /// Seconds its layer build may take, if the config says.
    timeout: Option<u64>,
    /// Its own build secrets, planned.
    secrets: Vec<crate::config::secrets::SecretSpec>,
}

enum TestKind {
    /// A folder used in place (its Dockerfile has no template).
    Static(PathBuf),
    /// A folder rendered per image into the output tree.
    Template(TemplateDir),
}

fn compile_tests(
    config: &NativeConfig,
    source: &Source,
    base_dir: &Path,
    t: &mut Templates<'_>,
) -> Result<Vec<TestTemplates>, InputError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for entry in &config.tests {
        let path = entry.path().trim_end_matches('/');
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| path.to_string());
        if !names.insert(name.clone()) {
            return Err(InputError::plain(format!(
                "{}: two test folders are called `{name}`; give them different names",
                source.name()
            )));
        }
        let dir = TemplateDir::read(base_dir, path, t, &|m| {
            InputError::plain(format!("{}: tests: {m}", source.name()))
        })?;
        // A test is a Dockerfile built as a layer, a `run.yml` run in a
        // container, or both; either may be a template.
        let is_test =
            dir.has_dockerfile() || dir.files.iter().any(|f| f.rel == Path::new(RUN_FILE));
        let kind = if dir.is_template() {
            if !is_test {
                return Err(InputError::plain(format!(
                    "{}: test folder {path} has templates but no Dockerfile.j2 or {RUN_FILE}.j2",
                    source.name()
                )));
            }
            TestKind::Template(dir)
        } else if is_test {
            // Checked here, before any build, like a rendered one.
            let folder = base_dir.join(path);
            RunTest::load(&folder, Some(base_dir))?;
            for file in dir.files.iter().filter(|f| f.rel == Path::new(DOCKERFILE)) {
                if let render::FileKind::Copy(text) = &file.kind {
                    reject_from(&folder, text, "each image of the matrix")?;
                }
            }
            TestKind::Static(base_dir.join(path))
        } else {
            return Err(InputError::plain(format!(
                "{}: test folder {path} has no Dockerfile or {RUN_FILE} (or their .j2 templates)",
                source.name()
            )));
        };
        let when = entry
            .when()
            .map(|w| {
                t.add_unplaced(
                    &format!("tests[{path}].when"),
                    &format!("{{% if {w} %}}1{{% endif %}}"),
                )
            })
            .transpose()?;
        out.push(TestTemplates {
            name,
            when,
            kind,
            timeout: entry.timeout(),
            secrets: entry.secrets().iter().map(|c| c.plan(base_dir)).collect(),
        });
    }
    Ok(out)
}

/// Checks a test folder's rendered `files` before anything is built, each
/// reported at its line in the rendered file, named as it will be written to
/// `dir`: a `run.yml` must parse, and a Dockerfile must have no `FROM` (it is
/// built on `image`).
fn check_test_files(
    dir: &Path,
    files: &[(PathBuf, String)],
    image: &str,
) -> Result<(), InputError> {
    for (rel, text) in files {
        if rel == Path::new(RUN_FILE) {
            RunTest::parse(&dir.join(rel).display().to_string(), text)?;
        } else if rel == Path::new(DOCKERFILE) {
            reject_from(dir, text, image)?;
        }
    }
    Ok(())
}

impl Templates<'_> {
    fn config_error<T>(&self, at: &serde_saphyr::Spanned<T>, message: String) -> InputError {
        self.source().error_at(at, message, "here")
    }
}

/// Names an axis the user may have misspelt, for help texts.
pub(crate) fn did_you_mean(word: &str, known: &[&str]) -> String {
    match suggest(word, known) {
        Some(c) => format!("did you mean `{c}`? "),
        None => String::new(),
    }
}
