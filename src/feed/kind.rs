//! One feed, whatever its kind: the releases it lists, selected by range and
//! `pick`, each with its facts.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::generic::{self, Entry};
use super::select::{self, Pick};
use super::{line_name, Release, Schedule};

/// A feed's releases, as its kind reads them.
#[derive(Debug, Clone)]
pub enum Feed {
    /// Node's release index and schedule.
    Node {
        releases: Vec<Release>,
        schedule: Schedule,
    },
    /// An `endoflife`, `npm` or `list` feed.
    Generic(Vec<Entry>),
}

/// A release chosen to become images.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// Orders releases (newest first, never backwards).
    pub order: semver::Version,
    /// The version as the feed writes it (`3.14.0a1`): names and folders.
    pub text: String,
    /// Every release fact (see [`super::facts::FACTS`]).
    pub facts: Map<String, Value>,
}

impl Feed {
    /// How many releases the feed lists.
    pub fn len(&self) -> usize {
        match self {
            Feed::Node { releases, .. } => releases.len(),
            Feed::Generic(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest version the feed lists, as written.
    pub fn newest(&self) -> Option<String> {
        match self {
            Feed::Node { releases, .. } => releases
                .iter()
                .map(|r| &r.version)
                .max()
                .map(|v| v.to_string()),
            Feed::Generic(entries) => entries
                .iter()
                .max_by(|a, b| a.version.order.cmp(&b.version.order))
                .map(|e| e.version.text.clone()),
        }
    }

    /// The releases matching `range`, reduced by `pick`, newest first, with
    /// their facts as of `as_of`.
    pub fn select(
        &self,
        range: &nodejs_semver::Range,
        pick: Pick,
        as_of: NaiveDate,
    ) -> Vec<Selected> {
        match self {
            Feed::Node { releases, schedule } => {
                let newest = generic::newest_line(
                    releases
                        .iter()
                        .map(|r| (&r.version, line_name(&r.version), Some(r.date))),
                    as_of,
                );
                select::select(releases, range, pick)
                    .into_iter()
                    .map(|r| {
                        let mut facts = super::facts(&r, schedule, as_of);
                        node_common(&r, schedule, newest.as_deref(), as_of, &mut facts);
                        Selected {
                            order: r.version.clone(),
                            text: r.version.to_string(),
                            facts,
                        }
                    })
                    .collect()
            }
            Feed::Generic(entries) => {
                let newest = generic::newest_line(
                    entries
                        .iter()
                        .map(|e| (&e.version.order, e.cycle.clone(), e.released)),
                    as_of,
                );
                select::pick(
                    entries,
                    |e| &e.version.order,
                    |e| e.cycle.clone(),
                    range,
                    pick,
                )
                .into_iter()
                .map(|e| Selected {
                    order: e.version.order.clone(),
                    text: e.version.text.clone(),
                    facts: generic::facts(e, newest.as_deref(), as_of),
                })
                .collect()
            }
        }
    }
}

/// The facts every kind gives, for a Node release (its own facts keep their
/// names and meaning).
fn node_common(
    release: &Release,
    schedule: &Schedule,
    newest: Option<&str>,
    as_of: NaiveDate,
    facts: &mut Map<String, Value>,
) {
    let v = &release.version;
    let line = schedule.line_of(v);
    let cycle = line_name(v);
    facts.insert("prerelease".into(), v.pre.to_string().into());
    facts.insert("cycle".into(), cycle.clone().into());
    facts.insert("released".into(), release.date.to_string().into());
    facts.insert(
        "eol".into(),
        line.map_or(Value::Null, |l| l.end.to_string().into()),
    );
    facts.insert(
        "support".into(),
        line.and_then(|l| l.maintenance)
            .map_or(Value::Null, |d| d.to_string().into()),
    );
    facts.insert(
        "is_lts".into(),
        line.map_or(Value::Null, |l| l.is_lts_at(as_of).into()),
    );
    facts.insert("is_prerelease".into(), (!v.pre.is_empty()).into());
    facts.insert("is_newest".into(), (newest == Some(cycle.as_str())).into());
    facts.insert("dist_tags".into(), Value::Array(Vec::new()));
}
