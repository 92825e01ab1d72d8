use hoist_oci::media_type::{self, ManifestKind};
use hoist_oci::{ImageIndex, ImageManifest, Platform, Reference};
use serde_json::Value;

use crate::{Error, Result};

/// A manifest document as fetched, classified by what it says it is.
pub(crate) enum Document {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// Classifies raw manifest bytes and returns them with their media type. The `mediaType` field
/// decides; where it is absent (allowed for OCI documents) the `Content-Type` the registry sent
/// or else the shape does. A document whose type, shape and `Content-Type` disagree is rejected.
pub(crate) fn parse(
    reference: &Reference,
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<(Document, String)> {
    let bad = |source| Error::BadManifest {
        reference: reference.to_string(),
        source,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(bad)?;
    if value.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(Error::SchemaOne {
            reference: reference.to_string(),
        });
    }
    let has_layers = value.get("layers").is_some();
    let has_manifests = value.get("manifests").is_some();
    let declared = value.get("mediaType").and_then(Value::as_str);
    if let Some(ct) = content_type {
        if ct == media_type::DOCKER_MANIFEST_V1 || ct == media_type::DOCKER_MANIFEST_V1_SIGNED {
            return Err(Error::SchemaOne {
                reference: reference.to_string(),
            });
        }
    }
    // Only a manifest media type says anything; `application/json` and the like do not.
    let labelled = content_type.filter(|ct| media_type::manifest_kind(ct).is_some());
    let (kind, media_type) = match declared.or(labelled) {
        Some(mt) => match media_type::manifest_kind(mt) {
            Some(kind) => (kind, mt.to_string()),
            None if mt == media_type::DOCKER_MANIFEST_V1
                || mt == media_type::DOCKER_MANIFEST_V1_SIGNED =>
            {
                return Err(Error::SchemaOne {
                    reference: reference.to_string(),
                })
            }
            None => {
                return Err(Error::UnsupportedManifest {
                    reference: reference.to_string(),
                    media_type: mt.to_string(),
                })
            }
        },
        None if has_manifests && !has_layers => {
            (ManifestKind::Index, media_type::OCI_INDEX.to_string())
        }
        None if has_layers && !has_manifests => {
            (ManifestKind::Image, media_type::OCI_MANIFEST.to_string())
        }
        None => {
            return Err(Error::UnsupportedManifest {
                reference: reference.to_string(),
                media_type: "(none, and the shape is neither a manifest nor an index)".into(),
            })
        }
    };
    let contradicts = match kind {
        ManifestKind::Image => has_manifests || !has_layers,
        ManifestKind::Index => has_layers || !has_manifests,
    };
    if contradicts {
        return Err(Error::UnsupportedManifest {
            reference: reference.to_string(),
            media_type: format!("{media_type} (but the document's fields are of the other kind)"),
        });
    }
    if let Some(ct) = labelled {
        if ct != media_type {
            return Err(Error::ContentTypeMismatch {
                reference: reference.to_string(),
                content_type: ct.to_string(),
                declared: media_type,
            });
        }
    }
    let document = match kind {
        ManifestKind::Image => {
            Document::Image(Box::new(serde_json::from_value(value).map_err(bad)?))
        }
        ManifestKind::Index => {
            Document::Index(Box::new(serde_json::from_value(value).map_err(bad)?))
        }
    };
    Ok((document, media_type))
}

/// Picks the index entry for `wanted`, or says which platforms there are.
pub(crate) fn choose_platform<'a>(
    reference: &Reference,
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<&'a hoist_oci::Descriptor> {
    wanted
        .choose(index)
        .ok_or_else(|| Error::NoMatchingPlatform {
            reference: reference.to_string(),
            wanted: wanted.to_string(),
            available: Platform::listed(index),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Reference {
        "127.0.0.1:1/x:y".parse().unwrap()
    }

    #[test]
    fn contradictory_and_schema_one_documents_are_rejected() {
        let r = reference();
        let index_claiming_image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#;
        assert!(matches!(
            parse(&r, index_claiming_image, None),
            Err(Error::UnsupportedManifest { .. })
        ));
        let v1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(parse(&r, v1, None), Err(Error::SchemaOne { .. })));
        let untyped_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(&r, untyped_index, Some("application/json")),
            Ok((Document::Index(_), _))
        ));
    }

    #[test]
    fn the_content_type_must_agree_with_the_document() {
        let r = reference();
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(
            parse(&r, index, Some(media_type::OCI_MANIFEST)),
            Err(Error::ContentTypeMismatch { .. })
        ));
        assert!(parse(&r, index, Some(media_type::OCI_INDEX)).is_ok());
        let untyped_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(&r, untyped_index, Some(media_type::OCI_MANIFEST)),
            Err(Error::UnsupportedManifest { .. })
        ));
        let (_, media_type) =
            parse(&r, untyped_index, Some(media_type::DOCKER_MANIFEST_LIST)).unwrap();
        assert_eq!(media_type, media_type::DOCKER_MANIFEST_LIST);
    }
}
