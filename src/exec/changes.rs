//! What `strata test` would rebuild, and why, without building anything
//! and without an engine (`strata plan --changes`): each unit's inputs read
//! from the host are compared with its last record, part by part
//! (`reasons::diff`); each external base the state recorded a digest for
//! is asked of its registry (one request per base, `-j` at a time); an
//! image built on one that would be rebuilt would be rebuilt too.
//!
//! What only a build can tell (an artifact's new content, the engine's
//! image IDs) is not compared: an artifact counts as unchanged while its
//! source (package version or URL) is.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use serde::Serialize;

use super::bases::{platform_digest, upstream_manifest, BaseError};
use super::reasons::{self, reason};
use crate::events::{Reason, ReasonKind};
use crate::plan::Plan;
use crate::registry::RegistryRead;
use crate::state::{ArtifactPart, BaseState, ImageState, State};

/// One unit (an image, or one platform of it) and what would happen to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub image: String,
    /// True when `test` would build it (again).
    pub rebuild: bool,
    /// Why; empty when it would not be rebuilt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// A pinned base whose tag upstream has moved since `pins update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The digest `strata.lock` pins (what builds use).
    pub pinned: crate::reference::Digest,
    /// The digest its registry gives now.
    pub upstream: crate::reference::Digest,
}

/// What `test` would do to every unit, and the drift of pinned bases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    pub images: Vec<Change>,
    /// Pinned bases that would move if the pins were updated.
    pub drift: Vec<Drift>,
}

/// A base as a record or the lock names it: its reference and platform.
type BaseKey = (String, Option<String>);

/// What `test` would do to every unit of `plan`, given the `state`, the
/// lock file if there is one, and (unless `None`: `--pull never`) the
/// registry the bases are asked of.
pub async fn predict(
    plan: &Plan,
    state: &State,
    lock: Option<&crate::config::lock::Lock>,
    registry: Option<&dyn RegistryRead>,
    jobs: usize,
) -> Result<Prediction, BaseError> {
    let (units, _) = super::units(plan, &super::Options::default());
    // The bases worth asking about: those a record says were followed,
    // and those the lock pins to a digest.
    let mut followed: BTreeSet<BaseKey> = units
        .images
        .iter()
        .filter_map(|u| state.images.get(u.name.as_str()))
        .flat_map(|r| r.bases.iter())
        .map(|b| (b.reference.clone(), b.platform.clone()))
        .collect();
    let pinned = pinned_digests(lock);
    followed.extend(pinned.keys().cloned());
    let mut upstream = match registry {
        Some(registry) => digests(followed, registry, jobs).await?,
        None => BTreeMap::new(),
    };
    let drift = apply_pins(&pinned, &mut upstream);
    let mut changes = Vec::with_capacity(units.images.len());
    for unit in &units.images {
        let prior = state.images.get(unit.name.as_str());
        let why = unit_reasons(unit, prior, &upstream).await;
        changes.push(Change {
            image: unit.name.to_string(),
            rebuild: !why.is_empty(),
            reasons: why,
        });
    }
    propagate_rebuilds(&mut changes, &units.images);
    Ok(Prediction {
        images: changes,
        drift,
    })
}

/// The digests the lock pins, by base.
fn pinned_digests(
    lock: Option<&crate::config::lock::Lock>,
) -> BTreeMap<BaseKey, crate::reference::Digest> {
    lock.map(|l| {
        l.pins
            .iter()
            .filter_map(|p| Some(((p.reference.clone(), p.platform.clone()), p.digest.clone()?)))
            .collect()
    })
    .unwrap_or_default()
}

/// Puts the pinned digests in place of what upstream says (builds read the
/// pins), and returns the pins upstream has moved away from.
fn apply_pins(
    pinned: &BTreeMap<BaseKey, crate::reference::Digest>,
    upstream: &mut BTreeMap<BaseKey, crate::reference::Digest>,
) -> Vec<Drift> {
    let mut drift = Vec::new();
    for (key, digest) in pinned {
        if let Some(now) = upstream.get(key).filter(|now| *now != digest) {
            drift.push(Drift {
                reference: key.0.clone(),
                platform: key.1.clone(),
                pinned: digest.clone(),
                upstream: now.clone(),
            });
        }
        // Builds read the pinned digest, whatever upstream says.
        upstream.insert(key.clone(), digest.clone());
    }
    drift
}

