//! Artifacts that refer to an image (OCI 1.1 referrers): what strata stores
//! beside an image, such as its test attestation.
//!
//! An artifact is an OCI image manifest with an `artifactType`, an empty
//! config (`application/vnd.oci.empty.v1+json`, the two bytes `{}`), one
//! layer holding the artifact's bytes, and a `subject` naming the image
//! manifest it is about. A registry with the referrers API
//! (`GET /v2/<name>/referrers/<digest>`) lists it from the `subject` alone.
//! Registries without it (Docker's distribution 2.x, as Debian ships it)
//! answer that request with 404; then the **referrers tag schema** applies:
//! the tag `sha256-<hex>` of the subject holds an OCI image index listing
//! the artifacts, which strata reads, extends and writes back, and reads
//! again to be sure a concurrent writer did not drop its entry.
//!
//! The pure parts (manifest and index JSON) live here; the requests are
//! [`super::oci::OciRegistry`]'s.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The empty config of an artifact manifest.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_BLOB: &[u8] = b"{}";
/// The manifest and index media types the tag schema uses.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The annotation naming an in-toto statement's predicate type; on an
/// artifact, it is put on its layer as well.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// An artifact to attach to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The manifest's `artifactType`, such as `application/vnd.in-toto+json`.
    pub artifact_type: String,
    /// The media type of the one layer, such as a DSSE envelope's.
    pub media_type: String,
    /// The layer's bytes.
    pub content: Vec<u8>,
    /// Annotations of the manifest (and of its entry in a referrers list).
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest an artifact is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// One entry of a referrers list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The artifact manifest's digest.
    pub digest: String,
    pub artifact_type: String,
    pub annotations: BTreeMap<String, String>,
}

/// How an artifact was made findable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The registry lists it by its `subject` (referrers API).
    ByApi,
    /// strata added it to the index under this tag (referrers tag schema).
    ByTag(String),
}

/// What to do after an artifact manifest's `PUT`, from the answer's
/// `OCI-Subject` header (`None`: the answer's headers were not seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPut {
    /// The registry lists it by its subject (referrers API): no tag to update.
    Listed,
    /// No `OCI-Subject` (or one naming another manifest): the referrers tag
    /// schema's index is updated.
    UpdateTag,
    /// Unknown: ask the referrers API whether it lists the artifact.
    AskApi,
}

/// The OCI distribution rule: a registry that answers an artifact manifest's
/// `PUT` with `OCI-Subject: <subject digest>` lists it by its subject; any
/// other answer leaves the referrers tag schema to the client.
pub fn after_put(subject_header: Option<Option<&str>>, subject: &str) -> AfterPut {
    match subject_header {
        Some(Some(header)) if header.trim() == subject => AfterPut::Listed,
        Some(_) => AfterPut::UpdateTag,
        None => AfterPut::AskApi,
    }
}

/// Docker's multi-platform list, the other index media type.
pub const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a manifest media type is an index's (OCI index or Docker list).
pub fn is_index_media_type(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    base == INDEX_MEDIA_TYPE || base == DOCKER_LIST_MEDIA_TYPE
}

/// Whether the manifest `json` is an index, decided by its `mediaType`
/// alone: an image manifest that also carries a `manifests` field is an
/// image (a registry stores such a manifest as the image it says it is,
/// and an engine pulls it as one). Only a manifest that states no media
/// type, holds no `config` and lists `manifests` is read as an index (OCI
/// lets an index leave `mediaType` out; an image cannot lack its config).
pub fn is_index(json: &Value) -> bool {
    match json.get("mediaType") {
        Some(m) => m.as_str().is_some_and(is_index_media_type),
        None => json.get("config").is_none() && json.get("manifests").is_some(),
    }
}

/// The tag the referrers tag schema keeps `digest`'s referrers under:
/// `sha256:<hex>` becomes `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    super::upload::sha256(bytes)
}

