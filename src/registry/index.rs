//! A multi-platform image's index: whether the registry holds it already,
//! and putting it and reading it back, in one place for `push` and
//! `publish`.

use super::{Digest, RegistryError, RegistryRead, RegistryWrite, Resolved};
use crate::reference::Platform;

/// Why an index was not put, or not found as put when read back.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The registry refused the index, or could not be reached.
    #[error(transparent)]
    Put(RegistryError),
    /// The index `digest` was put, but reading it back failed.
    #[error("put {digest}, but reading it back failed: {source}")]
    Read {
        digest: Digest,
        #[source]
        source: RegistryError,
    },
    /// The index `digest` was put, but the name resolves to nothing now.
    #[error("put {digest}, but the registry does not have it")]
    Missing { digest: Digest },
    /// The index `digest` was put, but the name resolves to another
    /// manifest (`now`, listing `listed`), as when someone else put one
    /// meanwhile.
    #[error("put {digest}, but it resolves to {now} listing {listed:?}")]
    Differs {
        digest: Digest,
        now: Digest,
        listed: Vec<(Digest, Option<String>)>,
    },
}

/// `children` as an index lists them: each manifest with its platform.
fn planned(children: &[(Digest, Platform)]) -> Vec<(Digest, Option<String>)> {
    children
        .iter()
        .map(|(d, p)| (d.clone(), Some(p.to_string())))
        .collect()
}

/// What `resolved` lists, in its order.
fn listed(resolved: &Resolved) -> Vec<(Digest, Option<String>)> {
    resolved
        .children
        .iter()
        .map(|c| (c.digest.clone(), c.platform.clone()))
        .collect()
}

/// Whether `resolved` is the index of exactly `children`, in their order.
pub fn lists(resolved: &Resolved, children: &[(Digest, Platform)]) -> bool {
    listed(resolved) == planned(children)
}

/// The digest of the index `name` resolves to, when it lists exactly
/// `children` (so putting it again would change nothing).
pub async fn held(
    registry: &dyn RegistryRead,
    name: &str,
    children: &[(Digest, Platform)],
) -> Result<Option<Digest>, RegistryError> {
    Ok(registry
        .resolve(name)
        .await?
        .filter(|held| lists(held, children))
        .map(|held| held.digest))
}

/// Puts the index of `children` under `name` and reads it back: `name`
/// must then resolve to the index just put, listing exactly `children`.
/// Returns the index's digest.
pub async fn put(
    registry: &dyn RegistryWrite,
    name: &str,
    children: &[(Digest, Platform)],
) -> Result<Digest, IndexError> {
    let digest = registry
        .put_index(name, children)
        .await
        .map_err(IndexError::Put)?;
    let after = match registry.resolve(name).await {
        Ok(Some(after)) => after,
        Ok(None) => return Err(IndexError::Missing { digest }),
        Err(source) => return Err(IndexError::Read { digest, source }),
    };
    if after.digest != digest || !lists(&after, children) {
        return Err(IndexError::Differs {
            listed: listed(&after),
            now: after.digest,
            digest,
        });
    }
    Ok(digest)
}

impl IndexError {
    /// The digest of the index put, if it was put.
    pub fn put_digest(&self) -> Option<&Digest> {
        match self {
            IndexError::Put(_) => None,
            IndexError::Read { digest, .. }
            | IndexError::Missing { digest }
            | IndexError::Differs { digest, .. } => Some(digest),
        }
    }
}
