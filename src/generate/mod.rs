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
use crate::plan::{
    test_tag, Artifact, ArtifactSource, Cell, GeneratedFile, ImagePlan, Plan, Role, TestPlan,
};

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
    let out_dir = base_dir.join(PathBuf::from(&config.output));
    let mut plan = Plan {
        source: source.path.clone(),
        pull: config.pull,
        builder: config.builder,
        ..Plan::default()
    };
    // Per-OS base images, built first.
    let bases = plan_bases(config, source, &out_dir, &mut templates, &mut plan)?;
    let images = ImageTemplates::compile(config, source, &base_dir, &mut templates)?;
    let expansion = Expansion {
        config,
        source,
        base_dir: &base_dir,
        out_dir: &out_dir,
        templates: &templates,
        exclusions: &exclusions,
        images: &images,
        bases: &bases,
    };
    let mut walk = Walk::default();
    for release in &selected {
        for point in cells::points(&axes) {
            expansion.plan_cell(release, &point, &mut plan, &mut walk)?;
        }
    }
    platform_bases(&mut plan, &images.platforms);

    plan.aliases = crate::alias::compute(&config.aliases, &walk.candidates).map_err(|e| {
        InputError::plain(format!("{}: aliases: {e}", source.name()))
            .with_help("alias rules see the same facts as the templates")
    })?;
    plan.warnings = exclusions.unused(&walk.used_exclusions);
    order_images(&mut plan, &out_dir)?;
    plan.files.sort_by(|a, b| a.path.cmp(&b.path));
    plan.output = Some(out_dir);
    Ok(plan)
}

/// Plans the per-OS base images of `config.base`, if it has one: each
/// OS's base folder rendered under `base/<os>` and its image added to
/// `plan`. Returns each OS's base image name.
fn plan_bases(
    config: &NativeConfig,
    source: &Source,
    out_dir: &Path,
    templates: &mut Templates<'_>,
    plan: &mut Plan,
) -> Result<BTreeMap<String, String>, InputError> {
    let mut bases = BTreeMap::new();
    let Some(base) = &config.base else {
        return Ok(bases);
    };
    let base_dir = source.base_dir();
    let name_key = templates.add_inline("base.name", &base.name)?;
    for os in &config.os {
        let folder = os.template.as_ref().unwrap_or(&base.template);
        let dir = TemplateDir::read(&base_dir, &folder.value, templates, &|m| {
            source.error_at(folder, m, "this folder")
        })?;
        require_dockerfile(&dir, source, folder)?;
        let mut ctx = Map::new();
        ctx.insert("os".into(), cells::axis_object(os));
        let ctx = Value::Object(ctx);
        let name = templates.render(&name_key, &ctx)?.trim().to_string();
        let name = check_reference(source, &base.name, "base name", &name, &os.name.value)?;
        let rel = PathBuf::from("base").join(&os.name.value);
        push_files(plan, &rel, dir.render(templates, &ctx)?);
        bases.insert(os.name.value.clone(), name.to_string());
        plan.images.push(ImagePlan {
            name,
            context: out_dir.join(&rel),
            dockerfile: "Dockerfile".into(),
            needs: Vec::new(),
            tests: Vec::new(),
            build_args: BTreeMap::new(),
            artifacts: Vec::new(),
            // Written on the image as they always were.
            labels: BTreeMap::from([
                ("os".to_string(), os.name.value.clone()),
                ("role".to_string(), "base".to_string()),
            ]),
            cell: Some(Cell {
                os: os.name.value.clone(),
                role: Role::Base,
                axes: BTreeMap::new(),
                platform: None,
            }),
            timeout: None,
            platforms: Vec::new(),
            rename_bases: Default::default(),
            secrets: base.secrets.iter().map(|c| c.plan(&base_dir)).collect(),
        });
    }
    Ok(bases)
}

