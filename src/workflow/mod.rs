//! CI workflows written from a plan: `strata ci github`.
//!
//! A pure function of the plan and a few choices (shard count, runner,
//! how strata is installed, signing, registry login): the text of a GitHub
//! Actions workflow that runs the matrix the way strata is meant to run on
//! several machines. One job plans the shards; one job per shard tests and
//! pushes its part (reports and the state file kept as artifacts, the
//! summary and annotations written by strata itself); one `publish` job then
//! points every alias from what the registry holds, with the shards' state
//! files.

mod yaml;

use std::collections::BTreeSet;

use serde_saphyr::{FlowSeq, SpaceAfter};

use crate::plan::Plan;
use crate::reference::Platform;

use yaml::{
    expression, Concurrency, Empty, Env, Job, Jobs, Machine, Matrix, Permissions, Push, Schedule,
    Step, Strategy, Text, Triggers, With, Workflow,
};

/// What the workflow is made of, beyond the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubOptions {
    /// The config path as the workflow names it (relative to the repository).
    pub config: String,
    /// The state folder strata uses for that config (`.strata` beside it).
    pub state_dir: String,
    /// How many machines share the matrix.
    pub shards: u32,
    /// The runner label every job runs on.
    pub runner: String,
    /// The shell command that installs strata on a runner.
    pub install: String,
    /// The public key `publish` checks signatures with (a path in the
    /// repository); with it, `push` signs with the `STRATA_SIGNING_KEY`
    /// secret.
    pub public_key: Option<String>,
    /// The registry host the `STRATA_REGISTRY_USERNAME` and
    /// `STRATA_REGISTRY_PASSWORD` secrets log in to.
    pub registry: Option<String>,
    /// A runner per platform (native machines): each shard then runs once
    /// per platform, on that platform's runner, with `--platform`, and
    /// `publish` puts the indexes together. Empty: one runner emulates.
    pub machines: Vec<(Platform, String)>,
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Why `text` (a path or label the workflow names) cannot be carried into
/// it safely, if it cannot: GitHub evaluates `${{` wherever it appears
/// (also inside quoted values and comments' neighbours), an artifact path
/// is one line of a glob list (`*?[]` match, a leading `!` negates, a
/// leading `#` is a comment, spaces around it are dropped), and a control
/// character has no place in a path.
fn uncarriable(what: &'static str, text: &str, glob: bool) -> Option<WorkflowError> {
    let why = if text.contains("${{") {
        "holds `${{`, which GitHub Actions would evaluate as an expression"
    } else if text.chars().any(char::is_control) {
        "holds a newline or another control character"
    } else if glob && text.contains(['*', '?', '[', ']']) {
        "holds `*`, `?`, `[` or `]`, which an artifact path reads as a pattern"
    } else if glob && (text.starts_with(['!', '#']) || text.trim() != text) {
        "starts with `!` or `#`, or with or ends in a space, which an artifact path reads otherwise"
    } else {
        return None;
    };
    Some(WorkflowError::Uncarriable {
        what,
        text: text.to_string(),
        why,
    })
}

/// The options' paths and labels checked: each must reach the workflow
/// as the text it is (see [`uncarriable`]).
fn check_carriable(o: &GithubOptions) -> Result<(), WorkflowError> {
    let mut checks = vec![
        ("the config path", o.config.as_str(), false),
        ("the state folder", o.state_dir.as_str(), true),
        ("the runner label", o.runner.as_str(), false),
    ];
    if let Some(key) = &o.public_key {
        checks.push(("the public key path", key.as_str(), false));
    }
    if let Some(registry) = &o.registry {
        checks.push(("the registry", registry.as_str(), false));
    }
    for (_, label) in &o.machines {
        checks.push(("the runner label", label.as_str(), false));
    }
    match checks
        .into_iter()
        .find_map(|(what, text, glob)| uncarriable(what, text, glob))
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Why no workflow was written.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// A path or label the workflow cannot carry as the text it is.
    #[error("{what} {} {why}; rename it (the workflow was not written)", quoted(.text))]
    Uncarriable {
        what: &'static str,
        text: String,
        why: &'static str,
    },
    /// Runners per platform, and an image that names no platform.
    #[error(
        "{image} has no platforms, so no runner of a platform knows it is its own: \
         give every image its platforms (`platforms:` in the config) when each \
         platform has a runner"
    )]
    NoPlatforms { image: String },
    /// Platforms of the plan no runner was given for (sorted).
    #[error(
        "{} {} no runner: add `--platform-runner {}=LABEL`",
        .platforms.join(", "),
        if .platforms.len() == 1 { "has" } else { "have" },
        .platforms[0]
    )]
    NoRunner { platforms: Vec<String> },
    /// The YAML serializer refused the workflow.
    #[error("the workflow could not be written as YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// The runners per platform checked against the plan: every image names
