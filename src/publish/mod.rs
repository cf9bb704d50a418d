//! `strata publish`: aliases settled from what the registry holds, once, at
//! the end, on any machine, without an engine.
//!
//! Shards (`push --shard K/N`) push their tested images with their test
//! attestations. `publish` then reads the plan, asks the registry for each
//! image's digest and its attestations ([`crate::verify`]), and points each
//! alias at the digest of its preferred image when that digest carries a
//! valid passing attestation (with `--from` state files, also for the image
//! ID and input fingerprint the shard recorded).
//!
//! **Never backwards.** When the preferred image did not qualify, the alias
//! stays where the registry has it, if that digest still carries a valid
//! passing attestation ("held back"), rather than moving to an older
//! candidate and downgrading everyone who pulls it. Falling back to the next
//! qualifying candidate is an opt-in (`--fallback TAG`, a glob over alias
//! tags). [`decide`] is that rule as a pure function; [`run`] reads the
//! registry, decides, and moves tags.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::attest::key::PublicKey;
use crate::plan::{AliasChoice, AliasPlan, Plan};
use crate::reference::ImageRef;
use crate::registry::index::{self, IndexError};
use crate::registry::{at_digest, Digest, RegistryError, RegistryRead, RegistryWrite};
use crate::state::State;

/// The first line of the report of a `publish --allow-unsigned` without a key.
pub const UNSIGNED_NOTICE: &str = "nothing was checked cryptographically: no --key given \
(--allow-unsigned), so any attestation counted, signed or not";

/// Why `publish` could not move an alias or attest an index it put
/// together (the report names the alias or index).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "{alias} is on another registry than {image}; publish copies no image between \
         registries (push does)"
    )]
    OtherRegistry { alias: String, image: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The image put by digest into the alias's repository is not there.
    #[error("{0} is not in the registry after copying it")]
    NotCopied(String),
    /// The alias read back names another digest (or nothing).
    #[error("{alias} resolves to {now} instead of {digest}")]
    Moved {
        alias: String,
        now: String,
        digest: Digest,
    },
    #[error("{0} is no longer in the registry")]
    Gone(String),
    #[error("copying the test attestations to {repository}: {source}")]
    CopyAttestations {
        repository: String,
        #[source]
        source: RegistryError,
    },
    #[error("attesting the index failed: {0}")]
    AttestIndex(#[source] crate::exec::StepError),
}

/// Two state files that record one image differently: one of them is stale
/// or forged, and the newer `tested_at` proves nothing (anyone can write it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the state files {} and {} disagree about {unit} (image {first_image} or {second_image}): \
     give only the state of the machine that tested it",
    .first.display(),
    .second.display()
)]
pub struct Disagreement {
    pub first: std::path::PathBuf,
    pub second: std::path::PathBuf,
    pub unit: String,
    /// Each file's image ID, short.
    pub first_image: String,
    pub second_image: String,
}

/// Whether an image's registry digest may carry aliases, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualified {
    /// The digest carries a valid passing attestation (matching the state).
    Yes(Digest),
    /// It does not; the reason says why.
    No(String),
}

/// What happens to one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Already at its preferred image's digest.
    UpToDate { image: ImageRef, digest: Digest },
    /// Moved to `image`'s digest; `note` says why it is not the preferred one.
    Point {
        image: ImageRef,
        digest: Digest,
        note: Option<String>,
    },
    /// Left where the registry has it: its preferred image did not qualify.
    Held { digest: Digest, reason: String },
    /// Not pointed anywhere.
    Withheld { reason: String },
}

