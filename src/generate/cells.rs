//! The matrix itself: axes, their product, and the exclusions cut from it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::native::{AxisValue, NativeConfig, OneOrMany};
use crate::config::yaml::Source;
use crate::error::InputError;

use super::render::Templates;

/// True when an axis called `name` would hide a fact templates see
/// ([`crate::feed::facts::FACTS`]) or an exclusion's own key.
fn reserved(name: &str) -> bool {
    name == "when" || name == "reason" || crate::feed::facts::names().any(|f| f == name)
}

/// An axis: its name and values, `os` first, then the others by name.
pub type Axis<'a> = (&'a str, &'a [AxisValue]);

/// Checks the axes and returns them in matrix order.
pub fn axes<'a>(config: &'a NativeConfig, source: &Source) -> Result<Vec<Axis<'a>>, InputError> {
    let mut out: Vec<Axis<'a>> = vec![("os", config.os.as_slice())];
    for (name, values) in &config.axes {
        if reserved(name) {
            return Err(plain(
                source,
                format!("axis `{name}` would hide the `{name}` fact templates see (or an exclusion's key); rename it"),
            ));
        }
        out.push((name.as_str(), values.as_slice()));
    }
    for (name, values) in &out {
        if values.is_empty() {
            return Err(plain(source, format!("axis `{name}` has no values")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in values.iter() {
            if let Err(rule) = check_segment(&v.name.value) {
                return Err(source
                    .error_at(
                        &v.name,
                        format!(
                            "{name} value `{}` cannot name a folder of the generated tree: {rule}",
                            crate::text::quote(&v.name.value)
                        ),
                        "not one safe path segment",
                    )
                    .with_help(format!(
                        "an axis value's name is one folder name: 1 to {MAX_VALUE_NAME} characters, no `/` or `\\`, not `.` or `..`, no control characters; put other text in an attribute (`attrs`)"
                    )));
            }
            if !seen.insert(v.name.value.as_str()) {
                return Err(plain(
                    source,
                    format!("axis `{name}` lists `{}` twice", v.name.value),
                ));
            }
            for key in v.attrs.keys() {
                if ["name", "default", "from"].contains(&key.as_str()) {
                    return Err(plain(
                        source,
                        format!("{name} `{}`: attribute `{key}` is reserved", v.name.value),
                    ));
                }
            }
        }
        if values.iter().filter(|v| v.default).count() > 1 {
            return Err(plain(
                source,
                format!("axis `{name}` has more than one `default: true` value"),
            ));
        }
    }
    Ok(out)
}

/// The longest axis value name, in characters.
pub const MAX_VALUE_NAME: usize = 128;

/// Why a name is not one safe path segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("it is empty")]
    Empty,
    #[error("it has {0} characters, more than {MAX_VALUE_NAME}")]
    TooLong(usize),
    #[error("`{0}` is not a folder name")]
    Dots(String),
    #[error("it holds a path separator")]
    Separator,
    #[error("it holds a control character")]
    Control,
}

/// Why `name` is not one safe path segment, if it is not.
pub fn check_segment(name: &str) -> Result<(), SegmentError> {
    let len = name.chars().count();
    if name.is_empty() {
        return Err(SegmentError::Empty);
    }
    if len > MAX_VALUE_NAME {
        return Err(SegmentError::TooLong(len));
    }
    if name == "." || name == ".." {
        return Err(SegmentError::Dots(name.to_string()));
    }
    if name.contains(['/', '\\']) {
        return Err(SegmentError::Separator);
    }
    if name.chars().any(char::is_control) {
        return Err(SegmentError::Control);
    }
    Ok(())
}

fn plain(source: &Source, message: String) -> InputError {
    InputError::plain(format!("{}: {message}", source.name()))
}

/// What templates see for one axis value: `name`, `default`, `from` (if set)
/// and its free attributes.
pub fn axis_object(value: &AxisValue) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), Value::from(value.name.value.clone()));
    map.insert("default".into(), Value::from(value.default));
    if let Some(from) = &value.from {
        map.insert("from".into(), Value::from(from.clone()));
    }
    for (k, v) in &value.attrs {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

/// One cell of the product of the axes (without the version).
#[derive(Debug, Clone)]
pub struct AxisPoint<'a> {
    pub values: Vec<(&'a str, &'a AxisValue)>,
}

