//! A multi-platform image's index: whether the registry holds it already,
//! and putting it and reading it back, in one place for `push` and
//! `publish`.

use super::{Digest, RegistryError, RegistryRead, RegistryWrite, Resolved};
use crate::reference::{ImageRef, Platform};

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
    name: &ImageRef,
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
    name: &ImageRef,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{referrers, IndexChild, Manifest, Repository};
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// A registry whose name resolves to `held`, and resolves to `after`
    /// once an index was put.
    struct Registry {
        held: Option<Resolved>,
        after: Option<Resolved>,
        put: Mutex<bool>,
    }

    #[async_trait]
    impl RegistryRead for Registry {
        async fn resolve(&self, _: &ImageRef) -> Result<Option<Resolved>, RegistryError> {
            Ok(match *self.put.lock().unwrap() {
                true => self.after.clone(),
                false => self.held.clone(),
            })
        }
        async fn digest(&self, _: &ImageRef) -> Result<Option<Digest>, RegistryError> {
            unreachable!()
        }
        async fn tags(&self, _: &Repository) -> Result<Vec<String>, RegistryError> {
            unreachable!()
        }
        async fn manifest(&self, _: &ImageRef) -> Result<Option<Manifest>, RegistryError> {
            unreachable!()
        }
        async fn blob(&self, _: &Repository, _: &str, _: u64) -> Result<Vec<u8>, RegistryError> {
            unreachable!()
        }
        async fn referrers(
            &self,
            _: &Repository,
            _: &Digest,
            _: &str,
        ) -> Result<Vec<referrers::Referrer>, RegistryError> {
            unreachable!()
        }
    }

    #[async_trait]
    impl RegistryWrite for Registry {
        async fn check(&self, _: &ImageRef) -> Result<(), RegistryError> {
            unreachable!()
        }
        async fn retag(
            &self,
            _: &Repository,
            _: &Digest,
            _: &ImageRef,
        ) -> Result<Digest, RegistryError> {
            unreachable!()
        }
        async fn upload(&self, _: &std::path::Path, _: &ImageRef) -> Result<Digest, RegistryError> {
            unreachable!()
        }
        async fn put_index(
            &self,
            _: &ImageRef,
            _: &[(Digest, Platform)],
        ) -> Result<Digest, RegistryError> {
            *self.put.lock().unwrap() = true;
            Ok(Digest::new("sha256:index"))
        }
        async fn attach(
            &self,
            _: &Repository,
            _: &Digest,
            _: &referrers::Artifact,
        ) -> Result<(Digest, referrers::Listed), RegistryError> {
            unreachable!()
        }
    }

    fn children() -> Vec<(Digest, Platform)> {
        vec![
            (Digest::new("sha256:a"), "linux/amd64".parse().unwrap()),
            (Digest::new("sha256:b"), "linux/arm64".parse().unwrap()),
        ]
    }

    fn index(digest: &str, entries: &[(&str, &str)]) -> Resolved {
        Resolved {
            digest: Digest::new(digest),
            config_digest: None,
            children: entries
                .iter()
                .map(|(d, p)| IndexChild {
                    digest: Digest::new(*d),
                    platform: Some(p.to_string()),
                })
                .collect(),
        }
    }

    fn registry(held: Option<Resolved>, after: Option<Resolved>) -> Registry {
        Registry {
            held,
            after,
            put: Mutex::new(false),
        }
    }

    fn app() -> ImageRef {
        ImageRef::parse("r/app:1").unwrap()
    }

    const BOTH: &[(&str, &str)] = &[("sha256:a", "linux/amd64"), ("sha256:b", "linux/arm64")];

    #[tokio::test]
    async fn an_index_is_held_only_when_it_lists_exactly_the_platforms_in_order() {
        let same = registry(Some(index("sha256:old", BOTH)), None);
        let found = held(&same, &app(), &children()).await.unwrap();
        assert_eq!(found, Some(Digest::new("sha256:old")));
        let swapped = [BOTH[1], BOTH[0]];
        for listing in [&BOTH[..1], &swapped[..], &[][..]] {
            let other = registry(Some(index("sha256:old", listing)), None);
            assert_eq!(held(&other, &app(), &children()).await.unwrap(), None);
        }
        let absent = registry(None, None);
        assert_eq!(held(&absent, &app(), &children()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_index_put_is_read_back() {
        let fine = registry(None, Some(index("sha256:index", BOTH)));
        let put_at = put(&fine, &app(), &children()).await.unwrap();
        assert_eq!(put_at, Digest::new("sha256:index"));

        let gone = registry(None, None);
        let e = put(&gone, &app(), &children()).await.unwrap_err();
        assert!(matches!(e, IndexError::Missing { .. }), "{e}");

        // Someone else's index under the name, or ours listing other entries.
        for after in [
            index("sha256:theirs", BOTH),
            index("sha256:index", &BOTH[..1]),
        ] {
            let moved = registry(None, Some(after));
            let e = put(&moved, &app(), &children()).await.unwrap_err();
            assert!(matches!(e, IndexError::Differs { .. }), "{e}");
            assert_eq!(e.put_digest(), Some(&Digest::new("sha256:index")));
        }
    }
}