/// What `publish` does with one alias: where it goes is the plan's rule
/// ([`AliasPlan::choose`]: its newest candidate if that one qualifies; an
/// older one only with `fallback`; never an image that does not qualify).
/// What is `publish`'s own: an alias already at that digest is up to date,
/// and one whose newest image did not qualify stays at `current` if that
/// digest carries a passing attestation (held), else goes nowhere.
pub fn decide(
    alias: &AliasPlan,
    images: &BTreeMap<ImageRef, Qualified>,
    current: Option<(&Digest, bool)>,
    fallback: bool,
) -> Decision {
    let qualified = |name: &str| match images.get(name) {
        Some(Qualified::Yes(d)) => Some(d.clone()),
        _ => None,
    };
    let Some(preferred) = alias.candidates.first() else {
        return Decision::Withheld {
            reason: "the alias has no candidate images".into(),
        };
    };
    let why = |newest: &ImageRef| {
        let why = match images.get(newest) {
            Some(Qualified::No(why)) => why.as_str(),
            _ => "it is not in this plan",
        };
        format!("its newest image {newest} did not qualify: {why}")
    };
    if let AliasChoice::To { index, image } = alias.choose(|c| qualified(c).is_some(), fallback) {
        if let Some(digest) = qualified(image) {
            let image = image.clone();
            return if index > 0 {
                Decision::Point {
                    image,
                    digest,
                    note: Some(format!("fell back (opted in): {}", why(preferred))),
                }
            } else if current.is_some_and(|(c, _)| *c == digest) {
                Decision::UpToDate { image, digest }
            } else {
                Decision::Point {
                    image,
                    digest,
                    note: None,
                }
            };
        }
    }
    // Not to an older image (unless opted in), nor to one that did not
    // qualify: held where it is, or nowhere.
    let why = why(preferred);
    match current {
        Some((digest, true)) => Decision::Held {
            digest: digest.clone(),
            reason: format!("held back, because {why}"),
        },
        Some((digest, false)) => Decision::Withheld {
            reason: format!(
                "{why}; and where it points now ({digest}) carries no valid passing test \
                 attestation"
            ),
        },
        None => Decision::Withheld { reason: why },
    }
}

/// How `publish` runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Signatures must be this key's; without one, content only.
    pub key: Option<PublicKey>,
    /// Alias tags (globs) allowed to fall back to an older candidate.
    pub fallback: Vec<globset::GlobMatcher>,
    /// What the shards recorded (`--from`): each image's tested ID and
    /// inputs, with the file each state was read from.
    pub states: Vec<(std::path::PathBuf, State)>,
    /// Decide and report, move nothing.
    pub dry_run: bool,
    /// Signs the test result and provenance of each index put together
    /// (`--sign-key`); without it an index gets none.
    pub signing_key: Option<crate::attest::key::SigningKey>,
    /// The config's folder: test names are relative to it.
    pub config_dir: std::path::PathBuf,
    /// The config's place in its repository, for provenance.
    pub source: crate::exec::attach::Source,
}

/// What became of an index `publish` put together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// Put under the image's name and read back.
    Put { digest: Digest, platforms: String },
    /// The registry already holds exactly this index.
    UpToDate(Digest),
    /// A dry run: it would be put.
    WouldPut { platforms: String },
    /// Not put, and why.
    NotPut(String),
}

impl std::fmt::Display for Assembled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Assembled::Put { digest, platforms } => write!(f, "put {digest} of {platforms}"),
            Assembled::UpToDate(d) => write!(f, "up to date at {d}"),
            Assembled::WouldPut { platforms } => write!(f, "would put one of {platforms}"),
            Assembled::NotPut(why) => write!(f, "not put: {why}"),
        }
    }
}

/// What `publish` found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Images of several platforms whose index `publish` put together from
    /// the machines' state files: (image, what happened).
    pub indexes: Vec<(ImageRef, Assembled)>,
    pub images: Vec<(ImageRef, Qualified)>,
    pub aliases: Vec<(ImageRef, Decision)>,
    /// Aliases whose move failed: (tag, error).
    pub failed: Vec<(ImageRef, String)>,
}

