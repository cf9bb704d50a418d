//! The shape of a GitHub Actions workflow, as far as strata writes one:
//! typed values that a YAML serializer turns into text, so every value
//! (a path, a label, a script) is quoted or put in a block as YAML needs,
//! whatever it holds.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_saphyr::{FlowSeq, LitString, SpaceAfter};

/// A workflow file.
#[derive(Debug, Serialize)]
pub struct Workflow {
    pub name: SpaceAfter<String>,
    pub on: SpaceAfter<Triggers>,
    pub permissions: SpaceAfter<Permissions>,
    pub concurrency: SpaceAfter<Concurrency>,
    pub jobs: Jobs,
}

/// The events that start a run.
#[derive(Debug, Serialize)]
pub struct Triggers {
    pub push: Push,
    pub schedule: Vec<Schedule>,
    pub workflow_dispatch: Empty,
}

#[derive(Debug, Serialize)]
pub struct Push {
    pub branches: FlowSeq<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct Schedule {
    pub cron: String,
}

/// An event with no settings (`workflow_dispatch: {}`).
#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
pub struct Permissions {
    pub contents: String,
}

#[derive(Debug, Serialize)]
pub struct Concurrency {
    pub group: String,
    #[serde(rename = "cancel-in-progress")]
    pub cancel_in_progress: bool,
}

/// strata's three jobs, in the order they run.
#[derive(Debug, Serialize)]
pub struct Jobs {
    pub plan: SpaceAfter<Job>,
    pub test: SpaceAfter<Job>,
    pub publish: Job,
}

#[derive(Debug, Default, Serialize)]
pub struct Job {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(rename = "runs-on")]
    pub runs_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    pub env: Env,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Env>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
pub struct Strategy {
    #[serde(rename = "fail-fast")]
    pub fail_fast: bool,
    pub matrix: Matrix,
}

/// The test job's matrix: the plan job's shard list as it is, or each
/// shard crossed with a runner per platform.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Matrix {
    Expression(String),
    PerMachine { part: String, machine: Vec<Machine> },
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub platform: String,
    pub runner: String,
}

/// A step: an action (`uses`, `with`) or a script (`run`).
#[derive(Debug, Default, Serialize)]
pub struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<With>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<LitString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
}

impl Step {
    /// An action step.
    pub fn uses(action: &str) -> Step {
        Step {
            uses: Some(action.into()),
            ..Step::default()
        }
    }

    /// A script step; the script is written as a literal block.
    pub fn run(script: impl Into<String>) -> Step {
        Step {
            run: Some(LitString(script.into())),
            ..Step::default()
        }
    }

    pub fn named(mut self, name: impl Into<String>) -> Step {
        self.name = Some(name.into());
        self
    }

    pub fn id(mut self, id: &str) -> Step {
        self.id = Some(id.into());
        self
    }

    pub fn when(mut self, condition: &str) -> Step {
        self.condition = Some(condition.into());
        self
    }

    pub fn with(mut self, with: With) -> Step {
        self.with = Some(with);
        self
    }

    pub fn env(mut self, env: Env) -> Step {
        self.env = Some(env);
        self
    }
}

/// The inputs of the actions strata's workflow uses.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct With {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_keys: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_no_files_found: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_hidden_files: Option<bool>,
}

/// A string written as a plain or quoted scalar when it is one line, and
/// as a literal block (`|`) when it is several.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Text {
    Line(String),
    Lines(LitString),
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        if text.contains('\n') {
            Text::Lines(LitString(text))
        } else {
            Text::Line(text)
        }
    }
}

/// Variables (or outputs) in the order they were added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Env(pub Vec<(String, String)>);

impl Env {
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Env {
        self.0.push((name.into(), value.into()));
        self
    }

    pub fn extend(mut self, other: &Env) -> Env {
        self.0.extend(other.0.iter().cloned());
        self
    }
}

impl Serialize for Env {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A GitHub Actions expression, `${{ … }}`.
pub fn expression(inner: &str) -> String {
    format!("${{{{ {inner} }}}}")
}

/// The workflow as YAML text.
pub fn to_text(workflow: &Workflow) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! {
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(workflow, options)
}
