//! `strata import`: a base image from a root filesystem tarball.

use crate::engine::docker::DockerEngine;
use crate::engine::{BuildContext, BuildRequest, Dockerfile, Engine};
use crate::error::{InputError, RunError, EXIT_OK};

use super::args::ImportArgs;

pub async fn run(args: &ImportArgs) -> Result<i32, RunError> {
    crate::reference::parse(&args.reference).map_err(|m| {
        InputError::plain(format!(
            "`{}` is not a valid image reference: {m}",
            args.reference
        ))
    })?;
    if !args.rootfs.is_file() {
        return Err(InputError::plain(format!(
            "{} is not a file: give a tar of a root filesystem",
            args.rootfs.display()
        ))
        .into());
    }
    let engine = DockerEngine::connect()
        .await
        .map_err(|e| RunError::Environment(e.to_string()))?;
    let id = match &args.platform {
        None => engine.import(args.rootfs.clone(), &args.reference).await,
        // The import call records the engine's own architecture whatever it
        // is told; a build from scratch with the platform set records it.
        Some(platform) => {
            let empty = tempfile::tempdir()
                .map_err(|e| RunError::Environment(format!("cannot make a folder: {e}")))?;
            let request = BuildRequest {
                context: BuildContext {
                    dir: empty.path().to_owned(),
                    dockerfile: Dockerfile::Inline("FROM scratch\nADD rootfs.tar /\n".into()),
                    extra_files: vec![("rootfs.tar".into(), args.rootfs.clone())],
                },
                tag: Some(args.reference.clone()),
                build_args: Default::default(),
                labels: Default::default(),
                no_cache: false,
                timeout: None,
                platform: Some(platform.clone()),
            };
            engine.build(request, &|_| {}).await
        }
    }
    .map_err(|e| RunError::Environment(e.to_string()))?;
    println!("{id}");
    Ok(EXIT_OK)
}
