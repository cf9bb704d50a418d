//! Exit codes and the error kinds the command line maps onto them.
//!
//! Bad input (a config that does not parse or validate) is reported before any
//! build starts, as a [`miette`] diagnostic naming the file, line and column.

/// Everything passed.
pub const EXIT_OK: i32 = 0;
/// An image or test failed, or a push was refused.
pub const EXIT_FAILED: i32 = 1;
/// Bad input or usage: nothing was built.
pub const EXIT_INPUT: i32 = 2;
/// The environment is not usable (engine or registry unreachable).
pub const EXIT_ENVIRONMENT: i32 = 3;

/// A problem with what the user gave strata: a config file, a path, a flag.
///
/// Carries a rendered diagnostic; the CLI prints it and exits with [`EXIT_INPUT`].
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
    #[source_code]
    pub src: Option<miette::NamedSource<String>>,
    #[label("{label}")]
    pub span: Option<miette::SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

impl InputError {
    /// An error with no source location (a missing file, a bad flag).
    pub fn plain(message: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
            src: None,
            span: None,
            label: String::new(),
            help: None,
        }
    }

    /// Adds a hint telling the user what to do.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points the error at `span` inside the file `name` whose text is `source`.
    pub fn at(
        mut self,
        name: impl AsRef<str>,
        source: impl Into<String>,
        span: impl Into<miette::SourceSpan>,
        label: impl Into<String>,
    ) -> Self {
        self.src = Some(miette::NamedSource::new(name, source.into()));
        self.span = Some(span.into());
        self.label = label.into();
        self
    }
}