/// A base is built for every platform an image on it is, in the order its
/// OS's platforms are written.
fn platform_bases(plan: &mut Plan, rules: &PlatformRules) {
    let mut wanted: BTreeMap<String, Vec<crate::reference::Platform>> = BTreeMap::new();
    for image in &plan.images {
        let Some(cell) = image.cell.as_ref().filter(|c| !c.is_base()) else {
            continue;
        };
        let list = wanted.entry(cell.os.clone()).or_default();
        for p in &image.platforms {
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
    }
    for image in plan.images.iter_mut() {
        let Some(cell) = image.cell.as_ref().filter(|c| c.is_base()) else {
            continue;
        };
        if let Some(list) = wanted.get(&cell.os) {
            image.platforms = rules
                .of(&cell.os)
                .iter()
                .map(|r| r.platform.clone())
                .filter(|p| list.contains(p))
                .collect();
        }
    }
}

/// The image side of a matrix config, compiled once: what every cell renders.
struct ImageTemplates {
    /// The key of the image name template.
    name: String,
    /// The image template folder.
    dir: TemplateDir,
    artifacts: Vec<ArtifactTemplates>,
    platforms: PlatformRules,
    tests: Vec<TestTemplates>,
}

impl ImageTemplates {
    fn compile(
        config: &NativeConfig,
        source: &Source,
        base_dir: &Path,
        templates: &mut Templates<'_>,
    ) -> Result<ImageTemplates, InputError> {
        let name = templates.add_inline("image.name", &config.image.name)?;
        let dir = TemplateDir::read(base_dir, &config.image.template.value, templates, &|m| {
            source.error_at(&config.image.template, m, "this folder")
        })?;
        require_dockerfile(&dir, source, &config.image.template)?;
        let artifacts = compile_artifacts(config, templates)?;
        let default = compile_platforms(&config.platforms, source, templates)?;
        let mut by_os = BTreeMap::new();
        for os in &config.os {
            if let Some(entries) = &os.platforms {
                let rules = compile_platforms(entries, source, templates)?;
                by_os.insert(os.name.value.clone(), rules);
            }
        }
        let tests = compile_tests(config, source, base_dir, templates)?;
        Ok(ImageTemplates {
            name,
            dir,
            artifacts,
            platforms: PlatformRules { default, by_os },
            tests,
        })
    }
}

/// The config's platforms: its own list, and an OS's list where it has one.
struct PlatformRules {
    default: Vec<PlatformRule>,
    by_os: BTreeMap<String, Vec<PlatformRule>>,
}

impl PlatformRules {
    /// The platforms the cells of OS value `os` may be built for.
    fn of(&self, os: &str) -> &[PlatformRule] {
        self.by_os.get(os).unwrap_or(&self.default)
    }
}

/// What the walk over the cells has met so far.
#[derive(Default)]
struct Walk {
    /// Each image name given, and the cell it was given to.
    names: BTreeMap<String, String>,
    /// Each cell folder (case folded), and its cell and lines.
    folders: BTreeMap<String, (String, String)>,
    /// The exclusion rules that left a cell out.
    used_exclusions: BTreeSet<usize>,
    /// Every planned image, for the alias rules.
    candidates: Vec<crate::alias::Candidate>,
}

/// Everything one cell of the matrix is planned from.
struct Expansion<'a, 's> {
    config: &'a NativeConfig,
    source: &'a Source,
    base_dir: &'a Path,
    out_dir: &'a Path,
    templates: &'a Templates<'s>,
    exclusions: &'a Exclusions,
    images: &'a ImageTemplates,
    /// Each OS's base image name.
    bases: &'a BTreeMap<String, String>,
}

impl Expansion<'_, '_> {
    /// Plans the cell `point` × `release`: left out (and why), or its image,
    /// rendered files and tests added to `plan`.
    fn plan_cell(
        &self,
        release: &Selected,
        point: &cells::AxisPoint<'_>,
        plan: &mut Plan,
        walk: &mut Walk,
    ) -> Result<(), InputError> {
        let what = point.describe(&release.text);
        let os = point.os();
        let mut facts = release.facts.clone();
        point.add_facts(&mut facts);
        let base = self
            .bases
            .get(os)
            .cloned()
            .or_else(|| point.os_from().map(str::to_string));
        facts.insert(
            feed::facts::BASE.into(),
            base.map_or(Value::Null, Value::from),
        );
        let cell_facts = Value::Object(facts.clone());
        let excluded =
            self.exclusions
                .reason_for(point, &release.order, &cell_facts, self.templates)?;
        if let Some((rule, reason)) = excluded {
            walk.used_exclusions.insert(rule);
            plan.excluded.push(crate::plan::Excluded {
                what,
                reason: reason.to_string(),
            });
            return Ok(());
        }
        let Some(platforms) = self.cell_platforms(os, &facts, &what, &mut plan.excluded)? else {
            return Ok(());
        };
        let artifacts = self.cell_artifacts(&mut facts)?;
        let name = self.cell_name(&facts, &what, walk)?;
        facts.insert(feed::facts::IMAGE.into(), Value::from(name.to_string()));
        let ctx = Value::Object(facts.clone());
        let rel = self.cell_folder(point, &release.text, &what, walk)?;
        push_files(plan, &rel, self.images.dir.render(self.templates, &ctx)?);
        let tests = self.cell_tests(point, &release.text, (&name, &what), &ctx, plan)?;

        // Written on the image as they always were; read from `cell`.
        let mut labels = point.labels();
        labels.insert("version".into(), release.text.clone());
        let mut axes = point.labels();
        axes.remove("os");
        plan.images.push(ImagePlan {
            name: name.clone(),
            context: self.out_dir.join(&rel),
            dockerfile: "Dockerfile".into(),
            needs: Vec::new(),
            tests,
            build_args: BTreeMap::new(),
            artifacts,
            labels,
            cell: Some(Cell {
                os: os.to_string(),
                role: Role::Image {
                    version: release.text.clone(),
                },
                axes,
                platform: None,
            }),
            timeout: self.config.image.timeout.map(|t| t.0),
            platforms,
            rename_bases: Default::default(),
            secrets: (self.config.image.secrets.iter())
                .map(|c| c.plan(self.base_dir))
                .collect(),
        });
        walk.candidates.push(crate::alias::Candidate {
            image: name.clone(),
            version: release.order.clone(),
            facts: Value::Object(facts),
        });
        Ok(())
    }

    /// The platforms a cell of OS value `os` is built for, each left out
    /// by its `when` noted in `excluded`; `None` when none applies (the
    /// cell is left out).
    fn cell_platforms(
        &self,
        os: &str,
        facts: &Map<String, Value>,
        what: &str,
        excluded: &mut Vec<crate::plan::Excluded>,
    ) -> Result<Option<Vec<crate::reference::Platform>>, InputError> {
        let rules = self.images.platforms.of(os);
        let mut platforms = Vec::new();
        for rule in rules {
            let holds = match &rule.when {
                None => true,
                Some(key) => {
                    let mut f = facts.clone();
                    let platform = rule.platform.to_string();
                    f.insert(feed::facts::PLATFORM.into(), platform.into());
                    self.templates.holds(key, &Value::Object(f))?
                }
            };
            match holds {
                true => platforms.push(rule.platform.clone()),
                false => excluded.push(crate::plan::Excluded {
                    what: format!("{what} on {}", rule.platform),
                    reason: "its platform's `when` is false".into(),
                }),
            }
        }
        if !rules.is_empty() && platforms.is_empty() {
            excluded.push(crate::plan::Excluded {
                what: what.to_string(),
                reason: "none of its platforms applies".into(),
            });
            return Ok(None);
        }
        Ok(Some(platforms))
    }

    /// The artifacts whose `when` holds for the cell, rendered; their file
    /// names are added to its `facts`.
    fn cell_artifacts(&self, facts: &mut Map<String, Value>) -> Result<Vec<Artifact>, InputError> {
        let mut files = Map::new();
        let mut artifacts = Vec::new();
        let ctx = Value::Object(facts.clone());
        for a in &self.images.artifacts {
            if let Some(when) = &a.when {
                if !self.templates.holds(when, &ctx)? {
                    continue;
                }
            }
            let (file, source) = a.render(self.templates, &ctx)?;
            files.insert(a.name.clone(), Value::from(file.clone()));
            artifacts.push(Artifact {
                file_name: file,
                source,
            });
        }
        facts.insert(feed::facts::ARTIFACTS.into(), Value::Object(files));
        Ok(artifacts)
    }

    /// The cell's image name, rendered and checked: a valid reference no
    /// other cell has.
    fn cell_name(
        &self,
        facts: &Map<String, Value>,
        what: &str,
        walk: &mut Walk,
    ) -> Result<crate::reference::ImageRef, InputError> {
        let at = &self.config.image.name;
        let name = (self.templates)
            .render(&self.images.name, &Value::Object(facts.clone()))?
            .trim()
            .to_string();
        let parsed = check_reference(self.source, at, "image name", &name, what)?;
        if let Some(other) = walk.names.insert(name.clone(), what.to_string()) {
            return Err(self.source
                .error_at(
                    at,
                    format!("the image name template gives `{name}` for both {other} and {what}"),
                    "not unique",
                )
                .with_help("use every axis in the name, such as `{{ version }}-{{ os.name }}-{{ variant.name }}`"));
        }
        Ok(parsed)
    }

    /// The cell's folder in the output tree, `images/<os>/<version>-<values…>`:
    /// a name a file system allows, and no other cell's (case folded).
    fn cell_folder(
        &self,
        point: &cells::AxisPoint<'_>,
        version: &str,
        what: &str,
        walk: &mut Walk,
    ) -> Result<PathBuf, InputError> {
        let source = self.source;
        let slug = point.slug(&version);
        let rel = PathBuf::from("images").join(point.os()).join(&slug);
        if slug.len() > MAX_FOLDER_NAME {
            return Err(source
                .error_at(
                    point.last_value(),
                    format!(
                        "the folder of cell {} would be {} bytes long, more than the {MAX_FOLDER_NAME} a file system allows",
                        crate::text::quote(what),
                        slug.len()
                    ),
                    "folder name too long",
                )
                .with_help("use shorter axis value names (the folder is `<version>-<value>-<value>…`)"));
        }
        // Case folded: on a case-insensitive disk `A` and `a` are one folder.
        let folder_key = rel.to_string_lossy().to_lowercase();
        if let Some((other, other_lines)) = walk
            .folders
            .insert(folder_key, (what.to_string(), point.lines(source)))
        {
            return Err(source
                .error_at(
                    point.last_value(),
                    format!(
                        "cells {} ({other_lines}) and {} ({}) both render into {}",
                        crate::text::quote(&other),
                        crate::text::quote(what),
                        point.lines(source),
                        crate::text::quote(&rel.to_string_lossy())
                    ),
                    "same folder as another cell",
                )
                .with_help("rename an axis value so each cell has its own folder (`images/<os>/<version>-<values…>`)"));
        }
        Ok(rel)
    }

    /// The tests whose `when` holds for the cell's image `name`, each with
    /// its Dockerfile and `run.yml` as the run will use them: a template
    /// folder rendered (and checked) into `tests/<os>/<cell>/<test>` of
    /// `plan`'s files, a plain folder as read when compiled.
    fn cell_tests(
        &self,
        point: &cells::AxisPoint<'_>,
        version: &str,
        (name, what): (&crate::reference::ImageRef, &str),
        ctx: &Value,
        plan: &mut Plan,
    ) -> Result<Vec<TestPlan>, InputError> {
        let mut tests = Vec::new();
        for test in &self.images.tests {
            if let Some(when) = &test.when {
                if !self.templates.holds(when, ctx)? {
                    continue;
                }
            }
            let index = tests.len() + 1;
            let (path, files) = match &test.kind {
                TestKind::Static { path, files } => (path.clone(), files.clone()),
                TestKind::Template(dir) => {
                    let test_rel = PathBuf::from("tests")
                        .join(point.os())
                        .join(point.slug(&version))
                        .join(&test.name);
                    let rendered = dir.render(self.templates, ctx)?;
                    let files =
                        check_test_files(&self.out_dir.join(&test_rel), &rendered, name.as_str())?;
                    push_files(plan, &test_rel, rendered);
                    (self.out_dir.join(test_rel), files)
                }
            };
            let tag = test_tag(name, index);
            check_reference(self.source, &self.config.image.name, "test tag", &tag, what)?;
            tests.push(TestPlan {
                index,
                path,
                tag,
                timeout: test.timeout,
                secrets: test.secrets.clone(),
                dockerfile: files.dockerfile,
                run: files.run,
            });
        }
        Ok(tests)
    }
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
    let feed = FeedEntry {
        config,
        source,
        base_dir,
    };
    feed.check_keys()?;
    feed.read()
}

/// The config's `feed:` entry, read into a [`Feed`] of its kind.
struct FeedEntry<'a> {
    config: &'a NativeConfig,
    source: &'a Source,
    base_dir: &'a Path,
}

