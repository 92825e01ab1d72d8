//! The documents `hoist inspect` reports on, wherever the image is: a registry, a layout, an
//! archive or the store (an image the store lacks is looked up in its registry).

use hoist_oci::{Descriptor, Digest, ImageManifest, Platform, Reference};
use hoist_registry::RegistryOptions;

use crate::{async_runtime::block_on, Error, LocalImage, Location, Result, Store};

/// An image's documents, as raw bytes.
pub struct Documents {
    /// The image's name, as skopeo reports it.
    pub name: String,
    /// The top manifest (or index) as stored.
    pub raw: Vec<u8>,
    pub digest: Digest,
    /// The manifest chosen for the platform, and its config.
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    /// The repository's tags (a registry's), or the location's own tag.
    pub tags: Vec<String>,
    /// The registry refused to list its tags; `tags` is empty.
    pub tags_refused: bool,
}

/// The largest manifest or config read from a local image.
const DOCUMENT_LIMIT: u64 = 8 << 20;

pub fn fetch_documents(
    store: &Store,
    location: &Location,
    platform: &Platform,
    registry: &RegistryOptions,
    list_tags: bool,
) -> Result<Documents> {
    let remote = |reference| remote(reference, platform, registry, list_tags);
    match location {
        Location::Registry(reference) => remote(reference),
        Location::Store(reference)
            if store
                .images()?
                .resolve(Some(&reference.to_string()))
                .is_err() =>
        {
            remote(reference)
        }
        _ => {
            let image = LocalImage::open(location, store)?;
            let chosen = image.layout.choose_image(&image.top, platform)?;
            let read = |d: &Descriptor, what| image.layout.read_blob(d, what, DOCUMENT_LIMIT);
            let manifest = read(&chosen, "manifest")?;
            let parsed: ImageManifest =
                serde_json::from_slice(&manifest).map_err(|source| Error::BadDocument {
                    what: "manifest",
                    source,
                })?;
            Ok(Documents {
                name: location.to_string(),
                raw: read(&image.top, "manifest")?,
                digest: hoist_oci::descriptor_digest(&image.top)?,
                config: read(parsed.config(), "config")?,
                manifest,
                tags: location.tag().into_iter().collect(),
                tags_refused: false,
            })
        }
    }
}

fn remote(
    reference: &Reference,
    platform: &Platform,
    registry: &RegistryOptions,
    list_tags: bool,
) -> Result<Documents> {
    crate::RegistriesConf::refuse_blocked(reference)?;
    let inspected = block_on(hoist_registry::inspect(
        reference, platform, registry, list_tags,
    ))?
    .map_err(|source| Error::Inspect {
        reference: reference.to_string(),
        source,
    })?;
    Ok(Documents {
        name: reference.name(),
        raw: inspected.raw,
        digest: inspected.digest,
        manifest: inspected.manifest,
        config: inspected.config,
        tags: inspected.tags,
        tags_refused: inspected.tags_refused,
    })
}