/// Every combination of axis values, `os` outermost, in config order.
pub fn points<'a>(axes: &[Axis<'a>]) -> Vec<AxisPoint<'a>> {
    let mut out = vec![AxisPoint { values: Vec::new() }];
    for (name, values) in axes {
        out = out
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.values.push((name, v));
                    p
                })
            })
            .collect();
    }
    out
}

impl<'a> AxisPoint<'a> {
    pub fn os(&self) -> &'a str {
        &self.values[0].1.name.value
    }

    pub fn os_from(&self) -> Option<&'a str> {
        self.values[0].1.from.as_deref()
    }

    /// `bookworm × 22.11.0 × slim`, for the plan's exclusion list and messages.
    pub fn describe(&self, version: &impl std::fmt::Display) -> String {
        let mut parts = vec![self.os().to_string(), version.to_string()];
        parts.extend(self.values[1..].iter().map(|(_, v)| v.name.value.clone()));
        parts.join(" × ")
    }

    /// The cell's folder name under its OS: `22.11.0`, or `22.11.0-slim`.
    pub fn slug(&self, version: &impl std::fmt::Display) -> String {
        let mut s = version.to_string();
        for (_, v) in &self.values[1..] {
            s.push('-');
            s.push_str(&v.name.value);
        }
        s
    }

    /// Adds `os` and every other axis to a cell's facts.
    pub fn add_facts(&self, facts: &mut Map<String, Value>) {
        for (axis, value) in &self.values {
            facts.insert((*axis).to_string(), axis_object(value));
        }
    }

    /// The lines its values are written at, `strata.yml:3, 9`.
    pub fn lines(&self, source: &Source) -> String {
        let lines: Vec<String> = self
            .values
            .iter()
            .map(|(_, v)| v.name.referenced.line().to_string())
            .collect();
        format!("{}:{}", source.name(), lines.join(", "))
    }

    /// The value name spans of the cell, last axis last.
    pub fn last_value(&self) -> &'a serde_saphyr::Spanned<String> {
        &self.values[self.values.len() - 1].1.name
    }

    /// `os`, and every other axis, by value name.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(axis, v)| ((*axis).to_string(), v.name.value.clone()))
            .collect()
    }
}

/// One exclusion rule, checked.
struct Rule {
    /// Where the rule is written, `file:line`, for warnings.
    at: String,
    reason: String,
    version: Option<nodejs_semver::Range>,
    axes: Vec<(String, OneOrMany)>,
    /// The key of the compiled `when` condition, if any.
    when: Option<String>,
}

/// The config's exclusion rules.
pub struct Exclusions {
    rules: Vec<Rule>,
}

