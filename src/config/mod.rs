//! Reading and validating what the user wrote, and nothing more.
//!
//! `config` depends on no later stage: it parses the two config formats into
//! their types and checks them with line/column errors. Turning a config into
//! a plan is the loading step's job ([`crate::load`]).
//!
//! * [`inventory`]: a Dante `inventory.yml`; [`files`] checks the folders it
//!   names (Dockerfiles, tests);
//! * [`native`]: strata's native matrix file;
//! * [`run_file`]: a test folder's `run.yml`;
//! * [`yaml`]: the one way YAML is read, with errors pointing into the file.

pub mod alias_rule;
pub mod files;
pub mod inventory;
pub mod native;
pub mod run_file;
pub mod yaml;

use std::path::Path;

use crate::error::InputError;

/// Reads a config file, explaining a missing or unreadable one.
pub fn read_config_file(path: &Path) -> Result<String, InputError> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(InputError::plain(format!(
            "config file `{shown}` not found"
        ))
        .with_help("pass an existing inventory.yml or matrix file with `-f FILE`")),
        Err(e) if path.is_dir() => Err(InputError::plain(format!(
            "config file `{shown}` is a folder: {e}"
        ))
        .with_help("pass the inventory.yml or matrix file inside it with `-f FILE`")),
        Err(e) => Err(
            InputError::plain(format!("cannot read config file `{shown}`: {e}"))
                .with_help("make the file readable and UTF-8 text"),
        ),
    }
}
