//! Runs one job per image, `jobs` at a time, parents before children.
//!
//! Images are independent except for their parent: an image built `FROM`
//! another image of the plan waits for it, and is skipped if it failed. One
//! failure never stops unrelated images.
//!
//! Of the images ready to start, the one heading the longest chain of
//! images that wait on it starts first (then the one with most images
//! waiting on it, then plan order): a base that ten images are built on goes
//! before a leaf, so the engine is not left with one slow base and nothing
//! else to do at the end of a run. A chain's length is the sum of its
//! nodes' [costs](Node::cost): an image built for a platform the engine
//! emulates counts several times a native one, so the slow platforms start
//! first.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::JoinSet;

/// What the scheduler needs to know of an image.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// Names of the nodes this one waits for.
    pub needs: Vec<String>,
    /// How long this node takes next to others, roughly (1 for a native
    /// build; see [`EMULATED_COST`]). Only the start order depends on it.
    pub cost: u32,
}

/// The cost of a build for a platform the engine emulates: several times
/// that of a native one.
pub const EMULATED_COST: u32 = 4;

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeResult {
    Passed,
    Failed,
    /// Not run because its parent did not pass.
    Skipped {
        parent: String,
    },
}

/// Runs `run(index)` for each node, at most `jobs` at once, in an order that
/// respects parents. `on_skip(index, parent)` is called for nodes whose parent
/// did not pass. Returns each node's result, by index.
///
/// A parent that is not among the nodes is assumed present (a base image
/// already on the engine).
pub async fn run<F, Fut, S>(nodes: &[Node], jobs: usize, run: F, mut on_skip: S) -> Vec<NodeResult>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
    S: FnMut(usize, &str),
{
    let jobs = jobs.max(1);
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut results: Vec<Option<NodeResult>> = vec![None; nodes.len()];
    let mut started = vec![false; nodes.len()];
    let mut running: JoinSet<(usize, bool)> = JoinSet::new();
    let order = critical_first(nodes);

    loop {
        // Start (or skip) every node whose needs are settled, up to the limit.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for &i in &order {
                if started[i] {
                    continue;
                }
                let needs: Vec<usize> = nodes[i]
                    .needs
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .collect();
                if needs.iter().any(|&n| results[n].is_none()) {
                    continue; // something it needs is still pending
                }
                if let Some(&failed) = needs
                    .iter()
                    .find(|&&n| results[n] != Some(NodeResult::Passed))
                {
                    let parent = nodes[failed].name.clone();
                    started[i] = true;
                    on_skip(i, &parent);
                    results[i] = Some(NodeResult::Skipped { parent });
                    progressed = true;
                    continue;
                }
                if running.len() >= jobs {
                    continue;
                }
                started[i] = true;
                running.spawn({
                    let fut = run(i);
                    async move { (i, fut.await) }
                });
                progressed = true;
            }
        }
        match running.join_next().await {
            Some(Ok((i, ok))) => {
                results[i] = Some(if ok {
                    NodeResult::Passed
                } else {
                    NodeResult::Failed
                });
            }
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => break,
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every node settles: parents come first in a plan"))
        .collect()
}

