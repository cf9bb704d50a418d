//! Shell completions and the manual page, as a user meets them: loaded into
//! bash, zsh and fish, and rendered by `man`.

use std::path::PathBuf;
use std::process::{Command, Output};

use clap::CommandFactory;

fn strata() -> PathBuf {
    assert_cmd::cargo::cargo_bin("strata")
}

/// Every command a user can type, `help` aside.
fn commands() -> Vec<String> {
    strata::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn shell(program: &str, script: &str) -> String {
    let out: Output = Command::new(program)
        .arg("-c")
        .arg(script)
        .env("STRATA", strata())
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{program} -c {script}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash offers after `words` (the last one being completed).
fn bash_complete(words: &str) -> Vec<String> {
    let script = format!(
        r#"source <("$STRATA" completions bash)
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
_strata strata "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    shell("bash", &script)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn bash_loads_the_completion_and_offers_commands_flags_and_values() {
    let registered = shell(
        "bash",
        r#"source <("$STRATA" completions bash); complete -p strata"#,
    );
    assert!(
        registered.starts_with("complete ")
            && registered.contains(" -F _strata ")
            && registered.trim_end().ends_with(" strata"),
        "{registered}"
    );
    let offered = bash_complete("strata ''");
    for command in commands() {
        assert!(
            offered.contains(&command),
            "`{command}` not offered: {offered:?}"
        );
    }
    assert_eq!(bash_complete("strata pl"), ["plan"]);
    let flags = bash_complete("strata test --no");
    assert_eq!(flags, ["--no-cache"], "{flags:?}");
    let formats = bash_complete("strata plan --format ''");
    assert!(formats.contains(&"json".to_string()), "{formats:?}");
    let shells = bash_complete("strata completions ''");
    for sh in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&sh.to_string()), "{shells:?}");
    }
}

#[test]
fn fish_completes_commands_with_their_descriptions() {
    let offered = shell(
        "fish",
        r#""$STRATA" completions fish | source; complete -C "strata ""#,
    );
    for command in commands() {
        assert!(
            offered
                .lines()
                .any(|l| l.starts_with(&format!("{command}\t"))),
            "`{command}` not offered: {offered}"
        );
    }
    assert!(offered.contains("plan\tPrint the plan"), "{offered}");
    let flags = shell(
        "fish",
        r#""$STRATA" completions fish | source; complete -C "strata push --dry""#,
    );
    assert!(flags.starts_with("--dry-run"), "{flags}");
}

#[test]
fn zsh_registers_the_completion_function() {
    let registered = shell(
        "zsh",
        r#"autoload -U compinit && compinit -u -d "$(mktemp)"; source <("$STRATA" completions zsh); print -r -- ${_comps[strata]}"#,
    );
    assert_eq!(registered.trim(), "_strata");
    let script = shell("zsh", r#""$STRATA" completions zsh"#);
    for command in commands() {
        assert!(
            script.contains(&format!("'{command}:")),
            "`{command}` missing from the zsh script"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(strata())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn man_renders_every_command_and_the_exit_codes() {
    let page = shell("bash", r#""$STRATA" man | MANWIDTH=100 man --nh --nj -l -"#);
    // Lines are wrapped: compare words, not spacing.
    let words = page.split_whitespace().collect::<Vec<_>>().join(" ");
    for command in commands() {
        assert!(
            page.contains(&format!("strata-{command}(1)")),
            "`{command}` missing: {page}"
        );
    }
    assert!(page.contains("EXIT STATUS"), "{page}");
    for (code, meaning) in strata::error::EXIT_CODES {
        assert!(
            words.contains(&format!("{code} {meaning}")),
            "{code}: {page}"
        );
    }
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(strata())
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for command in commands() {
        let page = dir.path().join(format!("strata-{command}.1"));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("{page:?}"));
        assert!(text.contains(".TH strata-"), "{text}");
    }
    let test_page = shell(
        "bash",
        &format!(
            "MANWIDTH=100 man --nh --nj -l {}",
            dir.path().join("strata-test.1").display()
        ),
    );
    assert!(test_page.contains("--no-cache"), "{test_page}");
    let main = std::fs::read_to_string(dir.path().join("strata.1")).unwrap();
    assert!(main.contains("EXIT STATUS"), "{main}");

    let missing = Command::new(strata())
        .args(["man", "--out-dir"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not a folder"));
}
