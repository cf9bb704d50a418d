//! `strata pins update`: the external bases pinned in `strata.lock`.

use std::io::Write;

use crate::config::lock::{self, Pin};
use crate::engine::docker::DockerEngine;
use crate::error::{Failure, InputError, RunError, EXIT_OK};
use crate::exec;
use crate::registry::oci::OciRegistry;

use super::args::PinsUpdateArgs;
use super::settings::{config_path, load_plan};

pub async fn update(args: &PinsUpdateArgs) -> Result<i32, RunError> {
    let config = config_path(&args.config)?;
    let plan = load_plan(&config, args.config.as_of)?;
    let (units, _) = exec::units(&plan, &exec::Options::default());
    let wanted = exec::bases::external(&plan, &units).map_err(base_error)?;
    // The engine tells a base made on this machine (nothing to pin) from
    // one a registry has.
    let engine = DockerEngine::connect()
        .await
        .map_err(RunError::environment)?;
    let registry = OciRegistry::new(crate::registry::auth::credentials_for);
    let jobs = std::thread::available_parallelism().map_or(4, |n| n.get());
    let pins: Vec<Pin> = exec::bases::pins(wanted, &engine, &registry, jobs)
        .await
        .map_err(base_error)?;
    let path = lock::path_for(&config);
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let write_err = |e: std::io::Error| {
        RunError::Environment(Failure::caused(
            format!("cannot write {}", path.display()),
            e,
        ))
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    tmp.write_all(lock::render(pins.clone()).as_bytes())
        .map_err(write_err)?;
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    let local = pins.iter().filter(|p| p.local).count();
    println!(
        "wrote {}: {} base{} pinned ({local} local)",
        path.display(),
        pins.len(),
        if pins.len() == 1 { "" } else { "s" }
    );
    Ok(EXIT_OK)
}

fn base_error(e: exec::bases::BaseError) -> RunError {
    match e {
        e @ exec::bases::BaseError::Environment(_) => RunError::environment(e),
        exec::bases::BaseError::Input(m) => InputError::plain(m).into(),
    }
}
