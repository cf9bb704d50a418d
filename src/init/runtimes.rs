//! `strata init --runtime`: which starter to write. `node` reads Node.js's
//! release index; `bun` Bun's npm package document; `list` versions written
//! in the config, for runtimes with no feed of their own.

use std::path::PathBuf;

/// The runtime a starter project is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Runtime {
    /// Node.js on Debian, from Node's release index and schedule.
    #[default]
    Node,
    /// Bun on Debian, from Bun's npm package document.
    Bun,
    /// A runtime whose versions are listed in `strata.yml`.
    List,
}

/// Bun's package document, as the bundled example keeps it.
const BUN_FEED: &str = include_str!("../../examples/bun/feed/bun.json");
const BUN_CONFIG: &str = include_str!("starter/bun.strata.yml");
const LIST_CONFIG: &str = include_str!("starter/list.strata.yml");
const BUN_TEMPLATE: &str = include_str!("starter/bun.Dockerfile.j2");
const BUN_TEST: &str = include_str!("starter/bun.test.Dockerfile.j2");

/// The starter's files for `runtime`: (path relative to the folder, content).
pub fn files_for(runtime: Runtime) -> Vec<(PathBuf, String)> {
    let common = |config: &str| {
        vec![
            ("strata.yml".into(), config.to_string()),
            (
                "strata.schema.json".into(),
                crate::config::schema::native_text(),
            ),
            (
                "templates/bun/Dockerfile.j2".into(),
                BUN_TEMPLATE.to_string(),
            ),
            (
                "tests/bun-version/Dockerfile.j2".into(),
                BUN_TEST.to_string(),
            ),
        ]
    };
    match runtime {
        Runtime::Node => super::files(),
        Runtime::Bun => {
            let mut files = common(BUN_CONFIG);
            files.push(("feed/bun.json".into(), BUN_FEED.to_string()));
            files.push((".gitignore".into(), ".strata/\n".to_string()));
            files
        }
        Runtime::List => {
            let mut files = common(LIST_CONFIG);
            files.push((".gitignore".into(), ".strata/\n".to_string()));
            files
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each starter plans as written: its config, templates and feed agree.
    #[test]
    fn every_starter_plans_offline() {
        for (runtime, images) in [
            (Runtime::Node, None),
            (Runtime::Bun, Some(vec!["1.4.5", "1.3.14"])),
            // 1.3 is past its end of life at as_of; the canary is a line
            // of its own only when its line has no release: 1.4 has one.
            (Runtime::List, Some(vec!["1.4.5"])),
        ] {
            let dir = tempfile::tempdir().unwrap();
            for (path, text) in files_for(runtime) {
                let path = dir.path().join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            let config = dir.path().join("strata.yml");
            let text = std::fs::read_to_string(&config).unwrap();
            assert!(text.starts_with("# yaml-language-server: $schema=strata.schema.json\n"));
            let plan = crate::load::native(&config, text, None).unwrap_or_else(|e| {
                panic!("{runtime:?}: {}", crate::error::render_with(&e, false))
            });
            if let Some(images) = images {
                let versions: Vec<&str> = plan
                    .images
                    .iter()
                    .map(|i| i.labels["version"].as_str())
                    .collect();
                assert_eq!(versions, images, "{runtime:?}");
            }
        }
    }
}
