//! Why an image is rebuilt: its last record's inputs, part by part
//! (`state::InputParts`), against this run's. A pure function: `test`
//! reports what it finds before each build, `plan --changes` before any.

use std::collections::{BTreeMap, BTreeSet};

use crate::events::{Reason, ReasonKind};
use crate::state::{BaseState, ImageState, InputParts};

use super::fingerprint::Inputs;

/// How many changed files, tests or arguments a reason names; the rest
/// are counted.
pub const NAMED: usize = 3;

/// Why `test` builds an image whose last record is `prior`, with inputs
/// `now` (`None`: they could not be read) on external bases `bases`.
/// Empty when nothing changed (the image is up to date, if the engine
/// still holds it).
pub fn why(
    prior: Option<&ImageState>,
    now: Option<&Inputs>,
    bases: &[BaseState],
    no_cache: bool,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if no_cache {
        out.push(reason(ReasonKind::NoCache, "--no-cache".into()));
    }
    let Some(prior) = prior else {
        out.push(reason(ReasonKind::FirstBuild, "first build".into()));
        return out;
    };
    if !prior.passed {
        out.push(reason(
            ReasonKind::LastFailed,
            "its last build or a test failed".into(),
        ));
        return out;
    }
    let Some(now) = now else {
        out.push(reason(
            ReasonKind::Inputs,
            "its inputs could not be read".into(),
        ));
        return out;
    };
    if prior.inputs.as_deref() == Some(now.digest.as_str()) {
        return out;
    }
    let found = match &prior.parts {
        Some(before) => diff(before, &now.parts, &prior.bases, bases, true),
        None => moved(&prior.bases, bases),
    };
    if found.is_empty() {
        let text = match prior.parts {
            Some(_) => "its inputs changed",
            None => "its inputs changed (its record, from an older strata, does not say which)",
        };
        out.push(reason(ReasonKind::Inputs, text.into()));
    }
    out.extend(found);
    out
}

/// What changed from `before` to `now`; `from` compares the images the
/// `FROM` lines read (known only with an engine).
pub fn diff(
    before: &InputParts,
    now: &InputParts,
    bases_before: &[BaseState],
    bases_now: &[BaseState],
    from: bool,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if before.strata != now.strata {
        out.push(reason(
            ReasonKind::StrataVersion,
            format!(
                "strata's version changed ({} → {})",
                or_unknown(&before.strata),
                or_unknown(&now.strata)
            ),
        ));
    }
    if before.dockerfile != now.dockerfile {
        out.push(reason(ReasonKind::Dockerfile, "Dockerfile changed".into()));
    }
    if before.files_named && now.files_named {
        let changed = changed_keys(&before.files, &now.files);
        if !changed.is_empty() {
            out.push(reason(
                ReasonKind::Context,
                format!(
                    "context file{} changed: {}",
                    plural(changed.len()),
                    named(&changed)
                ),
            ));
        }
    } else if before.context != now.context
        && before.dockerfile == now.dockerfile
        && before.artifacts == now.artifacts
    {
        out.push(reason(ReasonKind::Context, "context files changed".into()));
    }
    for name in keys(&before.artifacts, &now.artifacts) {
        let text = match (before.artifacts.get(name), now.artifacts.get(name)) {
            (Some(b), Some(n)) if b == n => continue,
            (Some(b), Some(n)) if b.source != n.source => format!(
                "artifact {} changed: {} → {}",
                quoted(name),
                quoted(&b.source),
                quoted(&n.source)
            ),
            (Some(b), Some(n)) => format!(
                "artifact {} changed: content {} → {}",
                quoted(name),
                short(&b.content),
                short(&n.content)
            ),
            (None, Some(n)) => format!("artifact {} added ({})", quoted(name), quoted(&n.source)),
            (Some(_), None) => format!("artifact {} removed", quoted(name)),
            (None, None) => continue,
        };
        out.push(reason(ReasonKind::Artifact, text));
    }
    let tests = changed_keys(&before.tests, &now.tests);
    if !tests.is_empty() {
        out.push(reason(
            ReasonKind::Test,
            format!("test{} changed: {}", plural(tests.len()), named(&tests)),
        ));
    }
    let args = changed_keys(&before.args, &now.args);
    if !args.is_empty() {
        out.push(reason(
            ReasonKind::BuildArgs,
            format!(
                "build argument{} changed: {}",
                plural(args.len()),
                named(&args)
            ),
        ));
    }
    let secrets = changed_keys(&before.secrets, &now.secrets);
    if !secrets.is_empty() {
        out.push(reason(
            ReasonKind::Secrets,
            format!(
                "build secret{} changed: {}",
                plural(secrets.len()),
                named(&secrets)
            ),
        ));
    }
    if before.labels != now.labels {
        out.push(reason(ReasonKind::Labels, "labels changed".into()));
    }
    out.extend(moved(bases_before, bases_now));
    if from {
        for name in keys(&before.from, &now.from) {
            // A pinned base (`name@digest`) changes with its digest: said above.
            if name.contains("@sha256:") {
                continue;
            }
            let text = match (before.from.get(name), now.from.get(name)) {
                (Some(b), Some(n)) if b == n => continue,
                (Some(b), Some(n)) => format!(
                    "base {} is another image now ({} → {})",
                    quoted(name),
                    short(b),
                    short(n)
                ),
                (None, Some(_)) => format!("new base {}", quoted(name)),
                (Some(_), None) => continue,
                (None, None) => continue,
            };
            out.push(reason(ReasonKind::Base, text));
        }
    }
    out
}

