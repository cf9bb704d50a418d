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
//! * [`schema`]: the native file's JSON Schema, derived from its types;
//! * [`read`]: the one way a user's file is read: regular files inside the
//!   config's folder, capped in size;
//! * [`yaml`]: the one way YAML is read, with errors pointing into the file.

pub mod alias_rule;
pub mod builder;
pub mod files;
pub mod inventory;
pub mod lock;
pub mod native;
pub mod pull;
/// The one reader of files strata is given, a leaf every stage uses (the
/// engine included, which imports nothing of `config`).
pub use crate::read;
pub mod run_file;
pub mod schema;
pub mod secrets;
pub mod timeout;
pub mod yaml;

use std::path::Path;

use crate::error::InputError;

/// Reads a config file (see [`read::read_text`]: a regular file, capped in
/// size), explaining a missing one or a folder.
pub fn read_config_file(path: &Path) -> Result<String, InputError> {
    read::read_text(path, None, "config file").map_err(|e| {
        if path.is_dir() {
            e.with_help("pass the inventory.yml or matrix file inside it with `-f FILE`")
        } else if !path.exists() {
            e.with_help("pass an existing inventory.yml or matrix file with `-f FILE`")
        } else {
            e
        }
    })
}
