//! Which of Docker's builders builds (`--builder`, `builder:`): a choice
//! the config makes and the engine carries out.

/// Which of Docker's builders builds.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// Docker's classic builder (`/build`): every engine has it.
    #[default]
    Classic,
    /// BuildKit through the Engine API (`/build?version=2`): reads
    /// `RUN --mount` and the other syntax publishers write for it.
    Buildkit,
}

impl Builder {
    pub fn name(self) -> &'static str {
        match self {
            Builder::Classic => "classic",
            Builder::Buildkit => "buildkit",
        }
    }
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
