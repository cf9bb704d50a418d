//! `strata man`: the manual page from the clap definitions (`clap_mangen`),
//! with the exit codes added.

use std::path::Path;

use clap::CommandFactory;

use crate::error::{Failure, InputError, RunError, EXIT_CODES, EXIT_OK};

use super::args::{Cli, ManArgs};
use super::output::print_stdout;

pub fn run(args: &ManArgs) -> Result<i32, RunError> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => print_stdout(&String::from_utf8_lossy(&page(cmd).map_err(render_error)?)),
        Some(dir) => write_pages(cmd, dir)?,
    }
    Ok(EXIT_OK)
}

fn render_error(e: std::io::Error) -> RunError {
    RunError::Results(Failure::caused("cannot render the manual", e))
}

/// `strata(1)`: clap_mangen's sections, then EXIT STATUS, then the version.
fn page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(exit_status().as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The EXIT STATUS section, in roff.
fn exit_status() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in EXIT_CODES {
        roff.push_str(&format!(".TP\n{code}\n{}\n", escape(meaning)));
    }
    roff
}

/// Text made safe for a roff line: backslashes and hyphens escaped, and a
/// line never starting with a control character.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `strata.1` and `strata-<command>.1` for every command, into `dir`.
fn write_pages(cmd: clap::Command, dir: &Path) -> Result<(), RunError> {
    if !dir.is_dir() {
        return Err(
            InputError::plain(format!("{} is not a folder", dir.display()))
                .with_help("create it first, or leave out --out-dir to print strata.1")
                .into(),
        );
    }
    let failed = |e: std::io::Error| {
        RunError::Results(Failure::caused(
            format!("cannot write the manual pages to {}", dir.display()),
            e,
        ))
    };
    clap_mangen::generate_to(cmd.clone(), dir).map_err(failed)?;
    // The main page with its EXIT STATUS replaces clap_mangen's.
    std::fs::write(dir.join("strata.1"), page(cmd).map_err(render_error)?).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_is_escaped() {
        assert_eq!(escape("a-b"), "a\\-b");
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("c:\\d"), "c:\\ed");
        assert!(exit_status().contains(".TP\n130\ninterrupted by SIGINT (Ctrl\\-C)\n"));
    }
}
