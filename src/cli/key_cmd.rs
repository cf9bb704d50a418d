//! `strata key generate`: a key pair for signing test attestations.

use crate::attest::key::{generate, KeyFiles};
use crate::error::{InputError, RunError, EXIT_OK};

use super::args::{KeyArgs, KeyCmd};
use super::output::print_stdout;

pub fn run(args: &KeyArgs) -> Result<i32, RunError> {
    match &args.command {
        KeyCmd::Generate { out } => {
            let files = KeyFiles::for_prefix(out);
            let public = generate(&files).map_err(|e| {
                InputError::plain(e.to_string())
                    .with_help("give another prefix with --out, or move the old pair aside")
            })?;
            // The public key is safe to show; the private one never is.
            print_stdout(&format!(
                "wrote {} (private key, mode 0600: keep it secret) and {} (public key)\n\
                 key ID {}\n\
                 sign with `strata push --key {}` (or STRATA_SIGNING_KEY); verify with `strata verify IMAGE --key {}`\n",
                files.private.display(),
                files.public.display(),
                public.id(),
                files.private.display(),
                files.public.display(),
            ));
            Ok(EXIT_OK)
        }
    }
}
