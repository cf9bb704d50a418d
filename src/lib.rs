//! strata: turns a matrix of Dockerfiles into tested, published container images.
//!
//! The data flows one way (see `ARCHITECTURE.md`):
//!
//! ```text
//! config (+ feed, templates) ──► plan ──► exec ──► events ──► report
//!                                         │
//!                                  engine, registry
//! ```
//!
//! * [`config`] reads a Dante `inventory.yml` or strata's native matrix file and
//!   validates it before anything runs; it depends on no later stage.
//! * [`load`] turns a config into a plan: [`feed`], [`alias`], [`generate`]
//!   expand a native matrix (release feed, version selection, alias rules and
//!   Dockerfile templates); a Dante inventory is ordered by its `FROM` lines.
//! * [`reference`] and [`dockerfile`] are leaves every stage may use: image
//!   references, and Dockerfiles read the way the engine reads them.
//! * [`plan`] is a pure value: images in build order, their tests and aliases,
//!   what was excluded and why. It can be printed without an engine.
//! * [`exec`] is the only stage with side effects. It talks to the world through
//!   the [`engine::Engine`], [`registry::RegistryRead`] and [`registry::RegistryWrite`] traits and emits [`events`].
//! * [`report`] only listens to events and renders them.
//! * [`state`] records what was tested and pushed between `strata test` and
//!   `strata push`.
//! * [`catalog`] lists what was published, from the plan and the state.
//! * [`workflow`] writes a CI workflow (GitHub Actions) from the plan.
//! * [`init`] holds the starter project `strata init` writes.

pub mod alias;
pub mod artifact;
pub mod attest;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dockerfile;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
#[cfg(test)]
pub(crate) mod fakes;
pub mod feed;
pub mod generate;
pub mod init;
pub mod load;
pub mod plan;
pub mod publish;
pub mod read;
pub mod reference;
pub mod registry;
pub mod report;
pub mod runs;
pub mod secret;
pub mod state;
pub mod text;
pub mod verify;
pub mod workflow;
