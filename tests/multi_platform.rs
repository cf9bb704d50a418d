//! Images built for several platforms on one engine through emulation: each
//! platform built with its own `TARGET*` arguments on the same platform's
//! build of its parent, tested as layers on that platform's image ID, and
//! the image passing only when every platform passed.

mod common;

use std::path::Path;

use common::{architecture, arm64_rootfs, block_on, busybox_rootfs, engine, unique, write};
use strata::engine::Engine;

fn strata(dir: &Path, args: &[&str]) -> std::process::Output {
    strata_on(dir, args, None)
}

/// `strata` with `DOCKER_HOST` set to `host`, when given.
fn strata_on(dir: &Path, args: &[&str], host: Option<&str>) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("strata").unwrap();
    cmd.current_dir(dir).args(args);
    if let Some(host) = host {
        cmd.env("DOCKER_HOST", host);
        // Podman records a repository digest for every image, so the base
        // it imported here cannot be told from a pulled one: never pull.
        cmd.env("STRATA_PULL", "never");
    }
    cmd.output().unwrap()
}

/// Base images for amd64 and arm64, made as `strata import --platform`
/// makes them (the engine's import call would record its own architecture).
fn import_bases(root: &Path, ns: &str) {
    import_bases_on(root, ns, None)
}

/// The same, the arm64 base on the engine at `arm64_host` when given.
fn import_bases_on(root: &Path, ns: &str, arm64_host: Option<&str>) {
    let amd64 = root.join("rootfs-amd64.tar");
    let arm64 = root.join("rootfs-arm64.tar");
    std::fs::write(&amd64, busybox_rootfs()).unwrap();
    std::fs::write(&arm64, arm64_rootfs()).unwrap();
    for (tar, platform, arch, host) in [
        (&amd64, "linux/amd64", "amd64", None),
        (&arm64, "linux/arm64", "arm64", arm64_host),
    ] {
        let reference = format!("{ns}/rootfs:{arch}");
        let out = strata_on(
            root,
            &[
                "import",
                "--platform",
                platform,
                tar.to_str().unwrap(),
                &reference,
            ],
            host,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if host.is_none() {
            assert_eq!(
                architecture(&reference),
                arch,
                "import --platform records {arch}"
            );
        }
    }
}

/// A project whose base is built from `<ns>/rootfs:${TARGETARCH}` for amd64
/// and arm64, and an app on top; both tested on every platform. `app_test`
/// is the app's test Dockerfile.
fn project(root: &Path, ns: &str, app_test: &str) {
    import_bases(root, ns);
    project_files(root, ns, app_test);
}

fn project_files(root: &Path, ns: &str, app_test: &str) {
    write(
        root,
        "base/Dockerfile",
        &format!("ARG TARGETARCH\nFROM {ns}/rootfs:${{TARGETARCH}}\nARG TARGETARCH\nRUN echo \"$TARGETARCH\" > /target-arch && uname -m > /built-on\n"),
    );
    // Each platform's test layer runs on that platform's image.
    write(
        root,
        "tests/arch/Dockerfile",
        "RUN case \"$(cat /target-arch)-$(uname -m)-$(cat /built-on)\" in amd64-x86_64-x86_64|arm64-aarch64-aarch64) ;; *) exit 1;; esac\n",
    );
    write(
        root,
        "app/Dockerfile",
        &format!(
            "FROM {ns}/base:1\nARG TARGETPLATFORM\nRUN echo \"$TARGETPLATFORM\" > /app-platform\n"
        ),
    );
    write(root, "tests/app/Dockerfile", app_test);
    write(
        root,
        "tests/app/run.yml",
        "command: [sh, -c, 'test \"$(cat /app-platform)\" = \"linux/$(cat /target-arch)\"']\n",
    );
    write(
        root,
        "inventory.yml",
        &format!(
            "images:\n  - name: {ns}/base:1\n    path: base\n    platforms: [linux/amd64, linux/arm64]\n    test: tests/arch\n  - name: {ns}/app:1\n    path: app\n    platforms: [linux/amd64, linux/arm64]\n    test: [tests/arch, tests/app]\n    alias: {ns}/app:latest\n"
        ),
    );
}

#[test]
fn each_platform_is_built_on_its_parent_and_tested_on_its_own_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("{}/{}", common::registry(), unique("multi"));
    project(root, &ns, "RUN test -s /app-platform\n");

    let plan = strata(root, &["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("platforms: linux/amd64, linux/arm64"),
        "{text}"
    );

    let out = strata(root, &["test", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (suffix, arch) in [("linux-amd64", "amd64"), ("linux-arm64", "arm64")] {
        for image in ["base", "app"] {
            let unit = format!("{ns}/{image}:1-{suffix}");
            assert_eq!(architecture(&unit), arch, "{unit}");
        }
        assert_eq!(architecture(&format!("{ns}/app:1-{suffix}-test2")), arch);
    }
    // The app's arm64 build is on the base's arm64 build.
    let ids = block_on(async {
        let e = engine().await;
        let id = |r: String| {
            let e = &e;
            async move { e.image_id(&common::image_ref(&r)).await.unwrap() }
        };
        (
            id(format!("{ns}/app:1-linux-amd64")).await,
            id(format!("{ns}/app:1")).await,
            id(format!("{ns}/app:latest")).await,
        )
    });
    assert!(ids.0.is_some());
    assert_eq!(ids.1, ids.0, "the name holds the engine's own platform");
    assert_eq!(ids.2, ids.0, "the alias moved once every platform passed");
    let report = std::fs::read_to_string(root.join(".strata/runs/latest/report.md")).unwrap();
    for unit in [
        "app:1-linux-amd64",
        "app:1-linux-arm64",
        "base:1-linux-arm64",
    ] {
        assert!(report.contains(unit), "a result per platform: {report}");
    }

    let preview = strata(root, &["push", "--dry-run"]);
    let text = String::from_utf8_lossy(&preview.stdout);
    assert!(
        text.contains(&format!("ready      {ns}/app:1-linux-arm64")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "index      {ns}/app:1  (linux/amd64, linux/arm64)"
        )),
        "{text}"
    );

    // Published: one index per image, read back over plain HTTP.
    let out = strata(root, &["push", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (registry, path) = ns.split_once('/').unwrap();
    let app = manifest(registry, &format!("{path}/app"), "1");
    assert_eq!(app["mediaType"], "application/vnd.oci.image.index.v1+json");
    let entries = app["manifests"].as_array().unwrap();
    let platforms: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["platform"]["os"].as_str().unwrap(),
                e["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for entry in entries {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        let child = manifest(
            registry,
            &format!("{path}/app"),
            entry["digest"].as_str().unwrap(),
        );
        let local = block_on(async {
            engine()
                .await
                .image_id(&common::image_ref(&format!("{ns}/app:1-linux-{arch}")))
                .await
                .unwrap()
                .unwrap()
        });
        assert_eq!(
            child["config"]["digest"].as_str().unwrap(),
            local.as_str(),
            "{arch}: the tested image"
        );
    }
    // The alias is the index.
    let latest = manifest(registry, &format!("{path}/app"), "latest");
    assert_eq!(latest, app);
    // The catalog lists each image once (no platform's image), with its alias.
    let catalog = strata(root, &["catalog"]);
    assert_eq!(catalog.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&catalog.stdout),
        format!(
            "### `{ns}/app`\n\n- `1`, `latest`: [`app/Dockerfile`](app/Dockerfile)\n\n\
             ### `{ns}/base`\n\n- `1`: [`base/Dockerfile`](base/Dockerfile)\n"
        )
    );

    // A second push finds every index in place.
    let again = strata(root, &["push", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    let report = std::fs::read_to_string(root.join(".strata/runs/latest/report.md")).unwrap();
    assert!(report.contains("already holds this index"), "{report}");
    assert_eq!(
        report.matches("already holds this image at").count(),
        4,
        "each platform's image of both images is found in place: {report}"
    );
}

/// The manifest (or index) `reference` names in `repo`, fetched with curl.
fn manifest(registry: &str, repo: &str, reference: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            &format!("http://{registry}/v2/{repo}/manifests/{reference}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_arm64_only_failure_withholds_the_image_and_its_alias() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("{}/{}", common::registry(), unique("multifail"));
    project(root, &ns, "RUN test \"$(uname -m)\" != aarch64\n");
    let out = strata(root, &["test", "-j", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failed = stderr
        .lines()
        .find(|l| l.contains("test 2 (tests/app)") && l.contains("FAILED"))
        .unwrap_or_else(|| panic!("the arm64 test fails: {stderr}"));
    assert!(
        failed.contains(&format!("{ns}/app:1-linux-arm64")),
        "{failed}"
    );
    assert_eq!(architecture(&format!("{ns}/app:1-linux-amd64")), "amd64");
    let (name, alias) = block_on(async {
        let e = engine().await;
        (
            e.image_id(&common::image_ref(&format!("{ns}/app:1")))
                .await
                .unwrap(),
            e.image_id(&common::image_ref(&format!("{ns}/app:latest")))
                .await
                .unwrap(),
        )
    });
    assert_eq!(name, None, "a partly failed image is not given its name");
    assert_eq!(alias, None, "nor its alias");
    let preview = strata(root, &["push", "--dry-run"]);
    let text = String::from_utf8_lossy(&preview.stdout);
    assert!(
        text.contains(&format!("refused    {ns}/app:1-linux-arm64")),
        "{text}"
    );
    assert!(text.contains(&format!("no index   {ns}/app:1")), "{text}");
}

#[test]
fn a_platform_with_an_engine_of_its_own_is_built_there() {
    let podman = std::env::var("STRATA_TEST_PODMAN_HOST")
        .expect("STRATA_TEST_PODMAN_HOST is unset: run scripts/setup.sh and source its env file");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ns = format!("{}/{}", common::registry(), unique("perengine"));
    import_bases_on(root, &ns, Some(&podman));
    project_files(root, &ns, "RUN test -s /app-platform\n");
    // Podman here cannot start containers (its rlimits are refused in this
    // kind of sandbox); builds and test layers are what this test is about.
    std::fs::remove_file(root.join("tests/app/run.yml")).unwrap();
    let engine_arg = format!("linux/arm64={podman}");
    // arm64 is built on Podman, whose locally made base looks pulled.
    let out = strata(
        root,
        &[
            "test",
            "-j",
            "2",
            "--pull",
            "never",
            "--platform-engine",
            &engine_arg,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("linux/arm64 is built on"), "{stderr}");
    let (docker_arm, docker_amd, podman_arm) = block_on(async {
        let docker = engine().await;
        let other = common::engine_at(&podman).await;
        (
            docker
                .image_id(&common::image_ref(&format!("{ns}/app:1-linux-arm64")))
                .await
                .unwrap(),
            docker
                .image_id(&common::image_ref(&format!("{ns}/app:1-linux-amd64")))
                .await
                .unwrap(),
            other
                .image_id(&common::image_ref(&format!("{ns}/app:1-linux-arm64")))
                .await
                .unwrap(),
        )
    });
    assert_eq!(docker_arm, None, "arm64 is not built on the default engine");
    assert!(docker_amd.is_some());
    assert!(podman_arm.is_some(), "arm64 is built on its own engine");

    // Pushed from both engines into one index.
    let out = strata(root, &["push", "--platform-engine", &engine_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (registry, path) = ns.split_once('/').unwrap();
    let app = manifest(registry, &format!("{path}/app"), "1");
    let arm = app["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["platform"]["architecture"] == "arm64")
        .unwrap();
    let child = manifest(
        registry,
        &format!("{path}/app"),
        arm["digest"].as_str().unwrap(),
    );
    assert_eq!(
        child["config"]["digest"].as_str(),
        podman_arm.as_ref().map(|id| id.as_str())
    );
}

/// What a machine's state file says it pushed for `unit`.
fn pushed_digest(state: &Path, unit: &str) -> String {
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    state["images"][unit]["pushed"]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{unit} pushed in {state}"))
        .to_string()
}

#[test]
fn two_machines_each_push_their_platform_and_publish_puts_the_index_together() {
    let podman = std::env::var("STRATA_TEST_PODMAN_HOST")
        .expect("STRATA_TEST_PODMAN_HOST is unset: run scripts/setup.sh and source its env file");
    let dir = tempfile::tempdir().unwrap();
    let amd = dir.path().join("amd64-machine");
    let arm = dir.path().join("arm64-machine");
    std::fs::create_dir_all(&amd).unwrap();
    let registry = common::registry();
    let path = unique("machines");
    let ns = format!("{registry}/{path}");
    import_bases_on(&amd, &ns, Some(&podman));
    project_files(&amd, &ns, "RUN test -s /app-platform\n");
    // Podman here cannot start containers (see above).
    std::fs::remove_file(amd.join("tests/app/run.yml")).unwrap();
    // An alias in another repository too.
    let inventory = std::fs::read_to_string(amd.join("inventory.yml")).unwrap();
    let with_other = inventory.replace(
        &format!("    alias: {ns}/app:latest\n"),
        &format!("    alias: [{ns}/app:latest, {ns}/other:app]\n"),
    );
    assert_ne!(inventory, with_other);
    std::fs::write(amd.join("inventory.yml"), with_other).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&amd)
        .arg(&arm)
        .status()
        .unwrap();
    assert!(copied.success());

    // Each machine runs its own platform on its own engine.
    for (root, platform, host) in [
        (&amd, "linux/amd64", None),
        (&arm, "linux/arm64", Some(podman.as_str())),
    ] {
        for command in ["test", "push"] {
            let out = strata_on(root, &[command, "--platform", platform], host);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{command} {platform}: {stderr}");
        }
    }
    // Run again, nothing changed: up to date, though its base is chosen in
    // the FROM line with ${TARGETARCH}.
    let out = strata(&amd, &["test", "--platform", "linux/amd64"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.matches("up to date: inputs unchanged").count() >= 2,
        "{report}"
    );
    // Neither machine put an index or pointed the alias: each had half.
    assert_eq!(
        common::manifest_digest(&registry, &format!("{path}/app"), "1"),
        None
    );
    assert_eq!(
        common::manifest_digest(&registry, &format!("{path}/app"), "latest"),
        None
    );
    let amd_state = amd.join(".strata/state.json");
    let arm_state = arm.join(".strata/state.json");
    let amd_digest = pushed_digest(&amd_state, &format!("{ns}/app:1-linux-amd64"));
    let arm_digest = pushed_digest(&arm_state, &format!("{ns}/app:1-linux-arm64"));

    // One machine's state is not enough: the index needs every platform.
    let amd_from = amd_state.to_string_lossy().into_owned();
    let arm_from = arm_state.to_string_lossy().into_owned();
    let out = strata(&amd, &["publish", "--allow-unsigned", "--from", &amd_from]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("no state file records linux/arm64"),
        "{stdout}"
    );
    assert_eq!(
        common::manifest_digest(&registry, &format!("{path}/app"), "latest"),
        None
    );

    // Both: the index is put together and the alias points at it; with
    // --sign-key, the index gets its own signed test result and provenance.
    let prefix = dir.path().join("publisher");
    let out = strata(
        &amd,
        &["key", "generate", "--out", prefix.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let sign_key = dir.path().join("publisher.key");
    let out = strata(
        &amd,
        &[
            "publish",
            "--allow-unsigned",
            "--from",
            &amd_from,
            "--from",
            &arm_from,
            "--sign-key",
            sign_key.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = manifest(&registry, &format!("{path}/app"), "1");
    let entries: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["platform"]["architecture"].as_str().unwrap().to_string(),
                e["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("amd64".to_string(), amd_digest),
            ("arm64".to_string(), arm_digest)
        ]
    );
    let index_digest = common::manifest_digest(&registry, &format!("{path}/app"), "1");
    assert!(index_digest.is_some());
    assert_eq!(
        common::manifest_digest(&registry, &format!("{path}/app"), "latest"),
        index_digest,
        "the alias is on the index"
    );
    for alias in ["app:latest", "other:app"] {
        let out = strata(&amd, &["verify", &format!("{ns}/{alias}")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{alias}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(
        common::manifest_digest(&registry, &format!("{path}/other"), "app"),
        index_digest
    );
    let public = dir.path().join("publisher.pub");
    let out = strata(
        &amd,
        &[
            "verify",
            "--format",
            "json",
            "--key",
            public.to_str().unwrap(),
            &format!("{ns}/app:1"),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let index = &json["indexAttestations"];
    assert_eq!(index["testResult"]["verified"], true, "{json:#}");
    assert_eq!(index["testResult"]["result"], "PASSED", "{json:#}");
    assert_eq!(
        index["attestations"]["provenance"]["valid"], true,
        "{json:#}"
    );

    // Again: nothing to do.
    let out = strata(
        &amd,
        &[
            "publish",
            "--allow-unsigned",
            "--from",
            &amd_from,
            "--from",
            &arm_from,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("up to date at"), "{stdout}");

    // A forged arm64 machine state: its arm64 record copied from amd64's
    // (another platform's tested image), dated in the future.
    let amd_unit = format!("{ns}/app:1-linux-amd64");
    let arm_unit = format!("{ns}/app:1-linux-arm64");
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&arm_state).unwrap()).unwrap();
    let amd_record: serde_json::Value =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&amd_state).unwrap()).unwrap()
            ["images"][&amd_unit]
            .clone();
    let mut copied = amd_record.clone();
    copied["tested_at"] = "2099-01-01T00:00:00Z".into();
    forged["images"][&arm_unit] = copied;
    let forged_path = dir.path().join("forged-state.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let forged_from = forged_path.to_string_lossy().into_owned();
    let args = [
        "publish",
        "--allow-unsigned",
        "--dry-run",
        "--from",
        &amd_from,
        "--from",
        &forged_from,
    ];
    let out = strata(&amd, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("not put: linux/arm64") && stdout.contains("was tested as"),
        "{stdout}"
    );
    // Two machines' states that disagree about one platform's image: refused,
    // both files named.
    let args = [
        "publish",
        "--allow-unsigned",
        "--dry-run",
        "--from",
        &amd_from,
        "--from",
        &arm_from,
        "--from",
        &forged_from,
    ];
    let out = strata(&amd, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("disagree about")
            && stdout.contains(&arm_from)
            && stdout.contains(&forged_from),
        "{stdout}"
    );
}
