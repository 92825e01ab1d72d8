//! The config an image's containers start from, kept per image for an unprivileged user: it is
//! made from the merged layers, which only the storage helper can mount, so a container of an
//! image whose layers are all cached gets its bundle without the helper (a process, a user
//! namespace and two setuid helpers fewer per `run`). The config depends on the image (its
//! manifest, config and files) and on the hoist that made it, so it is kept under hoist's
//! version, by the manifest's digest; pruning layers clears them all.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::{LayerCache, UnpackOptions};

use crate::{Driver, Error, Result, Store};

fn dir(store: &Store) -> PathBuf {
    store.root().join("specs")
}

fn entry(store: &Store, manifest: &hoist_oci::Digest) -> PathBuf {
    dir(store)
        .join(env!("CARGO_PKG_VERSION"))
        .join(format!("{}.json", manifest.hex()))
}

/// The bundle in `dir` over the cached layers, with the kept config, if both are there.
pub(super) fn bundle_from(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<Option<(ImageConfiguration, Driver, Vec<String>)>> {
    let cache = LayerCache::open(store.layers())?;
    let Some(cached) = cache.lookup(layout, image, &options.platform)? else {
        return Ok(None);
    };
    let Ok(spec) = fs::read(entry(store, &cached.manifest)) else {
        return Ok(None);
    };
    for sub in ["rootfs", "upper", "work"] {
        let path = dir.join(sub);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(Error::io("creating", &path))?;
    }
    let config = dir.join("config.json");
    fs::write(&config, spec).map_err(Error::io("writing", &config))?;
    Ok(Some((cached.config, Driver::Overlay, cached.names)))
}

/// Keeps the config the helper made in `dir` for the image's next containers (best effort:
/// without it they go through the helper).
pub(super) fn keep(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) {
    let kept = (|| -> Result<()> {
        let cache = LayerCache::open(store.layers())?;
        let Some(cached) = cache.lookup(layout, image, &options.platform)? else {
            return Ok(());
        };
        let target = entry(store, &cached.manifest);
        let specs = target.parent().expect("an entry is in a directory");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(specs)
            .map_err(Error::io("creating", specs))?;
        // Whole or not at all: written aside, then renamed.
        let partial = target.with_extension(format!("partial-{}", std::process::id()));
        fs::copy(dir.join("config.json"), &partial).map_err(Error::io("writing", &partial))?;
        fs::rename(&partial, &target).map_err(Error::io("writing", &target))
    })();
    if let Err(error) = kept {
        tracing::debug!(%error, "keeping the image's config");
    }
}

/// Forgets every kept config (with the layers they rest on going).
pub(super) fn clear(store: &Store) {
    let _ = fs::remove_dir_all(dir(store));
}
