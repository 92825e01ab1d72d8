//! podman's `commit`: a container's changes, which overlayfs keeps in its upper directory, as
//! a new layer on the container's image.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use hoist_oci::media_type::Compression;
use hoist_oci::{Descriptor, HistoryNote, Layout};
use serde_json::{Map, Value};

use super::diff::{open_dir, Differ, Owners};
use super::layer_writer::LayerWriter;
use super::store_layer;
use crate::{Error, IdMap, Result};

/// Writes the image `image` with the upper directory `upper` as a layer on top, its config as
/// `edit` leaves it; returns the new manifest (not yet named).
pub fn commit_overlay_upper(
    layout: &Layout,
    image: &Descriptor,
    upper: &Path,
    edit: impl FnOnce(&mut Map<String, Value>),
    history: &HistoryNote,
) -> Result<Descriptor> {
    let mut layer =
        LayerWriter::new(layout.path(), Compression::Gzip).map_err(Error::io(layout.path()))?;
    let mut differ = Differ {
        tar: &mut layer.tar,
        owners: Owners::Mapped {
            uid: IdMap::default(),
            gid: IdMap::default(),
        },
        masked: BTreeSet::new(),
        written: HashMap::new(),
        changes: 0,
        overlay_upper: true,
    };
    let tree = open_dir(rustix::fs::CWD, upper.as_os_str()).map_err(Error::io(upper))?;
    differ
        .dir(None, &tree, Path::new(""))
        .map_err(Error::io(upper))?;
    let written = layer.finish().map_err(Error::io(layout.path()))?;
    let added = store_layer(layout, image, written, Compression::Gzip)?;
    Ok(layout.write_changed_image(image, edit, Some(added), history)?)
}
