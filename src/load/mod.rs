//! The loading step: from a config file on disk to a [`Plan`].
//!
//! [`plan`] is what the command line calls. It reads the file (through
//! [`crate::config`], which only reads and checks what the user wrote),
//! decides which format it is, and then:
//!
//! * a Dante `inventory.yml` (top-level `images:`): [`config::inventory`]
//!   parses it, [`config::files`] checks the folders it names, and [`dante`]
//!   orders it into a plan;
//! * strata's native matrix file (anything else): [`config::native`] parses
//!   it and [`crate::generate`] expands it (release feed, templates, aliases).
//!
//! Every problem is an [`InputError`] naming the file, line and column, so a
//! run never fails an hour in on a typo.

pub mod dante;

use std::path::Path;

use crate::config;
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
pub enum ConfigFormat {
    /// Dante's `inventory.yml`.
    Inventory,
    /// strata's native matrix file.
    Native,
}

/// Reads the config file `path`, checks it, and computes its plan.
pub fn plan(path: &Path, options: &LoadOptions) -> Result<Plan, InputError> {
    let text = config::read_config_file(path)?;
    match detect(&text) {
        ConfigFormat::Inventory => inventory(path, text),
        ConfigFormat::Native => native(path, text, options.as_of),
    }
}

/// A Dante inventory and only it has a top-level `images:` key.
pub fn detect(text: &str) -> ConfigFormat {
    let is_inventory = text
        .trim_start_matches('\u{feff}')
        .lines()
        .any(|line| line.starts_with("images:") || line.starts_with("\"images\":"));
    if is_inventory {
        ConfigFormat::Inventory
    } else {
        ConfigFormat::Native
    }
}

/// Parses, checks and plans a Dante inventory whose text was read from `path`.
pub fn inventory(path: &Path, text: String) -> Result<Plan, InputError> {
    let inventory = config::inventory::parse(path.to_path_buf(), text)?;
    let files = config::files::check(&inventory)?;
    let tests = dante::read_tests(&inventory, &files)?;
    dante::plan(&inventory, &files, &tests)
}

/// Parses and checks the native matrix file `path` whose contents are `text`,
/// and expands it into a plan. `as_of` (from the command line) replaces the
/// file's `as_of`.
pub fn native(
    path: &Path,
    text: String,
    as_of: Option<chrono::NaiveDate>,
) -> Result<Plan, InputError> {
    let source = config::yaml::Source::new(path, text);
    let config = config::native::parse(&source)?;
    crate::generate::plan(&config, &source, as_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_inventories_by_top_level_images() {
        assert_eq!(detect("images:\n  - name: a\n"), ConfigFormat::Inventory);
        assert_eq!(detect("\u{feff}images: []\n"), ConfigFormat::Inventory);
        assert_eq!(detect("# comment\nimages: []\n"), ConfigFormat::Inventory);
        assert_eq!(
            detect("os:\n  - name: a\nimage:\n  name: x\n"),
            ConfigFormat::Native
        );
        assert_eq!(detect("base:\n  images: x\n"), ConfigFormat::Native);
    }

    #[test]
    fn nodesource_inventory_parses_then_fails_on_its_missing_folders() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nodesource-inventory.yml"
        ));
        // Its image folders are not in this repository: parsing passes, the
        // folder check reports them (capped), and the first is the first image.
        let err = plan(path, &LoadOptions::default()).unwrap_err();
        assert!(
            err.message
                .contains("debian/jessie/node/4.4.7` does not exist"),
            "{}",
            err.message
        );
        assert_eq!(err.count(), crate::error::MAX_REPORTED + 1);
        // Every error points into one shared copy of the inventory's text.
        let first = err.src.as_ref().expect("a located error").inner();
        let located: Vec<_> = err.related.iter().filter_map(|e| e.src.as_ref()).collect();
        assert_eq!(located.len(), crate::error::MAX_REPORTED - 1);
        for src in located {
            assert!(
                std::sync::Arc::ptr_eq(first, src.inner()),
                "a copy of the text"
            );
        }
    }

    #[test]
    fn missing_file_is_named() {
        let err = plan(Path::new("no/such/inventory.yml"), &LoadOptions::default()).unwrap_err();
        assert!(
            err.message.contains("`no/such/inventory.yml` not found"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_feed_key_of_another_kind_or_a_missing_one_is_named_with_its_help() {
        let cases = [
            (
                "kind: list\n  index: i.tab\n  versions: [{version: 1.0.0}]",
                "`feed.index` does not belong to a `list` feed",
                "`index` is read by the `node` kind; the `list` kind reads `versions` or `source`",
            ),
            (
                "index: i.tab\n  schedule: s.json\n  versions: [{version: 1.0.0}]",
                "`feed.versions` does not belong to a `node` feed",
                "`versions` is read by the `list` kind; the `node` kind reads `index` and `schedule`",
            ),
            (
                "index: i.tab\n  schedule: s.json\n  source: x.json",
                "`feed.source` does not belong to a `node` feed",
                "`source` is read by the `endoflife`, `npm` and `list` kinds",
            ),
            (
                "schedule: s.json",
                "a `node` feed needs `index`",
                "add `index: feed/index.tab`",
            ),
            (
                "kind: npm",
                "a `npm` feed needs `source`",
                "https://registry.npmjs.org/bun",
            ),
            (
                "kind: list\n  versions: [{version: 1.0.0}]\n  source: v.yml",
                "a `list` feed has `versions` and `source`",
                "keep the versions in `strata.yml` or in a file, not both",
            ),
            (
                "kind: list\n  source: missing.yml",
                "list of versions: ",
                "",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (feed, message, help) in cases {
            let text = format!(
                "as_of: 2024-10-30\noutput: out\nfeed:\n  {feed}\n  range: \"*\"\nos:\n  - {{ name: bookworm, from: \"debian:bookworm\" }}\nimage:\n  name: \"acme/a:{{{{ version }}}}\"\n  template: tpl\n"
            );
            let err = native(&dir.path().join("strata.yml"), text, None).unwrap_err();
            let out = crate::error::render_with(&err, false);
            assert!(out.contains(message), "{feed}: {out}");
            assert!(out.contains(help), "{feed}: {out}");
            assert!(out.contains("strata.yml:"), "{feed}: {out}");
        }
    }
}
