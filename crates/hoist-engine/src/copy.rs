//! `hoist copy SRC DEST`: any transport to any other. A registry source is pulled straight
//! into a layout destination, or else into a temporary layout; every other destination is
//! filled from a layout, every blob verified on the way.

use hoist_oci::{ArchiveFormat, Descriptor, Digest, Layout};
use hoist_registry::{EventSink, PlatformChoice, RegistryOptions};

use crate::{async_runtime::block_on, pull_into, Error, LocalImage, Location, Result, Store};

/// A copy to make.
pub struct CopyRequest<'a> {
    pub source: &'a Location,
    pub destination: &'a Location,
    pub platforms: PlatformChoice,
    /// The source registry's TLS settings and credentials.
    pub source_registry: &'a RegistryOptions,
    /// The destination registry's.
    pub destination_registry: &'a RegistryOptions,
    pub events: EventSink,
}

/// Copies the image; returns the digest of what was copied (the source's top manifest, or
/// the one chosen for the platform).
pub fn copy_image(store: &Store, request: CopyRequest) -> Result<Digest> {
    let CopyRequest {
        source,
        destination,
        ..
    } = request;
    let tag = destination
        .tag()
        .or_else(|| source.tag())
        .unwrap_or_else(|| "latest".to_string());
    let _store_lock = store.lock(false)?;

    // The source, as a layout and the descriptor to copy.
    let staging = store.staging("copy-")?;
    let local;
    let (layout, top): (Layout, Descriptor) = match source {
        Location::Registry(reference) => {
            let vetted = crate::policy::vet(reference, request.source_registry)?;
            // Pulled straight into a layout destination: nothing is staged, or copied twice.
            let (layout, name) = match destination {
                Location::Layout { dir, .. } => (Layout::create(dir)?, tag.clone()),
                _ => (Layout::create(staging.path())?, "staged".to_string()),
            };
            let pulled = pull_into(
                &vetted,
                &layout,
                &name,
                &request.platforms,
                request.source_registry,
                request.events.clone(),
            )?;
            if matches!(destination, Location::Layout { .. }) {
                return Ok(pulled.digest);
            }
            (layout, pulled.manifest)
        }
        _ => {
            local = LocalImage::open(source, store)?;
            let top = match &request.platforms {
                PlatformChoice::All => local.top.clone(),
                PlatformChoice::One(platform) => local.layout.choose_image(&local.top, platform)?,
            };
            (local.layout.clone(), top)
        }
    };
    let written = write_to(store, &layout, &top, destination, &tag, &request);
    written.map_err(|e| Error::Copying {
        source_image: source.to_string(),
        destination: destination.to_string(),
        cause: Box::new(e),
    })?;
    Ok(hoist_oci::descriptor_digest(&top)?)
}

/// Writes the image `top` of `layout` to the destination.
fn write_to(
    store: &Store,
    layout: &Layout,
    top: &Descriptor,
    destination: &Location,
    tag: &str,
    request: &CopyRequest,
) -> Result<()> {
    match destination {
        Location::Layout { dir, .. } => {
            Layout::create(dir)?.copy_image_from(layout, top, tag)?;
        }
        Location::Store(reference) => {
            store
                .images()?
                .copy_image_from(layout, top, &reference.to_string())?;
        }
        Location::Archive { file, format, .. } => {
            let name = match format {
                ArchiveFormat::Oci => tag.to_string(),
                ArchiveFormat::Docker => docker_archive_name(request.source, destination),
            };
            crate::archive::write_archive(file, *format, |archive| {
                archive.copy_image_from(layout, top, &name)?;
                Ok(())
            })?;
        }
        Location::Dir(dir) => hoist_oci::write_dir_image(layout, top, dir)?,
        Location::Registry(reference) => {
            let options = RegistryOptions {
                reporter: Some(hoist_registry::Reporter(request.events.clone())),
                ..request.destination_registry.clone()
            };
            block_on(hoist_registry::push(
                layout,
                top,
                reference,
                &options,
                request.events.clone(),
            ))?
            .map_err(|source| Error::Push {
                reference: reference.to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

/// The tag a docker-archive records: the destination's NAME, else the source's reference (a
/// registry's or the store's), in full as podman writes it; a bare layout tag is none.
fn docker_archive_name(source: &Location, destination: &Location) -> String {
    let named = |reference: &hoist_oci::Reference| reference.to_string();
    match (destination.tag(), source) {
        (Some(name), _) => name
            .parse::<hoist_oci::Reference>()
            .map(|r| named(&r))
            .unwrap_or(name),
        (None, Location::Registry(reference) | Location::Store(reference)) => named(reference),
        // No reference parses from it, so the archive lists the image without tags.
        (None, _) => "(untagged)".to_string(),
    }
}
