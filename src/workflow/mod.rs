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

use std::fmt::Write as _;

use crate::plan::Plan;
use crate::reference::Platform;

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
fn uncarriable(what: &str, text: &str, glob: bool) -> Option<String> {
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
    Some(format!(
        "{what} {} {why}; rename it (the workflow was not written)",
        quoted(text)
    ))
}

/// The options' paths and labels checked: each must reach the workflow
/// as the text it is (see [`uncarriable`]).
fn check_carriable(o: &GithubOptions) -> Result<(), String> {
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

/// The workflow's text; an error when the runners per platform cannot run
/// the plan (an image without platforms, or a platform without a runner),
/// or a path or label cannot be carried into a workflow.
///
/// The config path and the public key path reach the `run:` lines only
/// through the job's environment (`STRATA_CONFIG`, `STRATA_VERIFY_KEY`),
/// set as YAML double-quoted values and used as `"$STRATA_CONFIG"`: neither
/// YAML, GitHub's expressions nor the shell reads anything into them.
pub fn github(plan: &Plan, o: &GithubOptions) -> Result<String, String> {
    check_carriable(o)?;
    if !o.machines.is_empty() {
        if let Some(image) = plan.images.iter().find(|i| i.platforms.is_empty()) {
            return Err(format!(
                "{} has no platforms, so no runner of a platform knows it is its own: \
                 give every image its platforms (`platforms:` in the config) when each \
                 platform has a runner",
                image.name
            ));
        }
        let uncovered: std::collections::BTreeSet<String> = plan
            .images
            .iter()
            .flat_map(|i| i.platforms.iter())
            .filter(|p| !o.machines.iter().any(|(m, _)| m == *p))
            .map(|p| p.to_string())
            .collect();
        if !uncovered.is_empty() {
            let list: Vec<String> = uncovered.into_iter().collect();
            return Err(format!(
                "{} {} no runner: add `--platform-runner {}=LABEL`",
                list.join(", "),
                if list.len() == 1 { "has" } else { "have" },
                list[0]
            ));
        }
    }
    let config = "\"$STRATA_CONFIG\"";
    // Hosted runners are amd64 unless `--platform-runner` says otherwise;
    // the machine writing the workflow does not matter.
    let host = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let state = o.state_dir.trim_end_matches('/');
    let foreign: std::collections::BTreeSet<String> = plan
        .images
        .iter()
        .flat_map(|i| i.platforms.iter())
        .filter(|p| **p != host)
        .map(|p| p.to_string())
        .collect();
    let runner = quoted(&o.runner);
    let install = format!(
        "      - name: Install strata\n        run: |\n          {}\n",
        o.install.replace('\n', "\n          ")
    );
    let mut env = format!("      STRATA_CONFIG: {}\n", quoted(&o.config));
    if let Some(registry) = &o.registry {
        let _ = write!(
            env,
            "      STRATA_REGISTRY: {}\n      STRATA_REGISTRY_USERNAME: ${{{{ secrets.STRATA_REGISTRY_USERNAME }}}}\n      STRATA_REGISTRY_PASSWORD: ${{{{ secrets.STRATA_REGISTRY_PASSWORD }}}}\n",
            quoted(registry)
        );
    }
    let env_block = |extra: &str| format!("    env:\n{env}{extra}");
    let signing = if o.public_key.is_some() {
        "      STRATA_SIGNING_KEY: ${{ secrets.STRATA_SIGNING_KEY }}\n"
    } else {
        ""
    };
    let (key_arg, key_env, unsigned_note) = match &o.public_key {
        Some(k) => (
            " --key \"$STRATA_VERIFY_KEY\"",
            format!("      STRATA_VERIFY_KEY: {}\n", quoted(k)),
            "",
        ),
        None => (
            " --allow-unsigned",
            String::new(),
            "          # No --public-key was given when this workflow was written: the
          # attestations are not signed, and publish checks no signature
          # (--allow-unsigned). Anyone who can push to the registry can make
          # an alias point at untested content. Write the workflow again with
          # --public-key, and set the STRATA_SIGNING_KEY secret.
",
        ),
    };
    let emulation = if foreign.is_empty() || !o.machines.is_empty() {
        String::new()
    } else {
        format!(
            "      # {} built under emulation on this runner.\n      - uses: docker/setup-qemu-action@v3\n",
            foreign.into_iter().collect::<Vec<_>>().join(", ")
        )
    };

    let (test_head, what, platform_arg, step_env) = if o.machines.is_empty() {
        (
            format!(
                "    runs-on: {runner}\n    strategy:\n      fail-fast: false\n      matrix: ${{{{ fromJSON(needs.plan.outputs.matrix) }}}}\n"
            ),
            "${{ matrix.shard }}".to_string(),
            String::new(),
            "          SHARD: ${{ matrix.shard }}\n".to_string(),
        )
    } else {
        let mut head = String::from(
            "    # Each shard once per platform, on that platform's own runner.\n    runs-on: ${{ matrix.machine.runner }}\n    strategy:\n      fail-fast: false\n      matrix:\n        part: ${{ fromJSON(needs.plan.outputs.matrix).include }}\n        machine:\n",
        );
        for (platform, label) in &o.machines {
            let _ = writeln!(
                head,
                "          - {{platform: {}, runner: {}}}",
                quoted(&platform.to_string()),
                quoted(label)
            );
        }
        (
            head,
            "${{ matrix.part.shard }} on ${{ matrix.machine.platform }}".to_string(),
            " --platform \"$PLATFORM\"".to_string(),
            "          SHARD: ${{ matrix.part.shard }}\n          PLATFORM: ${{ matrix.machine.platform }}\n"
                .to_string(),
        )
    };
    let mut w = String::new();
    let _ = write!(
        w,
        "# Written by `strata ci github --shards {shards}` from {config_q}.
# Write it again when the shard count or the config's path changes; the
# images themselves are read from the config on every run.
name: images

on:
  push:
    branches: [main]
  schedule:
    - cron: \"17 4 * * *\"
  workflow_dispatch:

permissions:
  contents: read

# One run at a time, so two publish jobs never move the same alias.
concurrency:
  group: strata-${{{{ github.ref }}}}
  cancel-in-progress: false

jobs:
  plan:
    runs-on: {runner}
{env_plan}    outputs:
      matrix: ${{{{ steps.shards.outputs.matrix }}}}
    steps:
      - uses: actions/checkout@v4
{install}      - id: shards
        run: |
          echo \"matrix=$(strata plan {config} --format github-matrix --shards {shards})\" >> \"$GITHUB_OUTPUT\"

  test:
    needs: plan
    if: needs.plan.outputs.matrix != '{{\"include\":[]}}'
{test_head}{env_test}    steps:
      - uses: actions/checkout@v4
{install}{emulation}      # The state of this shard's last run, so images whose inputs and bases
      # did not move are not built again (on a runner whose engine keeps
      # its images). Keyed by the shard's plan: a shard that now holds other
      # images starts afresh.
      - name: Name the state of shard {what}
        id: state
        run: |
          set -o pipefail
          plan=$(strata plan {config} --shard \"$SHARD\" | sha256sum | cut -c1-32)
          echo \"key=strata-state-${{PLATFORM//\\//-}}-$plan\" >> \"$GITHUB_OUTPUT\"
        env:
{step_env}      - name: Restore the state of the last run
        uses: actions/cache/restore@v4
        with:
          path: {state_json}
          key: ${{{{ steps.state.outputs.key }}}}-${{{{ github.run_id }}}}
          restore-keys: ${{{{ steps.state.outputs.key }}}}-
      - name: Test shard {what}
        run: |
          # The scheduled run follows every base upstream (pull policy
          # always), whatever the config says: a moved base rebuilds what is
          # built on it; when nothing moved, nothing is built, and the job
          # summary says so.
          pull=()
          if [ \"$GITHUB_EVENT_NAME\" = schedule ]; then pull=(--pull always); fi
          strata test {config} --shard \"$SHARD\"{platform_arg} \"${{pull[@]}}\"
        env:
{step_env}      - name: Push shard {what}
        run: |
          strata push {config} --shard \"$SHARD\"{platform_arg}
        env:
{step_env}      - name: Keep the state for the next run
        if: always()
        uses: actions/cache/save@v4
        with:
          path: {state_json}
          key: ${{{{ steps.state.outputs.key }}}}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}
      - name: Keep the state for publish
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: state-${{{{ strategy.job-index }}}}
          path: {state_json}
          if-no-files-found: ignore
          include-hidden-files: true
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: reports-${{{{ strategy.job-index }}}}
          path: |
            {reports}
          if-no-files-found: ignore
          include-hidden-files: true

  # Runs after every shard, also when some failed: an alias goes only to an
  # image whose digest carries a passing test attestation, and never back.
  publish:
    needs: test
    if: ${{{{ !cancelled() }}}}
    runs-on: {runner}
{env_publish}    steps:
      - uses: actions/checkout@v4
{install}      - uses: actions/download-artifact@v4
        with:
          pattern: state-*
          path: states
      - name: Point every alias
        run: |
{unsigned_note}          from=()
          for state in states/*/state.json; do
            [ -e \"$state\" ] && from+=(--from \"$state\")
          done
          strata publish {config}{key_arg} \"${{from[@]}}\"
",
        shards = o.shards,
        config_q = quoted(&o.config),
        state_json = quoted(&format!("{state}/state.json")),
        reports = ["junit.xml", "report.html", "report.md"]
            .map(|f| format!("{state}/runs/latest/{f}"))
            .join("\n            "),
        env_plan = env_block(""),
        env_test = env_block(signing),
        env_publish = env_block(&key_env),
    );
    Ok(w)
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
        assert!(text.contains("STRATA_VERIFY_KEY: \"keys/strata.pub\""));
        assert!(!text.contains("--allow-unsigned"), "{text}");
        assert!(text.contains("STRATA_SIGNING_KEY: ${{ secrets.STRATA_SIGNING_KEY }}"));
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
        assert!(text.contains(&format!("STRATA_CONFIG: {}", quoted(config))));
        assert!(text.contains("strata test \"$STRATA_CONFIG\" --shard"));
        for bad in [
            "a${{ github.token }}.yml",
            "a\nb.yml",
            "a\rb.yml",
            "a\u{1b}[31m.yml",
        ] {
            let e = github(&Plan::default(), &options(bad)).unwrap_err();
            assert!(e.starts_with("the config path"), "{e}");
            assert!(e.contains("the workflow was not written"), "{e}");
        }
        for bad in ["x/*/.strata", "!x/.strata", "#x/.strata", " x/.strata"] {
            let mut o = options("a.yml");
            o.state_dir = bad.into();
            let e = github(&Plan::default(), &o).unwrap_err();
            assert!(e.starts_with("the state folder"), "{e}");
        }
    }
}
