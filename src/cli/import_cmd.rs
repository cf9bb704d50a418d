//! `strata import`: a base image from a root filesystem tarball.

use crate::engine::docker::DockerEngine;
use crate::engine::Engine;
use crate::error::{InputError, RunError, EXIT_OK};

use super::args::ImportArgs;

pub async fn run(args: &ImportArgs) -> Result<i32, RunError> {
    crate::reference::parse(&args.reference).map_err(|m| {
        InputError::plain(format!(
            "`{}` is not a valid image reference: {m}",
            args.reference
        ))
    })?;
    let engine = DockerEngine::connect()
        .await
        .map_err(|e| RunError::Environment(e.to_string()))?;
    let id = engine
        .import(args.rootfs.clone(), &args.reference)
        .await
        .map_err(|e| RunError::Environment(e.to_string()))?;
    println!("{id}");
    Ok(EXIT_OK)
}
