//! External bases followed upstream, on the real engine with a local
//! registry playing upstream: a base absent from the engine is resolved and
//! pulled by digest; when its tag moves, exactly the images built on it
//! rebuild, and the next run rebuilds nothing; `--pull never` stays offline.

mod common;

use std::path::Path;
use std::process::Output;

use common::{block_on, busybox_base, engine, unique, write, BUSYBOX_IMAGE};
use strata::engine::{BuildContext, BuildRequest, Dockerfile, Engine};

fn strata(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("strata")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The images whose build `out` reported as up to date.
fn skipped(out: &Output, names: &[&str]) -> Vec<String> {
    let stdout = text(&out.stdout);
    names
        .iter()
        .filter(|n| {
            stdout.split("## Image: ").any(|section| {
                let build = section.split("### Test").next().unwrap_or_default();
                section.starts_with(&format!("{n}\n")) && build.contains("up to date")
            })
        })
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn a_base_is_pulled_by_digest_and_its_move_rebuilds_exactly_its_dependents() {
    let registry = common::registry();
    let path = unique("upstream");
    let ns = format!("{registry}/{path}");
    let base = format!("{ns}/base:stable");
    let engine = block_on(engine());
    block_on(busybox_base(&engine, BUSYBOX_IMAGE));
    // v1, pushed upstream, then gone from the engine.
    let v1 = block_on(busybox_base(&engine, &base));
    block_on(engine.push(&base, None, &|_| {})).unwrap();
    let d1 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    block_on(engine.remove(&base)).unwrap();
    block_on(engine.remove(v1.as_str())).ok();
    assert_eq!(block_on(engine.image_id(&base)).unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/Dockerfile",
        &format!("FROM {base}\nRUN echo app > /app\n"),
    );
    write(
        root,
        "child/Dockerfile",
        &format!("FROM {ns}/app:1\nRUN echo child > /child\n"),
    );
    write(
        root,
        "other/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo other > /other\n"),
    );
    write(root, "t/Dockerfile", "RUN test -f /bin/sh\n");
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n    test: ./t\n  - name: \"{ns}/child:1\"\n    path: ./child\n    test: ./t\n  - name: \"{ns}/other:1\"\n    path: ./other\n    test: ./t\n"
        ),
    );
    let (app, child, other) = (
        format!("{ns}/app:1"),
        format!("{ns}/child:1"),
        format!("{ns}/other:1"),
    );
    let names = [app.as_str(), child.as_str(), other.as_str()];

    // `never` with the base absent: exit 2 before any build, naming it.
    let never = strata(root, &["test", "--pull", "never"]);
    assert_eq!(never.status.code(), Some(2), "{}", text(&never.stderr));
    assert!(
        text(&never.stderr).contains(&base),
        "{}",
        text(&never.stderr)
    );
    assert_eq!(block_on(engine.image_id(&app)).unwrap(), None);

    let first = strata(root, &["test", "-j", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let pinned = format!("{ns}/base@{d1}");
    assert!(
        text(&first.stderr).contains(&format!("pulled {base} ({pinned})")),
        "{}",
        text(&first.stderr)
    );
    assert!(block_on(engine.image_id(&pinned)).unwrap().is_some());
    // The state records the digest the image was built on.
    let state = || std::fs::read_to_string(root.join(".strata/state.json")).unwrap();
    assert!(
        state().contains(&format!("\"digest\": \"{d1}\"")),
        "{}",
        state()
    );

    // v2 pushed to the same tag; the engine's tag still names v1, and v2
    // is not on the engine.
    let v1 = block_on(engine.image_id(&pinned)).unwrap().unwrap();
    let v2 = block_on(engine.build(
        BuildRequest {
            context: BuildContext {
                dir: root.join("t"),
                dockerfile: Dockerfile::Inline(format!(
                    "FROM {}\nRUN echo v2 > /v2\n",
                    v1.as_str()
                )),
                extra_files: vec![],
            },
            tag: Some(base.clone()),
            build_args: Default::default(),
            labels: Default::default(),
            no_cache: false,
            timeout: None,
            platform: None,
            builder: None,
            secrets: Vec::new(),
        },
        &|_| {},
    ))
    .unwrap();
    block_on(engine.push(&base, None, &|_| {})).unwrap();
    let d2 = common::manifest_digest(&registry, &format!("{path}/base"), "stable").unwrap();
    assert_ne!(d1, d2);
    block_on(engine.tag(&v1, &base)).unwrap();
    block_on(engine.remove(v2.as_str())).ok();

    let second = strata(root, &["test", "-j", "2"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains(&format!("pulled {base} ({ns}/base@{d2})")),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        skipped(&second, &names),
        vec![other.clone()],
        "{}",
        text(&second.stdout)
    );
    assert!(
        state().contains(&format!("\"digest\": \"{d2}\"")),
        "{}",
        state()
    );
    assert!(!state().contains(&d1), "{}", state());

    let third = strata(root, &["test", "-j", "2"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert!(
        !text(&third.stderr).contains("pulled"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(skipped(&third, &names).len(), 3, "{}", text(&third.stdout));

    // Offline: the engine's copies, no registry asked.
    let offline = strata(root, &["test", "--pull", "never"]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
}

/// A registry that does not answer, and one that refuses strata's (absent)
/// credentials: exit 3 before any build, naming the base.
#[test]
fn an_unreachable_or_refusing_upstream_stops_the_run_before_any_build() {
    let (auth, _) = common::auth_registry();
    let down = format!("127.0.0.1:{}", common::free_port());
    for host in [down, auth] {
        let ns = format!("{host}/{}", unique("upstream-down"));
        let base = format!("{ns}/base:1");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app/Dockerfile", &format!("FROM {base}\nRUN true\n"));
        write(
            root,
            "inventory.yml",
            &format!("images:\n  - name: \"{ns}/app:1\"\n    path: ./app\n"),
        );
        let config = tempfile::tempdir().unwrap();
        let out = assert_cmd::Command::cargo_bin("strata")
            .unwrap()
            .current_dir(root)
            .env("DOCKER_CONFIG", config.path())
            .args(["test", "--connect-timeout", "3"])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&format!("base image {base}")), "{stderr}");
        let engine = block_on(engine());
        assert_eq!(
            block_on(engine.image_id(&format!("{ns}/app:1"))).unwrap(),
            None
        );
    }
}
