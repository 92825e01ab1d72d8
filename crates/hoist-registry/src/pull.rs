use std::io::Write;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use hoist_oci::{descriptor_digest, Descriptor, Digest, Layout, Platform, Reference};
use oci_client::client::BlobResponse;
use oci_client::Client;

use crate::error::manifest_error;
use crate::manifest::{self, Document};
use crate::{Error, Event, RegistryOptions, Result};

/// What to pull and where to put it.
pub struct PullRequest<'a> {
    pub reference: &'a Reference,
    pub layout: &'a Layout,
    /// The name the image gets in the layout's `index.json`.
    pub ref_name: &'a str,
    pub platform: &'a Platform,
    pub options: &'a RegistryOptions,
}

/// The image that was pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image manifest's descriptor, as recorded in `index.json`.
    pub manifest: Descriptor,
    pub digest: Digest,
    /// Blobs fetched over the network (the rest were in the layout already).
    pub blobs_fetched: usize,
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Pulls one image (the platform's, if the reference names an index) into the layout, and names
/// it `ref_name`. The manifest is written after every blob it references and `index.json` last,
/// so an interrupted pull leaves the layout as it was, apart from complete, verified blobs.
pub async fn pull(request: PullRequest<'_>, events: EventSink) -> Result<Pulled> {
    let client = request.options.client();
    let auth = request.options.auth();
    let reference = request.reference;
    let mut target = to_client_reference(reference);

    let (mut bytes, mut digest) = fetch_manifest(&client, &auth, reference, &target).await?;
    let (manifest, media_type) = match manifest::parse(reference, &bytes)? {
        Document::Image {
            manifest,
            media_type,
        } => (manifest, media_type),
        Document::Index(index) => {
            let entry = manifest::choose_platform(reference, &index, request.platform)?;
            let entry_digest = descriptor_digest(entry)?;
            target = target.clone_with_digest(entry_digest.to_string());
            let pinned = pinned(reference, &entry_digest);
            (bytes, digest) = fetch_manifest(&client, &auth, &pinned, &target).await?;
            match manifest::parse(&pinned, &bytes)? {
                Document::Image {
                    manifest,
                    media_type,
                } => (manifest, media_type),
                Document::Index(_) => {
                    return Err(Error::NestedIndex {
                        reference: pinned.to_string(),
                    })
                }
            }
        }
    };

    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().cloned());
    events(Event::Resolved {
        manifest: digest.clone(),
        blobs: blobs.len(),
    });
    let target = Arc::new(target);
    let fetched: Vec<bool> = futures_util::stream::iter(blobs.into_iter().map(|descriptor| {
        let job = BlobJob {
            client: client.clone(),
            target: Arc::clone(&target),
            reference: reference.to_string(),
            layout: request.layout.clone(),
            events: Arc::clone(&events),
        };
        // Spawned, not just polled, so hashing of concurrent blobs spreads over the cores.
        tokio::spawn(job.fetch(descriptor))
    }))
    .buffer_unordered(request.options.jobs.max(1))
    .map(|joined| joined?)
    .try_collect()
    .await?;

    let manifest_descriptor = Descriptor::new(
        oci_spec_media_type(&media_type),
        bytes.len() as u64,
        oci_digest(&digest),
    );
    request.layout.write_blob(&bytes, &manifest_descriptor)?;
    request
        .layout
        .set_ref(request.ref_name, &manifest_descriptor)?;
    Ok(Pulled {
        manifest: manifest_descriptor,
        digest,
        blobs_fetched: fetched.into_iter().filter(|f| *f).count(),
    })
}

/// Fetches a manifest and checks it against the digest the reference pins, if any.
async fn fetch_manifest(
    client: &Client,
    auth: &oci_client::secrets::RegistryAuth,
    reference: &Reference,
    target: &oci_client::Reference,
) -> Result<(Vec<u8>, Digest)> {
    let (bytes, _) = client
        .pull_manifest_raw(target, auth, hoist_oci::media_type::ACCEPTED_MANIFESTS)
        .await
        .map_err(|source| manifest_error(reference, source))?;
    let actual = Digest::of(&bytes);
    if let Some(expected) = reference.digest() {
        if &actual != expected {
            return Err(Error::ManifestDigestMismatch {
                reference: reference.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok((bytes.to_vec(), actual))
}

struct BlobJob {
    client: Client,
    target: Arc<oci_client::Reference>,
    reference: String,
    layout: Layout,
    events: EventSink,
}

impl BlobJob {
    /// Streams one blob into the layout through its verifying writer. Returns whether it had to
    /// be fetched.
    async fn fetch(self, descriptor: Descriptor) -> Result<bool> {
        let digest = descriptor_digest(&descriptor)?;
        let size = descriptor.size();
        if self.layout.has_blob(&digest, size) {
            (self.events)(Event::BlobDone {
                digest,
                fetched: false,
            });
            return Ok(false);
        }
        (self.events)(Event::BlobStarted {
            digest: digest.clone(),
            size,
        });
        let blob_error = |source: std::io::Error| Error::Blob {
            reference: self.reference.clone(),
            digest: digest.clone(),
            source,
        };
        // A ranged request from offset 0: oci-client then hands back the plain stream (on a
        // 206) instead of hashing it a second time; the store's writer verifies every byte.
        let response = self
            .client
            .pull_blob_stream_partial(&self.target, digest.to_string().as_str(), 0, None)
            .await
            .map_err(|e| blob_error(std::io::Error::other(e)))?;
        let mut stream = match response {
            BlobResponse::Full(stream) | BlobResponse::Partial(stream) => stream,
        };
        let mut writer = self.layout.begin_blob()?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(blob_error)?;
            // Bounded by the descriptor: a registry that sends more is cut off at once.
            if writer.bytes_written() + chunk.len() as u64 > size {
                return Err(hoist_oci::Error::SizeMismatch {
                    digest,
                    expected: size,
                    actual: writer.bytes_written() + chunk.len() as u64,
                }
                .into());
            }
            // A plain blocking write: it lands in the page cache through a 256 KiB buffer, which
            // is cheaper than a hop to the blocking pool per chunk.
            writer.write_all(&chunk).map_err(blob_error)?;
            (self.events)(Event::BlobProgress {
                digest: digest.clone(),
                bytes: writer.bytes_written(),
            });
        }
        writer.commit(&digest, size)?;
        (self.events)(Event::BlobDone {
            digest,
            fetched: true,
        });
        Ok(true)
    }
}

fn to_client_reference(reference: &Reference) -> oci_client::Reference {
    let (registry, repository) = (
        reference.registry().to_string(),
        reference.repository().to_string(),
    );
    match (reference.tag(), reference.digest()) {
        (_, Some(digest)) => {
            oci_client::Reference::with_digest(registry, repository, digest.to_string())
        }
        (Some(tag), None) => oci_client::Reference::with_tag(registry, repository, tag.to_string()),
        (None, None) => unreachable!("parsing gives every reference a tag or a digest"),
    }
}

fn pinned(reference: &Reference, digest: &Digest) -> Reference {
    format!("{}@{digest}", reference.name())
        .parse()
        .expect("a parsed name with a valid digest parses")
}

fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .expect("hoist digests are valid OCI digests")
}

fn oci_spec_media_type(media_type: &str) -> oci_spec::image::MediaType {
    oci_spec::image::MediaType::from(media_type)
}