type At = serde_saphyr::Spanned<String>;

impl FeedEntry<'_> {
    /// A key another kind reads is a mistake worth naming: it would be ignored.
    fn check_keys(&self) -> Result<(), InputError> {
        use crate::config::native::FeedKind;
        let f = &self.config.feed.value;
        if f.kind != FeedKind::Node {
            for (key, at) in [("index", &f.index), ("schedule", &f.schedule)] {
                if let Some(at) = at {
                    return Err(self.misplaced(key, at));
                }
            }
        }
        if f.kind != FeedKind::List {
            if let Some(at) = &f.versions {
                return Err(self.misplaced("versions", at));
            }
        }
        if f.kind == FeedKind::Node {
            if let Some(at) = &f.source {
                return Err(self.misplaced("source", at));
            }
        }
        Ok(())
    }

    /// Reads the feed's files or URLs (or its `versions`) and parses them.
    fn read(&self) -> Result<Feed, InputError> {
        use crate::config::native::FeedKind;
        let f = &self.config.feed.value;
        let required = |at: &Option<At>, key: &str| at.clone().ok_or_else(|| self.missing(key));
        match f.kind {
            FeedKind::Node => {
                let index_at = required(&f.index, "index")?;
                let sched_at = required(&f.schedule, "schedule")?;
                let index_text = self.text(&index_at, "release index")?;
                let releases =
                    feed::index::parse(&index_text).map_err(|e| self.parsed(&index_at, e))?;
                let sched_text = self.text(&sched_at, "release schedule")?;
                let schedule = feed::release_schedule::parse(&sched_text)
                    .map_err(|e| self.parsed(&sched_at, e))?;
                Ok(Feed::Node { releases, schedule })
            }
            FeedKind::Endoflife => {
                let at = required(&f.source, "source")?;
                let body = self.text(&at, "endoflife.date product")?;
                feed::endoflife::parse(&body)
                    .map(Feed::Generic)
                    .map_err(|e| self.parsed(&at, e))
            }
            FeedKind::Npm => {
                let at = required(&f.source, "source")?;
                let body = self.text(&at, "npm package document")?;
                feed::npm::parse(&body, f.cycle)
                    .map(Feed::Generic)
                    .map_err(|e| self.parsed(&at, e))
            }
            FeedKind::List => self.read_list(),
        }
    }

    /// A `list` feed: its `versions`, or the file or URL of its `source`.
    fn read_list(&self) -> Result<Feed, InputError> {
        let f = &self.config.feed.value;
        match (&f.versions, &f.source) {
            (Some(at), None) => feed::list::parse(&at.value, f.cycle)
                .map(Feed::Generic)
                .map_err(|e| {
                    (self.source).error_at(at, format!("feed.versions: {e}"), "these versions")
                }),
            (None, Some(at)) => {
                let body = self.text(at, "list of versions")?;
                feed::list::parse_text(&body, f.cycle)
                    .map(Feed::Generic)
                    .map_err(|e| self.parsed(at, e))
            }
            (Some(_), Some(at)) => Err(self
                .source
                .error_at(
                    at,
                    "a `list` feed has `versions` and `source`",
                    "one too many",
                )
                .with_help("keep the versions in `strata.yml` or in a file, not both")),
            (None, None) => Err(self.missing("versions")),
        }
    }

    /// `feed.KEY`, written at `at`, belongs to another kind of feed.
    fn misplaced<T>(&self, key: &str, at: &serde_saphyr::Spanned<T>) -> InputError {
        use crate::config::native::FeedKind;
        let kind = self.config.feed.value.kind;
        let err = self.source.error_at(
            at,
            format!("`feed.{key}` does not belong to a `{}` feed", kind.name()),
            "not for this kind",
        );
        err.with_help(format!(
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
    }

    /// The feed lacks `what`, which its kind needs.
    fn missing(&self, what: &str) -> InputError {
        use crate::config::native::FeedKind;
        let kind = self.config.feed.value.kind;
        self.source
            .error_at(
                &self.config.feed,
                format!("a `{}` feed needs `{what}`", kind.name()),
                "this feed",
            )
            .with_help(match kind {
                FeedKind::Node => "add `index: feed/index.tab` and `schedule: feed/schedule.json` (files or URLs)",
                FeedKind::Endoflife => "add `source:` with an endoflife.date product file or URL, such as https://endoflife.date/api/python.json",
                FeedKind::Npm => "add `source:` with an npm package document file or URL, such as https://registry.npmjs.org/bun",
                FeedKind::List => "add `versions:` (a list of maps with `version`) or `source:` (a YAML or JSON file holding one)",
            })
    }

    /// Reads a feed file or URL through the feed loader.
    fn text(&self, at: &At, what: &str) -> Result<String, InputError> {
        feed::load(&at.value, self.base_dir).map_err(|e| {
            let err = self
                .source
                .error_at(at, format!("{what}: {e}"), "this feed");
            // A feed URL that cannot be reached is the environment's fault (exit 3).
            if e.is_environment() {
                err.unreachable()
            } else {
                err
            }
        })
    }

    fn parsed(&self, at: &At, e: feed::FeedError) -> InputError {
        self.source
            .error_at(at, format!("{}: {e}", at.value), "this feed")
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
    /// A folder used in place (its Dockerfile has no template), with its
    /// files as read.
    Static { path: PathBuf, files: TestFiles },
    /// A folder rendered per image into the output tree.
    Template(TemplateDir),
}

/// A test folder's Dockerfile (checked to have no `FROM`) and `run.yml`
/// (parsed), as the run uses them.
#[derive(Debug, Clone, Default)]
struct TestFiles {
    dockerfile: Option<String>,
    run: Option<RunTest>,
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
            let run = RunTest::load(&folder, Some(base_dir))?;
            let mut dockerfile = None;
            for file in dir.files.iter().filter(|f| f.rel == Path::new(DOCKERFILE)) {
                if let render::FileKind::Copy(text) = &file.kind {
                    reject_from(&folder, text, "each image of the matrix")?;
                    dockerfile = Some(text.clone());
                }
            }
            TestKind::Static {
                path: folder,
                files: TestFiles { dockerfile, run },
            }
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
/// built on `image`). Returns the two as the run uses them.
fn check_test_files(
    dir: &Path,
    files: &[(PathBuf, String)],
    image: &str,
) -> Result<TestFiles, InputError> {
    let mut out = TestFiles::default();
    for (rel, text) in files {
        if rel == Path::new(RUN_FILE) {
            out.run = Some(RunTest::parse(&dir.join(rel).display().to_string(), text)?);
        } else if rel == Path::new(DOCKERFILE) {
            reject_from(dir, text, image)?;
            out.dockerfile = Some(text.clone());
        }
    }
    Ok(out)
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
