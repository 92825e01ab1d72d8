//! `repack` (umoci's): the changes made in a bundle's rootfs become a new layer on top of the
//! image it was unpacked from, written to the layout under a new tag.
//!
//! Rather than a snapshot taken at unpack time (umoci's mtree), the image is unpacked afresh,
//! the same way, beside the bundle, and the two trees are compared: nothing is paid at unpack
//! for a repack that may never come, and what is compared is the content itself.

mod commit;
mod diff;
mod insert;
mod layer_writer;

pub use commit::commit_overlay_upper;
pub use insert::{insert, InsertOptions};

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use hoist_fs::Root;
use hoist_oci::media_type::{self, Compression};
use hoist_oci::{
    descriptor_of, AddedLayer, Descriptor, Digest, HistoryNote, ImageConfiguration, ImageManifest,
    Layout,
};

use crate::apply::ApplyOptions;
use crate::bundle::{apply_layers, read_image};
use crate::origin::BundleOrigin;
use crate::staging::{self, Staging};
use crate::{Error, Result, UnpackOptions};
use diff::{open_dir, Differ, Owners};
use layer_writer::LayerWriter;

/// How to repack.
#[derive(Debug, Clone)]
pub struct RepackOptions {
    /// The tag the new image gets in the layout.
    pub tag: String,
    pub compression: Compression,
    /// The history entry (`--history.*`).
    pub history: HistoryNote,
    /// Paths in the rootfs left out of the layer (`--mask-path`), besides the image's volumes
    /// unless `mask_volumes` is off.
    pub masked: Vec<PathBuf>,
    pub mask_volumes: bool,
    /// Make the bundle's origin the new image, so a later repack diffs against it.
    pub refresh_bundle: bool,
}

/// What a repack made.
#[derive(Debug, Clone)]
pub struct Repacked {
    pub manifest: Digest,
    pub layer: Digest,
    /// Entries written to the layer (whiteouts included).
    pub changes: usize,
}

const PRISTINE_PREFIX: &str = ".hoist-repack-";

pub fn repack(layout: &Layout, bundle: &Path, options: &RepackOptions) -> Result<Repacked> {
    let origin = BundleOrigin::read(bundle)?;
    let manifest_digest = origin.manifest_digest(bundle)?;
    let image = manifest_descriptor(layout, &manifest_digest)?;
    let (image, manifest, config) = read_image(layout, &image, &hoist_oci::Platform::host())?;

    // The image as it was unpacked, afresh, beside the bundle.
    let parent = hoist_oci::parent_dir(bundle);
    staging::remove_dead(parent, PRISTINE_PREFIX);
    let pristine = Staging::new_in(parent, PRISTINE_PREFIX).map_err(Error::io(parent))?;
    let result = layer_of_changes(
        layout,
        &manifest,
        &config,
        &origin,
        bundle,
        pristine.path(),
        options,
    );
    remove_tree(pristine.path());
    let (written, changes) = result?;

    let layer = written.digest.clone();
    let added = store_layer(layout, &image, written, options.compression)?;
    let new_manifest = layout.write_changed_image(&image, |_| {}, Some(added), &options.history)?;
    layout.set_ref(&options.tag, &new_manifest)?;
    let new_digest: Digest = new_manifest
        .digest()
        .to_string()
        .parse()
        .map_err(hoist_oci::Error::from)?;
    if options.refresh_bundle {
        BundleOrigin {
            manifest: new_digest.to_string(),
            ..origin
        }
        .write(bundle)?;
    }
    Ok(Repacked {
        manifest: new_digest,
        layer,
        changes,
    })
}

/// Puts a written layer into the layout as a blob, typed for the image it goes on.
fn store_layer(
    layout: &Layout,
    image: &Descriptor,
    written: layer_writer::WrittenLayer,
    compression: Compression,
) -> Result<AddedLayer> {
    let descriptor = descriptor_of(
        layer_media_type(image, compression),
        &written.digest,
        written.size,
    );
    let blob_path = layout.blob_path(&written.digest);
    if let Some(writer) = layout.begin_blob(&written.digest, written.size)? {
        writer.write_all_from(&mut &written.file, &blob_path)?;
    }
    Ok(AddedLayer {
        descriptor,
        diff_id: written.diff_id,
    })
}