impl Report {
    /// Every image qualified and every alias is at its preferred image.
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
            && !self
                .indexes
                .iter()
                .any(|(_, a)| matches!(a, Assembled::NotPut(_)))
            && self
                .images
                .iter()
                .all(|(_, q)| matches!(q, Qualified::Yes(_)))
            && self.aliases.iter().all(|(_, d)| {
                matches!(
                    d,
                    Decision::UpToDate { .. } | Decision::Point { note: None, .. }
                )
            })
    }

    pub fn render(&self, dry_run: bool) -> String {
        let mut out = String::new();
        if !self.indexes.is_empty() {
            out.push_str("Indexes, from each platform's machine:\n");
            for (name, what) in &self.indexes {
                let _ = writeln!(out, "  index      {name}: {what}");
            }
        }
        out.push_str("Images, from their test attestations in the registry:\n");
        for (name, q) in &self.images {
            let _ = match q {
                Qualified::Yes(d) => writeln!(out, "  ready      {name}  {d}"),
                Qualified::No(why) => writeln!(out, "  not ready  {name}  ({why})"),
            };
        }
        out.push_str("Aliases:\n");
        let moved = if dry_run { "would point" } else { "pointed" };
        for (tag, d) in &self.aliases {
            let _ = match d {
                Decision::UpToDate { image, .. } => {
                    writeln!(out, "  up to date {tag} -> {image}")
                }
                Decision::Point {
                    image,
                    digest,
                    note,
                } => writeln!(
                    out,
                    "  {moved} {tag} -> {image} ({digest}){}",
                    note.as_deref()
                        .map(|n| format!("; {n}"))
                        .unwrap_or_default()
                ),
                Decision::Held { digest, reason } => {
                    writeln!(out, "  held       {tag} at {digest}: {reason}")
                }
                Decision::Withheld { reason } => writeln!(out, "  withheld   {tag}: {reason}"),
            };
        }
        for (tag, e) in &self.failed {
            let _ = writeln!(out, "  FAILED     {tag}: {e}");
        }
        out
    }
}

/// Reads the registry for every image and alias of `plan`, decides each
/// alias, and (unless a dry run) points it. Only an unreachable registry or
/// refused credentials are errors; everything else is in the report.
pub async fn run(
    plan: &Plan,
    registry: &dyn RegistryWrite,
    options: &Options,
) -> Result<Report, RegistryError> {
    let mut report = Report::default();
    for image in plan.images.iter().filter(|i| !i.platforms.is_empty()) {
        if let Some(what) = assemble(registry, image, options).await? {
            report.indexes.push((image.name.clone(), what));
        }
    }
    let mut images = BTreeMap::new();
    let mut tested = BTreeMap::new();
    for image in &plan.images {
        let (q, verified) = qualify(registry, image, options).await?;
        images.insert(image.name.clone(), q.clone());
        if let Some(v) = verified {
            tested.insert(image.name.clone(), tested_at_by_name(&v));
        }
        report.images.push((image.name.clone(), q));
    }
    for alias in &plan.aliases {
        let mut current_tested = BTreeMap::new();
        let current = match crate::verify::verify(registry, &alias.tag, options.key.as_ref()).await
        {
            Ok(Some(r)) => {
                if r.verified() {
                    current_tested = tested_at_by_name(&r);
                }
                Some((r.digest.clone(), r.verified()))
            }
            Ok(None) => None,
            Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. })) => {
                return Err(e)
            }
            Err(e) => {
                report.failed.push((alias.tag.clone(), e.to_string()));
                continue;
            }
        };
        let fallback =
            alias.fallback || (options.fallback.iter()).any(|g| g.is_match(alias.tag.as_str()));
        let mut decision = decide(
            alias,
            &images,
            current.as_ref().map(|(d, ok)| (d, *ok)),
            fallback,
        );
        // Never backwards by replay: the alias's digest now was tested as
        // the same image later than the digest it would move to (the
        // image's tag was moved back to an older tested build).
        if let (Decision::Point { image, digest, .. }, Some((now, true))) = (&decision, &current) {
            let older = tested.get(image).and_then(|candidate| {
                candidate.iter().find_map(|(name, at)| {
                    let later = current_tested.get(name)?;
                    (later > at).then(|| (name.clone(), *at, *later))
                })
            });
            if let Some((name, at, later)) = older {
                decision = Decision::Held {
                    digest: now.clone(),
                    reason: format!(
                        "held back, because {image} is at {digest}, an older test run of {} \
                         (tested {}) than where the alias points now (tested {}): a tag moved \
                         back to an older build is not followed",
                        crate::verify::untrusted(&name),
                        at.format("%Y-%m-%d %H:%M:%S UTC"),
                        later.format("%Y-%m-%d %H:%M:%S UTC"),
                    ),
                };
            }
        }
        match (&decision, options.dry_run) {
            (Decision::Point { image, digest, .. }, false) => {
                if let Err(e) = point(registry, image, digest, &alias.tag).await {
                    report.failed.push((alias.tag.clone(), e.to_string()));
                    continue;
                }
            }
            // Up to date, but in another repository its attestations may be
            // missing (a run stopped between moving it and copying them):
            // copied now, so the alias verifies where it is pulled.
            (Decision::UpToDate { image, .. }, false)
                if current.as_ref().is_some_and(|(_, verified)| !verified) =>
            {
                let copied = match registry.resolve(&alias.tag).await {
                    Ok(Some(r)) => carry(registry, image, &alias.tag, &r).await,
                    Ok(None) => Err(PublishError::Gone(alias.tag.to_string())),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = copied {
                    report.failed.push((alias.tag.clone(), e.to_string()));
                    continue;
                }
            }
            _ => {}
        }
        report.aliases.push((alias.tag.clone(), decision));
    }
    Ok(report)
}

