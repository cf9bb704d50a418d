//! Build order: parents before children, cycles reported by name.
//!
//! An image built `FROM` another image of the same plan must be built after
//! it. This module reads the `FROM` lines of a Dockerfile and orders images
//! topologically. Both are pure functions of text and indices.

use std::collections::BTreeSet;

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image (or earlier stage) named, as written; `$ARG`s are not expanded.
    pub image: String,
    /// The stage name given with `AS`, if any.
    pub stage: Option<String>,
    /// 1-based line the instruction starts on.
    pub line: usize,
}

/// The `FROM` instructions of a Dockerfile, in order.
///
/// Follows the Dockerfile syntax: `# escape=` parser directive, line
/// continuations, comment lines (also inside continuations), flags such as
/// `--platform=…`, and `AS name`.
pub fn from_instructions(dockerfile: &str) -> Vec<From> {
    instructions(dockerfile)
        .into_iter()
        .filter_map(|(line, text)| {
            let mut words = text.split_whitespace();
            if !words.next()?.eq_ignore_ascii_case("FROM") {
                return None;
            }
            let mut words = words.skip_while(|w| w.starts_with("--"));
            let image = words.next()?.to_string();
            let stage = match (words.next(), words.next()) {
                (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("AS") => Some(name.to_string()),
                _ => None,
            };
            Some(From { image, stage, line })
        })
        .collect()
}

/// The images a Dockerfile builds from, in order and without repeats: every
/// `FROM` that does not name an earlier stage or `scratch`.
pub fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    for from in from_instructions(dockerfile) {
        let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&from.image));
        if !is_stage && from.image != "scratch" && !images.contains(&from.image) {
            images.push(from.image);
        }
        if let Some(stage) = from.stage {
            stages.push(stage);
        }
    }
    images
}

/// The image the final stage descends from, following stage references
/// (`FROM base AS build` … `FROM build`): the image the result is built on.
pub fn final_base(dockerfile: &str) -> Option<String> {
    let froms = from_instructions(dockerfile);
    let mut current = froms.len().checked_sub(1)?;
    // Each step moves to an earlier instruction, so this ends.
    loop {
        let image = &froms[current].image;
        let earlier = froms[..current].iter().rposition(|f| {
            f.stage
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(image))
        });
        match earlier {
            Some(i) => current = i,
            None if image == "scratch" => return None,
            None => return Some(image.clone()),
        }
    }
}

/// Splits a Dockerfile into instructions: (first line number, joined text).
fn instructions(dockerfile: &str) -> Vec<(usize, String)> {
    let escape = escape_char(dockerfile);
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in dockerfile.lines().enumerate() {
        let trimmed = raw.trim();
        // Comments and blank lines neither start nor end an instruction.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (text, continues) = match trimmed.strip_suffix(escape) {
            Some(head) => (head, true),
            None => (trimmed, false),
        };
        let (_, joined) = current.get_or_insert_with(|| (i + 1, String::new()));
        joined.push(' ');
        joined.push_str(text);
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// The escape character set by a `# escape=` directive (only valid before
/// anything else), or `\`.
fn escape_char(dockerfile: &str) -> char {
    for line in dockerfile.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once('=') else {
            break;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("escape") {
            if let Some(c) = value.trim().chars().next() {
                return c;
            }
        } else if !key.eq_ignore_ascii_case("syntax") && !key.eq_ignore_ascii_case("check") {
            break;
        }
    }
    '\\'
}

/// Puts `images` in build order by the `FROM` lines of their Dockerfiles.
///
/// `dockerfiles[i]` is the text of `images[i]`'s Dockerfile. Each image's
/// `needs` becomes every plan image any of its stages is built from, and its
/// `parent` the plan image its final stage is built on, if any. Images keep their input order where the
/// `FROM` lines allow. A cycle is returned with indices into the input.
pub fn order_by_from(
    images: Vec<super::ImagePlan>,
    dockerfiles: &[&str],
) -> Result<Vec<super::ImagePlan>, Cycle> {
    use crate::config::reference::normalize;
    let by_name: std::collections::HashMap<String, usize> = images
        .iter()
        .enumerate()
        .map(|(i, image)| (normalize(&image.name), i))
        .collect();
    let find = |from: &str| by_name.get(&normalize(from)).copied();
    let deps: Vec<Vec<usize>> = dockerfiles
        .iter()
        .map(|text| base_images(text).iter().filter_map(|b| find(b)).collect())
        .collect();
    let order = build_order(&deps)?;
    let names: Vec<String> = images.iter().map(|i| i.name.clone()).collect();
    let mut slots: Vec<Option<super::ImagePlan>> = images.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| {
            let mut image = slots[i].take().expect("each index once");
            image.needs = deps[i].iter().map(|&d| names[d].clone()).collect();
            // The image the result is built on; failing that, any plan image
            // a stage uses.
            image.parent = final_base(dockerfiles[i])
                .and_then(|b| find(&b))
                .or_else(|| deps[i].first().copied())
                .map(|p| names[p].clone());
            image
        })
        .collect())
}

