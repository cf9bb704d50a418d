//! Runs one job per image, `jobs` at a time, parents before children.
//!
//! Images are independent except for their parent: an image built `FROM`
//! another image of the plan waits for it, and is skipped if it failed. One
//! failure never stops unrelated images.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::JoinSet;

/// What the scheduler needs to know of an image.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// Names of the nodes this one waits for.
    pub needs: Vec<String>,
}

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

    loop {
        // Start (or skip) every node whose needs are settled, up to the limit.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for i in 0..nodes.len() {
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
            },
        ];
        let res = run(&nodes, 3, |i| async move { i != 1 }, |_, _| {}).await;
        assert_eq!(res[2], NodeResult::Skipped { parent: "b".into() });
    }

    #[tokio::test]
    async fn an_unknown_parent_is_taken_as_present() {
        let nodes = vec![node("a", Some("debian:bookworm"))];
        let res = run(&nodes, 1, |_| async { true }, |_, _| {}).await;
        assert_eq!(res, vec![NodeResult::Passed]);
    }
}
