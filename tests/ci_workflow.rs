//! `strata ci github`: the workflow is read as YAML and then carried out
//! job by job, step by step, the way a runner would: each job on a fresh
//! copy of the repository, `run` steps in bash with the step's environment
//! and the matrix values filled in, artifacts uploaded and downloaded
//! between jobs. The shards test and push on the real engine and registry,
//! and `publish` points the aliases; the registry is then read over HTTP.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{block_on, busybox_base, engine, registry, unique, write, BUSYBOX_IMAGE};
use serde_json::Value;
use strata::engine::Engine;

fn strata_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("strata")
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `${{ … }}` filled in from `values`; any other expression is an error, so
/// a run line never depends on something this runner cannot know.
fn expand<K: AsRef<str>>(text: &str, values: &BTreeMap<K, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("${{{{ {} }}}}", k.as_ref()), v);
    }
    assert!(
        !out.contains("${{"),
        "an expression this runner does not know: {out}"
    );
    out
}

/// What a runner does with one job; returns the job's outputs file text.
struct Runner {
    repo: PathBuf,
    jobs_dir: PathBuf,
    artifacts: PathBuf,
}

impl Runner {
    fn run_job(&self, name: &str, job: &Value, values: &BTreeMap<&str, String>) -> String {
        let dir = self.jobs_dir.join(name);
        let outputs = self.jobs_dir.join(format!("{name}.outputs"));
        std::fs::write(&outputs, "").unwrap();
        // Steps' outputs join the values as the job goes; a push event,
        // run 1, attempt 1 unless the test says otherwise.
        let mut values: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for (k, v) in [
            ("github.event_name", "push"),
            ("github.run_id", "1"),
            ("github.run_attempt", "1"),
        ] {
            values.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        let values = &mut values;
        // The actions cache, shared by every job and run of this runner.
        let cache = self.artifacts.parent().unwrap().join("cache");
        let job_env = job.get("env").cloned().unwrap_or(Value::Null);
        for step in job["steps"].as_array().expect("steps") {
            if let Some(uses) = step.get("uses").and_then(Value::as_str) {
                let with = step.get("with").cloned().unwrap_or(Value::Null);
                match uses {
                    "actions/checkout@v4" => copy_tree(&self.repo, &dir),
                    "actions/cache/restore@v4" => {
                        let path = with["path"].as_str().unwrap();
                        let key = expand(with["key"].as_str().unwrap(), values);
                        let prefix = expand(with["restore-keys"].as_str().unwrap(), values);
                        // The exact key, else the newest entry with the prefix.
                        let mut found: Vec<(std::time::SystemTime, PathBuf)> =
                            std::fs::read_dir(&cache)
                                .into_iter()
                                .flatten()
                                .map(|e| e.unwrap())
                                .filter(|e| {
                                    let n = e.file_name().to_string_lossy().into_owned();
                                    n == key || n.starts_with(&prefix)
                                })
                                .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
                                .collect();
                        found.sort();
                        if let Some((_, entry)) = found.last() {
                            let dst = dir.join(path);
                            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                            std::fs::copy(entry.join("file"), dst).unwrap();
                        }
                    }
                    "actions/cache/save@v4" => {
                        let src = dir.join(with["path"].as_str().unwrap());
                        let entry = cache.join(expand(with["key"].as_str().unwrap(), values));
                        if src.exists() && !entry.exists() {
                            std::fs::create_dir_all(&entry).unwrap();
                            std::fs::copy(&src, entry.join("file")).unwrap();
                        }
                    }
                    "actions/upload-artifact@v4" => {
                        assert_eq!(with["include-hidden-files"], Value::Bool(true), "{step}");
                        let art = self
                            .artifacts
                            .join(expand(with["name"].as_str().unwrap(), values));
                        for path in with["path"].as_str().unwrap().lines() {
                            let src = dir.join(path.trim());
                            if src.exists() {
                                let dst = art.join(path.trim().trim_start_matches("./"));
                                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                                std::fs::copy(&src, &dst).unwrap();
                            }
                        }
                    }
                    "actions/download-artifact@v4" => {
                        let pattern = with["pattern"].as_str().unwrap();
                        let prefix = pattern.strip_suffix('*').unwrap();
                        let into = dir.join(with["path"].as_str().unwrap());
                        std::fs::create_dir_all(&into).unwrap();
                        for e in std::fs::read_dir(&self.artifacts).unwrap() {
                            let e = e.unwrap();
                            let name = e.file_name().to_string_lossy().into_owned();
                            if name.starts_with(prefix) {
                                // Each artifact's files, flattened to its name.
                                let target = into.join(&name);
                                std::fs::create_dir_all(&target).unwrap();
                                for f in walk(&e.path()) {
                                    std::fs::copy(&f, target.join(f.file_name().unwrap())).unwrap();
                                }
                            }
                        }
                    }
                    other => panic!("a step this runner does not know: {other}"),
                }
                continue;
            }
            let script = expand(step["run"].as_str().expect("run or uses"), values);
            let mut cmd = Command::new("bash");
            cmd.arg("-e")
                .arg("-c")
                .arg(&script)
                .current_dir(&dir)
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        strata_bin().parent().unwrap().display(),
                        std::env::var("PATH").unwrap()
                    ),
                )
                .env("GITHUB_OUTPUT", &outputs)
                .env("GITHUB_EVENT_NAME", &values["github.event_name"])
                .env(
                    "GITHUB_STEP_SUMMARY",
                    self.jobs_dir.join(format!("{name}.summary")),
                )
                .env("STRATA_RETRY_BACKOFF_MS", "10");
            for env in [&job_env, step.get("env").unwrap_or(&Value::Null)] {
                if let Some(map) = env.as_object() {
                    for (k, v) in map {
                        cmd.env(k, expand(v.as_str().unwrap(), values));
                    }
                }
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "job {name}, step {script}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(id) = step.get("id").and_then(Value::as_str) {
                for line in std::fs::read_to_string(&outputs).unwrap().lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        values.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
                    }
                }
            }
        }
        std::fs::read_to_string(outputs).unwrap()
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_written_workflow_runs_shards_then_publish() {
    let reg = registry();
    block_on(async {
        let e = engine().await;
        busybox_base(&e, BUSYBOX_IMAGE).await;
    });
    let ns = unique("ci-workflow");
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    // A folder name holding what YAML, GitHub's expressions and the shell
    // would each read something into, were it pasted into a run line.
    let folder = r##"it's "#1" $(touch pwned) `x` #y"##;
    // Two images that build on nothing of each other: one per shard.
    for (app, word) in [("one", "first"), ("two", "second")] {
        write(
            &repo,
            &format!("{folder}/{app}/Dockerfile"),
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {word} > /word\n"),
        );
    }
    write(
        &repo,
        &format!("{folder}/check/Dockerfile"),
        "RUN test -s /word\n",
    );
    write(
        &repo,
        &format!("{folder}/inventory.yml"),
        &format!(
            "images:\n  - name: \"{reg}/{ns}/one:1\"\n    path: \"./one\"\n    test: \"./check\"\n    alias: \"{reg}/{ns}/one:latest\"\n  - name: \"{reg}/{ns}/two:1\"\n    path: \"./two\"\n    test: \"./check\"\n    alias: \"{reg}/{ns}/two:latest\"\n"
        ),
    );

    let key = repo.join("keys/ci");
    std::fs::create_dir_all(repo.join("keys")).unwrap();
    let out = Command::new(strata_bin())
        .args(["key", "generate", "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let signing_key = std::fs::read_to_string(repo.join("keys/ci.key")).unwrap();
    std::fs::remove_file(repo.join("keys/ci.key")).unwrap();

    let config = format!("{folder}/inventory.yml");
    let out = Command::new(strata_bin())
        .current_dir(&repo)
        .args([
            "ci",
            "github",
            &config,
            "--shards",
            "2",
            "--install",
            "strata --version",
            "--public-key",
            "keys/ci.pub",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    check_schema(&text);
    let workflow: Value = serde_saphyr::from_str(&text).expect("the workflow is YAML");
    let jobs = &workflow["jobs"];
    for job in ["plan", "test", "publish"] {
        assert_eq!(jobs[job]["env"]["STRATA_CONFIG"], config.as_str(), "{job}");
    }
    assert_eq!(jobs["publish"]["env"]["STRATA_VERIFY_KEY"], "keys/ci.pub");
    // publish signs the indexes it puts together with the same secret.
    for job in ["test", "publish"] {
        assert_eq!(
            jobs[job]["env"]["STRATA_SIGNING_KEY"], "${{ secrets.STRATA_SIGNING_KEY }}",
            "{job}"
        );
    }
    assert_eq!(jobs["test"]["needs"], "plan");
    assert_eq!(jobs["publish"]["needs"], "test");
    assert_eq!(jobs["publish"]["if"], "${{ !cancelled() }}");
    assert_eq!(jobs["test"]["strategy"]["fail-fast"], false);

    let runner = Runner {
        repo: repo.clone(),
        jobs_dir: root.path().join("jobs"),
        artifacts: root.path().join("artifacts"),
    };
    std::fs::create_dir_all(&runner.jobs_dir).unwrap();
    std::fs::create_dir_all(&runner.artifacts).unwrap();

    // plan: its output is the test job's matrix.
    let outputs = runner.run_job("plan", &jobs["plan"], &BTreeMap::new());
    let matrix = outputs
        .lines()
        .find_map(|l| l.strip_prefix("matrix="))
        .expect("the plan job sets matrix");
    let matrix: Value = serde_json::from_str(matrix).unwrap();
    let include = matrix["include"].as_array().unwrap();
    assert_eq!(include.len(), 2, "{matrix}");

    // test: one job per shard, each on its own checkout.
    for (index, entry) in include.iter().enumerate() {
        let values = BTreeMap::from([
            ("matrix.shard", entry["shard"].as_str().unwrap().to_string()),
            ("strategy.job-index", index.to_string()),
            ("secrets.STRATA_SIGNING_KEY", signing_key.clone()),
        ]);
        runner.run_job(&format!("test-{index}"), &jobs["test"], &values);
    }
    // Each shard kept its state and its reports.
    for index in 0..2 {
        let art = runner.artifacts.join(format!("state-{index}"));
        assert!(
            walk(&art).iter().any(|p| p.ends_with("state.json")),
            "shard {index} kept no state for publish"
        );
        let reports = runner.artifacts.join(format!("reports-{index}"));
        let names: Vec<String> = walk(&reports)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in ["junit.xml", "report.html", "report.md"] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
    }

    // publish: every alias on its image's digest, the signatures checked.
    runner.run_job(
        "publish",
        &jobs["publish"],
        &BTreeMap::from([("secrets.STRATA_SIGNING_KEY", signing_key.clone())]),
    );
    // Nothing in the folder name was run by a shell.
    assert!(walk(&runner.jobs_dir).iter().all(|p| !p.ends_with("pwned")));
    assert!(!walk(&runner.jobs_dir).is_empty());
    for app in ["one", "two"] {
        let repo = format!("{ns}/{app}");
        let image = common::manifest_digest(&reg, &repo, "1").expect("pushed");
        assert_eq!(
            common::manifest_digest(&reg, &repo, "latest"),
            Some(image),
            "{app}:latest"
        );
    }
}

/// The workflow checked against GitHub's workflow schema, as
/// `check-jsonschema` vendors it (no network needed).
fn check_schema(text: &str) {
    let file = tempfile::NamedTempFile::with_suffix(".yml").unwrap();
    std::fs::write(file.path(), text).unwrap();
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(file.path())
        .output()
        .expect("check-jsonschema (pip install check-jsonschema; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "the workflow does not follow GitHub's schema:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ci_github(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(strata_bin())
        .current_dir(dir)
        .args(["ci", "github"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_runner_per_platform_runs_each_shard_once_per_platform() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(dir, "app/Dockerfile", "FROM scratch\nCOPY . /\n");
    write(
        dir,
        "inventory.yml",
        "images:\n  - name: acme/app:1\n    path: app\n    platforms: [linux/amd64, linux/arm64]\n    alias: acme/app:latest\n",
    );
    let out = ci_github(
        dir,
        &[
            "--shards",
            "3",
            "--platform-runner",
            "linux/amd64=ubuntu-latest",
            "--platform-runner",
            "linux/arm64=ubuntu-24.04-arm",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let workflow: Value = serde_saphyr::from_str(&text).expect("YAML");
    let test = &workflow["jobs"]["test"];
    assert_eq!(test["runs-on"], "${{ matrix.machine.runner }}");
    assert_eq!(
        test["strategy"]["matrix"]["part"],
        "${{ fromJSON(needs.plan.outputs.matrix).include }}"
    );
    let machines = test["strategy"]["matrix"]["machine"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = machines
        .iter()
        .map(|m| {
            (
                m["platform"].as_str().unwrap(),
                m["runner"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("linux/amd64", "ubuntu-latest"),
            ("linux/arm64", "ubuntu-24.04-arm")
        ]
    );
    let steps = test["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.iter().any(|r| r
        .contains("strata test \"$STRATA_CONFIG\" --shard \"$SHARD\" --platform \"$PLATFORM\"")));
    assert!(runs.iter().any(|r| r
        .contains("strata push \"$STRATA_CONFIG\" --shard \"$SHARD\" --platform \"$PLATFORM\"")));
    assert_eq!(test["env"]["STRATA_CONFIG"], "inventory.yml");
    check_schema(&text);
    // Native runners: nothing is emulated.
    assert!(!text.contains("setup-qemu-action"), "{text}");
    for step in steps
        .iter()
        .filter(|s| s["run"].as_str().is_some_and(|r| r.contains("$PLATFORM")))
    {
        assert_eq!(step["env"]["PLATFORM"], "${{ matrix.machine.platform }}");
        assert_eq!(step["env"]["SHARD"], "${{ matrix.part.shard }}");
    }

    // Without a runner for arm64 there is no workflow, and it says why.
    let out = ci_github(
        dir,
        &[
            "--shards",
            "2",
            "--platform-runner",
            "linux/amd64=ubuntu-latest",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("linux/arm64 has no runner"), "{stderr}");
    assert!(
        stderr.contains("--platform-runner linux/arm64=LABEL"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // One runner emulating: QEMU is set up before the builds.
    let out = ci_github(dir, &["--shards", "2"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("docker/setup-qemu-action@v3"), "{text}");

    // An image without platforms cannot be given to a platform's runner.
    write(
        dir,
        "inventory.yml",
        "images:\n  - name: acme/app:1\n    path: app\n",
    );
    let out = ci_github(
        dir,
        &[
            "--shards",
            "2",
            "--platform-runner",
            "linux/amd64=ubuntu-latest",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("acme/app:1 has no platforms"), "{stderr}");
}

/// Without `--public-key` the publish job says in a comment that nothing is
/// checked cryptographically, and passes `--allow-unsigned`; by default the
/// workflow installs this very package at this very version.
#[test]
fn an_unsigned_workflow_says_so_and_installs_this_version() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(dir, "app/Dockerfile", "FROM scratch\nCOPY . /\n");
    write(
        dir,
        "inventory.yml",
        "images:\n  - name: acme/app:1\n    path: app\n",
    );
    let out = ci_github(dir, &["--shards", "2"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    check_schema(&text);
    let workflow: Value = serde_saphyr::from_str(&text).unwrap();
    let publish = workflow["jobs"]["publish"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("strata publish")))
        .unwrap()
        .to_string();
    assert!(publish.contains("# No --public-key was given"), "{publish}");
    assert!(
        publish.contains("strata publish \"$STRATA_CONFIG\" --allow-unsigned"),
        "{publish}"
    );
    assert_eq!(env!("CARGO_PKG_NAME"), "strata-images");
    let install = format!(
        "cargo install --locked strata-images --version {}",
        env!("CARGO_PKG_VERSION")
    );
    for job in ["plan", "test", "publish"] {
        let steps = workflow["jobs"][job]["steps"].as_array().unwrap();
        assert!(
            steps
                .iter()
                .any(|s| s["run"].as_str() == Some(&format!("{install}\n"))),
            "{job}: {text}"
        );
    }
}

/// A config path that YAML, GitHub's expressions or the shell cannot carry
/// is refused, exit 2, and no workflow is printed.
#[test]
fn a_config_path_a_workflow_cannot_carry_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    for folder in ["a${{ github.token }}", "new\nline", "star*"] {
        write(
            dir,
            &format!("{folder}/app/Dockerfile"),
            "FROM scratch\nCOPY . /\n",
        );
        write(
            dir,
            &format!("{folder}/inventory.yml"),
            "images:\n  - name: acme/app:1\n    path: app\n",
        );
        let out = ci_github(dir, &["--shards", "1", &format!("{folder}/inventory.yml")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{folder}: {stderr}");
        assert!(stderr.contains("the workflow was not written"), "{stderr}");
        assert!(!stderr.contains("new\nline"), "shown raw: {stderr}");
        assert!(out.stdout.is_empty(), "{folder}");
    }
}

/// The scheduled run follows moved bases: its test step uses the pull
/// policy `always` whatever the config says, each shard's state is carried
/// from run to run, and a run in which nothing moved builds nothing and
/// opens the job summary saying so. A push event keeps the config's policy.
#[test]
fn a_scheduled_run_follows_moved_bases_and_builds_nothing_when_nothing_moved() {
    let reg = registry();
    let ns = unique("ci-schedule");
    let base = format!("{reg}/{ns}/base:stable");
    let engine = block_on(engine());
    let v1 = block_on(busybox_base(&engine, &base));
    common::docker_push(&base);

    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    write(
        &repo,
        "images/app/Dockerfile",
        &format!("FROM {base}\nRUN echo app > /app\n"),
    );
    write(&repo, "images/check/Dockerfile", "RUN test -s /app\n");
    // The config's own policy: follow a base only when the engine lacks it.
    write(
        &repo,
        "images/inventory.yml",
        &format!(
            "pull: missing\nimages:\n  - name: \"{reg}/{ns}/app:1\"\n    path: ./app\n    test: ./check\n"
        ),
    );
    let out = ci_github(
        &repo,
        &[
            "images/inventory.yml",
            "--shards",
            "1",
            "--install",
            "strata --version",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    check_schema(&text);
    let workflow: Value = serde_saphyr::from_str(&text).expect("the workflow is YAML");
    assert!(workflow["on"]["schedule"][0]["cron"].is_string(), "{text}");
    let jobs = &workflow["jobs"];
    let runner = Runner {
        repo: repo.clone(),
        jobs_dir: root.path().join("jobs"),
        artifacts: root.path().join("artifacts"),
    };
    std::fs::create_dir_all(&runner.jobs_dir).unwrap();
    std::fs::create_dir_all(&runner.artifacts).unwrap();

    let app = format!("{reg}/{ns}/app:1");
    // One run of the workflow's plan and test jobs, each job on a fresh
    // checkout; returns the test job's summary.
    let run = |id: u32, event: &str| -> String {
        let values = BTreeMap::from([
            ("github.event_name", event.to_string()),
            ("github.run_id", id.to_string()),
        ]);
        let outputs = runner.run_job(&format!("plan-{id}"), &jobs["plan"], &values);
        let matrix: Value = serde_json::from_str(
            outputs
                .lines()
                .find_map(|l| l.strip_prefix("matrix="))
                .expect("matrix"),
        )
        .unwrap();
        let mut values = values.clone();
        values.insert(
            "matrix.shard",
            matrix["include"][0]["shard"].as_str().unwrap().to_string(),
        );
        values.insert("strategy.job-index", "0".to_string());
        runner.run_job(&format!("test-{id}"), &jobs["test"], &values);
        std::fs::read_to_string(runner.jobs_dir.join(format!("test-{id}.summary"))).unwrap()
    };
    let id_of = |r: &str| block_on(engine.image_id(&common::image_ref(r))).unwrap();
    let nothing = "**Nothing moved**";

    let first = run(1, "schedule");
    assert!(!first.contains(nothing), "{first}");
    let built = id_of(&app).expect("built");

    // Nothing moved: the state comes back from the cache, nothing is built.
    let second = run(2, "schedule");
    assert!(second.starts_with(nothing), "{second}");
    assert_eq!(id_of(&app).as_ref(), Some(&built));

    // v2 goes upstream under the same tag; the engine's tag still names v1.
    let v2 = block_on(engine.build(
        common::request(
            &repo,
            strata::engine::Dockerfile::Inline(format!(
                "FROM {}\nRUN echo v2 > /v2\n",
                v1.as_str()
            )),
            Some(base.clone()),
        ),
        &|_| {},
    ))
    .unwrap();
    common::docker_push(&base);
    let d2 = common::manifest_digest(&reg, &format!("{ns}/base"), "stable").unwrap();
    block_on(engine.tag(&v1, &common::image_ref(&base))).unwrap();
    block_on(engine.remove_id(&v2)).ok();

    // A push event keeps the config's `pull: missing`: the engine's copy.
    let pushed = run(3, "push");
    assert!(pushed.starts_with(nothing), "{pushed}");
    assert_eq!(id_of(&app).as_ref(), Some(&built));

    // The scheduled run follows the base upstream and rebuilds the app on it.
    let scheduled = run(4, "schedule");
    assert!(!scheduled.contains(nothing), "{scheduled}");
    assert_ne!(id_of(&app).as_ref(), Some(&built));
    let state =
        std::fs::read_to_string(runner.jobs_dir.join("test-4/images/.strata/state.json")).unwrap();
    assert!(state.contains(&d2), "{state}");
}
