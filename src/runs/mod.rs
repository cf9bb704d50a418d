//! The run folders: `runs/<UTC time>-<command>/` for each `test` or `push`,
//! `runs/latest` pointing at the newest, and pruning so they stay bounded.

use std::path::{Path, PathBuf};

/// How many run folders are kept by default.
pub const DEFAULT_KEEP: usize = 20;

/// Claims a new folder `runs/<UTC time>-<command>` (with `-2`, `-3`, … if
/// runs start within the same second) and points `runs/latest` at it, so CI
/// can collect `runs/latest/junit.xml` without knowing the time.
pub fn create(runs: &Path, command: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(runs)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut n = 1;
    let dir = loop {
        let name = match n {
            1 => format!("{stamp}-{command}"),
            _ => format!("{stamp}-{command}-{n}"),
        };
        match std::fs::create_dir(runs.join(&name)) {
            Ok(()) => break name,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    };
    // Replace the link atomically: a new link under a temporary name, renamed.
    let tmp = runs.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&dir, &tmp)?;
    std::fs::rename(&tmp, runs.join("latest"))?;
    Ok(runs.join(dir))
}

/// Removes all but the newest `keep` run folders (`0` keeps all). The folder
/// `latest` points at is always kept. Returns the folders removed.
pub fn prune(runs: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(vec![]);
    }
    let latest = std::fs::read_link(runs.join("latest")).ok();
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(runs)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            is_run_name(&name).then(|| (name, e.path()))
        })
        .collect();
    // Names start with a sortable UTC time; `-N` suffixes sort after their
    // first run of the same second only by number, so compare on both.
    dirs.sort_by(|a, b| sort_key(&a.0).cmp(&sort_key(&b.0)));
    let excess = dirs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for (name, path) in dirs.into_iter().take(excess) {
        if latest.as_deref() == Some(Path::new(&name)) {
            continue;
        }
        std::fs::remove_dir_all(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

/// `20261128T201500Z-test` or `20261128T201500Z-push-3`.
fn is_run_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > 17
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && &name[15..17] == "Z-"
}

fn sort_key(name: &str) -> (&str, u32) {
    let n = name
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1);
    (&name[..16], n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(runs: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(runs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keeps_the_newest_n_and_always_latest() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path();
        for name in [
            "20260101T000000Z-test",
            "20260101T000000Z-test-2",
            "20260101T000000Z-test-10",
            "20260102T000000Z-push",
            "20260103T000000Z-test",
            "notes",
        ] {
            std::fs::create_dir(runs.join(name)).unwrap();
        }
        // `latest` points at an old run (say, a clock moved back).
        std::os::unix::fs::symlink("20260101T000000Z-test-2", runs.join("latest")).unwrap();
        let removed = prune(runs, 2).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert_eq!(
            names(runs),
            [
                "20260101T000000Z-test-2",
                "20260102T000000Z-push",
                "20260103T000000Z-test",
                "latest",
                "notes"
            ]
        );
        assert!(prune(runs, 0).unwrap().is_empty(), "0 keeps every run");
    }

    #[test]
    fn create_points_latest_at_the_new_run_and_never_collides() {
        let dir = tempfile::tempdir().unwrap();
        let a = create(dir.path(), "test").unwrap();
        let b = create(dir.path(), "test").unwrap();
        assert_ne!(a, b);
        assert_eq!(
            std::fs::read_link(dir.path().join("latest")).unwrap(),
            Path::new(b.file_name().unwrap())
        );
    }
}
