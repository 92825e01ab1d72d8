//! Looking at an image in a registry without pulling its layers (`skopeo inspect`).

use std::sync::Arc;

use hoist_oci::{descriptor_digest, Digest, Platform, Reference};
use reqwest::StatusCode;

use crate::manifest::{self, Document};
use crate::pull::Remote;
use crate::session::Session;
use crate::{RegistryOptions, Result};

/// Configs are read whole into memory: a cap like the store's own.
const CONFIG_LIMIT: usize = 8 << 20;

/// What a reference names, as the registry serves it.
pub struct Inspected {
    /// The document the reference names (an index, or an image manifest), byte for byte.
    pub raw: Vec<u8>,
    pub digest: Digest,
    /// The platform's image manifest (`raw` itself when that is no index).
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    /// The image's config blob, verified against its digest.
    pub config: Vec<u8>,
    /// The repository's tags, every page (none when not asked for, or refused).
    pub tags: Vec<String>,
    /// The registry refused to list the tags (401/403): skopeo goes on without them, and so
    /// does hoist, saying so.
    pub tags_refused: bool,
}

pub async fn inspect(
    reference: &Reference,
    platform: &Platform,
    options: &RegistryOptions,
    list_tags: bool,
) -> Result<Inspected> {
    let session = Arc::new(Session::for_repository(reference, options).await?);
    let remote = Remote {
        session: Arc::clone(&session),
        reference: reference.clone(),
        allow_layer_urls: options.allow_layer_urls,
    };
    let top = remote.manifest(reference).await?;
    let image = match &top.document {
        Document::Image(_) => None,
        Document::Index(index) => {
            let entry = manifest::choose_platform(reference, index, platform)?;
            Some(remote.child(entry).await?)
        }
    };
    let chosen = image.as_ref().unwrap_or(&top);
    let Document::Image(manifest) = &chosen.document else {
        unreachable!("child() refuses indexes")
    };
    let config_descriptor = manifest.config();
    let config_digest = descriptor_digest(config_descriptor)?;
    let what = format!("fetching the config of {reference}");
    let config = small_blob(&session, reference, &config_digest, CONFIG_LIMIT, &what).await?;
    let (tags, tags_refused) = match list_tags {
        false => (Vec::new(), false),
        true => match crate::tags::repository_tags(&session, reference.repository()).await {
            Ok(tags) => (tags, false),
            Err(crate::Error::Unauthorized { .. }) => (Vec::new(), true),
            Err(other) => return Err(other),
        },
    };
    let (manifest_bytes, manifest_digest) = (chosen.bytes.clone(), chosen.digest.clone());
    Ok(Inspected {
        raw: top.bytes,
        digest: top.digest,
        manifest: manifest_bytes,
        manifest_digest,
        config,
        tags,
        tags_refused,
    })
}

/// A blob read whole into memory (within `limit`), verified against its digest.
pub(crate) async fn small_blob(
    session: &Session,
    reference: &Reference,
    digest: &Digest,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>> {
    let url = session.url(&format!("{}/blobs/{digest}", reference.repository()));
    let response = session
        .send(
            what,
            &format!("repository:{}:pull", reference.repository()),
            |http| http.get(&url),
        )
        .await?;
    if response.status() != StatusCode::OK {
        return Err(session
            .failure(what, &reference.to_string(), response)
            .await);
    }
    let bytes = session.read_bounded(response, limit, what).await?;
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(hoist_oci::Error::DigestMismatch {
            expected: digest.clone(),
            actual,
        }
        .into());
    }
    Ok(bytes)
}

/// The digest of the document `reference` names in its registry (verified against the bytes
/// served), or `None` if the registry has no such tag or digest.
pub async fn manifest_digest(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<Option<Digest>> {
    let session = Arc::new(Session::for_repository(reference, options).await?);
    let remote = Remote {
        session,
        reference: reference.clone(),
        allow_layer_urls: false,
    };
    match remote.manifest(reference).await {
        Ok(fetched) => Ok(Some(fetched.digest)),
        Err(crate::Error::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}
