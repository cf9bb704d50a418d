//! `strata key generate`: a key pair for signing test attestations.

use std::path::Path;

use crate::attest::key::{generate, KeyFiles, PublicKey};
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

/// The public key `--key PUB` names (`verify`, `publish`): one that cannot
/// be read or is no P-256 public key is bad input, naming the file.
pub(super) fn public_key(path: &Path) -> Result<PublicKey, InputError> {
    PublicKey::read(path).map_err(|e| {
        InputError::plain(format!("public key {e}"))
            .with_help("give the PREFIX.pub that `strata key generate` wrote")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_that_cannot_be_read_is_bad_input_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("release.pub");
        let e = public_key(&missing).unwrap_err().to_string();
        assert!(e.starts_with("public key "), "{e}");
        assert!(e.contains("release.pub"), "{e}");
        let files = KeyFiles::for_prefix(&dir.path().join("k"));
        let made = generate(&files).unwrap();
        assert_eq!(public_key(&files.public).unwrap(), made);
    }
}
