//! The shape `strata test` and `strata push` share.
//!
//! 1. [`Run::start`]: one unit per platform of each image (narrowed to the
//!    platforms this machine runs), the run announced, and the engine's tags
//!    learnt in one list call.
//! 2. [`Run::each_unit`]: every unit `-j` at a time, in the schedule's order
//!    (parents first when the command says so), until the run is stopped.
//! 3. [`Run::move_aliases`]: every alias to the image [`AliasPlan::choose`]
//!    picks among those that are ready, each move through the retry path
//!    (so its attempts are reported as every step's are), `-j` at a time.
//!
//! What a unit's work is, and what "ready" means, is each command's own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;

use super::known::Known;
use super::retry::{run_step, Done, Log};
use super::schedule::{self, Node};
use super::{Bus, Options, StepError, World};
use crate::events::{Command, Event, Step};
use crate::plan::platforms::Group;
use crate::plan::{AliasChoice, AliasPlan, ImagePlan, Plan};
use crate::reference::ImageRef;

/// One run of a command over a plan.
pub(super) struct Run<'a> {
    /// The plan as executed: each image of several platforms as one unit
    /// per platform.
    pub plan: Plan,
    /// The images of several platforms, each with its units.
    pub groups: Vec<Group>,
    /// The outside world; its engine answers from the run's one list call.
    pub world: World,
    pub options: &'a Options,
    pub bus: &'a Bus,
}

/// How a command says an image is ready to carry an alias, for the reasons
/// an alias is withheld.
pub(super) struct Readiness {
    /// "passed", "was pushed in this run".
    pub is: &'static str,
    /// "did not pass", "was not pushed in this run".
    pub is_not: &'static str,
    /// Where a held alias stays: "where it is", "where the registry has it".
    pub stays: &'static str,
}

impl Readiness {
    /// `strata test`: an image is ready when it passed; aliases are the
    /// engine's local tags.
    pub const PASSED: Readiness = Readiness {
        is: "passed",
        is_not: "did not pass",
        stays: "where it is",
    };
    /// `strata push`: an image is ready when this run pushed it.
    pub const PUSHED: Readiness = Readiness {
        is: "was pushed in this run",
        is_not: "was not pushed in this run",
        stays: "where the registry has it",
    };
}

