//! Pushing an image from a layout to a registry: each blob unless the registry has it (one
//! monolithic upload, streamed from the file), then manifests, children before the index.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use hoist_oci::{descriptor_digest, media_type, Descriptor, Digest, Layout, Reference};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

use crate::session::Session;
use crate::{Error, Event, EventSink, RegistryOptions, Result};

/// Pushes `top` and everything it reaches from `layout` to `reference`'s repository, naming it
/// by the reference's tag (or digest). Returns the number of blobs uploaded.
pub async fn push(
    layout: &Layout,
    top: &Descriptor,
    reference: &Reference,
    options: &RegistryOptions,
    events: EventSink,
) -> Result<usize> {
    let session = Arc::new(Session::for_repository(reference, options).await?);
    let order = layout.walk(top)?;
    let (manifests, blobs): (Vec<Descriptor>, Vec<Descriptor>) = order
        .into_iter()
        .partition(|d| media_type::manifest_kind(d.media_type().as_ref()).is_some());
    let (left_at_urls, blobs): (Vec<Descriptor>, Vec<Descriptor>) =
        blobs.into_iter().partition(stays_at_its_urls);
    events(Event::Resolved {
        manifest: descriptor_digest(top)?,
        blobs: blobs.len(),
    });
    let repository = reference.repository().to_string();
    let uploaded: Vec<bool> = futures_util::stream::iter(blobs.into_iter().map(|descriptor| {
        let session = Arc::clone(&session);
        let layout = layout.clone();
        let repository = repository.clone();
        let events = Arc::clone(&events);
        tokio::spawn(async move {
            upload_blob(&session, &layout, &repository, &descriptor, &events).await
        })
    }))
    .buffer_unordered(options.jobs.max(1))
    .map(|joined| joined?)
    .try_collect()
    .await?;
    for manifest in &manifests {
        let digest = descriptor_digest(manifest)?;
        let target = if manifest.digest() == top.digest() {
            reference
                .tag()
                .map(str::to_string)
                .unwrap_or_else(|| digest.to_string())
        } else {
            digest.to_string()
        };
        let bytes =
            layout.read_blob(manifest, "manifest", crate::session::MANIFEST_LIMIT as u64)?;
        // Which of the layers left at their URLs this manifest points at (its JSON names them).
        let left: Vec<String> = left_at_urls
            .iter()
            .map(|d| d.digest().to_string())
            .filter(|digest| contains(&bytes, digest.as_bytes()))
            .collect();
        put_manifest(&session, &repository, &target, manifest, bytes)
            .await
            .map_err(|source| match &source {
                Error::Status { message, .. }
                    if !left.is_empty()
                        && (message.contains("BLOB_UNKNOWN")
                            || message.contains("MANIFEST_INVALID")) =>
                {
                    Error::LayersLeftAtUrls {
                        layers: left,
                        source: Box::new(source),
                    }
                }
                _ => source,
            })?;
    }
    Ok(uploaded.into_iter().filter(|u| *u).count())
}

/// Whether a layer stays where its URLs say, not uploaded, as containers/image leaves it: a
/// non-distributable layer's licence may not allow another copy, and whoever pulls is sent
/// there. Only the media types registries take a manifest without (distribution exempts these
/// from its blob check) are left; a zstd one is uploaded, or no registry would take it.
fn stays_at_its_urls(descriptor: &Descriptor) -> bool {
    matches!(
        descriptor.media_type().as_ref(),
        media_type::OCI_NONDISTRIBUTABLE_TAR
            | media_type::OCI_NONDISTRIBUTABLE_GZIP
            | media_type::DOCKER_FOREIGN_LAYER_GZIP
    ) && !hoist_oci::nondistributable_urls(descriptor).is_empty()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

async fn upload_blob(
    session: &Session,
    layout: &Layout,
    repository: &str,
    descriptor: &Descriptor,
    events: &EventSink,
) -> Result<bool> {
    let digest = descriptor_digest(descriptor)?;
    let blob_error = |source: Error| Error::Blob {
        digest: digest.clone(),
        source: Box::new(source),
    };
    let uploaded = upload(
        session,
        layout,
        repository,
        &digest,
        descriptor.size(),
        events,
    )
    .await
    .map_err(blob_error)?;
    events(Event::BlobDone {
        digest,
        fetched: uploaded,
    });
    Ok(uploaded)
}

async fn upload(
    session: &Session,
    layout: &Layout,
    repository: &str,
    digest: &Digest,
    size: u64,
    events: &EventSink,
) -> Result<bool> {
    let scope = scope(repository);
    let what = format!("uploading to {}", session.registry());
    let head_url = session.url(&format!("{repository}/blobs/{digest}"));
    let exists = session
        .send(&what, &scope, |http| http.head(&head_url))
        .await?;
    if exists.status() == StatusCode::OK {
        return Ok(false);
    }
    let path = layout.blob_path(digest);
    if !layout.has_blob(digest, size) {
        return Err(hoist_oci::Error::MissingBlob(digest.clone()).into());
    }
    events(Event::BlobStarted {
        digest: digest.clone(),
        size,
    });
    let start_url = session.url(&format!("{repository}/blobs/uploads/"));
    let started = session
        .send(&what, &scope, |http| {
            http.post(&start_url).header(CONTENT_LENGTH, "0")
        })
        .await?;
    if started.status() != StatusCode::ACCEPTED {
        return Err(session.failure(&what, repository, started).await);
    }
    let location = started
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Status {
            what: what.clone(),
            status: 202,
            message: "the registry gave no upload location".into(),
        })?;
    let mut put_url = reqwest::Url::parse(&session.url(""))
        .and_then(|base| base.join(location))
        .map_err(|e| Error::Status {
            what: what.clone(),
            status: 202,
            message: format!("the upload location {location:?} is not a URL: {e}"),
        })?;
    put_url
        .query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    let put = session
        .send(&what, &scope, |http| {
            // Opened for each attempt: a retried upload starts from the first byte.
            let body = match std::fs::File::open(&path) {
                Ok(file) => reqwest::Body::from(tokio::fs::File::from_std(file)),
                Err(_) => reqwest::Body::from(Vec::new()),
            };
            http.put(put_url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, size)
                .body(body)
        })
        .await?;
    if put.status() != StatusCode::CREATED {
        return Err(session.failure(&what, repository, put).await);
    }
    Ok(true)
}

async fn put_manifest(
    session: &Session,
    repository: &str,
    target: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
) -> Result<()> {
    let url = session.url(&format!("{repository}/manifests/{target}"));
    let what = format!("pushing the manifest {target} to {}", session.registry());
    let media_type = descriptor.media_type().to_string();
    let response = session
        .send(&what, &scope(repository), |http| {
            http.put(&url)
                .header(CONTENT_TYPE, &media_type)
                .body(bytes.clone())
        })
        .await?;
    if response.status() != StatusCode::CREATED {
        return Err(session.failure(&what, repository, response).await);
    }
    Ok(())
}