/// The index of an image whose platforms were tested and pushed by different
/// machines (`--platform`), put together from their state files: each
/// platform's pushed digest must carry a valid passing attestation for the
/// image ID its machine recorded. `None` without state files or when they
/// hold none of the image's platforms; otherwise what was done, or why not.
async fn assemble(
    registry: &dyn RegistryWrite,
    image: &crate::plan::ImagePlan,
    options: &Options,
) -> Result<Option<Assembled>, RegistryError> {
    use crate::plan::platforms::unit_name;
    let repo = image.name.repository();
    let mut children = Vec::new();
    let mut missing = Vec::new();
    for platform in &image.platforms {
        let unit = unit_name(&image.name, platform);
        match recorded(options, &unit) {
            Err(conflict) => return Ok(Some(Assembled::NotPut(conflict.to_string()))),
            Ok(Some(r)) if r.passed && r.pushed.is_some() => {
                children.push((platform.clone(), unit, r))
            }
            Ok(_) => missing.push(platform.to_string()),
        }
    }
    if children.is_empty() {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Ok(Some(Assembled::NotPut(format!(
            "no state file records {} tested and pushed",
            missing.join(", ")
        ))));
    }
    let mut entries = Vec::new();
    for (platform, unit, record) in &children {
        let digest = record
            .pushed
            .as_ref()
            .expect("filtered above")
            .digest
            .clone();
        let verified = match at_digest(&repo, &digest) {
            Ok(at) => crate::verify::verify(registry, &at, options.key.as_ref()).await,
            Err(e) => Err(e),
        };
        let why = match verified {
            Ok(Some(r)) if r.index => Some("it is an index, not a platform's image".into()),
            Ok(Some(r)) => match r.platforms.first().map(|p| &p.finding) {
                Some(f) => match (&f.passing, f.problem()) {
                    (Some(j), _) => match mismatch(&j.summary, unit, record) {
                        Some(why) => Some(why),
                        // The image itself must be of the platform its
                        // entry in the index will say.
                        None => match crate::verify::image_platform(registry, &repo, &digest).await
                        {
                            Err(why) => Some(why.to_string()),
                            Ok(actual)
                                if !crate::verify::same_platform(
                                    &actual,
                                    &platform.to_string(),
                                ) =>
                            {
                                Some(format!("its image config says {actual}, not {platform}"))
                            }
                            Ok(_) => None,
                        },
                    },
                    (None, problem) => problem,
                },
                None => Some("the registry lists nothing under it".into()),
            },
            Ok(None) => Some("the registry does not have it".into()),
            Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. })) => {
                return Err(e)
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            return Ok(Some(Assembled::NotPut(format!(
                "{platform} ({digest}): {why}"
            ))));
        }
        entries.push((digest, platform.clone()));
    }
    let platforms = image
        .platforms
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(held) = index::held(registry, &image.name, &entries).await? {
        // Its attestations, if a run stopped before attaching them.
        if let Err(why) = attest_index(registry, image, &held, &children, options).await {
            return Ok(Some(Assembled::NotPut(why.to_string())));
        }
        return Ok(Some(Assembled::UpToDate(held)));
    }
    if options.dry_run {
        return Ok(Some(Assembled::WouldPut { platforms }));
    }
    match index::put(registry, &image.name, &entries).await {
        Ok(digest) => {
            if let Err(why) = attest_index(registry, image, &digest, &children, options).await {
                return Ok(Some(Assembled::NotPut(format!("put {digest}, but {why}"))));
            }
            Ok(Some(Assembled::Put { digest, platforms }))
        }
        Err(IndexError::Put(
            e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. }),
        )) => Err(e),
        Err(IndexError::Put(e)) => Ok(Some(Assembled::NotPut(e.to_string()))),
        Err(IndexError::Read { source, .. }) => Err(source),
        Err(IndexError::Missing { digest }) => Ok(Some(Assembled::NotPut(format!(
            "put {digest}, but {} then resolved to nothing",
            image.name
        )))),
        Err(IndexError::Differs { digest, now, .. }) => Ok(Some(Assembled::NotPut(format!(
            "put {digest}, but {} then resolved to {now}",
            image.name
        )))),
    }
}