/// Node indexes, those heading the longest chains of dependants first (a
/// chain's length being the sum of its nodes' costs); then those with the
/// most dependants (direct or not); then in the given order.
pub fn critical_first(nodes: &[Node]) -> Vec<usize> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut dependants: Vec<Vec<usize>> = vec![vec![]; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for need in &node.needs {
            if let Some(&n) = index.get(need.as_str()) {
                if n != i && !dependants[n].contains(&i) {
                    dependants[n].push(i);
                }
            }
        }
    }
    // Chain lengths, leaves up (Kahn's order on the dependants' side; a node
    // on a cycle, which a plan never has, keeps its own cost).
    let mut chain: Vec<u64> = nodes.iter().map(|n| u64::from(n.cost.max(1))).collect();
    let mut waiting: Vec<usize> = dependants.iter().map(Vec::len).collect();
    let mut needs_of: Vec<Vec<usize>> = vec![vec![]; nodes.len()];
    for (n, ds) in dependants.iter().enumerate() {
        for &d in ds {
            needs_of[d].push(n);
        }
    }
    let mut settled: Vec<usize> = (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(d) = settled.pop() {
        for &n in &needs_of[d] {
            chain[n] = chain[n].max(chain[d] + u64::from(nodes[n].cost.max(1)));
            waiting[n] -= 1;
            if waiting[n] == 0 {
                settled.push(n);
            }
        }
    }
    let reach: Vec<usize> = (0..nodes.len())
        .map(|start| {
            let mut seen = vec![false; nodes.len()];
            let mut stack = dependants[start].clone();
            let mut count = 0;
            while let Some(d) = stack.pop() {
                if !std::mem::replace(&mut seen[d], true) {
                    count += 1;
                    stack.extend(&dependants[d]);
                }
            }
            count
        })
        .collect();
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(chain[i]), std::cmp::Reverse(reach[i]), i));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn node(name: &str, parent: Option<&str>) -> Node {
        Node {
            name: name.into(),
            needs: parent.map(Into::into).into_iter().collect(),
            cost: 1,
        }
    }

    #[tokio::test]
    async fn children_of_a_failed_parent_are_skipped_others_go_on() {
        let nodes = vec![
            node("base", None),
            node("child", Some("base")),
            node("grandchild", Some("child")),
            node("other", None),
        ];
        let mut skipped = vec![];
        let res = run(
            &nodes,
            2,
            |i| async move { i != 0 },
            |i, p| skipped.push((i, p.to_string())),
        )
        .await;
        assert_eq!(res[0], NodeResult::Failed);
        assert_eq!(
            res[1],
            NodeResult::Skipped {
                parent: "base".into()
            }
        );
        assert_eq!(
            res[2],
            NodeResult::Skipped {
                parent: "child".into()
            }
        );
        assert_eq!(res[3], NodeResult::Passed);
        assert_eq!(skipped, vec![(1, "base".into()), (2, "child".into())]);
    }

    #[tokio::test]
    async fn never_more_than_jobs_at_once_and_parents_first() {
        let nodes: Vec<Node> = (0..8)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    (i >= 4).then(|| format!("n{}", i - 4)).as_deref(),
                )
            })
            .collect();
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(vec![]));
        let res = run(
            &nodes,
            3,
            |i| {
                let (now, peak, order) = (now.clone(), peak.clone(), order.clone());
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    order.lock().unwrap().push(i);
                    now.fetch_sub(1, Ordering::SeqCst);
                    true
                }
            },
            |_, _| panic!("nothing is skipped"),
        )
        .await;
        assert!(res.iter().all(|r| *r == NodeResult::Passed));
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2, "runs in parallel");
        let order = order.lock().unwrap();
        for child in 4..8 {
            let c = order.iter().position(|&x| x == child).unwrap();
            let p = order.iter().position(|&x| x == child - 4).unwrap();
            assert!(p < c, "parent {} finished before child {child}", child - 4);
        }
    }

    #[tokio::test]
    async fn waits_for_every_need_and_skips_if_any_failed() {
        let nodes = vec![
            node("a", None),
            node("b", None),
            Node {
                name: "multi".into(),
                needs: vec!["a".into(), "b".into()],
                cost: 1,
            },
        ];
        let res = run(&nodes, 3, |i| async move { i != 1 }, |_, _| {}).await;
        assert_eq!(res[2], NodeResult::Skipped { parent: "b".into() });
    }

    /// The order nodes start in with one job at a time.
    async fn start_order(nodes: &[Node]) -> Vec<String> {
        let order = Arc::new(Mutex::new(vec![]));
        run(
            nodes,
            1,
            |i| {
                let (order, name) = (order.clone(), nodes[i].name.clone());
                async move {
                    order.lock().unwrap().push(name);
                    true
                }
            },
            |_, _| panic!("nothing is skipped"),
        )
        .await;
        let order = order.lock().unwrap().clone();
        order
    }

    #[tokio::test]
    async fn a_base_others_wait_for_starts_before_leaves() {
        // Listed as inventories often are: unrelated images first.
        let nodes = vec![
            node("leaf1", None),
            node("leaf2", None),
            node("base", None),
            node("app1", Some("base")),
            node("app2", Some("base")),
            node("app3", Some("base")),
        ];
        let order = start_order(&nodes).await;
        assert_eq!(order[0], "base", "{order:?}");
        // Its images are ready next and have nothing waiting on them either:
        // plan order among equals.
        assert_eq!(order[1..], ["leaf1", "leaf2", "app1", "app2", "app3"]);
    }

    #[tokio::test]
    async fn the_longest_chain_goes_first() {
        let nodes = vec![
            node("wide", None),
            node("w1", Some("wide")),
            node("w2", Some("wide")),
            node("w3", Some("wide")),
            node("deep", None),
            node("d1", Some("deep")),
            node("d2", Some("d1")),
        ];
        let order = start_order(&nodes).await;
        assert_eq!(order[..3], ["deep", "wide", "d1"], "{order:?}");
    }

    #[tokio::test]
    async fn an_emulated_platform_starts_before_native_ones() {
        let mut nodes = vec![
            node("app@linux-amd64", None),
            node("base", None),
            node("base-child1", Some("base")),
            node("base-child2", Some("base")),
            node("app@linux-arm64", None),
        ];
        nodes[4].cost = EMULATED_COST;
        let order = start_order(&nodes).await;
        // Four times a native build outweighs a chain of two native ones.
        assert_eq!(order[..2], ["app@linux-arm64", "base"], "{order:?}");
        // Behind an emulated base, its whole chain is slow.
        nodes[4].cost = 1;
        nodes[1].cost = EMULATED_COST;
        assert_eq!(start_order(&nodes).await[0], "base");
    }

    #[test]
    fn more_dependants_break_a_tie_and_cycles_do_not_hang() {
        let nodes = vec![
            node("small", None),
            node("s1", Some("small")),
            node("big", None),
            node("b1", Some("big")),
            node("b2", Some("big")),
        ];
        assert_eq!(critical_first(&nodes), vec![2, 0, 1, 3, 4]);
        let cycle = vec![node("a", Some("b")), node("b", Some("a"))];
        assert_eq!(critical_first(&cycle).len(), 2);
    }

    #[tokio::test]
    async fn an_unknown_parent_is_taken_as_present() {
        let nodes = vec![node("a", Some("debian:bookworm"))];
        let res = run(&nodes, 1, |_| async { true }, |_, _| {}).await;
        assert_eq!(res, vec![NodeResult::Passed]);
    }
}
