//! Rules of the module layout the code keeps, read from the source: the
//! engine is below the config (it imports nothing of it), the test run
//! reads no config file (the plan holds every test as loaded), and a
//! matrix image's cell is read from its typed fields, never its labels.

use std::path::{Path, PathBuf};

/// The non-test, non-comment lines of `file`.
fn code(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect()
}

fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel)
}

fn files_under(rel: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(src(rel))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    out.sort();
    out
}

/// Every line of `files` that contains one of `needles`, as `file:line`.
fn offending(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        for (n, line) in code(file) {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_engine_imports_nothing_of_the_config() {
    let found = offending(&files_under("engine"), &["crate::config"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_test_run_reads_no_config_file() {
    let files: Vec<PathBuf> = ["exec/test_run.rs", "exec/run_check.rs", "exec/matrix.rs"]
        .iter()
        .map(|f| src(f))
        .collect();
    let found = offending(&files, &["crate::config", "read_text", "RunTest::load"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_cell_is_read_from_its_fields_not_its_labels() {
    let mut files = files_under("generate");
    files.extend(files_under("exec"));
    let found = offending(&files, &["labels.get(", "labels["]);
    assert!(found.is_empty(), "{found:#?}");
}