/// Images depending on each other in a loop, as indices: each is built from
/// the next, and the last from the first. Starts at the earliest index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<usize>);

/// Orders items so each comes after its dependencies.
///
/// `deps[i]` lists the indices item `i` depends on. The order is stable:
/// among items whose dependencies are done, the earliest in input order goes
/// first, so an input without dependencies keeps its order.
pub fn build_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Cycle> {
    let n = deps.len();
    let mut waiting_on: Vec<usize> = vec![0; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (item, ds) in deps.iter().enumerate() {
        let unique: BTreeSet<usize> = ds.iter().copied().collect();
        waiting_on[item] = unique.len();
        for d in unique {
            dependents[d].push(item);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting_on[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(item) = ready.pop_first() {
        order.push(item);
        for &dependent in &dependents[item] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(deps, &waiting_on))
}

/// Walks unfinished dependencies from the first unfinished item until an item
/// repeats; the walk from that item on is a cycle.
fn find_cycle(deps: &[Vec<usize>], waiting_on: &[usize]) -> Cycle {
    let unfinished = |i: usize| waiting_on[i] > 0;
    let mut path: Vec<usize> = Vec::new();
    let mut item = (0..deps.len()).find(|&i| unfinished(i)).unwrap_or(0);
    loop {
        if let Some(pos) = path.iter().position(|&p| p == item) {
            // Start the loop at its earliest item, so the report is stable.
            let mut cycle = path.split_off(pos);
            let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
            cycle.rotate_left(first);
            return Cycle(cycle);
        }
        path.push(item);
        // An unfinished item always waits on at least one unfinished item.
        match deps[item].iter().copied().find(|&d| unfinished(d)) {
            Some(next) => item = next,
            None => return Cycle(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_lines() {
        let text = "# syntax=docker/dockerfile:1\n\
                    ARG BASE=debian\n\
                    FROM --platform=$BUILDPLATFORM acme/base:1 AS build\n\
                    # a comment\n\
                    RUN make\n\
                    from \\\n  # comment inside\n  acme/runtime:2 \\\n  as Final\n\
                    FROM ${BASE}:12\n";
        let froms = from_instructions(text);
        assert_eq!(
            froms,
            vec![
                From {
                    image: "acme/base:1".into(),
                    stage: Some("build".into()),
                    line: 3
                },
                From {
                    image: "acme/runtime:2".into(),
                    stage: Some("Final".into()),
                    line: 6
                },
                From {
                    image: "${BASE}:12".into(),
                    stage: None,
                    line: 10
                },
            ]
        );
    }

    #[test]
    fn escape_directive_changes_continuation() {
        let text = "# escape=`\nFROM `\n  acme/win:1\nRUN dir C:\\\nFROM acme/two\n";
        let images: Vec<_> = from_instructions(text)
            .into_iter()
            .map(|f| f.image)
            .collect();
        assert_eq!(images, ["acme/win:1", "acme/two"]);
    }

    #[test]
    fn run_text_mentioning_from_is_not_a_from() {
        let text = "FROM a\nRUN echo \\\n FROM b\n";
        assert_eq!(base_images(text), ["a"]);
    }

    #[test]
    fn base_images_skip_stages_and_scratch() {
        let text = "FROM acme/base AS build\nFROM BUILD AS test\nFROM scratch\nFROM acme/base\nFROM acme/other\n";
        assert_eq!(base_images(text), ["acme/base", "acme/other"]);
    }

    #[test]
    fn final_base_follows_stages() {
        assert_eq!(
            final_base("FROM acme/base AS a\nFROM acme/x AS b\nFROM a\n").as_deref(),
            Some("acme/base")
        );
        assert_eq!(final_base("FROM acme/base\nFROM scratch\n"), None);
        assert_eq!(final_base("RUN x\n"), None);
    }

    #[test]
    fn order_is_stable_without_dependencies() {
        assert_eq!(build_order(&[vec![], vec![], vec![]]), Ok(vec![0, 1, 2]));
    }

    #[test]
    fn parents_come_first() {
        // 0 is built from 2, 1 from 0.
        assert_eq!(build_order(&[vec![2], vec![0], vec![]]), Ok(vec![2, 0, 1]));
        // Unrelated items keep their place ahead of later ones.
        assert_eq!(
            build_order(&[vec![3], vec![], vec![], vec![]]),
            Ok(vec![1, 2, 3, 0])
        );
    }

    #[test]
    fn cycles_are_named() {
        // 0 → 1 → 2 → 0, and 3 depends on the cycle.
        let err = build_order(&[vec![2], vec![0], vec![1], vec![0]]).unwrap_err();
        assert_eq!(err, Cycle(vec![0, 2, 1]));
        assert_eq!(build_order(&[vec![0]]), Err(Cycle(vec![0])));
    }
}
