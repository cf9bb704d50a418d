//! Evaluating alias rules over a set of images.
//!
//! Templates are compiled once per rule (not per image): a plan over every
//! Node release × OS × variant evaluates thousands of rule/image pairs.

use std::collections::{BTreeMap, HashSet};

use minijinja::{Environment, ErrorKind, Expression, UndefinedBehavior};

use super::value::{from_json, has_path};
use super::{AliasError, AliasRule, Candidate};
use crate::plan::AliasPlan;
use crate::reference::ImageRef;

/// One compiled rule.
struct Compiled<'env> {
    rule: &'env AliasRule,
    tag: minijinja::Template<'env, 'env>,
    when: Option<Expression<'env, 'env>>,
}

/// One candidate of one tag: which rule produced it, for which image.
struct Hit {
    rule: usize,
    candidate: usize,
}

/// Evaluates `rules` over `images`; returns one alias per rendered tag, sorted
/// by tag, with candidates newest version first.
///
/// The same image reached by several rules for one tag counts once; the
/// alias is attributed to the first of those rules.
pub fn compute(rules: &[AliasRule], images: &[Candidate]) -> Result<Vec<AliasPlan>, AliasError> {
    let mut env = Environment::new();
    // A misspelt fact must be an error, not an empty string in a tag.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (i, rule) in rules.iter().enumerate() {
        env.add_template_owned(i.to_string(), rule.tag.clone())
            .map_err(|e| syntax(rule, &e))?;
    }
    let compiled = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            Ok(Compiled {
                rule,
                tag: env
                    .get_template(&i.to_string())
                    .map_err(|e| syntax(rule, &e))?,
                when: rule
                    .when
                    .as_deref()
                    .map(|w| env.compile_expression(w).map_err(|e| syntax(rule, &e)))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, AliasError>>()?;

    let mut tags: BTreeMap<ImageRef, Vec<Hit>> = BTreeMap::new();
    for (c, image) in images.iter().enumerate() {
        if !image.facts.is_object() {
            return Err(AliasError::FactsNotObject {
                image: image.image.to_string(),
            });
        }
        let context = from_json(&image.facts);
        for (r, rule) in compiled.iter().enumerate() {
            if let Some(when) = &rule.when {
                let applies = when
                    .eval(context.clone())
                    .map_err(|e| failure(rule.rule, &when.undeclared_variables(true), image, &e))?;
                if !applies.is_true() {
                    continue;
                }
            }
            let rendered = rule
                .tag
                .render(context.clone())
                .map_err(|e| failure(rule.rule, &rule.tag.undeclared_variables(true), image, &e))?;
            let tag = rendered.trim();
            let tag = crate::reference::validate_alias(tag)
                .and_then(|()| Ok(ImageRef::parse(tag)?))
                .map_err(|reason| AliasError::InvalidTag {
                    rule: rule.rule.tag.clone(),
                    tag: crate::text::escape(tag).into_owned(),
                    image: image.image.to_string(),
                    reason: reason.to_string(),
                })?;
            let hits = tags.entry(tag).or_default();
            // Images are visited one at a time, so an image already holding
            // this tag is the last hit: checking it keeps this O(1).
            if hits.last().map(|h| h.candidate) != Some(c) {
                hits.push(Hit {
                    rule: r,
                    candidate: c,
                });
            }
        }
    }

    // Compared as Docker compares them: `docker.io/acme/node` is `acme/node`.
    let names: HashSet<String> = images
        .iter()
        .map(|i| crate::reference::normalize(&i.image))
        .collect();
    tags.into_iter()
        .map(|(tag, mut hits)| {
            let first_rule = &rules[hits.iter().map(|h| h.rule).min().unwrap_or(0)];
            if names.contains(&crate::reference::normalize(&tag)) {
                return Err(AliasError::TagIsImage {
                    rule: first_rule.tag.clone(),
                    tag: tag.into(),
                });
            }
            // Stable sort: equal versions stay in input order for the error.
            hits.sort_by(|a, b| {
                images[b.candidate]
                    .version
                    .cmp(&images[a.candidate].version)
            });
            if let Some(pair) = hits
                .windows(2)
                .find(|p| images[p[0].candidate].version == images[p[1].candidate].version)
            {
                let (first, second) = (&images[pair[0].candidate], &images[pair[1].candidate]);
                return Err(AliasError::Ambiguous {
                    tag: tag.into(),
                    rule: rules[pair[1].rule].tag.clone(),
                    first: first.image.to_string(),
                    second: second.image.to_string(),
                    version: first.version.to_string(),
                });
            }
            Ok(AliasPlan {
                tag,
                candidates: hits
                    .iter()
                    .map(|h| images[h.candidate].image.clone())
                    .collect(),
                rule: Some(first_rule.tag.clone()),
                fallback: first_rule.fallback,
            })
        })
        .collect()
}

fn syntax(rule: &AliasRule, e: &minijinja::Error) -> AliasError {
    AliasError::Syntax {
        rule: rule.tag.clone(),
        message: describe(e),
    }
}

/// Turns a render error into one naming the missing fact when that is the
/// cause: minijinja's own message ("undefined value") does not say which.
fn failure(
    rule: &AliasRule,
    used: &HashSet<String>,
    image: &Candidate,
    e: &minijinja::Error,
) -> AliasError {
    if e.kind() == ErrorKind::UndefinedError {
        let mut missing: Vec<&String> =
            used.iter().filter(|p| !has_path(&image.facts, p)).collect();
        missing.sort();
        if let Some(field) = missing.first() {
            let known = image
                .facts
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            return AliasError::Undefined {
                rule: rule.tag.clone(),
                field: field.to_string(),
                image: image.image.to_string(),
                known,
            };
        }
    }
    AliasError::Render {
        rule: rule.tag.clone(),
        image: image.image.to_string(),
        message: describe(e),
    }
}

/// The error's kind and detail, without the template's internal name.
fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{} ({detail})", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn image(name: &str, version: &str, facts: serde_json::Value) -> Candidate {
        Candidate {
            image: name.parse().unwrap(),
            version: semver::Version::parse(version).unwrap(),
            facts,
        }
    }

    fn three() -> Vec<Candidate> {
        vec![
            image(
                "acme/node:20.1.0",
                "20.1.0",
                json!({"major": 20, "lts": true}),
            ),
            image(
                "acme/node:22.2.0",
                "22.2.0",
                json!({"major": 22, "lts": false}),
            ),
            image(
                "acme/node:22.10.0",
                "22.10.0",
                json!({"major": 22, "lts": true}),
            ),
        ]
    }

    #[test]
    fn groups_by_tag_newest_first_sorted_by_tag() {
        let rules = [
            AliasRule::always("acme/node:{{ major }}"),
            AliasRule::when("acme/node:lts", "lts"),
        ];
        let plans = compute(&rules, &three()).unwrap();
        let table: Vec<(&str, Vec<&str>, Option<&str>)> = plans
            .iter()
            .map(|p| {
                (
                    p.tag.as_str(),
                    p.candidates.iter().map(ImageRef::as_str).collect(),
                    p.rule.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                (
                    "acme/node:20",
                    vec!["acme/node:20.1.0"],
                    Some("acme/node:{{ major }}")
                ),
                (
                    "acme/node:22",
                    // 22.10.0 beats 22.2.0: versions compare as numbers.
                    vec!["acme/node:22.10.0", "acme/node:22.2.0"],
                    Some("acme/node:{{ major }}")
                ),
                (
                    "acme/node:lts",
                    vec!["acme/node:22.10.0", "acme/node:20.1.0"],
                    Some("acme/node:lts")
                ),
            ]
        );
    }

    #[test]
    fn output_does_not_depend_on_input_order() {
        let rules = [
            AliasRule::always("acme/node:{{ major }}"),
            AliasRule::always("acme/node:latest"),
        ];
        let mut images = three();
        let forward = compute(&rules, &images).unwrap();
        images.reverse();
        assert_eq!(compute(&rules, &images).unwrap(), forward);
    }

    #[test]
    fn an_image_reached_twice_counts_once() {
        let rules = [
            AliasRule::always("acme/node:x"),
            AliasRule::when("acme/node:x", "lts"),
        ];
        let plans = compute(&rules, &three()).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].candidates.len(), 3);
        assert_eq!(plans[0].rule.as_deref(), Some("acme/node:x"));
    }

    #[test]
    fn a_missing_fact_is_an_error_naming_rule_and_field() {
        let rules = [AliasRule::always("acme/{{ os.name }}:{{ major }}")];
        let images = [image(
            "acme/node:1.0.0",
            "1.0.0",
            json!({"major": 1, "os": {"default": true}}),
        )];
        let err = compute(&rules, &images).unwrap_err();
        match &err {
            AliasError::Undefined {
                rule, field, image, ..
            } => {
                assert_eq!(rule, "acme/{{ os.name }}:{{ major }}");
                assert_eq!(field, "os.name");
                assert_eq!(image, "acme/node:1.0.0");
            }
            other => panic!("expected Undefined, got {other}"),
        }
        // The same holds for `when`.
        let rules = [AliasRule::when("acme/node:x", "variant.default")];
        let err = compute(&rules, &images).unwrap_err();
        assert!(err.to_string().contains("uses `variant.default`"), "{err}");
    }

    #[test]
    fn null_facts_are_defined_and_falsy() {
        let rules = [AliasRule::when("acme/node:{{ codename }}", "codename")];
        let images = [
            image("acme/node:23.0.0", "23.0.0", json!({"codename": null})),
            image("acme/node:22.0.0", "22.0.0", json!({"codename": "jod"})),
        ];
        let plans = compute(&rules, &images).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].tag, "acme/node:jod");
    }

    #[test]
    fn same_version_twice_for_one_tag_is_ambiguous() {
        let rules = [AliasRule::always("acme/node:{{ major }}")];
        let images = [
            image("acme/jessie:4.4.7", "4.4.7", json!({"major": 4})),
            image("acme/trusty:4.4.7", "4.4.7", json!({"major": 4})),
        ];
        let err = compute(&rules, &images).unwrap_err();
        assert_eq!(
            err,
            AliasError::Ambiguous {
                tag: "acme/node:4".into(),
                rule: "acme/node:{{ major }}".into(),
                first: "acme/jessie:4.4.7".into(),
                second: "acme/trusty:4.4.7".into(),
                version: "4.4.7".into(),
            }
        );
    }

    #[test]
    fn an_alias_may_not_overwrite_an_image() {
        let rules = [AliasRule::always("acme/node:{{ major }}.0.0")];
        let images = [image("acme/node:4.0.0", "4.0.0", json!({"major": 4}))];
        let err = compute(&rules, &images).unwrap_err();
        assert!(
            matches!(err, AliasError::TagIsImage { ref tag, .. } if tag == "acme/node:4.0.0"),
            "{err}"
        );
        // Also when it is its own image's name written another way.
        let rules = [AliasRule::always("docker.io/acme/node:{{ major }}.0.0")];
        let err = compute(&rules, &images).unwrap_err();
        assert!(
            matches!(err, AliasError::TagIsImage { ref tag, .. } if tag == "docker.io/acme/node:4.0.0"),
            "{err}"
        );
    }

    #[test]
    fn invalid_references_and_syntax_are_reported() {
        let images = [image(
            "acme/node:4.0.0",
            "4.0.0",
            json!({"major": 4, "codename": "Argon"}),
        )];
        let err = compute(&[AliasRule::always("Acme/node:{{ major }}")], &images).unwrap_err();
        assert!(
            err.to_string().contains("renders `Acme/node:4`")
                && err.to_string().contains("lowercase"),
            "{err}"
        );
        let err = compute(&[AliasRule::always("acme/node:{{ major }")], &images).unwrap_err();
        assert!(matches!(err, AliasError::Syntax { .. }), "{err}");
        let err = compute(&[AliasRule::when("acme/node:x", "major >")], &images).unwrap_err();
        assert!(matches!(err, AliasError::Syntax { .. }), "{err}");
        let err = compute(
            &[AliasRule::always("acme/node:x")],
            &[image("a:1", "1.0.0", json!([1]))],
        )
        .unwrap_err();
        assert!(matches!(err, AliasError::FactsNotObject { .. }), "{err}");
    }
}
