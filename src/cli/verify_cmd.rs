//! `strata verify REFERENCE [--key PUB]`: from the registry alone, whether
//! each platform of an image carries a valid passing test attestation.
//! No engine is involved.

use std::time::Duration;

use crate::error::{Failure, InputError, RunError, EXIT_FAILED, EXIT_OK};
use crate::registry::oci::{OciRegistry, Timeouts};
use crate::registry::RegistryError;

use super::args::VerifyArgs;
use super::output::print_stdout;

pub async fn run(args: &VerifyArgs) -> Result<i32, RunError> {
    let reference = crate::reference::ImageRef::parse(&args.reference).map_err(|m| {
        InputError::plain(format!(
            "`{}` is not a valid image reference: {m}",
            crate::text::cut(&args.reference, 200)
        ))
    })?;
    let key = match &args.key {
        Some(path) => Some(super::key_cmd::public_key(path)?),
        None => None,
    };
    let registry =
        OciRegistry::new(crate::registry::auth::credentials_for).with_timeouts(Timeouts {
            connect: Duration::from_secs(args.connect_timeout),
            io: Duration::from_secs(args.io_timeout),
        });
    let report = crate::verify::verify(&registry, &reference, key.as_ref())
        .await
        .map_err(|e| {
            // What the registry said is escaped like everything it sends.
            let said = crate::verify::untrusted(&e.to_string());
            let said = match e {
                RegistryError::Other { .. } => {
                    format!("cannot read {} from its registry: {said}", args.reference)
                }
                _ => said,
            };
            RunError::Environment(Failure::said(said).because(e))
        })?;
    let Some(report) = report else {
        eprintln!(
            "strata: {} is not in the registry: nothing to verify",
            args.reference
        );
        return Ok(EXIT_FAILED);
    };
    if key.is_none() {
        eprintln!(
            "strata: warning: no key was checked: without --key PUB, anyone who can push to \
             the registry can write an attestation that verifies"
        );
    }
    let expect = args.expect_name.as_deref();
    // The cosign command names the key file as given (or a placeholder).
    let key_file = args
        .key
        .as_ref()
        .map_or("PUB".to_string(), |k| k.display().to_string());
    match args.format {
        super::args::VerifyFormat::Text => {
            let mut out = report.render_expecting(expect);
            out.push_str(&report.render_cosign(&key_file));
            print_stdout(&out);
        }
        super::args::VerifyFormat::Json => {
            let json = report.to_json(expect, &key_file);
            let mut text = serde_json::to_string_pretty(&json).expect("JSON serializes");
            text.push('\n');
            print_stdout(&text);
        }
    }
    Ok(if report.verified_as(expect) {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