/// The artifact manifest for `artifact` about `subject` (deterministic bytes).
pub fn artifact_manifest(artifact: &Artifact, subject: &Descriptor) -> Vec<u8> {
    let mut layer = json!({
        "mediaType": artifact.media_type,
        "digest": sha256(&artifact.content),
        "size": artifact.content.len(),
    });
    // An in-toto layer names its predicate type, as in-toto's OCI layout
    // (and Docker's attestation storage) has it.
    if let Some(t) = artifact.annotations.get(PREDICATE_TYPE) {
        layer["annotations"] = json!({ PREDICATE_TYPE: t });
    }
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact.artifact_type,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": sha256(EMPTY_BLOB),
            "size": EMPTY_BLOB.len(),
        },
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
    });
    if !artifact.annotations.is_empty() {
        m["annotations"] = json!(artifact.annotations);
    }
    serde_json::to_vec(&m).expect("a manifest serializes")
}

/// Why an artifact manifest or a referrers index is not one strata reads.
#[derive(Debug, thiserror::Error)]
pub enum ReferrersError {
    #[error("{what} is not JSON: {source}")]
    NotJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Shape(&'static str),
    #[error("the artifact manifest has {found} layers of type {media_type}, expected one")]
    Layers { found: usize, media_type: String },
}

/// The layer an artifact manifest holds: its digest and size, if it is an
/// artifact manifest with exactly one layer of `media_type` (or of any type
/// when `media_type` is `None`).
pub fn artifact_layer(
    manifest: &[u8],
    media_type: Option<&str>,
) -> Result<(String, u64), ReferrersError> {
    let m: Value = serde_json::from_slice(manifest).map_err(|source| ReferrersError::NotJson {
        what: "manifest",
        source,
    })?;
    let layers = m
        .get("layers")
        .and_then(Value::as_array)
        .ok_or(ReferrersError::Shape("the artifact manifest has no layers"))?;
    let wanted: Vec<&Value> = layers
        .iter()
        .filter(|l| {
            media_type.is_none_or(|t| l.get("mediaType").and_then(Value::as_str) == Some(t))
        })
        .collect();
    let [layer] = wanted.as_slice() else {
        return Err(ReferrersError::Layers {
            found: wanted.len(),
            media_type: media_type.unwrap_or("any").to_string(),
        });
    };
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .ok_or(ReferrersError::Shape("the artifact's layer has no digest"))?;
    let size = layer.get("size").and_then(Value::as_u64).unwrap_or(0);
    Ok((digest.to_string(), size))
}

/// The subject digest an artifact manifest names, if any.
pub fn subject_of(manifest: &[u8]) -> Option<String> {
    let m: Value = serde_json::from_slice(manifest).ok()?;
    Some(m.get("subject")?.get("digest")?.as_str()?.to_string())
}

/// `index` (the tag schema's, raw; `None` when the tag is absent) with an
/// entry for the artifact manifest `manifest` added. `None` when the entry
/// is there already. Entries the index holds are kept as they are.
pub fn index_with(
    index: Option<&[u8]>,
    manifest: &[u8],
    artifact: &Artifact,
) -> Result<Option<Vec<u8>>, ReferrersError> {
    let digest = sha256(manifest);
    let mut index: Value = match index {
        Some(raw) => serde_json::from_slice(raw).map_err(|source| ReferrersError::NotJson {
            what: "the referrers index",
            source,
        })?,
        None => json!({ "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [] }),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or(ReferrersError::Shape(
            "the referrers index has no list of manifests",
        ))?;
    if manifests
        .iter()
        .any(|m| m.get("digest").and_then(Value::as_str) == Some(digest.as_str()))
    {
        return Ok(None);
    }
    let mut entry = json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": digest,
        "size": manifest.len(),
        "artifactType": artifact.artifact_type,
    });
    if !artifact.annotations.is_empty() {
        entry["annotations"] = json!(artifact.annotations);
    }
    manifests.push(entry);
    Ok(Some(
        serde_json::to_vec(&index).expect("an index serializes"),
    ))
}

