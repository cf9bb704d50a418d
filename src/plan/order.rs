//! Build order: parents before children, cycles reported by name.
//!
//! An image built `FROM` another image of the same plan must be built after
//! it. This module orders images topologically by the `FROM` lines
//! [`crate::dockerfile`] reads: a pure function of text and indices.

use std::collections::BTreeSet;

/// Puts `images` in build order by the `FROM` lines of their Dockerfiles.
///
/// `dockerfiles[i]` is the text of `images[i]`'s Dockerfile. Each image's
/// `needs` becomes every plan image any of its stages is built from, and its
/// the one its final stage is built on first. Images keep their input order where the
/// `FROM` lines allow. A cycle is returned with indices into the input.
pub fn order_by_from(
    images: Vec<super::ImagePlan>,
    dockerfiles: &[&str],
) -> Result<Vec<super::ImagePlan>, Cycle> {
    use crate::dockerfile::{base_images, final_base};
    use crate::reference::normalize;
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
    let names: Vec<String> = images.iter().map(|i| i.name.to_string()).collect();
    let mut slots: Vec<Option<super::ImagePlan>> = images.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| {
            let mut image = slots[i].take().expect("each index once");
            // The image the result is built on first, then any other plan
            // image a stage uses.
            let base = final_base(dockerfiles[i]).and_then(|b| find(&b));
            let others = deps[i].iter().copied().filter(|&d| Some(d) != base);
            image.needs = base
                .into_iter()
                .chain(others)
                .map(|d| names[d].clone())
                .collect();
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
