//! Sigstore signatures stored beside an image in its registry, as cosign stores them: an image
//! tagged `sha256-<hex>.sig` whose layers are the signed payloads, each carrying its signature
//! in an annotation. Fetched here, verified by the caller's policy.

use std::sync::Arc;

use hoist_oci::{descriptor_digest, Digest, Reference};

use crate::inspect::small_blob;
use crate::manifest::Document;
use crate::pull::Remote;
use crate::session::Session;
use crate::{Error, RegistryOptions, Result};

/// The annotation holding a layer's signature (base64 of an ASN.1 ECDSA signature).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A payload is a small JSON document; anything larger is not one.
const PAYLOAD_LIMIT: usize = 64 << 10;
/// Signatures looked at per image: more is a registry wasting the client's time.
const MAX_SIGNATURES: usize = 64;

/// One signature: the signed payload and its signature, still to be verified.
pub struct SigstoreSignature {
    pub payload: Vec<u8>,
    pub signature: String,
}

/// The signatures stored for the manifest `digest` in the repository of `reference` (none if
/// there is no signature image).
pub async fn sigstore_signatures(
    reference: &Reference,
    digest: &Digest,
    options: &RegistryOptions,
) -> Result<Vec<SigstoreSignature>> {
    let tag: Reference = format!(
        "{}:{}-{}.sig",
        reference.name(),
        digest.algorithm(),
        digest.hex()
    )
    .parse()
    .map_err(|_| Error::NotFound {
        reference: reference.to_string(),
    })?;
    let session = Arc::new(Session::for_repository(reference, options).await?);
    let remote = Remote {
        session: Arc::clone(&session),
        reference: tag.clone(),
        allow_layer_urls: false,
    };
    let fetched = match remote.manifest(&tag).await {
        Ok(fetched) => fetched,
        Err(Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(other) => return Err(other),
    };
    let Document::Image(manifest) = fetched.document else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for layer in manifest.layers().iter().take(MAX_SIGNATURES) {
        let Some(signature) = layer
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        let what = format!("fetching a signature of {reference}");
        let payload = small_blob(
            &session,
            &tag,
            &descriptor_digest(layer)?,
            PAYLOAD_LIMIT,
            &what,
        )
        .await?;
        found.push(SigstoreSignature {
            payload,
            signature: signature.clone(),
        });
    }
    Ok(found)
}