impl Exclusions {
    /// Checks every rule against the axes: an unknown axis or value is an
    /// error at its line, since a misspelt exclusion silently excludes nothing.
    pub fn compile(
        config: &NativeConfig,
        source: &Source,
        axes: &[Axis<'_>],
        templates: &mut Templates<'_>,
    ) -> Result<Self, InputError> {
        let axis_names: Vec<&str> = axes.iter().map(|(n, _)| *n).collect();
        let mut rules = Vec::new();
        for entry in &config.exclude {
            let offset = crate::config::yaml::span_of(entry).offset();
            let line = source.text[..offset.min(source.text.len())]
                .lines()
                .count()
                .max(1);
            let mut rule = Rule {
                at: format!("{}:{line}", source.name()),
                reason: String::new(),
                version: None,
                axes: Vec::new(),
                when: None,
            };
            for (key, value) in &entry.value {
                match key.as_str() {
                    "reason" => match &value.value {
                        OneOrMany::One(r) => rule.reason = r.clone(),
                        OneOrMany::Many(_) => {
                            return Err(source.error_at(
                                value,
                                "an exclusion's `reason` is one string",
                                "here",
                            ))
                        }
                    },
                    "version" => {
                        let OneOrMany::One(text) = &value.value else {
                            return Err(source.error_at(
                                value,
                                "an exclusion's `version` is one semver range",
                                "here",
                            ));
                        };
                        let range = nodejs_semver::Range::parse(text).map_err(|e| {
                            source.error_at(
                                value,
                                format!("`{text}` is not a semver range: {e}"),
                                "bad range",
                            )
                        })?;
                        rule.version = Some(range);
                    }
                    "when" => {
                        let OneOrMany::One(text) = &value.value else {
                            return Err(source.error_at(
                                value,
                                "an exclusion's `when` is one condition, such as `is_eol`",
                                "here",
                            ));
                        };
                        let condition = serde_saphyr::Spanned::new(
                            format!("{{% if {text} %}}1{{% endif %}}"),
                            value.referenced,
                            value.defined,
                        );
                        rule.when = Some(templates.add_inline("exclude.when", &condition)?);
                    }
                    axis => {
                        let Some((_, values)) = axes.iter().find(|(n, _)| *n == axis) else {
                            return Err(source
                                .error_at(value, format!("exclusion names unknown axis `{axis}`"), "unknown axis")
                                .with_help(format!(
                                    "{}the axes are: {}; an exclusion also takes `version`, `when` and `reason`",
                                    super::did_you_mean(axis, &axis_names),
                                    axis_names.join(", ")
                                )));
                        };
                        let names: Vec<&str> =
                            values.iter().map(|v| v.name.value.as_str()).collect();
                        let listed = match &value.value {
                            OneOrMany::One(one) => vec![one.clone()],
                            OneOrMany::Many(many) => many.clone(),
                        };
                        for name in &listed {
                            if !names.contains(&name.as_str()) {
                                return Err(source
                                    .error_at(
                                        value,
                                        format!("exclusion names unknown {axis} `{name}`"),
                                        "unknown value",
                                    )
                                    .with_help(format!(
                                        "{}{axis} is one of: {}",
                                        super::did_you_mean(name, &names),
                                        names.join(", ")
                                    )));
                            }
                        }
                        rule.axes.push((axis.to_string(), value.value.clone()));
                    }
                }
            }
            if rule.reason.trim().is_empty() {
                return Err(source
                    .error_at(entry, "every exclusion needs a `reason`", "no reason")
                    .with_help("say why the cells are left out; the plan shows it"));
            }
            rules.push(rule);
        }
        Ok(Exclusions { rules })
    }

    /// The first rule leaving out `point` at `version`, if any: its index
    /// (for [`Exclusions::unused`]) and reason. A rule's `when` is asked of
    /// the cell's `facts` (release facts, axis values and `base`).
    pub fn reason_for(
        &self,
        point: &AxisPoint<'_>,
        version: &semver::Version,
        facts: &Value,
        templates: &Templates<'_>,
    ) -> Result<Option<(usize, &str)>, InputError> {
        let v = nodejs_semver::Version::parse(version.to_string()).ok();
        for (i, rule) in self.rules.iter().enumerate() {
            let version_ok = match (&rule.version, &v) {
                (None, _) => true,
                (Some(range), Some(v)) => range.satisfies(v),
                (Some(_), None) => false,
            };
            let axes_ok = rule.axes.iter().all(|(axis, names)| {
                point
                    .values
                    .iter()
                    .any(|(a, value)| a == axis && names.contains(&value.name.value))
            });
            if !(version_ok && axes_ok) {
                continue;
            }
            let when_ok = match &rule.when {
                None => true,
                Some(key) => templates.holds(key, facts)?,
            };
            if when_ok {
                return Ok(Some((i, rule.reason.as_str())));
            }
        }
        Ok(None)
    }

    /// Warnings for the rules not in `used`: an exclusion that leaves out
    /// nothing is most likely a mistake (a range that matches no selected
    /// version), and silently doing nothing would hide it.
    pub fn unused(&self, used: &std::collections::BTreeSet<usize>) -> Vec<String> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, rule)| {
                format!(
                    "{}: the exclusion \"{}\" leaves out no image of this selection",
                    rule.at, rule.reason
                )
            })
            .collect()
    }
}