/// Attaches to index `digest` of `image` its test result and provenance,
/// made from what each platform's machine recorded (`children`: platform,
/// unit name, record), signed with `--sign-key`; nothing without it.
async fn attest_index(
    registry: &dyn RegistryWrite,
    image: &crate::plan::ImagePlan,
    digest: &Digest,
    children: &[(
        crate::reference::Platform,
        crate::reference::ImageRef,
        &crate::state::ImageState,
    )],
    options: &Options,
) -> Result<(), PublishError> {
    use crate::exec::attach;
    let Some(key) = options.signing_key.as_ref() else {
        return Ok(());
    };
    let mut tested = Vec::new();
    let mut built = Vec::new();
    for (platform, unit, record) in children {
        let Some(pushed) = &record.pushed else {
            continue;
        };
        tested.push((
            platform.to_string(),
            attach::tested(unit, &pushed.digest, record, &options.config_dir),
        ));
        // The platform's image as its machine built it.
        let unit_plan = crate::plan::ImagePlan {
            name: unit.clone(),
            platforms: vec![platform.clone()],
            ..image.clone()
        };
        built.push((
            platform.to_string(),
            attach::provenance(
                &unit_plan,
                &image.name,
                &pushed.digest,
                record,
                &[],
                &options.source,
                &options.config_dir,
            ),
        ));
    }
    let index = crate::attest::statement::IndexTested {
        image: image.name.to_string(),
        repository: image.name.repository(),
        digest: digest.to_string(),
        platforms: tested,
    };
    let failed = PublishError::AttestIndex;
    attach::attach_index(registry, &index, Some(key), false, &|_| {})
        .await
        .map_err(failed)?;
    let provenance = attach::index_provenance(&image.name, digest, &built);
    let repository = image.name.repository();
    attach::attach_provenance(
        registry,
        &repository,
        &provenance,
        Some(key),
        false,
        &|_| {},
    )
    .await
    .map_err(failed)
}

/// Whether `name`'s registry digest carries a valid passing attestation,
/// and (when a shard's state records the image) one for the image ID and
/// input fingerprint that shard tested.
async fn qualify(
    registry: &dyn RegistryRead,
    image: &crate::plan::ImagePlan,
    options: &Options,
) -> Result<(Qualified, Option<crate::verify::Report>), RegistryError> {
    let report = match crate::verify::verify(registry, &image.name, options.key.as_ref()).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok((Qualified::No("the registry does not have it".into()), None)),
        Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Unauthorized { .. })) => {
            return Err(e)
        }
        Err(e) => return Ok((Qualified::No(e.to_string()), None)),
    };
    let q = qualified(&report, image, options);
    let verified = matches!(q, Qualified::Yes(_)).then_some(report);
    Ok((q, verified))
}

