//! `strata init`: the files of a starter project, as values. The command
//! writes them into an empty folder; everything here is pure.
//!
//! The starter is a native matrix of Node.js on Debian: one image per
//! release line still supported, a template, a test, aliases, and a snapshot
//! of the release feed so it plans offline and the same way every day.

use std::path::PathBuf;

pub mod runtimes;

/// The release index the starter plans from: the bundled snapshot, cut to
/// the lines the starter's range can pick.
const INDEX: &str = include_str!("../../examples/node/feed/index.tab");
const SCHEDULE: &str = include_str!("../../examples/node/feed/schedule.json");
/// The oldest major version kept in the starter's copy of the index.
const OLDEST_MAJOR: u64 = 18;

const CONFIG: &str = include_str!("starter/strata.yml");
const TEMPLATE: &str = include_str!("starter/Dockerfile.j2");
const TEST: &str = include_str!("starter/test.Dockerfile.j2");
const GITIGNORE: &str = ".strata/\n";

/// The starter's files: (path relative to the folder, content).
pub fn files() -> Vec<(PathBuf, String)> {
    vec![
        ("strata.yml".into(), CONFIG.to_string()),
        (
            "strata.schema.json".into(),
            crate::config::schema::native_text(),
        ),
        ("templates/node/Dockerfile.j2".into(), TEMPLATE.to_string()),
        ("tests/node-version/Dockerfile.j2".into(), TEST.to_string()),
        ("feed/index.tab".into(), index()),
        ("feed/schedule.json".into(), SCHEDULE.to_string()),
        (".gitignore".into(), GITIGNORE.to_string()),
    ]
}

/// The index's header and every release from [`OLDEST_MAJOR`] on.
fn index() -> String {
    let mut lines = INDEX.lines();
    let mut out = String::new();
    if let Some(header) = lines.next() {
        out.push_str(header);
        out.push('\n');
    }
    for line in lines {
        let major = line
            .strip_prefix('v')
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u64>().ok());
        if major.is_some_and(|m| m >= OLDEST_MAJOR) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_keeps_its_header_and_only_supported_lines() {
        let index = index();
        let mut lines = index.lines();
        assert!(lines.next().unwrap().starts_with("version\tdate\tfiles"));
        let versions: Vec<&str> = lines.map(|l| l.split('\t').next().unwrap()).collect();
        assert!(versions.contains(&"v18.0.0"), "{versions:?}");
        assert!(versions.contains(&"v23.1.0"));
        assert!(!versions.iter().any(|v| v.starts_with("v17.")));
    }

    #[test]
    fn the_config_names_its_schema_and_the_files_it_uses() {
        let files = files();
        let config = &files[0].1;
        assert!(config.starts_with("# yaml-language-server: $schema=strata.schema.json\n"));
        for (path, _) in &files[2..6] {
            let folder = path.parent().unwrap().to_str().unwrap();
            let used = if folder == "feed" {
                path.to_str().unwrap()
            } else {
                folder
            };
            assert!(config.contains(used), "strata.yml does not use {used}");
        }
    }
}
