//! `insert` (umoci's): a file or directory tree of the host added to an image as a new layer
//! at a path of its rootfs; or a whiteout there, or the directory made opaque.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use hoist_oci::media_type::Compression;
use hoist_oci::{Descriptor, HistoryNote, Layout};

use super::diff::{open_dir, Differ, Owners};
use super::layer_writer::LayerWriter;
use super::store_layer;
use crate::{Error, IdMap, Result};

#[derive(Debug, Clone)]
pub struct InsertOptions {
    pub compression: Compression,
    /// Owners in the layer are root's, not the files' own on the host (umoci's `--rootless`).
    pub rootless: bool,
    /// Replace what the image holds at the target (an opaque directory) rather than merge.
    pub opaque: bool,
    pub history: HistoryNote,
}

/// What to insert: a host path (with `opaque`, its tree replaces the target's), or nothing,
/// for a whiteout removing the target.
pub fn insert(
    layout: &Layout,
    image: &Descriptor,
    source: Option<&Path>,
    target: &Path,
    options: &InsertOptions,
) -> Result<Descriptor> {
    let target = layer_path(target)?;
    let into_root = target.as_os_str().is_empty();
    if into_root && !source.is_some_and(Path::is_dir) {
        return Err(Error::BadTarget(target));
    }
    let mut layer =
        LayerWriter::new(layout.path(), options.compression).map_err(Error::io(layout.path()))?;
    let mut differ = Differ {
        tar: &mut layer.tar,
        owners: match options.rootless {
            true => Owners::Recorded,
            false => Owners::Mapped {
                uid: IdMap::default(),
                gid: IdMap::default(),
            },
        },
        masked: BTreeSet::new(),
        written: HashMap::new(),
        changes: 0,
        overlay_upper: false,
    };
    let name = target.file_name().unwrap_or_default().to_os_string();
    let parent = target.parent().unwrap_or(Path::new("")).to_path_buf();
    match source {
        None => {
            let mut whiteout = std::ffi::OsString::from(".wh.");
            whiteout.push(&name);
            differ.whiteout(&parent.join(whiteout))
        }
        Some(source) => {
            let (dir, file) = hoist_fs::split_parent(source).map_err(Error::io(source))?;
            let dir = open_dir(rustix::fs::CWD, dir.as_os_str()).map_err(Error::io(source))?;
            if options.opaque {
                differ
                    .whiteout(&target.join(".wh..wh..opq"))
                    .map_err(Error::io(source))?;
            }
            match into_root {
                true => differ.dir(
                    None,
                    &open_dir(&dir, file).map_err(Error::io(source))?,
                    &target,
                ),
                false => differ.add(&dir, file, &target),
            }
        }
    }
    .map_err(Error::io(source.unwrap_or(&target)))?;
    let written = layer.finish().map_err(Error::io(layout.path()))?;
    let added = store_layer(layout, image, written, options.compression)?;
    Ok(layout.write_changed_image(image, |_| {}, Some(added), &options.history)?)
}

/// The target as a path inside the rootfs: relative, with no `..`; the root itself only for a
/// directory's contents.
fn layer_path(target: &Path) -> Result<PathBuf> {
    let mut path = PathBuf::new();
    for component in target.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::BadTarget(target.to_path_buf()))
            }
        }
    }
    Ok(path)
}