/// The newest time each name was tested as, over the passing attestations
/// of a report's platforms.
fn tested_at_by_name(
    report: &crate::verify::Report,
) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    let mut at = BTreeMap::new();
    for p in &report.platforms {
        if let Some(j) = &p.finding.passing {
            if let Some(t) = j.summary.tested_at {
                let e = at.entry(j.summary.image.clone()).or_insert(t);
                *e = (*e).max(t);
            }
        }
    }
    at
}

/// [`qualify`]'s judgement of a report read from the registry.
fn qualified(
    report: &crate::verify::Report,
    image: &crate::plan::ImagePlan,
    options: &Options,
) -> Qualified {
    let name = image.name.as_str();
    if let Some(p) = report.platforms.iter().find(|p| !p.verified()) {
        return Qualified::No(format!(
            "{} ({}): {}",
            crate::verify::untrusted(&p.platform),
            p.digest,
            crate::verify::untrusted(
                &p.wrong
                    .clone()
                    .or_else(|| p.finding.problem())
                    .unwrap_or_default()
            )
        ));
    }
    // The attestation must name this very image (for an index entry, this
    // image's build for that platform): a tested digest of another image,
    // or of another platform, put under this name does not qualify.
    if let Some((platform, tested)) = report.tested_as_other(name).into_iter().next() {
        return Qualified::No(format!(
            "{} ({platform}) was tested as {}, not as this image",
            report.digest,
            crate::verify::untrusted(&tested)
        ));
    }
    if report.index {
        let listed: Vec<String> = report
            .platforms
            .iter()
            .map(|p| p.platform.clone())
            .collect();
        let planned: Vec<String> = image.platforms.iter().map(|p| p.to_string()).collect();
        if listed != planned {
            return Qualified::No(format!(
                "its index lists {}, not the planned {}",
                crate::verify::untrusted(&listed.join(", ")),
                if planned.is_empty() {
                    "single image".to_string()
                } else {
                    planned.join(", ")
                }
            ));
        }
    }
    // What the shards recorded: every image the digest stands for (each
    // platform's, for an index) must be the one its shard tested.
    let units: Vec<(String, &PlatformOf)> = if report.index {
        report
            .platforms
            .iter()
            .zip(&image.platforms)
            .map(|(p, platform)| {
                let unit = crate::plan::platforms::unit_name(&image.name, platform);
                (unit.into(), p)
            })
            .collect()
    } else {
        report
            .platforms
            .iter()
            .map(|p| (name.to_string(), p))
            .collect()
    };
    for (unit, p) in units {
        let record = match recorded(options, &unit) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(conflict) => return Qualified::No(conflict.to_string()),
        };
        let s = &p.finding.passing.as_ref().expect("checked above").summary;
        if !record.passed {
            return Qualified::No("its shard's state records a failed test run".into());
        }
        if s.image_id != record.image_id.as_str() {
            return Qualified::No(format!(
                "the registry's image {} is not the one its shard tested ({})",
                crate::state::short_id(&crate::verify::untrusted(&s.image_id)),
                crate::state::short_id(&record.image_id)
            ));
        }
        if let Some(why) = mismatch(s, &unit, record) {
            return Qualified::No(why);
        }
    }
    Qualified::Yes(report.digest.clone())
}

type PlatformOf = crate::verify::PlatformReport;

/// The one record the state files hold for `unit` (an image, or one
/// platform's image). Records of different files that disagree about it
/// (another image ID, inputs, result or pushed digest) are refused, naming
/// both files: one of them is stale or forged, and the newer `tested_at`
/// proves nothing (anyone can write it).
fn recorded<'a>(
    options: &'a Options,
    unit: &str,
) -> Result<Option<&'a crate::state::ImageState>, Disagreement> {
    let mut found: Option<(&std::path::Path, &crate::state::ImageState)> = None;
    for (path, state) in &options.states {
        let Some(record) = state.images.get(unit) else {
            continue;
        };
        match found {
            None => found = Some((path, record)),
            Some((first, held)) => {
                let same = held.image_id == record.image_id
                    && held.inputs == record.inputs
                    && held.passed == record.passed
                    && held.pushed.as_ref().map(|p| &p.digest)
                        == record.pushed.as_ref().map(|p| &p.digest);
                if !same {
                    return Err(Disagreement {
                        first: first.to_path_buf(),
                        second: path.clone(),
                        unit: unit.to_string(),
                        first_image: crate::state::short_id(&held.image_id).to_string(),
                        second_image: crate::state::short_id(&record.image_id).to_string(),
                    });
                }
            }
        }
    }
    Ok(found.map(|(_, r)| r))
}

