//! `hoist save` / `hoist load`: images carried between machines as one OCI archive.

use std::path::Path;

use hoist_oci::{ArchiveFormat, Layout, Platform, Reference};

use crate::{Error, Result, Store};

/// Writes the store's `images` into the archive `output` (only this host's platform of each,
/// unless `all_platforms`). The archive is built beside `output` and appears complete or not
/// at all.
pub fn save_images(
    store: &Store,
    images: &[String],
    all_platforms: bool,
    format: ArchiveFormat,
    output: &Path,
) -> Result<()> {
    let _lock = store.lock(false)?;
    let stored = store.images()?;
    write_archive(output, format, |archive| {
        for image in images {
            let name = image.parse::<Reference>()?.to_string();
            let top = stored
                .resolve(Some(&name))
                .map_err(|source| Error::NotInStore {
                    reference: name.clone(),
                    source,
                })?;
            let top = if all_platforms {
                top
            } else {
                stored.choose_image(&top, &Platform::host())?
            };
            archive.copy_image_from(&stored, &top, &name)?;
        }
        Ok(())
    })
}

/// Writes the archive `output` from a layout that `fill` fills: the layout is built in a
/// directory beside `output`, and the archive appears complete or not at all.
pub(crate) fn write_archive(
    output: &Path,
    format: ArchiveFormat,
    fill: impl FnOnce(&Layout) -> Result<()>,
) -> Result<()> {
    let dir = hoist_oci::parent_dir(output);
    let building = tempfile::Builder::new()
        .prefix(".hoist-archive-")
        .tempdir_in(dir)
        .map_err(Error::io("making a directory to build the archive in", dir))?;
    let layout = Layout::create(building.path())?;
    fill(&layout)?;
    match format {
        ArchiveFormat::Oci => hoist_oci::write_archive(&layout, output),
        ArchiveFormat::Docker => hoist_oci::write_docker_archive(&layout, output),
    }
    .map_err(|source| Error::Archive {
        path: output.to_path_buf(),
        source,
    })
}

/// As [`load_images`], for an archive read from `source` (a pipe, as `podman load < FILE`
/// takes it): kept in the store's staging area first, since a tar is not read in order.
pub fn load_images_from(store: &Store, source: &mut impl std::io::Read) -> Result<Vec<String>> {
    let staged = store.staging("load-stream-")?;
    let file = staged.path().join("archive.tar");
    let mut out = std::fs::File::create(&file).map_err(Error::io("creating", &file))?;
    std::io::copy(source, &mut out).map_err(Error::io("reading standard input into", &file))?;
    load_images(store, &file)
}

/// Copies every named image of the archive `input` into the store; returns their names.
pub fn load_images(store: &Store, input: &Path) -> Result<Vec<String>> {
    // Either format may be in the file: each transport's policy must accept it.
    for format in [ArchiveFormat::Oci, ArchiveFormat::Docker] {
        let shown = format!("{}:{}", format.transport(), input.display());
        crate::policy::check_local_image(format.transport(), input, &shown)?;
    }
    let _lock = store.lock(false)?;
    let stored = store.images()?;
    let extracted = store.staging("load-")?;
    let archive = hoist_oci::read_archive(input, extracted.path(), None)?;
    let mut loaded = Vec::new();
    for top in archive.index()?.manifests() {
        let Some(name) = hoist_oci::image_name(top) else {
            continue;
        };
        // Kept by the reference it spells (`app` is `docker.io/library/app:latest`, as podman
        // reads it); a name that is no reference is kept as written.
        let name = name
            .parse::<Reference>()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| name.to_string());
        stored.copy_image_from(&archive, top, &name)?;
        loaded.push(name);
    }
    if loaded.is_empty() {
        return Err(Error::NoImagesInArchive(input.to_path_buf()));
    }
    Ok(loaded)
}
