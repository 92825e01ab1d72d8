//! Where an image is: the transports of containers tools (`docker://`, `oci:`, `oci-archive:`)
//! and hoist's own store (a bare name).

use std::path::{Path, PathBuf};

use hoist_oci::{ArchiveFormat, Descriptor, Layout, Reference};

use crate::store::{split_layout_arg, Store};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub enum Location {
    /// `docker://REF`: a registry.
    Registry(Reference),
    /// `oci:DIR[:TAG]` (or a directory holding a layout): an image layout.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`: a layout in a tar file; or `docker-archive:FILE[:NAME]`, as
    /// `docker save` and `podman save` write (read only).
    Archive {
        file: PathBuf,
        tag: Option<String>,
        format: ArchiveFormat,
    },
    /// A bare name: hoist's store.
    Store(Reference),
}

impl Location {
    pub fn parse(arg: &str) -> Result<Location> {
        if let Some(reference) = arg.strip_prefix("docker://") {
            return Ok(Location::Registry(reference.parse()?));
        }
        for format in [ArchiveFormat::Oci, ArchiveFormat::Docker] {
            if let Some(rest) = arg
                .strip_prefix(format.transport())
                .and_then(|rest| rest.strip_prefix(':'))
            {
                let (file, tag) = split_archive_arg(rest);
                return Ok(Location::Archive { file, tag, format });
            }
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
            return Err(Error::NotALayout(dir));
        }
        let reference = arg.parse().map_err(|source| Error::NotAnImage {
            arg: arg.to_string(),
            source,
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
            Location::Archive { file, tag, format } => with_tag(f, format.transport(), file, tag),
        }
    }
}

/// `FILE[:NAME]` of an archive, split at the first colon as containers-transports(5) does:
/// the name may be an image reference (`localhost/app:1`) with colons of its own. (An existing
/// file whose own name has a colon is taken whole.)
fn split_archive_arg(arg: &str) -> (PathBuf, Option<String>) {
    if Path::new(arg).is_file() {
        return (PathBuf::from(arg), None);
    }
    match arg.split_once(':') {
        Some((file, name)) if !file.is_empty() && !name.is_empty() => {
            (PathBuf::from(file), Some(name.to_string()))
        }
        _ => (PathBuf::from(arg), None),
    }
}

/// The image `name` names in an archive extracted to `layout`. In a docker-archive, whose
/// names are image references, also the same reference spelled another way (`alpine:latest`
/// is `docker.io/library/alpine:latest`). Errors name the archive, not where it was extracted.
fn resolve_in_archive(
    layout: &Layout,
    name: Option<&str>,
    file: &Path,
    format: ArchiveFormat,
) -> Result<Descriptor> {
    let in_full = |n: &str| n.parse::<Reference>().ok().map(|r| r.to_string());
    let found = layout.resolve(name).or_else(|error| {
        let wanted = name
            .filter(|_| format == ArchiveFormat::Docker)
            .and_then(in_full);
        let index = layout.index()?;
        let same = index
            .manifests()
            .iter()
            .find(|d| wanted.is_some() && hoist_oci::image_name(d).and_then(in_full) == wanted);
        same.cloned().ok_or(error)
    });
    let path = file.to_path_buf();
    found
        .map_err(|error| match error {
            hoist_oci::Error::UnknownTag { tag, available, .. } => hoist_oci::Error::UnknownTag {
                path,
                tag,
                available,
            },
            hoist_oci::Error::WhichImage { available, .. } => {
                hoist_oci::Error::WhichImage { path, available }
            }
            hoist_oci::Error::NoImages { .. } => hoist_oci::Error::NoImages { path },
            other => other,
        })
        .map_err(Error::from)
}

/// An image on this machine, open for reading. An archive is extracted into a temporary
/// layout that lives as long as this does.
pub struct LocalImage {
    pub layout: Layout,
    pub top: Descriptor,
    _extracted: Option<tempfile::TempDir>,
}

impl LocalImage {
    /// An image of a layout that stays where it is.
    pub(crate) fn in_layout(layout: Layout, top: Descriptor) -> LocalImage {
        LocalImage {
            layout,
            top,
            _extracted: None,
        }
    }