/// Why the attestation `s` is not for what the state `record` says was
/// tested as `unit`: another name (so another image or platform), image ID
/// or inputs.
fn mismatch(
    s: &crate::attest::statement::Summary,
    unit: &str,
    record: &crate::state::ImageState,
) -> Option<String> {
    if s.image != unit {
        return Some(format!(
            "its attestation was tested as {}, not as {unit} as its state records",
            crate::verify::untrusted(&s.image)
        ));
    }
    if s.image_id != record.image_id.as_str() {
        return Some(format!(
            "its attestation is for image {}, not the one its machine tested ({})",
            crate::state::short_id(&crate::verify::untrusted(&s.image_id)),
            crate::state::short_id(&record.image_id)
        ));
    }
    if record.inputs.is_some() && s.inputs != record.inputs {
        return Some(
            "its attestation is for other inputs than its shard's state records (an older test run)"
                .into(),
        );
    }
    None
}

/// Points `alias` at `digest` of `image`'s repository and reads it back.
async fn point(
    registry: &dyn RegistryWrite,
    image: &ImageRef,
    digest: &Digest,
    alias: &ImageRef,
) -> Result<(), PublishError> {
    if image.registry() != alias.registry() {
        return Err(PublishError::OtherRegistry {
            alias: alias.to_string(),
            image: image.to_string(),
        });
    }
    let repo = image.repository();
    // In another repository, the image is put there by digest and given its
    // attestations before the alias tag moves, so the alias never names a
    // digest without them there.
    let there = alias.repository();
    if there != repo {
        let staged = at_digest(&there, digest)?;
        registry.retag(&repo, digest, &staged).await?;
        match registry.resolve(&staged).await? {
            Some(r) if r.digest == *digest => carry(registry, image, alias, &r).await?,
            _ => return Err(PublishError::NotCopied(staged.to_string())),
        }
    }
    registry.retag(&repo, digest, alias).await?;
    match registry.resolve(alias).await? {
        Some(r) if r.digest == *digest => carry(registry, image, alias, &r).await,
        other => Err(PublishError::Moved {
            alias: alias.to_string(),
            now: other
                .map(|r| r.digest.to_string())
                .unwrap_or("nothing".into()),
            digest: digest.clone(),
        }),
    }
}