/// The external bases whose digest moved between the two runs.
pub fn moved(before: &[BaseState], now: &[BaseState]) -> Vec<Reason> {
    let was: BTreeMap<(&str, Option<&str>), &BaseState> = before
        .iter()
        .map(|b| ((b.reference.as_str(), b.platform.as_deref()), b))
        .collect();
    now.iter()
        .filter_map(|n| {
            let b = was.get(&(n.reference.as_str(), n.platform.as_deref()))?;
            (b.digest != n.digest).then(|| base_moved(n, &b.digest, &n.digest))
        })
        .collect()
}

/// "base NAME moved: OLD → NEW", for the platform when it has one.
pub fn base_moved(base: &BaseState, from: &str, to: &str) -> Reason {
    let platform = match &base.platform {
        Some(p) => format!(" ({p})"),
        None => String::new(),
    };
    reason(
        ReasonKind::BaseMoved,
        format!(
            "base {}{platform} moved: {from} → {to}",
            quoted(&base.reference)
        ),
    )
}

pub fn reason(kind: ReasonKind, text: String) -> Reason {
    Reason { kind, text }
}

fn keys<'a, V>(a: &'a BTreeMap<String, V>, b: &'a BTreeMap<String, V>) -> BTreeSet<&'a String> {
    a.keys().chain(b.keys()).collect()
}

/// The keys added, removed or whose value changed, sorted.
fn changed_keys<V: PartialEq>(a: &BTreeMap<String, V>, b: &BTreeMap<String, V>) -> Vec<String> {
    keys(a, b)
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| match (a.contains_key(k), b.contains_key(k)) {
            (false, _) => format!("{} (new)", quoted(k)),
            (_, false) => format!("{} (removed)", quoted(k)),
            _ => quoted(k),
        })
        .collect()
}

/// The first [`NAMED`] of `items`, and how many more.
fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        text.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    text
}