impl<'a> Run<'a> {
    pub async fn start(
        command: Command,
        plan: &Plan,
        world: &World,
        options: &'a Options,
        bus: &'a Bus,
        engine_desc: String,
    ) -> Run<'a> {
        let (expanded, groups) = super::units(plan, options);
        let matrix = super::matrix::cells(plan, &expanded);
        super::announce(bus, command, &expanded, engine_desc, matrix);
        // What the engine holds, from one list call: an unchanged image and
        // its aliases then cost no engine call at all.
        // (Learnt already when the external bases were made ready with it.)
        let engine: Arc<dyn crate::engine::Engine> = match world.engine.learnt() {
            true => world.engine.clone(),
            false => Arc::new(Known::learn(world.engine.clone(), &expanded).await),
        };
        let world = World {
            engine,
            ..world.clone()
        };
        Run {
            plan: expanded,
            groups,
            world,
            options,
            bus,
        }
    }

    /// The scheduler's view of the units: with their parents when
    /// `ordered` (a build waits for its base), each at its `cost`.
    pub fn nodes(&self, ordered: bool, cost: impl Fn(&ImagePlan) -> u32) -> Vec<Node> {
        self.plan
            .images
            .iter()
            .map(|i| Node {
                name: i.name.to_string(),
                needs: if ordered { i.needs.clone() } else { vec![] },
                cost: cost(i),
            })
            .collect()
    }

    /// Runs `work(index)` for every node, `-j` at a time; `on_skip(index,
    /// parent)` for a node whose parent did not pass. False (after
    /// reporting the interruption) when the run was stopped first.
    pub async fn each_unit<F, Fut, S>(&self, nodes: &[Node], work: F, on_skip: S) -> bool
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = bool> + Send + 'static,
        S: FnMut(usize, &str),
    {
        let all = schedule::run(nodes, self.options.jobs, work, on_skip);
        super::until_stopped(&self.options.stop, self.bus, all)
            .await
            .is_some()
    }

    /// Moves every alias of the plan to the image [`AliasPlan::choose`]
    /// picks among those `ready` says are, with `point(tag, image, log)`
    /// tried through the retry path as step [`Step::Alias`].
    ///
    /// Aliases move `-j` at a time; those going to one image move one after
    /// the other (a registry given the same manifest under two tags at once
    /// may fail one of them). None starts once the run is stopped; those
    /// under way finish. Where each ended is reported in the plan's order.
    /// Returns (tag, image) of every alias applied.
    pub async fn move_aliases<R, F, Fut>(
        &self,
        ready: R,
        readiness: Readiness,
        point: F,
    ) -> Vec<(ImageRef, ImageRef)>
    where
        R: Fn(&str) -> bool,
        F: Fn(ImageRef, ImageRef, Log) -> Fut,
        Fut: Future<Output = Result<Done, StepError>>,
    {
        let (options, bus) = (self.options, self.bus);
        let mut settled: Vec<Option<Event>> = self.plan.aliases.iter().map(|_| None).collect();
        let mut batches: Vec<Vec<(usize, &ImageRef)>> = Vec::new();
        let mut batch_of: HashMap<&ImageRef, usize> = HashMap::new();
        for (i, alias) in self.plan.aliases.iter().enumerate() {
            let may_fall_back = options
                .fallback
                .iter()
                .any(|g| g.is_match(alias.tag.as_str()));
            let withheld = |reason: String| Event::AliasWithheld {
                tag: alias.tag.to_string(),
                reason,
            };
            match alias.choose(&ready, may_fall_back) {
                AliasChoice::NoneReady => {
                    settled[i] = Some(withheld(format!(
                        "none of its images {} ({})",
                        readiness.is,
                        alias
                            .candidates
                            .iter()
                            .map(ImageRef::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                AliasChoice::HeldBack { newest, older } => {
                    settled[i] = Some(withheld(format!(
                        "held back, because its newest image {newest} {}; it stays {} rather \
                         than move back to {older} (`--fallback TAG` opts in)",
                        readiness.is_not, readiness.stays
                    )));
                }
                AliasChoice::To { image, .. } => match batch_of.get(image) {
                    Some(&b) => batches[b].push((i, image)),
                    None => {
                        batch_of.insert(image, batches.len());
                        batches.push(vec![(i, image)]);
                    }
                },
            }
        }
        let aliases: &[AliasPlan] = &self.plan.aliases;
        let point = &point;
        let mut moves = futures_util::stream::iter(batches)
            .map(|batch| async move {
                let mut done = Vec::with_capacity(batch.len());
                for (i, image) in batch {
                    if options.stop.is_cancelled() {
                        break;
                    }
                    let alias = &aliases[i];
                    let step = Step::Alias {
                        tag: alias.tag.to_string(),
                    };
                    let moved = run_step(bus, options, image, step, |log| {
                        point(alias.tag.clone(), image.clone(), log)
                    })
                    .await;
                    done.push((i, image, moved));
                }
                done
            })
            .buffer_unordered(options.jobs.max(1));
        let mut applied: Vec<Option<(ImageRef, ImageRef)>> = settled.iter().map(|_| None).collect();
        while let Some(done) = moves.next().await {
            for (i, image, moved) in done {
                let tag = &aliases[i].tag;
                settled[i] = Some(match moved {
                    Ok(done) => {
                        applied[i] = Some((tag.clone(), image.clone()));
                        Event::AliasApplied {
                            tag: tag.to_string(),
                            image: image.to_string(),
                            image_id: done.image_id,
                            digest: done.digest,
                        }
                    }
                    Err(e) => Event::AliasWithheld {
                        tag: tag.to_string(),
                        reason: e.to_string(),
                    },
                });
            }
        }
        drop(moves);
        for event in settled.into_iter().flatten() {
            bus.emit(event);
        }
        super::stopped(&options.stop, bus);
        applied.into_iter().flatten().collect()
    }
}
