//! Files and URLs a native config names (release feeds, artifact file
//! names) are input: read under the config reader's rules, refused with exit
//! 2 naming the file and line, and an unreachable feed URL is the
//! environment's fault (exit 3).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A project with the real feed and an image template; `strata.yml` is
/// `config` with `INDEX` and `SCHEDULE` replaced.
fn project(index: &str, schedule: &str, file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("feed")).unwrap();
    std::fs::create_dir_all(root.join("tpl")).unwrap();
    std::fs::copy(data("node-dist-index.tab"), root.join("feed/index.tab")).unwrap();
    std::fs::copy(
        data("node-release-schedule.json"),
        root.join("feed/schedule.json"),
    )
    .unwrap();
    std::fs::write(
        root.join("tpl/Dockerfile.j2"),
        "FROM {{ os.from }}\nADD {{ artifacts.node }} /opt/\n",
    )
    .unwrap();
    let config = format!(
        "as_of: 2024-10-30\noutput: out\nfeed:\n  index: {index}\n  schedule: {schedule}\n  range: \"22.11.0\"\nos:\n  - {{ name: bookworm, default: true, from: \"debian:bookworm\" }}\nimage:\n  name: \"acme/node:{{{{ version }}}}\"\n  template: tpl\nartifacts:\n  node:\n    url: \"https://example.invalid/node.tgz\"\n    sha256: \"{}\"\n    file: {file}\n",
        "ab".repeat(32)
    );
    std::fs::write(root.join("strata.yml"), config).unwrap();
    dir
}

/// `strata plan` in `dir`, killed after 60 s: (exit code, stderr).
fn plan(dir: &Path) -> (i32, String) {
    let out = Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(["plan", "-f", "strata.yml"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_project_plans_as_given() {
    let dir = project("feed/index.tab", "feed/schedule.json", "node.tgz");
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_feed_outside_the_config_folder_is_refused_without_quoting_it() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    std::fs::write(&secret, "root:$6$c2VjcmV0:19000:0:99999:7:::\n").unwrap();
    let dir = project(
        &secret.display().to_string(),
        "feed/schedule.json",
        "node.tgz",
    );
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("strata.yml:4"), "{stderr}");
    assert!(
        stderr.contains("leads outside the config's folder"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("c2VjcmV0") && !stderr.contains("root:"),
        "{stderr}"
    );
}

#[test]
fn a_feed_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = project("feed/fifo.json", "feed/zero.json", "node.tgz");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("feed/fifo.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("it is a FIFO"), "{stderr}");
    // A link to /dev/zero leaves the folder, and is a device besides.
    let dir = project("feed/index.tab", "feed/zero.json", "node.tgz");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("feed/zero.json")).unwrap();
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("feed/zero.json"), "{stderr}");
}

#[test]
fn a_feed_over_the_cap_is_refused_saying_the_cap() {
    let dir = project("feed/big.tab", "feed/schedule.json", "node.tgz");
    let big = std::fs::File::create(dir.path().join("feed/big.tab")).unwrap();
    big.set_len(16 * 1024 * 1024 + 1).unwrap();
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("are read (16 MiB)"), "{stderr}");
}

/// One HTTP answer per connection, `status` with a short body.
fn serve(status: u16, answers: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/index.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for _ in 0..answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops"
            );
        }
    });
    url
}

#[test]
fn an_unreachable_feed_url_exits_3_and_a_missing_one_2() {
    // Refused: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = project(
        &format!("http://127.0.0.1:{port}/index.json"),
        "feed/schedule.json",
        "node.tgz",
    );
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("strata.yml:4:") && stderr.contains("cannot fetch feed"),
        "{stderr}"
    );
    // A server error, every attempt.
    let dir = project(&serve(500, 3), "feed/schedule.json", "node.tgz");
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
    // A 404 is a wrong URL in the config: exit 2.
    let dir = project(&serve(404, 1), "feed/schedule.json", "node.tgz");
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
}

#[test]
fn an_artifact_file_outside_the_context_or_empty_is_refused_at_load() {
    for (file, phrase) in [
        ("../x", "`..` part"),
        ("\"\"", "is empty"),
        ("/etc/x", "absolute path"),
        ("a/./b", "`.` or `..` part"),
    ] {
        let dir = project("feed/index.tab", "feed/schedule.json", file);
        let (code, stderr) = plan(dir.path());
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stderr.contains("strata.yml:16"), "{file}: {stderr}");
        assert!(stderr.contains("artifacts.node.file"), "{file}: {stderr}");
        assert!(stderr.contains(phrase), "{file}: {stderr}");
    }
}

#[test]
fn a_schedule_whose_end_comes_before_its_start_is_refused() {
    let dir = project("feed/index.tab", "feed/bad-schedule.json", "node.tgz");
    std::fs::write(
        dir.path().join("feed/bad-schedule.json"),
        r#"{"v22": {"start": "2024-04-24", "lts": "2024-10-29", "end": "2023-04-30", "codename": "Jod"}}"#,
    )
    .unwrap();
    let (code, stderr) = plan(dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("comes before its start"), "{stderr}");
}
