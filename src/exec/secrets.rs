//! Build secrets' values, read once before the first build (a missing
//! variable or file stops the run with exit 2, naming the image), then
//! handed to each build that lists them and hashed into its fingerprint.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::secrets::SecretSpec;
use crate::engine::session::BuildSecret;
use crate::plan::Plan;
use crate::secret::Secret;

/// A secret a plan's image lists that cannot be handed to its build.
#[derive(Debug, thiserror::Error)]
pub enum SecretProblem {
    #[error(
        "image {image}: secret {id} needs BuildKit, and this run builds with the \
         classic builder: set `builder: buildkit` in the config or pass \
         --builder buildkit"
    )]
    NeedsBuildkit { image: String, id: String },
    #[error("image {image}: {reason}")]
    Unreadable {
        image: String,
        #[source]
        reason: crate::config::secrets::SecretError,
    },
    #[error("secret {id} was not read before the run")]
    NotRead { id: String },
}

/// Every problem found reading a plan's secrets, one a line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct SecretsError(pub Vec<SecretProblem>);

/// Every secret of a plan, by where it was read.
#[derive(Debug, Clone, Default)]
pub struct Secrets(pub BTreeMap<SecretSpec, Secret>);

impl Secrets {
    /// Reads every secret the plan's images and tests list. `builder` is
    /// the run's: secrets need BuildKit. Every problem is named, with its
    /// image, in one message.
    pub fn read(plan: &Plan, builder: crate::engine::Builder) -> Result<Secrets, SecretsError> {
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        for image in &plan.images {
            let tests = image.tests.iter().flat_map(|t| &t.secrets);
            for spec in image.secrets.iter().chain(tests) {
                if builder == crate::engine::Builder::Classic {
                    problems.push(SecretProblem::NeedsBuildkit {
                        image: image.name.to_string(),
                        id: spec.id.clone(),
                    });
                    break;
                }
                if values.contains_key(spec) {
                    continue;
                }
                match crate::config::secrets::read(spec) {
                    Ok(value) => {
                        values.insert(spec.clone(), value);
                    }
                    Err(reason) => problems.push(SecretProblem::Unreadable {
                        image: image.name.to_string(),
                        reason,
                    }),
                }
            }
        }
        problems.dedup_by(|a, b| a.to_string() == b.to_string());
        match problems.is_empty() {
            true => Ok(Secrets(values)),
            false => Err(SecretsError(problems)),
        }
    }

    /// The values a build listing `specs` gets.
    pub fn for_build<'a>(
        &self,
        specs: impl IntoIterator<Item = &'a SecretSpec>,
    ) -> Result<Vec<BuildSecret>, SecretProblem> {
        specs
            .into_iter()
            .map(|spec| match self.0.get(spec) {
                Some(value) => Ok(BuildSecret {
                    id: spec.id.clone(),
                    value: value.clone(),
                }),
                None => Err(SecretProblem::NotRead {
                    id: spec.id.clone(),
                }),
            })
            .collect()
    }
}

/// What a fingerprint holds of a secret: its ID and its value's SHA-256,
/// itself hashed again with every other input, never the value.
pub fn fingerprint_field(secret: &BuildSecret) -> String {
    let digest = Sha256::digest(secret.value.expose().as_bytes());
    format!("{}={}", secret.id, hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secrets::SecretSource;

    fn plan_with(spec: SecretSpec) -> Plan {
        let mut plan = Plan::default();
        plan.images.push(crate::plan::ImagePlan {
            secrets: vec![spec],
            ..crate::plan::ImagePlan::for_test("acme/app:1", "/nowhere")
        });
        plan
    }

    #[test]
    fn a_missing_variable_names_the_image_and_classic_is_refused() {
        let spec = SecretSpec {
            id: "npm".into(),
            source: SecretSource::Env("STRATA_TEST_UNSET_SECRET_VAR".into()),
        };
        let plan = plan_with(spec);
        let e = Secrets::read(&plan, crate::engine::Builder::Buildkit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image acme/app:1: secret npm"), "{e}");
        assert!(e.contains("STRATA_TEST_UNSET_SECRET_VAR is not set"), "{e}");
        let e = Secrets::read(&plan, crate::engine::Builder::Classic)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs BuildKit"), "{e}");
    }

    #[test]
    fn the_fingerprint_field_holds_a_hash_not_the_value() {
        let s = BuildSecret {
            id: "npm".into(),
            value: Secret::new("value-one-1234"),
        };
        let field = fingerprint_field(&s);
        assert!(!field.contains("value-one-1234"));
        let t = BuildSecret {
            id: "npm".into(),
            value: Secret::new("value-two-1234"),
        };
        assert_ne!(field, fingerprint_field(&t));
    }
}
