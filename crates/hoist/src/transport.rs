//! Where an image is: the transports of containers tools (`docker://`, `oci:`, `oci-archive:`)
//! and hoist's own store (a bare name).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hoist_oci::{Descriptor, Layout, Reference};

use crate::store::{split_layout_arg, Store};

#[derive(Debug, Clone)]
pub enum Location {
    /// `docker://REF`: a registry.
    Registry(Reference),
    /// `oci:DIR[:TAG]` (or a directory holding a layout): an image layout.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`: a layout in a tar file.
    Archive { file: PathBuf, tag: Option<String> },
    /// A bare name: hoist's store.
    Store(Reference),
}

impl Location {
    pub fn parse(arg: &str) -> anyhow::Result<Location> {
        if let Some(reference) = arg.strip_prefix("docker://") {
            return Ok(Location::Registry(reference.parse()?));
        }
        if let Some(rest) = arg.strip_prefix("oci-archive:") {
            let (file, tag) = split_layout_arg(rest);
            return Ok(Location::Archive { file, tag });
        }
        if let Some(rest) = arg.strip_prefix("oci:") {
            if Path::new(rest).join("oci-layout").is_file() {
                return Ok(Location::Layout {
                    dir: PathBuf::from(rest),
                    tag: None,
                });
            }
            let (dir, tag) = split_layout_arg(rest);
            return Ok(Location::Layout { dir, tag });
        }
        if Path::new(arg).join("oci-layout").is_file() {
            return Ok(Location::Layout {
                dir: PathBuf::from(arg),
                tag: None,
            });
        }
        let (dir, tag) = split_layout_arg(arg);
        if dir.join("oci-layout").is_file() {
            return Ok(Location::Layout { dir, tag });
        }
        if arg.starts_with('/') || arg.starts_with('.') {
            bail!(
                "{} is not an OCI image layout (it has no oci-layout file)",
                dir.display()
            );
        }
        let reference = arg.parse().with_context(|| {
            format!("{arg:?} is neither an image reference nor a transport (docker://, oci:, oci-archive:)")
        })?;
        Ok(Location::Store(reference))
    }

    /// The tag this location names, if it names one.
    pub fn tag(&self) -> Option<String> {
        match self {
            Location::Registry(r) | Location::Store(r) => r.tag().map(str::to_string),
            Location::Layout { tag, .. } | Location::Archive { tag, .. } => tag.clone(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let with_tag =
            |f: &mut std::fmt::Formatter<'_>, prefix: &str, path: &Path, tag: &Option<String>| {
                write!(f, "{prefix}:{}", path.display())?;
                match tag {
                    Some(tag) => write!(f, ":{tag}"),
                    None => Ok(()),
                }
            };
        match self {
            Location::Registry(r) => write!(f, "docker://{r}"),
            Location::Store(r) => write!(f, "{r} (hoist's store)"),
            Location::Layout { dir, tag } => with_tag(f, "oci", dir, tag),
            Location::Archive { file, tag } => with_tag(f, "oci-archive", file, tag),
        }
    }
}

/// An image on this machine, open for reading. An archive is extracted into a temporary
/// layout that lives as long as this does.
pub struct LocalImage {
    pub layout: Layout,
    pub top: Descriptor,
    _extracted: Option<tempfile::TempDir>,
}

impl LocalImage {
    pub fn open(location: &Location, store: &Store) -> anyhow::Result<LocalImage> {
        let (layout, top, extracted) = match location {
            Location::Layout { dir, tag } => {
                let layout = Layout::open(dir)?;
                let top = layout.resolve(tag.as_deref())?;
                (layout, top, None)
            }
            Location::Archive { file, tag } => {
                let temp = store.staging("archive-")?;
                let layout = hoist_oci::read_archive(file, temp.path())?;
                let top = layout.resolve(tag.as_deref())?;
                (layout, top, Some(temp))
            }
            Location::Store(reference) => {
                let layout = store.images()?;
                let top = layout.resolve(Some(&reference.to_string())).with_context(|| {
                    format!("no image {reference} in hoist's store; pull it first with `hoist pull {reference}`")
                })?;
                (layout, top, None)
            }
            Location::Registry(reference) => {
                bail!("docker://{reference} is in a registry; pull it first, or use `hoist copy`")
            }
        };
        Ok(LocalImage {
            layout,
            top,
            _extracted: extracted,
        })
    }
}
