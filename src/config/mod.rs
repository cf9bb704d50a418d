//! Reading and validating what the user wrote.
//!
//! [`load`] is the one entry point: it reads a config file, decides which
//! format it is, checks everything it can before any build starts and returns
//! a [`Plan`]. Every problem is an [`InputError`] naming the file, line and
//! column, so a run never fails an hour in on a typo.
//!
//! Two formats are read:
//!
//! * a Dante `inventory.yml` (top-level `images:`): [`inventory`] parses and
//!   checks the text, [`files`] checks the folders it names, and
//!   [`crate::plan::inventory`] orders it into a plan;
//! * strata's native matrix file (anything else): [`native`].

pub mod files;
pub mod inventory;
pub mod native;
pub mod reference;
pub mod run_test;
pub mod yaml;

use std::path::Path;

use crate::error::InputError;
use crate::plan::Plan;

/// Choices from the command line that change how a config is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The date a native matrix's schedule facts are computed at, overriding
    /// the file's `as_of`. Ignored for a Dante inventory.
    pub as_of: Option<chrono::NaiveDate>,
}

/// Which format a config file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Dante's `inventory.yml`.
    Inventory,
    /// strata's native matrix file.
    Native,
}

/// Reads the config file `path`, checks it, and computes its plan.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Plan, InputError> {
    let text = read(path)?;
    match detect(&text) {
        Format::Inventory => load_inventory(path, text),
        // Native matrix format: parsed, checked and expanded by `native`.
        Format::Native => native::load(path, &text, options.as_of),
    }
}

/// A Dante inventory and only it has a top-level `images:` key.
pub fn detect(text: &str) -> Format {
    let is_inventory = text
        .trim_start_matches('\u{feff}')
        .lines()
        .any(|line| line.starts_with("images:") || line.starts_with("\"images\":"));
    if is_inventory {
        Format::Inventory
    } else {
        Format::Native
    }
}

/// Parses, checks and plans a Dante inventory whose text was read from `path`.
pub fn load_inventory(path: &Path, text: String) -> Result<Plan, InputError> {
    let inventory = inventory::parse(path.to_path_buf(), text)?;
    let files = files::check(&inventory)?;
    crate::plan::inventory::plan(&inventory, &files)
}

/// Reads a config file, explaining a missing or unreadable one.
fn read(path: &Path) -> Result<String, InputError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_inventories_by_top_level_images() {
        assert_eq!(detect("images:\n  - name: a\n"), Format::Inventory);
        assert_eq!(detect("\u{feff}images: []\n"), Format::Inventory);
        assert_eq!(detect("# comment\nimages: []\n"), Format::Inventory);
        assert_eq!(
            detect("os:\n  - name: a\nimage:\n  name: x\n"),
            Format::Native
        );
        assert_eq!(detect("base:\n  images: x\n"), Format::Native);
    }

    #[test]
    fn nodesource_inventory_parses_then_fails_on_its_missing_folders() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nodesource-inventory.yml"
        ));
        // Its image folders are not in this repository: parsing passes, the
        // folder check reports them (capped), and the first is the first image.
        let err = load(path, &LoadOptions::default()).unwrap_err();
        assert!(
            err.message
                .contains("debian/jessie/node/4.4.7` does not exist"),
            "{}",
            err.message
        );
        assert_eq!(err.count(), crate::error::MAX_REPORTED + 1);
    }

    #[test]
    fn missing_file_is_named() {
        let err = load(Path::new("no/such/inventory.yml"), &LoadOptions::default()).unwrap_err();
        assert!(
            err.message.contains("`no/such/inventory.yml` not found"),
            "{}",
            err.message
        );
    }
}
