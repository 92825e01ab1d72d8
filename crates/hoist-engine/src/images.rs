//! What the store holds, and taking it out again: `hoist images`, `hoist rmi`,
//! `hoist system prune`.

use std::collections::HashSet;

use hoist_oci::{
    media_type, Descriptor, ImageConfiguration, ImageManifest, Layout, Platform, Reference,
};
use hoist_unpack::LayerCache;

use crate::container::remove_all_half_made;
use crate::lifecycle::has_ended;
use crate::{Container, Error, Result, Store};

/// An image of the store, as `hoist images` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSummary {
    pub name: String,
    /// The first 12 hex digits of this host's platform's config digest (podman's IMAGE ID).
    pub id: String,
    pub digest: String,
    pub created: Option<String>,
    /// The config and layer blobs of this host's platform, compressed.
    pub size: u64,
}

/// The store's named images, sorted by name.
pub fn list_images(store: &Store) -> Result<Vec<ImageSummary>> {
    let _lock = store.lock(false)?;
    let layout = store.images()?;
    let mut images = Vec::new();
    for top in layout.index()?.manifests() {
        if let Some(name) = hoist_oci::ref_name(top) {
            images.push(summary(&layout, top, name));
        }
    }
    images.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(images)
}

fn summary(layout: &Layout, top: &Descriptor, name: &str) -> ImageSummary {
    let image = layout.choose_image(top, &Platform::host()).ok();
    let manifest: Option<ImageManifest> = image
        .as_ref()
        .and_then(|d| layout.read_json(d, "manifest").ok());
    let config: Option<ImageConfiguration> = manifest
        .as_ref()
        .and_then(|m| layout.read_json(m.config(), "config").ok());
    let size = manifest.as_ref().map_or(0, |m| {
        m.config().size() + m.layers().iter().map(|l| l.size()).sum::<u64>()
    });
    let id = manifest.as_ref().map_or_else(String::new, |m| {
        let digest = m.config().digest().to_string();
        digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect()
    });
    ImageSummary {
        name: name.to_string(),
        id,
        digest: top.digest().to_string(),
        created: config.and_then(|c| c.created().clone()),
        size,
    }
}

/// What removing images freed.
#[derive(Debug, Default)]
pub struct Removed {
    /// The names untagged.
    pub untagged: Vec<String>,
    /// The names asked for that the store does not have.
    pub missing: Vec<String>,
    /// Bytes of blobs no image uses any more.
    pub freed: u64,
    /// Unpacked layers no image or container uses any more.
    pub layers: usize,
}

/// Untags each image and removes the blobs and layers nothing uses any more.
pub fn remove_images(store: &Store, images: &[String]) -> Result<Removed> {
    let _lock = store.lock(true)?;
    let layout = store.images()?;
    let mut removed = Removed::default();
    for image in images {
        let name = image
            .parse::<Reference>()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| image.clone());
        if layout.remove_ref(&name)? {
            removed.untagged.push(name);
        } else {
            removed.missing.push(name);
        }
    }
    removed.freed = layout.collect_garbage()?;
    removed.layers = prune_layers(store, &layout)?;
    Ok(removed)
}

/// What `hoist system prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub containers: usize,
    pub layers: usize,
    pub freed: u64,
}

/// Stopped containers, then layers and blobs nothing uses.
pub fn prune_system(runtime: &hoist_runtime::Runtime, store: &Store) -> Result<Pruned> {
    let _lock = store.lock(true)?;
    let mut pruned = Pruned {
        containers: remove_all_half_made(store)?,
        ..Pruned::default()
    };
    runtime.remove_abandoned()?;
    for container in Container::all(store)? {
        if has_ended(runtime, &container) {
            let _ = runtime.delete(
                &container.record.name,
                hoist_runtime::DeleteOptions { force: true },
            );
            container.release_network(store);
            Container::remove_files(&container.dir)?;
            pruned.containers += 1;
        }
    }
    // Addresses of containers that are gone (a process died between the two).
    let networks = crate::networks(store);
    for holder in hoist_net::leaseholders(&networks)? {
        if !store.containers().join(&holder).exists() {
            hoist_net::detach(&networks, &holder)?;
        }
    }
    let layout = store.images()?;
    pruned.freed = layout.collect_garbage()?;
    pruned.layers = prune_layers(store, &layout)?;
    Ok(pruned)
}

/// Removes cached layers that no image in the store and no container rests on. The caller
/// holds the store's lock exclusively, so no container is being set up meanwhile.
fn prune_layers(store: &Store, layout: &Layout) -> Result<usize> {
    if !store.layers().is_dir() {
        return Ok(0);
    }
    let mut keep = HashSet::new();
    for top in layout.index()?.manifests() {
        for descriptor in layout.walk(top)? {
            if media_type::manifest_kind(descriptor.media_type().as_ref())
                != Some(media_type::ManifestKind::Image)
            {
                continue;
            }
            let manifest: ImageManifest = layout.read_json(&descriptor, "image manifest")?;
            let config: ImageConfiguration = layout.read_json(manifest.config(), "image config")?;
            keep.extend(LayerCache::layer_names(&config).map_err(Error::Unpack)?);
        }
    }
    for container in Container::all(store)? {
        keep.extend(container.record.layers);
    }
    if crate::rootless::uses_helper() {
        return crate::rootless::prune_layers(store, keep.into_iter().collect());
    }
    Ok(LayerCache::open(store.layers())?.prune(&keep)?)
}

/// `tag SOURCE TARGET...` (podman's): more names for an image of the store.
pub fn tag_images(store: &Store, source: &str, targets: &[String]) -> Result<()> {
    let _lock = store.lock(false)?;
    let layout = store.images()?;
    let name = source.parse::<Reference>()?.to_string();
    let top = layout
        .resolve(Some(&name))
        .map_err(|source| Error::NotInStore {
            reference: name.clone(),
            source,
        })?;
    for target in targets {
        layout.set_ref(&target.parse::<Reference>()?.to_string(), &top)?;
    }
    Ok(())
}