/// Why `unit` would be rebuilt, given its last record (`prior`) and the
/// bases' digests now; empty: it is up to date.
async fn unit_reasons(
    unit: &crate::plan::ImagePlan,
    prior: Option<&ImageState>,
    upstream: &BTreeMap<BaseKey, crate::reference::Digest>,
) -> Vec<Reason> {
    let mut why = Vec::new();
    match prior {
        None => why.push(reason(ReasonKind::FirstBuild, "first build".into())),
        Some(p) if !p.passed => why.push(reason(
            ReasonKind::LastFailed,
            "its last build or a test failed".into(),
        )),
        Some(p) => {
            let now_bases = bases_now(&p.bases, upstream);
            match &p.parts {
                Some(before) => match super::fingerprint::local_parts(unit, &[]).await {
                    Ok(mut now) => {
                        now.artifacts = artifacts(unit, &before.artifacts);
                        // Secrets are read only by `test`: a prediction
                        // cannot say whether one changed.
                        now.secrets = before.secrets.clone();
                        if !before.files_named || !now.files_named {
                            // Without names, the context's digest held
                            // the artifacts too: not comparable here.
                            now.context = before.context.clone();
                        }
                        why.extend(reasons::diff(before, &now, &p.bases, &now_bases, false));
                    }
                    Err(e) => why.push(reason(
                        ReasonKind::Inputs,
                        format!("its inputs cannot be read: {e}"),
                    )),
                },
                None => why.extend(reasons::moved(&p.bases, &now_bases)),
            }
        }
    }
    why
}

/// The recorded bases with the digests they have now (those whose digest
/// is known).
fn bases_now(
    recorded: &[BaseState],
    upstream: &BTreeMap<BaseKey, crate::reference::Digest>,
) -> Vec<BaseState> {
    recorded
        .iter()
        .filter_map(|b| {
            let digest = upstream.get(&(b.reference.clone(), b.platform.clone()))?;
            Some(BaseState {
                digest: digest.clone(),
                ..b.clone()
            })
        })
        .collect()
}

