//! Why a step failed, as a type: the executor passes these around, and only
//! the report turns one into words.
//!
//! [`StepError::retryable`] is the one rule of what a retry can fix: a flaky
//! network, a busy engine or registry, a test that failed once; not a test
//! folder with nothing to run, nor an image `push` refuses to ship.

use crate::artifact::ArtifactError;
use crate::engine::EngineError;
use crate::registry::RegistryError;

/// Why one attempt at a step (build, test, push, alias) failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A build (the image's, or a test layer's) failed: the engine's own
    /// words, as the step is named wherever the message is shown.
    #[error("{0}")]
    Build(String),
    /// Any other engine call failed.
    #[error(transparent)]
    Engine(EngineError),
    /// A registry call failed.
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// An artifact could not be fetched or did not verify.
    #[error(transparent)]
    Fetch(#[from] ArtifactError),
    /// A test ran and its checks did not hold.
    #[error("{0}")]
    Check(String),
    /// What the user wrote cannot run as it is (a test folder with nothing
    /// in it, a file that no longer parses): no retry can fix it.
    #[error("{0}")]
    Input(String),
    /// A secret the build lists was not read before the run: like
    /// [`StepError::Input`], no retry can fix it.
    #[error(transparent)]
    Secret(#[from] crate::exec::secrets::SecretProblem),
    /// The registry holds something other than what was tested or pushed,
    /// or a build stands on another image than the one it was given.
    #[error("{0}")]
    Mismatch(String),
    /// Attaching or reading a test attestation failed.
    #[error("{doing}: {source}")]
    Attestation {
        doing: String,
        source: RegistryError,
    },
    /// A push that was not attempted: the image is not the one that passed.
    #[error("refused: {0}")]
    Refused(String),
    /// A file of strata's own (an exported image) could not be made.
    #[error("{doing}: {source}")]
    Local {
        doing: String,
        source: std::io::Error,
    },
}

impl From<EngineError> for StepError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::BuildFailed(message) => StepError::Build(message),
            other => StepError::Engine(other),
        }
    }
}

impl StepError {
    /// `text` as an image reference: a name strata made or checked itself,
    /// so a failure is reported as input that cannot run as it is.
    pub fn reference(text: &str) -> Result<crate::reference::ImageRef, StepError> {
        crate::reference::ImageRef::parse(text)
            .map_err(|e| StepError::Input(format!("`{text}` is not a valid image reference: {e}")))
    }

    /// True when the step failed because the engine or a registry could not
    /// be reached or did not answer in time: the environment, not the image.
    pub fn environment(&self) -> bool {
        matches!(
            self,
            StepError::Engine(EngineError::Unreachable { .. })
                | StepError::Registry(RegistryError::Unreachable { .. })
                | StepError::Attestation {
                    source: RegistryError::Unreachable { .. },
                    ..
                }
                | StepError::Fetch(ArtifactError::Client { .. })
        )
    }

    /// True when another attempt may pass: everything but input no attempt
    /// can change and a push refused for what the state records.
    pub fn retryable(&self) -> bool {
        !matches!(
            self,
            StepError::Input(_) | StepError::Secret(_) | StepError::Refused(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_reads_as_the_engine_wrote_it() {
        let e: StepError = EngineError::BuildFailed("RUN false: exit 1".into()).into();
        assert_eq!(e.to_string(), "RUN false: exit 1");
        assert!(matches!(e, StepError::Build(_)));
        let e: StepError = EngineError::Api("no such image".into()).into();
        assert!(matches!(e, StepError::Engine(_)));
    }

    #[test]
    fn only_an_unreachable_engine_or_registry_is_the_environment() {
        let gone = || RegistryError::Unreachable {
            registry: "r".into(),
            message: "connection refused".into(),
        };
        assert!(StepError::Registry(gone()).environment());
        assert!(StepError::Attestation {
            doing: "attaching".into(),
            source: gone()
        }
        .environment());
        let engine: StepError = EngineError::Unreachable {
            endpoint: "unix:///x".into(),
            message: "gone".into(),
        }
        .into();
        assert!(engine.environment());
        assert!(!StepError::Build("RUN false".into()).environment());
        // No HTTP client on this machine (no CA certificates): its setup.
        let client = reqwest::Client::builder()
            .user_agent("\u{7f}")
            .build()
            .unwrap_err();
        assert!(StepError::Fetch(ArtifactError::Client {
            source: std::sync::Arc::new(client)
        })
        .environment());
        assert!(!StepError::Check("exit 1".into()).environment());
        assert!(!StepError::Registry(RegistryError::Other {
            reference: "x".into(),
            message: "400".into()
        })
        .environment());
    }

    #[test]
    fn input_and_refusals_are_not_retried() {
        assert!(!StepError::Input("empty test folder".into()).retryable());
        assert!(!StepError::Refused("untested".into()).retryable());
        let unread = crate::exec::secrets::SecretProblem::NotRead { id: "npm".into() };
        assert!(!StepError::from(unread).retryable());
        assert!(StepError::Check("exit code 1".into()).retryable());
        assert!(StepError::Build("RUN false".into()).retryable());
    }
}