/// A name from outside, escaped and cut for one line.
fn quoted(text: &str) -> String {
    crate::text::escape(&crate::text::cut(text, 120)).into_owned()
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

fn or_unknown(text: &str) -> &str {
    match text {
        "" => "unknown",
        t => t,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ArtifactPart;

    fn parts() -> InputParts {
        InputParts {
            strata: "1.0.0".into(),
            dockerfile: "d1".into(),
            context: "c1".into(),
            files: [("a.txt".to_string(), "1".to_string())].into(),
            files_named: true,
            artifacts: [(
                "node.tar.xz".to_string(),
                ArtifactPart {
                    source: "npm node@20.1.0".into(),
                    content: "sha256:aaaaaaaaaaaaaaaa".into(),
                },
            )]
            .into(),
            tests: [("app-test-1".to_string(), "t1".to_string())].into(),
            args: [("SECRET_ARG".to_string(), "h1".to_string())].into(),
            secrets: [("npm".to_string(), "s1".to_string())].into(),
            labels: "l1".into(),
            from: [
                (
                    "acme/parent:1".to_string(),
                    "sha256:1111111111111111".to_string(),
                ),
                ("up/base@sha256:d1".to_string(), "sha256:2222".to_string()),
            ]
            .into(),
        }
    }

    fn base(digest: &str) -> BaseState {
        BaseState {
            reference: "up/base:stable".into(),
            platform: None,
            digest: crate::reference::Digest::new(digest),
        }
    }

    fn record(parts: Option<InputParts>, bases: Vec<BaseState>) -> ImageState {
        ImageState {
            image_id: crate::reference::ImageId::new("sha256:x"),
            passed: true,
            tested_at: chrono::Utc::now(),
            tests: vec![],
            pushed: None,
            inputs: Some("sha256:before".into()),
            bases,
            built: None,
            parts,
        }
    }

    fn now(parts: InputParts) -> Inputs {
        Inputs {
            digest: "sha256:after".into(),
            parts,
        }
    }

    fn kinds(reasons: &[Reason]) -> Vec<ReasonKind> {
        reasons.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn nothing_changed_gives_no_reason() {
        let prior = record(Some(parts()), vec![base("sha256:d1")]);
        let same = Inputs {
            digest: "sha256:before".into(),
            parts: parts(),
        };
        assert!(why(Some(&prior), Some(&same), &[base("sha256:d1")], false).is_empty());
    }

    #[test]
    fn first_build_failed_last_time_and_no_cache() {
        let r = why(None, Some(&now(parts())), &[], false);
        assert_eq!(kinds(&r), [ReasonKind::FirstBuild]);
        assert_eq!(r[0].text, "first build");
        let mut failed = record(Some(parts()), vec![]);
        failed.passed = false;
        let r = why(Some(&failed), Some(&now(parts())), &[], true);
        assert_eq!(kinds(&r), [ReasonKind::NoCache, ReasonKind::LastFailed]);
        assert_eq!(r[0].text, "--no-cache");
    }

    #[test]
    fn a_moved_base_names_both_digests_and_nothing_else() {
        let prior = record(Some(parts()), vec![base("sha256:d1")]);
        let mut p = parts();
        p.from.remove("up/base@sha256:d1");
        p.from
            .insert("up/base@sha256:d2".into(), "sha256:3333".into());
        let r = why(Some(&prior), Some(&now(p)), &[base("sha256:d2")], false);
        assert_eq!(kinds(&r), [ReasonKind::BaseMoved]);
        assert_eq!(
            r[0].text,
            "base up/base:stable moved: sha256:d1 → sha256:d2"
        );
    }

    #[test]
    fn each_part_is_named_and_argument_values_never_appear() {
        let prior = record(Some(parts()), vec![]);
        let mut p = parts();
        p.strata = "1.1.0".into();
        p.dockerfile = "d2".into();
        p.files.insert("a.txt".into(), "2".into());
        for f in ["b", "c", "d", "e"] {
            p.files.insert(format!("{f}.txt"), "1".into());
        }
        p.artifacts.insert(
            "node.tar.xz".into(),
            ArtifactPart {
                source: "npm node@20.2.0".into(),
                content: "sha256:bbbbbbbbbbbbbbbb".into(),
            },
        );
        p.tests.insert("app-test-1".into(), "t2".into());
        p.args.insert("SECRET_ARG".into(), "h2".into());
        p.secrets.insert("npm".into(), "s2".into());
        p.labels = "l2".into();
        p.from
            .insert("acme/parent:1".into(), "sha256:9999999999999999".into());
        let r = why(Some(&prior), Some(&now(p)), &[], false);
        assert_eq!(
            kinds(&r),
            [
                ReasonKind::StrataVersion,
                ReasonKind::Dockerfile,
                ReasonKind::Context,
                ReasonKind::Artifact,
                ReasonKind::Test,
                ReasonKind::BuildArgs,
                ReasonKind::Secrets,
                ReasonKind::Labels,
                ReasonKind::Base,
            ]
        );
        let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts[0], "strata's version changed (1.0.0 → 1.1.0)");
        assert_eq!(
            texts[2],
            "context files changed: a.txt, b.txt (new), c.txt (new) and 2 more"
        );
        assert_eq!(
            texts[3],
            "artifact node.tar.xz changed: npm node@20.1.0 → npm node@20.2.0"
        );
        assert_eq!(texts[4], "test changed: app-test-1");
        assert_eq!(texts[5], "build argument changed: SECRET_ARG");
        assert!(!texts[5].contains("h2"));
        assert_eq!(texts[6], "build secret changed: npm");
        assert!(!texts[6].contains("s2"));
        assert_eq!(
            texts[8],
            "base acme/parent:1 is another image now (sha256:111111111111 → sha256:999999999999)"
        );
    }

    #[test]
    fn same_source_new_content_and_removed_files() {
        let prior = record(Some(parts()), vec![]);
        let mut p = parts();
        p.artifacts.get_mut("node.tar.xz").unwrap().content = "sha256:cccccccccccccccc".into();
        p.files.clear();
        let r = why(Some(&prior), Some(&now(p)), &[], false);
        let texts: Vec<&str> = r.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "context file changed: a.txt (removed)",
                "artifact node.tar.xz changed: content sha256:aaaaaaaaaaaa → sha256:cccccccccccc",
            ]
        );
    }

    #[test]
    fn an_old_record_without_parts_still_names_a_moved_base() {
        let prior = record(None, vec![base("sha256:d1")]);
        let r = why(
            Some(&prior),
            Some(&now(parts())),
            &[base("sha256:d2")],
            false,
        );
        assert_eq!(kinds(&r), [ReasonKind::BaseMoved]);
        let r = why(
            Some(&prior),
            Some(&now(parts())),
            &[base("sha256:d1")],
            false,
        );
        assert_eq!(kinds(&r), [ReasonKind::Inputs]);
        assert!(r[0].text.contains("older strata"), "{}", r[0].text);
    }

    #[test]
    fn a_name_with_control_characters_is_escaped() {
        let prior = record(Some(parts()), vec![]);
        let mut p = parts();
        p.files.insert("evil\u{1b}[2J.txt".into(), "1".into());
        let r = why(Some(&prior), Some(&now(p)), &[], false);
        assert!(!r[0].text.contains('\u{1b}'), "{:?}", r[0].text);
    }
}