/// An image built on one that would be rebuilt would be rebuilt too: adds
/// that reason until no more change does (`changes` in the order of `units`).
fn propagate_rebuilds(changes: &mut [Change], units: &[crate::plan::ImagePlan]) {
    loop {
        let rebuilt: BTreeSet<String> = changes
            .iter()
            .filter(|c| c.rebuild)
            .map(|c| c.image.clone())
            .collect();
        let mut grew = false;
        for (change, unit) in changes.iter_mut().zip(units) {
            let parents: Vec<&String> = unit
                .needs
                .iter()
                .chain(unit.rename_bases.values())
                .filter(|n| rebuilt.contains(*n))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for parent in parents {
                let text = format!("its base {parent} would be rebuilt");
                if !change.reasons.iter().any(|r| r.text == text) {
                    change.reasons.push(reason(ReasonKind::Base, text));
                    change.rebuild = true;
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
}

/// The artifacts `unit` would get: unchanged (the recorded content) while
/// their source is the recorded one.
fn artifacts(
    unit: &crate::plan::ImagePlan,
    before: &BTreeMap<String, ArtifactPart>,
) -> BTreeMap<String, ArtifactPart> {
    unit.artifacts
        .iter()
        .map(|a| {
            let source = super::fingerprint::artifact_source(&a.source);
            let content = match before.get(&a.file_name) {
                Some(b) if b.source == source => b.content.clone(),
                _ => String::new(),
            };
            (a.file_name.clone(), ArtifactPart { source, content })
        })
        .collect()
}

/// Each followed base's digest for its platform now, one registry request
/// per base, `jobs` at a time.
async fn digests(
    followed: BTreeSet<(String, Option<String>)>,
    registry: &dyn RegistryRead,
    jobs: usize,
) -> Result<BTreeMap<(String, Option<String>), crate::reference::Digest>, BaseError> {
    let mut by_reference: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for (reference, platform) in followed {
        by_reference.entry(reference).or_default().push(platform);
    }
    let results: Vec<Result<Vec<_>, BaseError>> =
        futures_util::stream::iter(by_reference.into_iter().map(
            |(reference, platforms)| async move {
                let manifest = upstream_manifest(registry, &reference).await?;
                let mut out = Vec::with_capacity(platforms.len());
                for platform in platforms {
                    let parsed = match &platform {
                        Some(p) => Some(p.parse::<crate::reference::Platform>().map_err(|e| {
                            BaseError::Input(format!("base image {reference}: platform {p}: {e}"))
                        })?),
                        None => None,
                    };
                    let digest = platform_digest(&reference, &manifest, parsed.as_ref())?;
                    out.push(((reference.clone(), platform), digest));
                }
                Ok(out)
            },
        ))
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut all = BTreeMap::new();
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}

/// The changes as text: one line per unit, then the drift of pins.
pub fn text(prediction: &Prediction) -> String {
    let changes = &prediction.images;
    let mut out = String::new();
    for c in changes {
        let line = match c.rebuild {
            true => format!(
                "{}: would rebuild: {}",
                c.image,
                crate::events::reasons_line(&c.reasons)
            ),
            false => format!("{}: up to date", c.image),
        };
        out.push_str(&crate::text::escape(&line));
        out.push('\n');
    }
    let n = changes.iter().filter(|c| c.rebuild).count();
    out.push_str(&format!(
        "{n} of {} would be rebuilt by `strata test`\n",
        changes.len()
    ));
    for d in &prediction.drift {
        let platform = d
            .platform
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let line = format!(
            "base {}{platform} would move if pins were updated: {} → {}",
            d.reference, d.pinned, d.upstream
        );
        out.push_str(&crate::text::escape(&line));
        out.push('\n');
    }
    out
}

/// The changes as JSON, for a scheduler deciding whether to run at all.
pub fn json(prediction: &Prediction) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        /// True when `test` would rebuild anything.
        rebuild: bool,
        #[serde(flatten)]
        prediction: &'a Prediction,
    }
    let mut s = serde_json::to_string_pretty(&Doc {
        rebuild: prediction.images.iter().any(|c| c.rebuild),
        prediction,
    })
    .expect("changes serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ImagePlan;
    use crate::state::ImageState;

    fn image(dir: &std::path::Path, name: &str, dockerfile: &str, needs: &[&str]) -> ImagePlan {
        ImagePlan {
            needs: needs.iter().map(|n| n.to_string()).collect(),
            ..ImagePlan::with_dockerfile(dir, name, dockerfile)
        }
    }

    async fn passed(image: &ImagePlan) -> ImageState {
        ImageState {
            image_id: crate::reference::ImageId::new("sha256:x"),
            passed: true,
            tested_at: chrono::Utc::now(),
            tests: vec![],
            pushed: None,
            inputs: Some("sha256:any".into()),
            bases: vec![],
            built: None,
            parts: Some(
                super::super::fingerprint::local_parts(image, &[])
                    .await
                    .unwrap(),
            ),
        }
    }

    #[tokio::test]
    async fn a_changed_parent_takes_its_children_along_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let a = image(dir.path(), "acme/a:1", "FROM up/base:1\n", &[]);
        let b = image(dir.path(), "acme/b:1", "FROM acme/a:1\n", &["acme/a:1"]);
        let c = image(dir.path(), "acme/c:1", "FROM up/base:1\nRUN true\n", &[]);
        let mut state = State::default();
        for i in [&a, &b, &c] {
            state.images.insert(i.name.clone(), passed(i).await);
        }
        let plan = Plan {
            images: vec![a.clone(), b.clone(), c.clone()],
            ..Default::default()
        };
        let quiet = predict(&plan, &state, None, None, 1).await.unwrap();
        assert!(quiet.images.iter().all(|c| !c.rebuild), "{quiet:?}");

        std::fs::write(a.context.join("Dockerfile"), "FROM up/base:1\nRUN x\n").unwrap();
        state.images.remove("acme/c:1");
        let p = predict(&plan, &state, None, None, 1).await.unwrap();
        let why = |n: &str| {
            let c = p.images.iter().find(|c| c.image == n).unwrap();
            (c.rebuild, reasons_of(c))
        };
        assert_eq!(
            why("acme/a:1"),
            (true, vec!["Dockerfile changed".to_string()])
        );
        assert_eq!(
            why("acme/b:1"),
            (true, vec!["its base acme/a:1 would be rebuilt".to_string()])
        );
        assert_eq!(why("acme/c:1"), (true, vec!["first build".to_string()]));
        let json: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
        assert_eq!(json["rebuild"], true);
        assert_eq!(json["images"][1]["reasons"][0]["kind"], "base");
        assert!(text(&p).ends_with("3 of 3 would be rebuilt by `strata test`\n"));
    }

    fn reasons_of(c: &Change) -> Vec<String> {
        c.reasons.iter().map(|r| r.text.clone()).collect()
    }
}
