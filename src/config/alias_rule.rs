//! The alias rule as written in a config file; [`crate::alias`] evaluates it.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// A moving tag: `tag` is a template rendered with the image's facts, `when`
/// an optional expression deciding whether the image gets it at all.
///
/// Written either as a plain string (the tag, always applied) or as a map
/// `{tag, when}`; unknown keys are refused so a typo (`if:`) is not silently
/// an unconditional rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasRule {
    pub tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// When the newest image fails, the alias may move back to an older one
    /// (opt-in; by default it stays where the registry has it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

impl AliasRule {
    /// A rule applied to every image.
    pub fn always(tag: impl Into<String>) -> Self {
        AliasRule {
            tag: tag.into(),
            when: None,
            fallback: false,
        }
    }

    /// A rule applied where `when` is true.
    pub fn when(tag: impl Into<String>, when: impl Into<String>) -> Self {
        AliasRule {
            tag: tag.into(),
            when: Some(when.into()),
            fallback: false,
        }
    }
}

/// The map form, with unknown fields denied.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RuleMap {
    /// The tag template, such as `acme/node:{{ major }}`.
    tag: String,
    /// A condition over the image's facts (`is_active_lts`, `os.default and codename`).
    #[serde(default)]
    when: Option<String>,
    /// When the newest image fails, may the alias move back to the next
    /// older one that passed? Default `false`: it stays where it is
    /// ("never backwards"), so `latest` never moves from 23 to 22 by itself.
    #[serde(default)]
    fallback: bool,
}

/// Either form: a tag template always applied, or `{tag, when}`.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RuleSchema {
    /// A tag template applied to every image.
    Always(String),
    /// A tag template applied where `when` holds.
    When(RuleMap),
}

impl schemars::JsonSchema for AliasRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AliasRule".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RuleSchema::json_schema(generator)
    }
}

// Hand-written rather than `#[serde(untagged)]`: untagged enums report only
// "data did not match any variant", hiding the unknown-field message.
impl<'de> Deserialize<'de> for AliasRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;

        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = AliasRule;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an alias tag template, or a map with `tag` and optional `when`")
            }

            fn visit_str<E: de::Error>(self, tag: &str) -> Result<AliasRule, E> {
                Ok(AliasRule::always(tag))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<AliasRule, M::Error> {
                let rule = RuleMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(AliasRule {
                    tag: rule.tag,
                    when: rule.when,
                    fallback: rule.fallback,
                })
            }
        }

        deserializer.deserialize_any(RuleVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms_from_yaml() {
        let yaml = "- 'node:{{ version }}'\n- tag: 'node:lts'\n  when: is_active_lts\n";
        let rules: Vec<AliasRule> = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(
            rules,
            vec![
                AliasRule::always("node:{{ version }}"),
                AliasRule::when("node:lts", "is_active_lts"),
            ]
        );
    }

    #[test]
    fn falling_back_is_off_unless_the_rule_opts_in() {
        let yaml = "- tag: 'node:lts'\n  when: is_active_lts\n  fallback: true\n- 'node:x'\n";
        let rules: Vec<AliasRule> = serde_saphyr::from_str(yaml).unwrap();
        assert!(rules[0].fallback);
        assert!(!rules[1].fallback);
    }

    #[test]
    fn refuses_unknown_keys() {
        let yaml = "- tag: 'node:lts'\n  if: is_active_lts\n";
        let err = serde_saphyr::from_str::<Vec<AliasRule>>(yaml).unwrap_err();
        assert!(err.to_string().contains("unknown field `if`"), "{err}");
    }

    #[test]
    fn requires_a_tag() {
        let err = serde_saphyr::from_str::<Vec<AliasRule>>("- when: lts\n").unwrap_err();
        assert!(err.to_string().contains("missing field `tag`"), "{err}");
    }
}
