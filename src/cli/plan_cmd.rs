//! `strata plan`: the plan, printed, without an engine.

use crate::error::{InputError, RunError, EXIT_OK};

use super::args::{PlanArgs, PlanFormat};
use super::output::print_stdout;
use super::settings::{apply_shard, config_path, load_plan};

pub fn run(args: &PlanArgs) -> Result<i32, RunError> {
    // Checked before the config is read: a usage error needs no plan.
    let shards = match (args.format, args.shards) {
        (PlanFormat::GithubMatrix, Some(n)) => n as usize,
        (PlanFormat::GithubMatrix, None) => {
            return Err(InputError::plain("--format github-matrix needs --shards N")
                .with_help("say how many CI jobs share the plan, such as `--shards 4`")
                .into())
        }
        (_, Some(_)) => {
            return Err(InputError::plain("--shards is for --format github-matrix")
                .with_help("to see one shard's part, use `--shard K/N`")
                .into())
        }
        (_, None) => 0,
    };
    let plan = load_plan(&config_path(&args.config)?, args.config.as_of)?;
    if args.format == PlanFormat::GithubMatrix {
        print_stdout(&crate::plan::print::github_matrix(&plan, shards));
        return Ok(EXIT_OK);
    }
    let plan = apply_shard(plan, args.shard.shard);
    print_stdout(&match args.format {
        PlanFormat::Json => crate::plan::print::json(&plan),
        _ => crate::plan::print::text(&plan),
    });
    Ok(EXIT_OK)
}

/// `strata plan --changes`: which images `test` would rebuild, and why.
/// No engine; the registries of the external bases the state followed.
pub async fn changes(args: &PlanArgs) -> Result<i32, RunError> {
    if args.format == PlanFormat::GithubMatrix {
        return Err(InputError::plain("--changes prints text or json")
            .with_help("use `--format text` or `--format json`")
            .into());
    }
    let config = config_path(&args.config)?;
    let plan = apply_shard(load_plan(&config, args.config.as_of)?, args.shard.shard);
    let state_file =
        super::settings::state_dir_for(&config, args.state_dir.as_deref()).join("state.json");
    let state = crate::state::State::load(&state_file).map_err(RunError::state)?;
    let policy = args
        .pull
        .as_deref()
        .and_then(|p| p.parse().ok())
        .or(plan.pull)
        .unwrap_or_default();
    let registry = crate::registry::oci::OciRegistry::new(crate::registry::auth::credentials_for);
    let registry: Option<&dyn crate::registry::RegistryRead> =
        (policy != crate::config::pull::PullPolicy::Never).then_some(&registry as _);
    let jobs = std::thread::available_parallelism().map_or(4, |n| n.get());
    let lock = crate::config::lock::Lock::load(&crate::config::lock::path_for(&config))?;
    let changes = crate::exec::changes::predict(&plan, &state, lock.as_ref(), registry, jobs)
        .await
        .map_err(|e| match e {
            e @ crate::exec::bases::BaseError::Environment(_) => RunError::environment(e),
            crate::exec::bases::BaseError::Input(m) => InputError::plain(m).into(),
        })?;
    print_stdout(&match args.format {
        PlanFormat::Json => crate::exec::changes::json(&changes),
        _ => crate::exec::changes::text(&changes),
    });
    Ok(EXIT_OK)
}