/// its platforms, and every platform has a runner.
fn check_machines(plan: &Plan, o: &GithubOptions) -> Result<(), WorkflowError> {
    if o.machines.is_empty() {
        return Ok(());
    }
    if let Some(image) = plan.images.iter().find(|i| i.platforms.is_empty()) {
        return Err(WorkflowError::NoPlatforms {
            image: image.name.to_string(),
        });
    }
    let uncovered: BTreeSet<String> = plan
        .images
        .iter()
        .flat_map(|i| i.platforms.iter())
        .filter(|p| !o.machines.iter().any(|(m, _)| m == *p))
        .map(|p| p.to_string())
        .collect();
    if uncovered.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::NoRunner {
            platforms: uncovered.into_iter().collect(),
        })
    }
}

/// The workflow's text; an error when the runners per platform cannot run
/// the plan (an image without platforms, or a platform without a runner),
/// or a path or label cannot be carried into a workflow.
///
/// The config path and the public key path reach the `run:` lines only
/// through the job's environment (`STRATA_CONFIG`, `STRATA_VERIFY_KEY`),
/// set as YAML values and used as `"$STRATA_CONFIG"`: neither YAML,
/// GitHub's expressions nor the shell reads anything into them.
pub fn github(plan: &Plan, o: &GithubOptions) -> Result<String, WorkflowError> {
    check_carriable(o)?;
    check_machines(plan, o)?;
    let workflow = Workflow {
        name: SpaceAfter("images".into()),
        on: SpaceAfter(Triggers {
            push: Push {
                branches: FlowSeq(vec!["main".into()]),
            },
            schedule: vec![Schedule {
                cron: "17 4 * * *".into(),
            }],
            workflow_dispatch: Empty {},
        }),
        permissions: SpaceAfter(Permissions {
            contents: "read".into(),
        }),
        concurrency: SpaceAfter(Concurrency {
            group: format!("strata-{}", expression("github.ref")),
            cancel_in_progress: false,
        }),
        jobs: Jobs {
            plan: SpaceAfter(plan_job(o)),
            test: SpaceAfter(test_job(plan, o)),
            publish: publish_job(o),
        },
    };
    Ok(format!("{}{}", header(o), yaml::to_text(&workflow)?))
}

/// The comment the workflow opens with: how it was written, and what its
/// jobs do that their names do not say.
fn header(o: &GithubOptions) -> String {
    let machines = if o.machines.is_empty() {
        ""
    } else {
        "\n# Each shard runs once per platform, on that platform's own runner."
    };
    format!(
        "# Written by `strata ci github --shards {shards}` from {config}.
# Write it again when the shard count or the config's path changes; the
# images themselves are read from the config on every run.
#
# plan lists the shards; test tests and pushes each shard's images.{machines}
# publish runs after every shard, also when some failed: an alias goes only
# to an image whose digest carries a passing test attestation, and never back.
# One run at a time (concurrency), so two publish jobs never move the same alias.
",
        shards = o.shards,
        // YAML 1.1 readers end a comment at U+2028 and U+2029 too.
        config = quoted(&o.config)
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029"),
    )
}

/// The config through `"$STRATA_CONFIG"`, as every `run:` names it.
const CONFIG: &str = "\"$STRATA_CONFIG\"";

/// The variables every job has: the config, and the registry's login.
fn common_env(o: &GithubOptions) -> Env {
    let mut env = Env::default().set("STRATA_CONFIG", o.config.as_str());
    if let Some(registry) = &o.registry {
        env = env
            .set("STRATA_REGISTRY", registry.as_str())
            .set(
                "STRATA_REGISTRY_USERNAME",
                expression("secrets.STRATA_REGISTRY_USERNAME"),
            )
            .set(
                "STRATA_REGISTRY_PASSWORD",
                expression("secrets.STRATA_REGISTRY_PASSWORD"),
            );
    }
    env
}

