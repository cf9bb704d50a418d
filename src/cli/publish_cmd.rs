//! `strata publish`: aliases pointed from the registry's test attestations,
//! without an engine (see `crate::publish`).

use crate::error::{InputError, RunError, EXIT_FAILED, EXIT_OK};
use crate::registry::oci::OciRegistry;
use crate::state::State;

use super::args::PublishArgs;
use super::output::print_stdout;
use super::settings::{config_path, load_plan};

pub async fn run(args: &PublishArgs) -> Result<i32, RunError> {
    let plan = load_plan(&config_path(&args.config)?, args.config.as_of)?;
    let key = match &args.key {
        Some(path) => Some(super::key_cmd::public_key(path)?),
        None if args.allow_unsigned => None,
        None => {
            return Err(InputError::plain(
                "publish needs --key PUB to check the attestations' signatures: without it, \
                 anyone who can push to the registry can write an attestation that qualifies \
                 any image",
            )
            .with_help(
                "give the PREFIX.pub that `strata key generate` wrote (the one `push --key` signed with), \
                 or --allow-unsigned to trust unsigned attestations knowingly",
            )
            .into())
        }
    };
    let mut fallback = Vec::new();
    for pattern in &args.fallback {
        let glob = globset::Glob::new(pattern).map_err(|e| {
            InputError::plain(format!("--fallback {pattern:?} is not a valid glob: {e}"))
        })?;
        fallback.push(glob.compile_matcher());
    }
    let mut states = Vec::new();
    for path in &args.from {
        if !path.is_file() {
            return Err(InputError::plain(format!(
                "--from {}: no such state file",
                path.display()
            ))
            .into());
        }
        states.push((path.clone(), State::load(path).map_err(RunError::state)?));
    }
    if let Some(warning) = crate::registry::auth::environment_warning() {
        eprintln!("strata: warning: {warning}");
    }
    let signing_key = match args.sign_key.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(value) => Some(
            crate::attest::key::SigningKey::from_setting(value, "STRATA_SIGNING_KEY").map_err(
                |e| {
                    InputError::plain(format!("signing key {e}"))
                        .with_help("make a key pair with `strata key generate`")
                },
            )?,
        ),
        None => None,
    };
    let options = crate::publish::Options {
        key,
        fallback,
        states,
        dry_run: args.dry_run,
        signing_key,
        config_dir: plan
            .source
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .to_path_buf(),
        source: crate::exec::attach::source_of(&plan.source),
    };
    let registry = OciRegistry::new(crate::registry::auth::credentials_for);
    let report = crate::publish::run(&plan, &registry, &options)
        .await
        .map_err(RunError::environment)?;
    let mut out = String::new();
    if options.key.is_none() {
        out.push_str(crate::publish::UNSIGNED_NOTICE);
        out.push('\n');
    }
    out.push_str(&report.render(args.dry_run));
    print_stdout(&out);
    Ok(if report.complete() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