/// The entries of a referrers index (from the API or the tag schema) of
/// `artifact_type`.
pub fn entries(index: &[u8], artifact_type: &str) -> Result<Vec<Referrer>, ReferrersError> {
    let v: Value = serde_json::from_slice(index).map_err(|source| ReferrersError::NotJson {
        what: "the referrers index",
        source,
    })?;
    let list = v
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or(ReferrersError::Shape(
            "the referrers index has no list of manifests",
        ))?;
    Ok(list
        .iter()
        .filter_map(|m| {
            let kind = m.get("artifactType").and_then(Value::as_str)?;
            if kind != artifact_type {
                return None;
            }
            let annotations = m
                .get("annotations")
                .and_then(Value::as_object)
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Some(Referrer {
                digest: m.get("digest")?.as_str()?.to_string(),
                artifact_type: kind.to_string(),
                annotations,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            artifact_type: "application/vnd.in-toto+json".into(),
            media_type: "application/vnd.dsse.envelope.v1+json".into(),
            content: b"{\"payload\":\"\"}".to_vec(),
            annotations: [("k".to_string(), "v".to_string())].into(),
        }
    }

    fn subject() -> Descriptor {
        Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 300,
        }
    }

    #[test]
    fn the_tag_is_updated_only_without_an_oci_subject_header() {
        let subject = format!("sha256:{}", "a".repeat(64));
        // The registry lists it by its subject: the tag is left alone.
        assert_eq!(after_put(Some(Some(&subject)), &subject), AfterPut::Listed);
        // No header: the tag schema's index is updated.
        assert_eq!(after_put(Some(None), &subject), AfterPut::UpdateTag);
        // A header naming another manifest is no listing of this one.
        let other = format!("sha256:{}", "b".repeat(64));
        assert_eq!(after_put(Some(Some(&other)), &subject), AfterPut::UpdateTag);
        // Headers not seen: the referrers API is asked.
        assert_eq!(after_put(None, &subject), AfterPut::AskApi);
    }

    #[test]
    fn the_tag_schema_tag() {
        assert_eq!(
            fallback_tag(&format!("sha256:{}", "a".repeat(64))),
            format!("sha256-{}", "a".repeat(64))
        );
    }

    #[test]
    fn an_artifact_manifest_names_its_subject_and_layer() {
        let a = artifact();
        let m = artifact_manifest(&a, &subject());
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["artifactType"], "application/vnd.in-toto+json");
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        // The well-known digest of `{}`.
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["annotations"]["k"], "v");
        assert!(v["layers"][0].get("annotations").is_none());
        assert_eq!(subject_of(&m), Some(subject().digest));
        let (digest, size) = artifact_layer(&m, Some(&a.media_type)).unwrap();
        assert_eq!(digest, sha256(&a.content));
        assert_eq!(size, a.content.len() as u64);
        assert!(artifact_layer(&m, Some("text/plain")).is_err());
        assert!(artifact_layer(b"{}", None).is_err());
    }

    #[test]
    fn the_index_grows_once_and_keeps_other_entries() {
        let a = artifact();
        let m = artifact_manifest(&a, &subject());
        let first = index_with(None, &m, &a).unwrap().unwrap();
        assert_eq!(entries(&first, &a.artifact_type).unwrap().len(), 1);
        // Adding the same artifact again changes nothing.
        assert_eq!(index_with(Some(&first), &m, &a).unwrap(), None);
        // Another tool's entry stays, with fields strata does not know.
        let foreign = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0","size":1,
            "artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","x-extra":true}]}"#;
        let grown = index_with(Some(foreign), &m, &a).unwrap().unwrap();
        let v: Value = serde_json::from_slice(&grown).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(v["manifests"][0]["x-extra"], true);
        let mine = entries(&grown, &a.artifact_type).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].digest, sha256(&m));
        assert_eq!(mine[0].annotations["k"], "v");
        assert!(index_with(Some(b"[]"), &m, &a).is_err());
        assert!(entries(b"nonsense", "x").is_err());
    }

    #[test]
    fn an_in_toto_layer_names_its_predicate_type() {
        let mut a = artifact();
        a.annotations.insert(
            PREDICATE_TYPE.into(),
            "https://slsa.dev/provenance/v1".into(),
        );
        let v: Value = serde_json::from_slice(&artifact_manifest(&a, &subject())).unwrap();
        assert_eq!(
            v["layers"][0]["annotations"][PREDICATE_TYPE],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            v["annotations"][PREDICATE_TYPE],
            "https://slsa.dev/provenance/v1"
        );
    }
}