/// The private key's secret, for the jobs that sign (`push` signs the test
/// attestations, `publish` the indexes it puts together), when signatures
/// are checked at all.
fn signing_env(o: &GithubOptions) -> Env {
    match &o.public_key {
        Some(_) => Env::default().set(
            "STRATA_SIGNING_KEY",
            expression("secrets.STRATA_SIGNING_KEY"),
        ),
        None => Env::default(),
    }
}

/// Check out the repository and install strata: how every job starts.
fn setup_steps(o: &GithubOptions) -> Vec<Step> {
    vec![
        Step::uses("actions/checkout@v4"),
        Step::run(format!("{}\n", o.install)).named("Install strata"),
    ]
}

/// The job that lists the shards, as the test job's matrix.
fn plan_job(o: &GithubOptions) -> Job {
    let mut steps = setup_steps(o);
    steps.push(Step::run(format!(
        "echo \"matrix=$(strata plan {CONFIG} --format github-matrix --shards {})\" >> \"$GITHUB_OUTPUT\"\n",
        o.shards
    ))
    .id("shards"));
    Job {
        runs_on: o.runner.clone(),
        env: common_env(o),
        outputs: Some(Env::default().set("matrix", expression("steps.shards.outputs.matrix"))),
        steps,
        ..Job::default()
    }
}

/// How the test job spreads over machines: its runner, matrix, the words
/// naming one of its jobs, the `--platform` argument and the steps'
/// variables.
struct Spread {
    runs_on: String,
    matrix: Matrix,
    what: String,
    platform_arg: &'static str,
    step_env: Env,
}

fn spread(o: &GithubOptions) -> Spread {
    if o.machines.is_empty() {
        return Spread {
            runs_on: o.runner.clone(),
            matrix: Matrix::Expression(expression("fromJSON(needs.plan.outputs.matrix)")),
            what: expression("matrix.shard"),
            platform_arg: "",
            step_env: Env::default().set("SHARD", expression("matrix.shard")),
        };
    }
    Spread {
        runs_on: expression("matrix.machine.runner"),
        matrix: Matrix::PerMachine {
            part: expression("fromJSON(needs.plan.outputs.matrix).include"),
            machine: o
                .machines
                .iter()
                .map(|(platform, runner)| Machine {
                    platform: platform.to_string(),
                    runner: runner.clone(),
                })
                .collect(),
        },
        what: format!(
            "{} on {}",
            expression("matrix.part.shard"),
            expression("matrix.machine.platform")
        ),
        platform_arg: " --platform \"$PLATFORM\"",
        step_env: Env::default()
            .set("SHARD", expression("matrix.part.shard"))
            .set("PLATFORM", expression("matrix.machine.platform")),
    }
}

/// The platforms built under emulation: those of the plan other than the
/// hosted runners' (amd64) when one runner builds everything. The machine
/// writing the workflow does not matter.
fn emulated(plan: &Plan, o: &GithubOptions) -> Vec<String> {
    if !o.machines.is_empty() {
        return Vec::new();
    }
    let host = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let foreign: BTreeSet<String> = plan
        .images
        .iter()
        .flat_map(|i| i.platforms.iter())
        .filter(|p| **p != host)
        .map(|p| p.to_string())
        .collect();
    foreign.into_iter().collect()
}

/// The job that tests and pushes one shard (once per platform with
/// runners per platform), keeping its state and reports.
fn test_job(plan: &Plan, o: &GithubOptions) -> Job {
    let s = spread(o);
    let mut steps = setup_steps(o);
    let foreign = emulated(plan, o);
    if !foreign.is_empty() {
        steps.push(
            Step::uses("docker/setup-qemu-action@v3")
                .named(format!("Emulate {}", foreign.join(", "))),
        );
    }
    let state_json = format!("{}/state.json", o.state_dir.trim_end_matches('/'));
    steps.extend(shard_steps(&s, &state_json));
    steps.extend(keep_steps(o));
    Job {
        needs: Some("plan".into()),
        condition: Some("needs.plan.outputs.matrix != '{\"include\":[]}'".into()),
        runs_on: s.runs_on,
        strategy: Some(Strategy {
            fail_fast: false,
            matrix: s.matrix,
        }),
        env: common_env(o).extend(&signing_env(o)),
        steps,
        ..Job::default()
    }
}

