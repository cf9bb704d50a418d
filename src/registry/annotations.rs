//! Annotations on what strata uploads: an image manifest carries its
//! config's `org.opencontainers.image.*` labels, an index what all its
//! platforms' manifests say alike.

use std::collections::BTreeMap;

/// The prefix of the labels that become annotations.
pub const PREFIX: &str = "org.opencontainers.image.";

/// The labels of an image config (`config` is its JSON) that become
/// annotations: the `org.opencontainers.image.*` ones.
pub fn of_config(config: &[u8]) -> BTreeMap<String, String> {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(config) else {
        return BTreeMap::new();
    };
    let labels = json
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.as_object());
    labels
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The annotations every one of `children` (manifests' JSON) carries with
/// the same value: what an index of them says of all its platforms.
pub fn shared(children: &[&[u8]]) -> BTreeMap<String, String> {
    let of = |raw: &[u8]| -> BTreeMap<String, String> {
        serde_json::from_slice::<serde_json::Value>(raw)
            .ok()
            .and_then(|j| j.get("annotations").cloned())
            .and_then(|a| serde_json::from_value(a).ok())
            .unwrap_or_default()
    };
    let mut all = children.iter().map(|c| of(c));
    let Some(mut shared) = all.next() else {
        return BTreeMap::new();
    };
    for other in all {
        shared.retain(|k, v| other.get(k) == Some(v));
    }
    shared.retain(|k, _| k.starts_with(PREFIX));
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_says_what_all_its_platforms_share() {
        let a = br#"{"annotations":{"org.opencontainers.image.version":"1","org.opencontainers.image.base.digest":"sha256:a","x":"1"}}"#;
        let b = br#"{"annotations":{"org.opencontainers.image.version":"1","org.opencontainers.image.base.digest":"sha256:b","x":"1"}}"#;
        let shared = shared(&[a, b]);
        assert_eq!(
            shared.into_iter().collect::<Vec<_>>(),
            vec![(
                "org.opencontainers.image.version".to_string(),
                "1".to_string()
            )]
        );
    }
}
