use std::collections::HashSet;
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use hoist_oci::{descriptor_digest, BlobSlot, Descriptor, Digest, Layout, Platform, Reference};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::manifest::{self, Document};
use crate::session::{Session, MANIFEST_LIMIT};
use crate::{blob, Error, Event, RegistryOptions, Result};

/// Which images of an index to take.
#[derive(Debug, Clone)]
pub enum PlatformChoice {
    One(Platform),
    /// The index itself and every image it lists (`--all-platforms`).
    All,
}

/// What to pull and where to put it.
pub struct PullRequest<'a> {
    pub reference: &'a Reference,
    pub layout: &'a Layout,
    /// The name the image gets in the layout's `index.json`.
    pub ref_name: &'a str,
    pub platforms: &'a PlatformChoice,
    pub options: &'a RegistryOptions,
}

/// The image that was pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The descriptor recorded in `index.json`: an image manifest, or the index with
    /// [`PlatformChoice::All`].
    pub manifest: Descriptor,
    pub digest: Digest,
    /// Blobs fetched over the network (the rest were in the layout already).
    pub blobs_fetched: usize,
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Pulls one image (the platform's, if the reference names an index), or a whole index, into
/// the layout, and names it `ref_name`. Manifests are written after every blob they reference
/// and `index.json` last, so an interrupted pull leaves the layout as it was, apart from
/// complete, verified blobs and partial files the next pull resumes.
pub async fn pull(request: PullRequest<'_>, events: EventSink) -> Result<Pulled> {
    let session = Arc::new(Session::for_repository(request.reference, request.options).await?);
    let remote = Remote {
        session,
        reference: request.reference.clone(),
        allow_layer_urls: request.options.allow_layer_urls,
    };
    let top = remote.manifest(request.reference).await?;
    let (images, top_descriptor): (Vec<Fetched>, Descriptor) = match &top.document {
        Document::Image(_) => {
            let descriptor = top.descriptor();
            (vec![top], descriptor)
        }
        Document::Index(index) => match request.platforms {
            PlatformChoice::One(platform) => {
                let entry = manifest::choose_platform(request.reference, index, platform)?;
                let image = remote.child(entry).await?;
                let descriptor = image.descriptor();
                (vec![image], descriptor)
            }
            PlatformChoice::All => {
                let mut images = Vec::new();
                for entry in index.manifests() {
                    images.push(remote.child(entry).await?);
                }
                let descriptor = top.descriptor();
                images.push(top);
                (images, descriptor)
            }
        },
    };

    let mut seen = HashSet::new();
    let blobs: Vec<Descriptor> = images
        .iter()
        .flat_map(Fetched::blobs)
        .filter(|d| seen.insert(d.digest().to_string()))
        .collect();
    events(Event::Resolved {
        manifest: descriptor_digest(&top_descriptor)?,
        blobs: blobs.len(),
    });
    if let [Fetched {
        document: Document::Image(manifest),
        digest,
        ..
    }] = &images[..]
    {
        events(Event::ImageChosen {
            manifest: manifest.clone(),
            digest: digest.clone(),
        });
    }
    // The first failure stops the other downloads, and is reported once they have stopped:
    // none is left writing into the layout after pull returns.
    let abort = Arc::new(AtomicBool::new(false));
    let mut downloads = futures_util::stream::iter(blobs.into_iter().map(|descriptor| {
        let remote = remote.clone();
        let layout = request.layout.clone();
        let events = Arc::clone(&events);
        let abort = Arc::clone(&abort);
        // Spawned, not just polled, so hashing of concurrent blobs spreads over the cores.
        tokio::spawn(async move {
            remote
                .fetch_blob(&layout, &descriptor, &events, &abort)
                .await
        })
    }))
    .buffer_unordered(request.options.jobs.max(1));
    let mut fetched = 0;
    let mut failure = None;
    while let Some(joined) = downloads.next().await {
        match joined.map_err(Error::from).and_then(|r| r) {
            Ok(true) => fetched += 1,
            Ok(false) => {}
            Err(Error::Aborted) => {}
            Err(error) => {
                abort.store(true, Ordering::SeqCst);
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }

    // Children before the index that lists them.
    for image in &images {
        request
            .layout
            .write_blob(&image.bytes, &image.descriptor())?;
    }
    request.layout.set_ref(request.ref_name, &top_descriptor)?;
    Ok(Pulled {
        digest: descriptor_digest(&top_descriptor)?,
        manifest: top_descriptor,
        blobs_fetched: fetched,
    })
}

/// A manifest or index as fetched: its bytes, what they are, and their digest.
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) document: Document,
}

impl Fetched {
    pub(crate) fn descriptor(&self) -> Descriptor {
        hoist_oci::descriptor_of(&self.media_type, &self.digest, self.bytes.len() as u64)
    }

    /// The config and layers of an image; nothing for an index.
    fn blobs(&self) -> Vec<Descriptor> {
        match &self.document {
            Document::Image(manifest) => std::iter::once(manifest.config().clone())
                .chain(manifest.layers().iter().cloned())
                .collect(),
            Document::Index(_) => Vec::new(),
        }
    }
}

/// A repository in a registry, reached through one session.
#[derive(Clone)]
pub(crate) struct Remote {
    pub(crate) session: Arc<Session>,
    pub(crate) reference: Reference,
    /// See [`RegistryOptions::allow_layer_urls`].
    pub(crate) allow_layer_urls: bool,
}

/// The header in which a registry names the digest of the manifest it sends.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl Remote {
    fn scope(&self) -> String {
        format!("repository:{}:pull", self.reference.repository())
    }

    /// Fetches the manifest `reference` names (by tag or digest), checked against the digest it
    /// pins, its `Content-Type`, and a size cap.
    pub(crate) async fn manifest(&self, reference: &Reference) -> Result<Fetched> {
        let target = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => unreachable!("parsing gives every reference a tag or a digest"),
        };
        let url = self
            .session
            .url(&format!("{}/manifests/{target}", reference.repository()));
        let what = format!("fetching the manifest of {reference}");
        let response = self
            .session
            .send(&what, &self.scope(), |http| {
                http.get(&url)
                    .header(ACCEPT, hoist_oci::media_type::ACCEPTED_MANIFESTS.join(", "))
            })
            .await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(Error::NotFound {
                    reference: reference.to_string(),
                })
            }
            _ => {
                return Err(self
                    .session
                    .failure(&what, &reference.to_string(), response)
                    .await)
            }
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let claimed = response
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
        let bytes = self
            .session
            .read_bounded(response, MANIFEST_LIMIT, &what)
            .await?;
        let digest = Digest::of(&bytes);
        // As containerd does: a registry that names other bytes than it sends is lying (by a tag,
        // nothing else would catch it). A digest of another algorithm cannot be checked here.
        if let Some(claimed) = claimed {
            let agrees = match claimed.parse::<Digest>() {
                Ok(named) => named == digest,
                Err(hoist_oci::DigestError::UnsupportedAlgorithm(_)) => true,
                Err(_) => false,
            };
            if !agrees {
                return Err(Error::ManifestDigestHeaderMismatch {
                    reference: reference.to_string(),
                    claimed,
                    actual: digest,
                });
            }
        }
        if let Some(expected) = reference.digest() {
            if &digest != expected {
                return Err(Error::ManifestDigestMismatch {
                    reference: reference.to_string(),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let (document, media_type) = manifest::parse(reference, &bytes, content_type.as_deref())?;
        Ok(Fetched {
            bytes,
            media_type,
            digest,
            document,
        })
    }

    /// Fetches an image an index lists; a nested index is refused.
    pub(crate) async fn child(&self, entry: &Descriptor) -> Result<Fetched> {
        let pinned = pinned(&self.reference, &descriptor_digest(entry)?);
        let fetched = self.manifest(&pinned).await?;
        if matches!(fetched.document, Document::Index(_)) {
            return Err(Error::NestedIndex {
                reference: pinned.to_string(),
            });
        }
        Ok(fetched)
    }

    /// Streams one blob into the layout through its verifying writer. Returns whether it had to
    /// be fetched.
    async fn fetch_blob(
        &self,
        layout: &Layout,
        descriptor: &Descriptor,
        events: &EventSink,
        abort: &AtomicBool,
    ) -> Result<bool> {
        let digest = descriptor_digest(descriptor)?;
        let size = descriptor.size();
        let mut writer = loop {
            if abort.load(Ordering::SeqCst) {
                return Err(Error::Aborted);
            }
            match layout.try_begin_blob(&digest, size)? {
                BlobSlot::Writer(writer) => break writer,
                BlobSlot::Present => {
                    events(Event::BlobDone {
                        digest,
                        fetched: false,
                    });
                    return Ok(false);
                }
                // Another pull is fetching it into this layout; it will be there soon.
                BlobSlot::Busy => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        events(Event::BlobStarted {
            digest: digest.clone(),
            size,
        });
        let progress = |bytes| {
            events(Event::BlobProgress {
                digest: digest.clone(),
                bytes,
            })
        };
        let blob_error = |source: Error| Error::Blob {
            digest: digest.clone(),
            source: Box::new(source),
        };
        let urls = hoist_oci::nondistributable_urls(descriptor);
        let downloaded = match blob::download(
            &self.session,
            self.reference.repository(),
            &digest,
            &mut writer,
            &progress,
            abort,
        )
        .await
        {
            Err(Error::Status { status: 404, .. }) if !urls.is_empty() && self.allow_layer_urls => {
                blob::download_from_urls(&self.session, &urls, &mut writer, &progress, abort).await
            }
            Err(Error::Status { status: 404, .. }) if !urls.is_empty() => {
                Err(Error::LayerUrlsNotAllowed {
                    urls: urls
                        .iter()
                        .map(|url| crate::response::shown_url(url))
                        .collect(),
                })
            }
            other => other,
        };
        match downloaded {
            Ok(()) => writer.commit().map_err(|e| blob_error(e.into()))?,
            // A body longer than its descriptor, or bytes from a layer's URL that did not
            // match: what was written is not the blob. Or another blob failed: this pull ends,
            // with nothing of its own left behind.
            Err(
                error @ (Error::Store(_)
                | Error::Aborted
                | Error::LayerUrlsFailed { .. }
                | Error::LayerUrlsNotAllowed { .. }),
            ) => {
                writer.discard();
                return Err(match error {
                    Error::Aborted => error,
                    error => blob_error(error),
                });
            }
            // Anything else keeps the partial file, for the next pull to resume.
            Err(error) => return Err(blob_error(error)),
        }
        events(Event::BlobDone {
            digest,
            fetched: true,
        });
        Ok(true)
    }
}

pub(crate) fn pinned(reference: &Reference, digest: &Digest) -> Reference {
    format!("{}@{digest}", reference.name())
        .parse()
        .expect("a parsed name with a valid digest parses")
}
