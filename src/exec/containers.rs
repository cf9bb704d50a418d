//! Containers strata leaves behind, and removing them.
//!
//! `run.yml` containers carry their owner's token (see
//! [`crate::engine::owner`]). A run removes its own containers when it is
//! interrupted, and at its start removes those of strata runs whose process
//! is gone, so a killed run never makes a later one fail. Containers of a
//! live strata process (a concurrent shard, a parallel test) are never touched.

use crate::engine::owner::{is_stale_label, Owner};
use crate::engine::{Engine, EngineError};

/// Removes containers whose owner process is gone; returns their IDs.
pub async fn remove_stale(engine: &dyn Engine) -> Result<Vec<String>, EngineError> {
    remove_where(engine, is_stale_label).await
}

/// Removes this process's own containers; returns their IDs.
pub async fn remove_own(engine: &dyn Engine) -> Result<Vec<String>, EngineError> {
    let me = Owner::current().to_string();
    remove_where(engine, |owner| owner == me).await
}

async fn remove_where(
    engine: &dyn Engine,
    pick: impl Fn(&str) -> bool,
) -> Result<Vec<String>, EngineError> {
    let mut removed = Vec::new();
    for c in engine.run_containers().await? {
        if pick(&c.owner) {
            engine.remove_container(&c.id).await?;
            removed.push(c.id);
        }
    }
    Ok(removed)
}