/// Unpacks the image into `pristine` as the bundle was unpacked, and writes what differs in
/// the bundle's rootfs as a layer. Returns it, and how many entries it holds.
fn layer_of_changes(
    layout: &Layout,
    manifest: &ImageManifest,
    config: &ImageConfiguration,
    origin: &BundleOrigin,
    bundle: &Path,
    pristine: &Path,
    options: &RepackOptions,
) -> Result<(layer_writer::WrittenLayer, usize)> {
    let (uid_map, gid_map) = origin.maps(bundle)?;
    let rootfs = pristine.join("rootfs");
    fs::create_dir(&rootfs).map_err(Error::io(&rootfs))?;
    let root = Root::open(&rootfs).map_err(Error::io(&rootfs))?;
    let apply = ApplyOptions {
        rootless: origin.rootless,
        uid_map: uid_map.clone(),
        gid_map: gid_map.clone(),
    };
    let unpack = UnpackOptions {
        rootless: origin.rootless,
        ..UnpackOptions::default()
    };
    apply_layers(
        &|layer| Ok(Box::new(layout.open_blob(layer)?)),
        manifest,
        config.rootfs().diff_ids(),
        &root,
        &apply,
        &unpack,
    )?;

    let mut layer = LayerWriter::new(pristine, options.compression).map_err(Error::io(pristine))?;
    let owners = match origin.rootless {
        true => Owners::Recorded,
        false => Owners::Mapped {
            uid: uid_map,
            gid: gid_map,
        },
    };
    let mut differ = Differ {
        tar: &mut layer.tar,
        owners,
        masked: masked_paths(options, config),
        written: HashMap::new(),
        changes: 0,
        overlay_upper: false,
    };
    let bundle_rootfs = bundle.join("rootfs");
    let old = open_dir(rustix::fs::CWD, rootfs.as_os_str()).map_err(Error::io(&rootfs))?;
    let new =
        open_dir(rustix::fs::CWD, bundle_rootfs.as_os_str()).map_err(Error::io(&bundle_rootfs))?;
    differ
        .dir(Some(&old), &new, Path::new(""))
        .map_err(Error::io(&bundle_rootfs))?;
    let changes = differ.changes;
    let written = layer.finish().map_err(Error::io(pristine))?;
    Ok((written, changes))
}

/// The descriptor of the manifest blob `digest` in the layout (its type read from itself).
fn manifest_descriptor(layout: &Layout, digest: &Digest) -> Result<Descriptor> {
    let path = layout.blob_path(digest);
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::OriginNotInLayout {
            manifest: digest.clone(),
        },
        _ => Error::io(&path)(e),
    })?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Typed {
        media_type: Option<String>,
    }
    let media_type = serde_json::from_slice::<Typed>(&bytes)
        .ok()
        .and_then(|t| t.media_type)
        .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
    Ok(descriptor_of(&media_type, digest, bytes.len() as u64))
}

fn layer_media_type(manifest: &Descriptor, compression: Compression) -> &'static str {
    let docker = manifest.media_type().to_string() == media_type::DOCKER_MANIFEST;
    match (docker, compression) {
        (false, Compression::None) => media_type::OCI_LAYER_TAR,
        (false, Compression::Gzip) => media_type::OCI_LAYER_GZIP,
        (false, Compression::Zstd) => media_type::OCI_LAYER_ZSTD,
        (true, Compression::None) => media_type::DOCKER_LAYER_TAR,
        (true, Compression::Gzip) => media_type::DOCKER_LAYER_GZIP,
        (true, Compression::Zstd) => media_type::DOCKER_LAYER_ZSTD,
    }
}

/// `--mask-path` paths and the image's volumes, relative to the rootfs.
fn masked_paths(options: &RepackOptions, config: &ImageConfiguration) -> BTreeSet<PathBuf> {
    let volumes = config
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    let volumes = volumes
        .iter()
        .filter(|_| options.mask_volumes)
        .map(PathBuf::from);
    options
        .masked
        .iter()
        .cloned()
        .chain(volumes)
        .map(|p| {
            p.components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .collect()
        })
        .collect()
}

/// Removes the pristine tree, whatever its modes (a rootless unpack's read-only directories
/// included): by fd, never following a link.
fn remove_tree(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    if let Ok(dir) = open_dir(rustix::fs::CWD, parent.as_os_str()) {
        let _ = make_writable(&dir, name);
        let _ = hoist_fs::remove_all_at(&dir, name);
    }
}

/// Gives the owner write and search permission on every directory below (a rootless
/// unpack leaves some read-only, and only their owner may change that).
fn make_writable(parent: &std::os::fd::OwnedFd, name: &OsStr) -> std::io::Result<()> {
    use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
    let stat = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(());
    }
    rfs::chmodat(
        parent,
        name,
        Mode::from_raw_mode(stat.st_mode | 0o700),
        AtFlags::empty(),
    )?;
    let dir = open_dir(parent, name)?;
    for entry in rfs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." && entry.file_type() == FileType::Directory {
            make_writable(
                &dir,
                <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(child),
            )?;
        }
    }
    Ok(())
}