    pub fn open(location: &Location, store: &Store) -> Result<LocalImage> {
        let (layout, top, extracted) = match location {
            Location::Layout { dir, tag } => {
                let layout = Layout::open(dir)?;
                let top = layout.resolve(tag.as_deref())?;
                (layout, top, None)
            }
            Location::Archive { file, tag, format } => {
                let temp = store.staging("archive-")?;
                let layout = hoist_oci::read_archive(file, temp.path(), Some(*format))?;
                let top = resolve_in_archive(&layout, tag.as_deref(), file, *format)?;
                (layout, top, Some(temp))
            }
            Location::Store(reference) => {
                let layout = store.images()?;
                let top = layout
                    .resolve(Some(&reference.to_string()))
                    .map_err(|source| Error::NotInStore {
                        reference: reference.to_string(),
                        source,
                    })?;
                (layout, top, None)
            }
            Location::Registry(reference) => return Err(Error::InRegistry(reference.to_string())),
        };
        Ok(LocalImage {
            layout,
            top,
            _extracted: extracted,
        })
    }
}

/// Unpacks the image `image` names (a layout, an archive, or the store's) into `bundle`.
pub fn unpack_image(
    store: &Store,
    image: &str,
    bundle: &Path,
    options: &hoist_unpack::UnpackOptions,
) -> Result<hoist_unpack::Unpacked> {
    let _store_lock = store.lock(false)?;
    let local = LocalImage::open(&Location::parse(image)?, store)?;
    hoist_unpack::unpack(&local.layout, &local.top, bundle, options).map_err(|source| {
        Error::Unpacking {
            image: image.to_string(),
            bundle: bundle.to_path_buf(),
            source: Box::new(source),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_their_transport() {
        let temp = tempfile::tempdir().unwrap();
        let layout = temp.path().join("layout");
        Layout::create(&layout).unwrap();
        let path = layout.display().to_string();
        assert!(matches!(
            Location::parse("docker://busybox").unwrap(),
            Location::Registry(_)
        ));
        assert!(matches!(
            Location::parse("oci-archive:/x.tar:v1").unwrap(),
            Location::Archive { tag: Some(t), .. } if t == "v1"
        ));
        let archive = temp.path().join("saved.tar");
        std::fs::write(&archive, b"").unwrap();
        let named = format!("docker-archive:{}:localhost/app:1", archive.display());
        assert!(matches!(
            Location::parse(&named).unwrap(),
            Location::Archive { file, tag: Some(t), format: ArchiveFormat::Docker }
                if t == "localhost/app:1" && file == archive
        ));
        assert!(matches!(
            Location::parse(&format!("docker-archive:{}", archive.display())).unwrap(),
            Location::Archive { tag: None, .. }
        ));
        assert!(matches!(
            Location::parse(&format!("{path}:v2")).unwrap(),
            Location::Layout { tag: Some(t), .. } if t == "v2"
        ));
        assert!(matches!(
            Location::parse(&path).unwrap(),
            Location::Layout { tag: None, .. }
        ));
        assert!(matches!(
            Location::parse("busybox:1").unwrap(),
            Location::Store(_)
        ));
        assert!(matches!(
            Location::parse("/nowhere"),
            Err(Error::NotALayout(_))
        ));
        assert!(matches!(
            Location::parse("Not An Image"),
            Err(Error::NotAnImage { .. })
        ));
    }

    #[test]
    fn names_in_a_docker_archive_match_however_spelled_and_errors_name_the_archive() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::create(temp.path().join("extracted")).unwrap();
        let digest: oci_spec::image::Digest =
            hoist_oci::Digest::of(b"m").to_string().parse().unwrap();
        let manifest = Descriptor::new(oci_spec::image::MediaType::ImageManifest, 1, digest);
        layout
            .set_ref("docker.io/library/app:1", &manifest)
            .unwrap();
        let file = temp.path().join("saved.tar");
        let found = resolve_in_archive(&layout, Some("app:1"), &file, ArchiveFormat::Docker);
        assert_eq!(found.unwrap().digest(), manifest.digest());
        // An OCI archive's names are tags, matched as written.
        let refused = resolve_in_archive(&layout, Some("app:1"), &file, ArchiveFormat::Oci);
        assert!(
            matches!(&refused, Err(Error::Image(hoist_oci::Error::UnknownTag { path, .. })) if *path == file),
            "{refused:?}"
        );
        let unparsable =
            resolve_in_archive(&layout, Some("Not A Name"), &file, ArchiveFormat::Docker);
        assert!(unparsable.is_err());
    }

    #[test]
    fn an_image_in_a_registry_is_not_opened_locally() {
        let temp = tempfile::tempdir().unwrap();
        let store = Store::at(temp.path());
        let location = Location::parse("docker://busybox").unwrap();
        assert!(matches!(
            LocalImage::open(&location, &store),
            Err(Error::InRegistry(_))
        ));
    }
}
