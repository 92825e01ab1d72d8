//! Deleting an image from a registry (`skopeo delete`): the manifest the reference names is
//! fetched (a tag is resolved to the digest of the bytes served, never of a header), then
//! deleted by that digest. Blobs are the registry's garbage collector's business.

use hoist_oci::{Digest, Reference};
use reqwest::header::ACCEPT;
use reqwest::StatusCode;

use crate::pull::Remote;
use crate::session::Session;
use crate::{Error, RegistryOptions, Result};

/// Deletes the manifest `reference` names; returns its digest.
pub async fn delete(reference: &Reference, options: &RegistryOptions) -> Result<Digest> {
    let session = std::sync::Arc::new(Session::for_repository(reference, options).await?);
    let remote = Remote {
        session: session.clone(),
        reference: reference.clone(),
        allow_layer_urls: false,
    };
    let digest = remote.manifest(reference).await?.digest;
    let repository = reference.repository();
    let url = session.url(&format!("{repository}/manifests/{digest}"));
    let what = format!("deleting {reference}");
    let response = session
        .send(&what, &format!("repository:{repository}:*"), |http| {
            http.delete(&url)
                .header(ACCEPT, hoist_oci::media_type::ACCEPTED_MANIFESTS.join(", "))
        })
        .await?;
    match response.status() {
        StatusCode::ACCEPTED | StatusCode::OK => Ok(digest),
        StatusCode::NOT_FOUND => Err(Error::NotFound {
            reference: reference.to_string(),
        }),
        StatusCode::METHOD_NOT_ALLOWED => Err(Error::DeleteNotAllowed {
            registry: reference.registry().to_string(),
        }),
        _ => Err(session
            .failure(&what, &reference.to_string(), response)
            .await),
    }
}