/// In another repository than `image`'s, the alias `alias` (resolved as
/// `r`) carries the attestations too (test results, provenance, SBOMs):
/// those it lacks are copied, for each platform's image and, for an index,
/// its own digest.
async fn carry(
    registry: &dyn RegistryWrite,
    image: &ImageRef,
    alias: &ImageRef,
    r: &crate::registry::Resolved,
) -> Result<(), PublishError> {
    let repo = image.repository();
    let there = alias.repository();
    if there == repo {
        return Ok(());
    }
    let subjects =
        std::iter::once(r.digest.clone()).chain(r.children.iter().map(|c| c.digest.clone()));
    for subject in subjects {
        crate::verify::copy_attestations(registry, &repo, &there, &subject)
            .await
            .map_err(|source| PublishError::CopyAttestations {
                repository: there.to_string(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod rules_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::new(format!("sha256:{}", c.to_string().repeat(64)))
    }

    fn alias() -> AliasPlan {
        AliasPlan {
            tag: "r/node:latest".parse().unwrap(),
            candidates: vec!["r/node:23".parse().unwrap(), "r/node:22".parse().unwrap()],
            rule: Some("latest".into()),
            fallback: false,
        }
    }

    fn images(newest: Qualified) -> BTreeMap<ImageRef, Qualified> {
        BTreeMap::from([
            ("r/node:23".parse().unwrap(), newest),
            ("r/node:22".parse().unwrap(), Qualified::Yes(d('2'))),
        ])
    }

    #[test]
    fn the_newest_passing_image_gets_the_alias() {
        let got = decide(&alias(), &images(Qualified::Yes(d('3'))), None, false);
        assert_eq!(
            got,
            Decision::Point {
                image: "r/node:23".parse().unwrap(),
                digest: d('3'),
                note: None
            }
        );
        let same = decide(
            &alias(),
            &images(Qualified::Yes(d('3'))),
            Some((&d('3'), true)),
            false,
        );
        assert!(matches!(same, Decision::UpToDate { .. }), "{same:?}");
    }

    #[test]
    fn a_failed_newest_image_holds_the_alias_where_it_is() {
        let failed = images(Qualified::No("tests failed".into()));
        // Where latest points now (an earlier 23 build) still passed: held.
        let got = decide(&alias(), &failed, Some((&d('9'), true)), false);
        let Decision::Held { digest, reason } = got else {
            panic!("{got:?}")
        };
        assert_eq!(digest, d('9'));
        assert!(
            reason.starts_with("held back, because its newest image r/node:23"),
            "{reason}"
        );
        assert!(reason.contains("tests failed"), "{reason}");
        // Never backwards to 22 by default, even when nothing is held.
        let got = decide(&alias(), &failed, None, false);
        assert!(matches!(got, Decision::Withheld { .. }), "{got:?}");
        let got = decide(&alias(), &failed, Some((&d('9'), false)), false);
        let Decision::Withheld { reason } = got else {
            panic!("{got:?}")
        };
        assert!(reason.contains("carries no valid passing"), "{reason}");
    }

    fn record(id: char, tested_at: &str) -> crate::state::ImageState {
        crate::state::ImageState {
            image_id: crate::reference::ImageId::new(format!(
                "sha256:{}",
                id.to_string().repeat(64)
            )),
            passed: true,
            tested_at: tested_at.parse().unwrap(),
            tests: vec![],
            pushed: None,
            inputs: None,
            bases: vec![],
            built: None,
            parts: None,
        }
    }

    fn state(unit: &str, r: crate::state::ImageState) -> State {
        State {
            images: BTreeMap::from([(unit.parse().unwrap(), r)]),
            ..State::default()
        }
    }

    #[test]
    fn state_files_that_disagree_about_an_image_are_refused_naming_both() {
        let unit = "r/app:1-linux-arm64";
        let genuine = state(unit, record('a', "2026-01-01T00:00:00Z"));
        // The same record in a second file (the same state given twice) is fine.
        let options = Options {
            states: vec![
                ("a.json".into(), genuine.clone()),
                ("b.json".into(), genuine.clone()),
            ],
            ..Options::default()
        };
        assert_eq!(
            recorded(&options, unit).unwrap().unwrap().image_id,
            record('a', "2026-01-01T00:00:00Z").image_id
        );
        // Another image, dated later: refused, not preferred for its date.
        let forged = state(unit, record('f', "2099-01-01T00:00:00Z"));
        let options = Options {
            states: vec![("a.json".into(), genuine), ("forged.json".into(), forged)],
            ..Options::default()
        };
        let why = recorded(&options, unit).unwrap_err().to_string();
        assert!(
            why.contains("a.json") && why.contains("forged.json") && why.contains(unit),
            "{why}"
        );
        assert_eq!(recorded(&options, "r/app:2").unwrap(), None);
    }

    #[test]
    fn falling_back_is_an_opt_in() {
        let failed = images(Qualified::No("tests failed".into()));
        let got = decide(&alias(), &failed, Some((&d('9'), true)), true);
        let Decision::Point {
            image,
            digest,
            note,
        } = got
        else {
            panic!("{got:?}")
        };
        assert_eq!((image.as_str(), digest), ("r/node:22", d('2')));
        assert!(note.unwrap().contains("fell back"));
    }
}
