//! Splitting a plan across machines: `--shard K/N`.
//!
//! Images that build on each other must run on one machine (a child needs
//! its parent in the same engine), so the unit of splitting is a *family*:
//! a connected group of images linked by `FROM`. Families are dealt out to
//! shards largest first, each to the least loaded shard, so the split is
//! deterministic and balanced by image count.
//!
//! An alias is decided where its candidates are. A shard keeps the leading
//! candidates it owns and stops at the first one it does not: if those all
//! fail it cannot know whether an image on another shard passed, so it
//! withholds the alias rather than move it to an older image. Aliases whose
//! first candidate lives elsewhere belong to that other shard.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use super::Plan;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// Text that is not `K/N` with 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shard: write K/N, such as 2/4 (1 ≤ K ≤ N)")]
pub struct NotAShard(pub String);

impl FromStr for Shard {
    type Err = NotAShard;

    fn from_str(s: &str) -> Result<Shard, NotAShard> {
        let bad = || NotAShard(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The part of `plan` that shard `shard` runs.
pub fn select(plan: &Plan, shard: Shard) -> Plan {
    let owner = assign(plan, shard.count);
    let mine: HashSet<&str> = plan
        .images
        .iter()
        .filter(|i| owner[i.name.as_str()] == shard.index)
        .map(|i| i.name.as_str())
        .collect();
    let mut out = plan.clone();
    out.images.retain(|i| mine.contains(i.name.as_str()));
    out.aliases = plan
        .aliases
        .iter()
        .filter_map(|a| a.narrowed(|c| mine.contains(c)))
        .collect();
    out
}

/// Which shard (1-based) each image goes to.
fn assign(plan: &Plan, count: usize) -> HashMap<&str, usize> {
    // Union-find over images linked by `needs`.
    let index: HashMap<&str, usize> = plan
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| (img.name.as_str(), i))
        .collect();
    let mut parent: Vec<usize> = (0..plan.images.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, img) in plan.images.iter().enumerate() {
        for need in &img.needs {
            if let Some(&j) = index.get(need.as_str()) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    // Families keyed by their first image, in plan order.
    let mut families: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..plan.images.len() {
        let r = root(&mut parent, i);
        families.entry(r).or_default().push(i);
    }
    let mut families: Vec<Vec<usize>> = families.into_values().collect();
    // Largest first; among equals, plan order (the sort is stable).
    families.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut load = vec![0usize; count];
    let mut owner = HashMap::new();
    for family in families {
        let target = (0..count).min_by_key(|&s| (load[s], s)).expect("count ≥ 1");
        load[target] += family.len();
        for i in family {
            owner.insert(plan.images[i].name.as_str(), target + 1);
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AliasPlan, ImagePlan};

    fn image(name: &str, needs: &[&str]) -> ImagePlan {
        ImagePlan {
            needs: needs.iter().map(|s| s.to_string()).collect(),
            ..ImagePlan::for_test(name, name)
        }
    }

    /// Two OS families (a base and three versions each) and a lone image.
    fn plan() -> Plan {
        let mut images = vec![];
        for os in ["bookworm", "bullseye"] {
            let base = format!("base:{os}");
            images.push(image(&base, &[]));
            for v in ["22", "20", "18"] {
                images.push(image(&format!("{os}:{v}"), &[&base]));
            }
        }
        images.push(image("tool:1", &[]));
        Plan {
            images,
            aliases: vec![
                AliasPlan {
                    tag: "node:lts".parse().unwrap(),
                    candidates: vec![
                        "bookworm:22".parse().unwrap(),
                        "bookworm:20".parse().unwrap(),
                    ],
                    rule: None,
                    fallback: false,
                },
                AliasPlan {
                    tag: "any:newest".parse().unwrap(),
                    candidates: vec![
                        "bookworm:22".parse().unwrap(),
                        "bullseye:22".parse().unwrap(),
                        "bookworm:20".parse().unwrap(),
                    ],
                    rule: None,
                    fallback: false,
                },
                AliasPlan {
                    tag: "bullseye:latest".parse().unwrap(),
                    candidates: vec!["bullseye:22".parse().unwrap()],
                    rule: None,
                    fallback: false,
                },
            ],
            ..Plan::default()
        }
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.images.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/2", "3/2", "2", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn families_stay_together_and_every_image_runs_once() {
        let p = plan();
        let shards: Vec<Plan> = (1..=2)
            .map(|k| select(&p, Shard { index: k, count: 2 }))
            .collect();
        assert_eq!(
            names(&shards[0]),
            vec![
                "base:bookworm",
                "bookworm:22",
                "bookworm:20",
                "bookworm:18",
                "tool:1"
            ]
        );
        assert_eq!(
            names(&shards[1]),
            vec!["base:bullseye", "bullseye:22", "bullseye:20", "bullseye:18"]
        );
        let one = select(&p, Shard { index: 1, count: 1 });
        assert_eq!(one, p, "one shard is the whole plan");
        let three: usize = (1..=3)
            .map(|k| select(&p, Shard { index: k, count: 3 }).images.len())
            .sum();
        assert_eq!(three, p.images.len());
    }

    #[test]
    fn an_alias_stops_at_the_first_candidate_its_shard_cannot_judge() {
        let p = plan();
        let first = select(&p, Shard { index: 1, count: 2 });
        let second = select(&p, Shard { index: 2, count: 2 });
        let tags = |p: &Plan| -> Vec<(String, Vec<String>)> {
            p.aliases
                .iter()
                .map(|a| {
                    let candidates = a.candidates.iter().map(ToString::to_string).collect();
                    (a.tag.to_string(), candidates)
                })
                .collect()
        };
        assert_eq!(
            tags(&first),
            vec![
                (
                    "node:lts".into(),
                    vec!["bookworm:22".into(), "bookworm:20".into()]
                ),
                // If bookworm:22 fails, bullseye:22 (another shard) may have
                // passed: shard 1 must not fall back to bookworm:20.
                ("any:newest".into(), vec!["bookworm:22".into()]),
            ]
        );
        assert_eq!(
            tags(&second),
            vec![("bullseye:latest".into(), vec!["bullseye:22".into()])]
        );
    }
}
