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
fn expand(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("${{{{ {k} }}}}"), v);
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
        let job_env = job.get("env").cloned().unwrap_or(Value::Null);
        for step in job["steps"].as_array().expect("steps") {
            if let Some(uses) = step.get("uses").and_then(Value::as_str) {
                let with = step.get("with").cloned().unwrap_or(Value::Null);
                match uses {
                    "actions/checkout@v4" => copy_tree(&self.repo, &dir),
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
    // Two images that build on nothing of each other: one per shard.
    for (app, word) in [("one", "first"), ("two", "second")] {
        write(
            &repo,
            &format!("images/{app}/Dockerfile"),
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo {word} > /word\n"),
        );
    }
    write(&repo, "images/check/Dockerfile", "RUN test -s /word\n");
    write(
        &repo,
        "images/inventory.yml",
        &format!(
            "images:\n  - name: \"{reg}/{ns}/one:1\"\n    path: \"./one\"\n    test: \"./check\"\n    alias: \"{reg}/{ns}/one:latest\"\n  - name: \"{reg}/{ns}/two:1\"\n    path: \"./two\"\n    test: \"./check\"\n    alias: \"{reg}/{ns}/two:latest\"\n"
        ),
    );

    let out = Command::new(strata_bin())
        .current_dir(&repo)
        .args([
            "ci",
            "github",
            "images/inventory.yml",
            "--shards",
            "2",
            "--install",
            "strata --version",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let workflow: Value = serde_saphyr::from_str(&text).expect("the workflow is YAML");
    let jobs = &workflow["jobs"];
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

    // publish: every alias on its image's digest.
    runner.run_job("publish", &jobs["publish"], &BTreeMap::new());
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
    assert!(runs.iter().any(
        |r| r.contains("strata test inventory.yml --shard \"$SHARD\" --platform \"$PLATFORM\"")
    ));
    assert!(runs.iter().any(
        |r| r.contains("strata push inventory.yml --shard \"$SHARD\" --platform \"$PLATFORM\"")
    ));
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