/// The state of the shard's last run restored, then test and push.
fn shard_steps(s: &Spread, state_json: &str) -> Vec<Step> {
    let (what, platform_arg) = (&s.what, s.platform_arg);
    let key = format!(
        "{}-{}",
        expression("steps.state.outputs.key"),
        expression("github.run_id")
    );
    vec![
        Step::run(format!(
            "# The state of this shard's last run, so images whose inputs and bases
# did not move are not built again (on a runner whose engine keeps
# its images). Keyed by the shard's plan: a shard that now holds other
# images starts afresh.
set -o pipefail
plan=$(strata plan {CONFIG} --shard \"$SHARD\" | sha256sum | cut -c1-32)
echo \"key=strata-state-${{PLATFORM//\\//-}}-$plan\" >> \"$GITHUB_OUTPUT\"
"
        ))
        .named(format!("Name the state of shard {what}"))
        .id("state")
        .env(s.step_env.clone()),
        Step::uses("actions/cache/restore@v4")
            .named("Restore the state of the last run")
            .with(With {
                path: Some(Text::from(state_json.to_string())),
                key: Some(key.clone()),
                restore_keys: Some(format!("{}-", expression("steps.state.outputs.key"))),
                ..With::default()
            }),
        Step::run(format!(
            "# The scheduled run follows every base upstream (pull policy
# always), whatever the config says: a moved base rebuilds what is
# built on it; when nothing moved, nothing is built, and the job
# summary says so.
pull=()
if [ \"$GITHUB_EVENT_NAME\" = schedule ]; then pull=(--pull always); fi
strata test {CONFIG} --shard \"$SHARD\"{platform_arg} \"${{pull[@]}}\"
"
        ))
        .named(format!("Test shard {what}"))
        .env(s.step_env.clone()),
        Step::run(format!(
            "strata push {CONFIG} --shard \"$SHARD\"{platform_arg}\n"
        ))
        .named(format!("Push shard {what}"))
        .env(s.step_env.clone()),
    ]
}

/// The state kept for the next run and for publish, and the reports.
fn keep_steps(o: &GithubOptions) -> Vec<Step> {
    let state = o.state_dir.trim_end_matches('/');
    let state_json = || Some(Text::from(format!("{state}/state.json")));
    let reports = ["junit.xml", "report.html", "report.md"]
        .map(|f| format!("{state}/runs/latest/{f}\n"))
        .concat();
    let artifact = |name: &str, path: Option<Text>| With {
        name: Some(format!("{name}-{}", expression("strategy.job-index"))),
        path,
        if_no_files_found: Some("ignore".into()),
        include_hidden_files: Some(true),
        ..With::default()
    };
    vec![
        Step::uses("actions/cache/save@v4")
            .named("Keep the state for the next run")
            .when("always()")
            .with(With {
                path: state_json(),
                key: Some(format!(
                    "{}-{}-{}",
                    expression("steps.state.outputs.key"),
                    expression("github.run_id"),
                    expression("github.run_attempt")
                )),
                ..With::default()
            }),
        Step::uses("actions/upload-artifact@v4")
            .named("Keep the state for publish")
            .when("always()")
            .with(artifact("state", state_json())),
        Step::uses("actions/upload-artifact@v4")
            .named("Keep the reports")
            .when("always()")
            .with(artifact("reports", Some(Text::from(reports)))),
    ]
}

/// The job that points every alias, with the shards' state files, after
/// every shard (also when some failed).
fn publish_job(o: &GithubOptions) -> Job {
    let (key_arg, key_env, unsigned_note) = match &o.public_key {
        Some(k) => (
            " --key \"$STRATA_VERIFY_KEY\"",
            Env::default().set("STRATA_VERIFY_KEY", k.as_str()),
            "",
        ),
        None => (
            " --allow-unsigned",
            Env::default(),
            "# No --public-key was given when this workflow was written: the
# attestations are not signed, and publish checks no signature
# (--allow-unsigned). Anyone who can push to the registry can make
# an alias point at untested content. Write the workflow again with
# --public-key, and set the STRATA_SIGNING_KEY secret.
",
        ),
    };
    let mut steps = setup_steps(o);
    steps.push(Step::uses("actions/download-artifact@v4").with(With {
        pattern: Some("state-*".into()),
        path: Some(Text::from("states".to_string())),
        ..With::default()
    }));
    steps.push(
        Step::run(format!(
            "{unsigned_note}from=()
for state in states/*/state.json; do
  [ -e \"$state\" ] && from+=(--from \"$state\")
done
strata publish {CONFIG}{key_arg} \"${{from[@]}}\"
"
        ))
        .named("Point every alias"),
    );
    Job {
        needs: Some("test".into()),
        condition: Some(expression("!cancelled()")),
        runs_on: o.runner.clone(),
        env: common_env(o).extend(&signing_env(o)).extend(&key_env),
        steps,
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_reach_commands_only_through_the_environment() {
        let o = GithubOptions {
            config: "strata.yml".into(),
            state_dir: ".strata".into(),
            shards: 2,
            runner: "ubuntu-latest".into(),
            install: "strata --version".into(),
            public_key: Some("keys/strata.pub".into()),
            registry: Some("ghcr.io".into()),
            machines: vec![],
        };
        let text = github(&Plan::default(), &o).unwrap();
        for line in text.lines().filter(|l| l.contains("secrets.")) {
            let key = line.trim_start().split(':').next().unwrap();
            assert!(key.starts_with("STRATA_"), "{line}");
        }
        assert!(text.contains("--key \"$STRATA_VERIFY_KEY\""));
        let jobs = &parsed(&text)["jobs"];
        assert_eq!(
            jobs["publish"]["env"]["STRATA_VERIFY_KEY"],
            "keys/strata.pub"
        );
        assert!(!text.contains("--allow-unsigned"), "{text}");
        // push signs the test attestations; publish the indexes it puts
        // together. plan signs nothing.
        for job in ["test", "publish"] {
            assert_eq!(
                jobs[job]["env"]["STRATA_SIGNING_KEY"], "${{ secrets.STRATA_SIGNING_KEY }}",
                "{job}: {text}"
            );
        }
        assert!(jobs["plan"]["env"].get("STRATA_SIGNING_KEY").is_none());
    }

    /// The workflow read back as YAML (as JSON values).
    fn parsed(text: &str) -> serde_json::Value {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Values holding what YAML reads something into (`: `, ` #`, quotes,
    /// a leading space or `!`, several lines) come out as YAML that reads
    /// back as the same values, and the workflow keeps GitHub's shape.
    #[test]
    fn values_yaml_reads_something_into_read_back_as_they_are() {
        let install = "  curl -fsS https://example.com/i.sh | sh # indented first line\n\nstrata: --version #2\n  - not: a list\n";
        let o = GithubOptions {
            config: "images: all #1/a: b\u{2028}c.yml".into(),
            state_dir: "x: y/.strata".into(),
            shards: 2,
            runner: "self-hosted: x #1".into(),
            install: install.into(),
            public_key: Some("!keys/a #b: c.pub".into()),
            registry: Some("registry.example:5000 #x".into()),
            machines: vec![
                ("linux/amd64".parse().unwrap(), "- amd: 64".into()),
                ("linux/arm64".parse().unwrap(), "'arm' #64: {x}".into()),
            ],
        };
        let text = github(&Plan::default(), &o).unwrap();
        let w = parsed(&text);
        let jobs = &w["jobs"];
        for job in ["plan", "test", "publish"] {
            assert_eq!(
                jobs[job]["env"]["STRATA_CONFIG"],
                o.config.as_str(),
                "{text}"
            );
            assert_eq!(
                jobs[job]["env"]["STRATA_REGISTRY"],
                "registry.example:5000 #x"
            );
            let steps = jobs[job]["steps"].as_array().unwrap();
            assert_eq!(steps[1]["run"], format!("{install}\n").as_str(), "{text}");
        }
        assert_eq!(jobs["plan"]["runs-on"], o.runner.as_str());
        assert_eq!(
            jobs["publish"]["env"]["STRATA_VERIFY_KEY"],
            "!keys/a #b: c.pub"
        );
        let machines = &jobs["test"]["strategy"]["matrix"]["machine"];
        assert_eq!(machines[0]["runner"], "- amd: 64", "{text}");
        assert_eq!(machines[1]["runner"], "'arm' #64: {x}", "{text}");
        assert_eq!(machines[1]["platform"], "linux/arm64");
        let keep = jobs["test"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Keep the reports")
            .unwrap();
        assert_eq!(
            keep["with"]["path"],
            "x: y/.strata/runs/latest/junit.xml\nx: y/.strata/runs/latest/report.html\nx: y/.strata/runs/latest/report.md\n"
        );
        // The shape GitHub reads: the triggers under `on`, jobs in order.
        assert_eq!(w["on"]["push"]["branches"][0], "main", "{text}");
        assert!(w["on"]["workflow_dispatch"].is_object(), "{text}");
        assert_eq!(w["on"]["schedule"][0]["cron"], "17 4 * * *");
        assert_eq!(w["concurrency"]["cancel-in-progress"], false);
        for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(!line.contains(['\u{2028}', '\u{2029}']), "{line}");
        }
        let at = |job: &str| text.find(&format!("\n  {job}:\n")).expect(job);
        assert!(
            at("plan") < at("test") && at("test") < at("publish"),
            "{text}"
        );
    }

    fn options(config: &str) -> GithubOptions {
        GithubOptions {
            config: config.into(),
            state_dir: ".strata".into(),
            shards: 1,
            runner: "ubuntu-latest".into(),
            install: "strata --version".into(),
            public_key: None,
            registry: None,
            machines: vec![],
        }
    }

    #[test]
    fn without_a_public_key_publish_is_told_and_says_so() {
        let text = github(&Plan::default(), &options("strata.yml")).unwrap();
        assert!(text.contains("--allow-unsigned"), "{text}");
        assert!(text.contains("# No --public-key was given"), "{text}");
        assert!(!text.contains("secrets.STRATA_SIGNING_KEY"), "{text}");
    }

    #[test]
    fn the_scheduled_run_follows_upstream_and_keeps_each_shards_state() {
        let text = github(&Plan::default(), &options("strata.yml")).unwrap();
        assert!(text.contains("  schedule:\n    - cron: "), "{text}");
        assert!(
            text.contains(
                "if [ \"$GITHUB_EVENT_NAME\" = schedule ]; then pull=(--pull always); fi"
            ),
            "{text}"
        );
        assert!(text.contains("--shard \"$SHARD\" \"${pull[@]}\""), "{text}");
        let restore = text.find("actions/cache/restore@v4").expect("restore");
        let test = text.find("strata test").unwrap();
        let save = text.find("actions/cache/save@v4").expect("save");
        assert!(restore < test && test < save, "{text}");
    }

    #[test]
    fn paths_reach_run_lines_only_through_the_environment() {
        let config = r##"it's "#1" $(x) `y`/a b.yml"##;
        let mut o = options(config);
        o.state_dir = r##"it's "#1" $(x) `y`/.strata"##.into();
        let text = github(&Plan::default(), &o).unwrap();
        let runs = text.lines().filter(|l| l.contains("\"$STRATA_CONFIG\""));
        // plan, the shard's state key, test, push, publish.
        assert_eq!(runs.count(), 5, "{text}");
        // The path appears only as YAML data, never in a command.
        for line in text.lines().filter(|l| l.contains("$(x)")) {
            let line = line.trim_start();
            assert!(
                ["# Written", "STRATA_CONFIG:", "path:", "it's"]
                    .iter()
                    .any(|p| line.starts_with(p)),
                "{line}"
            );
        }
        assert_eq!(
            parsed(&text)["jobs"]["plan"]["env"]["STRATA_CONFIG"],
            config
        );
        assert!(text.contains("strata test \"$STRATA_CONFIG\" --shard"));
        for bad in [
            "a${{ github.token }}.yml",
            "a\nb.yml",
            "a\rb.yml",
            "a\u{1b}[31m.yml",
        ] {
            let e = github(&Plan::default(), &options(bad))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("the config path"), "{e}");
            assert!(e.contains("the workflow was not written"), "{e}");
        }
        for bad in ["x/*/.strata", "!x/.strata", "#x/.strata", " x/.strata"] {
            let mut o = options("a.yml");
            o.state_dir = bad.into();
            let e = github(&Plan::default(), &o).unwrap_err().to_string();
            assert!(e.starts_with("the state folder"), "{e}");
        }
    }
}
