//! Where an image is: the transports of containers tools (`docker://`, `oci:`, `oci-archive:`,
//! `docker-archive:`, `dir:`) and hoist's own store (a bare name).

use std::path::{Path, PathBuf};

use hoist_oci::{ArchiveFormat, Descriptor, Layout, Reference};
use hoist_registry::{EventSink, RegistryOptions};

use crate::followed_pull::FollowedPull;
use crate::store::{split_layout_arg, Store};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub enum Location {
    /// `docker://REF`: a registry.
    Registry(Reference),
    /// `oci:DIR[:TAG]` (or a directory holding a layout): an image layout.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`: a layout in a tar file; or `docker-archive:FILE[:NAME]`, as
    /// `docker save` and `podman save` write.
    Archive {
        file: PathBuf,
        tag: Option<String>,
        format: ArchiveFormat,
    },
    /// `dir:PATH`: skopeo's directory of one image's files.
    Dir(PathBuf),
    /// A bare name: hoist's store.
    Store(Reference),
}

/// The transports hoist reads and writes, as errors list them.
pub const KNOWN_TRANSPORTS: &str = "docker://, oci:, oci-archive:, docker-archive:, dir:";

/// containers-transports(5) names hoist does not serve: refused by name, never read as an
/// image called `containers-storage` with a tag.
const OTHER_TRANSPORTS: &[&str] = &[
    "containers-storage",
    "docker-daemon",
    "ostree",
    "sif",
    "tarball",
    "oci-dir",
];

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
        if let Some(rest) = arg.strip_prefix("dir:") {
            return Ok(Location::Dir(PathBuf::from(rest)));
        }
        if let Some((transport, _)) = arg.split_once(':') {
            if OTHER_TRANSPORTS.contains(&transport)
                || (arg[transport.len()..].starts_with("://") && transport != "docker")
            {
                return Err(Error::UnknownTransport {
                    transport: transport.to_string(),
                });
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

    /// The transport's name in containers-policy.json(5), for a location outside the store.
    pub fn transport(&self) -> Option<&'static str> {
        match self {
            Location::Registry(_) => Some("docker"),
            Location::Layout { .. } => Some("oci"),
            Location::Archive { format, .. } => Some(format.transport()),
            Location::Dir(_) => Some("dir"),
            Location::Store(_) => None,
        }
    }

    /// The file or directory a local location is at.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::Layout { dir, .. } | Location::Dir(dir) => Some(dir),
            Location::Archive { file, .. } => Some(file),
            Location::Registry(_) | Location::Store(_) => None,
        }
    }

    /// The tag this location names, if it names one.
    pub fn tag(&self) -> Option<String> {
        match self {
            Location::Registry(r) | Location::Store(r) => r.tag().map(str::to_string),
            Location::Layout { tag, .. } | Location::Archive { tag, .. } => tag.clone(),
            Location::Dir(_) => None,
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
            Location::Dir(dir) => write!(f, "dir:{}", dir.display()),
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

/// The image `name` names in an archive extracted to `layout`: by its ref name, by the full
/// name an export recorded beside a bare tag (containerd's and Docker 25's), or by the same
/// reference spelled another way (`busybox` is `docker.io/library/busybox:latest`, as `hoist
/// save` writes it). Errors name the archive, not where it was extracted.
fn resolve_in_archive(layout: &Layout, name: Option<&str>, file: &Path) -> Result<Descriptor> {
    let in_full = |n: &str| n.parse::<Reference>().ok().map(|r| r.to_string());
    let found = layout.resolve(name).or_else(|error| {
        let Some(name) = name else {
            return Err(error);
        };
        let index = layout.index()?;
        let manifests = index.manifests();
        let wanted = in_full(name);
        let same = manifests
            .iter()
            .find(|d| hoist_oci::full_name(d) == Some(name))
            .or_else(|| {
                manifests.iter().find(|d| {
                    wanted.is_some() && hoist_oci::image_name(d).and_then(in_full) == wanted
                })
            });
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

    /// Opens the image, if the trust policy accepts images from where it is (the store's were
    /// judged when they came in).
    pub fn open(location: &Location, store: &Store) -> Result<LocalImage> {
        if let (Some(transport), Some(path)) = (location.transport(), location.path()) {
            crate::policy::check_local_image(transport, path, &location.to_string())?;
        }
        let (layout, top, extracted) = match location {
            Location::Layout { dir, tag } => {
                let layout = Layout::open(dir)?;
                let top = layout.resolve(tag.as_deref())?;
                (layout, top, None)
            }
            Location::Archive { file, tag, format } => {
                let temp = store.staging("archive-")?;
                let layout = hoist_oci::read_archive(file, temp.path(), Some(*format))?;
                let top = resolve_in_archive(&layout, tag.as_deref(), file)?;
                (layout, top, Some(temp))
            }
            Location::Dir(dir) => {
                let temp = store.staging("dir-")?;
                let layout = Layout::create(temp.path())?;
                let top = hoist_oci::read_dir_image(dir, &layout, "dir")?;
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

/// Unpacks the image `image` names (a layout, an archive, the store's, or `docker://REF`, which
/// is pulled into the store) into `bundle`.
pub fn unpack_image(
    store: &Store,
    image: &str,
    bundle: &Path,
    options: &hoist_unpack::UnpackOptions,
    registry: &RegistryOptions,
    events: EventSink,
) -> Result<hoist_unpack::Unpacked> {
    let _store_lock = store.lock(false)?;
    let unpacking = |source| Error::Unpacking {
        image: image.to_string(),
        bundle: bundle.to_path_buf(),
        source: Box::new(source),
    };
    let location = Location::parse(image)?;
    if let Location::Registry(reference) = &location {
        return unpack_pulled(
            store, reference, bundle, options, registry, events, unpacking,
        );
    }
    let local = LocalImage::open(&location, store)?;
    hoist_unpack::unpack(&local.layout, &local.top, bundle, options).map_err(unpacking)
}

/// `unpack docker://REF`: the image pulled into the store under its full name, its layers
/// unpacked into the bundle while they download; what could not be done then (see
/// `followed_pull`) is done from the stored blobs after the pull.
fn unpack_pulled(
    store: &Store,
    reference: &Reference,
    bundle: &Path,
    options: &hoist_unpack::UnpackOptions,
    registry: &RegistryOptions,
    events: EventSink,
    unpacking: impl Fn(hoist_unpack::Error) -> Error,
) -> Result<hoist_unpack::Unpacked> {
    let vetted = crate::policy::vet(reference, registry)?;
    let layout = store.images()?;
    let name = reference.to_string();
    let pull = FollowedPull {
        vetted: &vetted,
        layout: &layout,
        ref_name: &name,
        platform: &options.platform,
        registry,
        events,
    };
    let (pulled, followed) = pull.run(|chosen| {
        hoist_unpack::unpack_following(
            chosen.layout,
            chosen.feeds,
            chosen.manifest,
            chosen.digest,
            bundle,
            options,
        )
    });
    match (pulled, followed) {
        // Of the image the pull named (after a mirror that failed, another may have).
        (Ok(pulled), Some(Ok(unpacked))) if unpacked.manifest == pulled.digest => Ok(unpacked),
        (Ok(_), followed) => {
            if let Some(Ok(_)) = followed {
                std::fs::remove_dir_all(bundle).map_err(Error::io("removing", bundle))?;
            }
            let top = layout.resolve(Some(&name))?;
            hoist_unpack::unpack(&layout, &top, bundle, options).map_err(unpacking)
        }
        // Every blob arrived but the image could not be named in the store: no bundle either.
        (Err(error), Some(Ok(_))) => {
            let _ = std::fs::remove_dir_all(bundle);
            Err(error)
        }
        (Err(error), _) => Err(error),
    }
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
            Location::parse("dir:/some/where").unwrap(),
            Location::Dir(dir) if dir == Path::new("/some/where")
        ));
        for other in [
            "containers-storage:busybox",
            "docker-daemon:app:1",
            "ftp://x/y",
        ] {
            assert!(
                matches!(Location::parse(other), Err(Error::UnknownTransport { .. })),
                "{other}"
            );
        }
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
    fn names_in_an_archive_match_however_spelled_and_errors_name_the_archive() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::create(temp.path().join("extracted")).unwrap();
        let manifest = |bytes: &[u8]| {
            let digest: oci_spec::image::Digest =
                hoist_oci::Digest::of(bytes).to_string().parse().unwrap();
            Descriptor::new(oci_spec::image::MediaType::ImageManifest, 1, digest)
        };
        let saved = manifest(b"saved by hoist");
        layout.set_ref("docker.io/library/app:1", &saved).unwrap();
        // As Docker 25 exports it: the tag as the ref name, the full name beside it (written
        // as the archive holds it; `set_ref` would name it anew).
        let mut exported = manifest(b"exported by docker");
        exported.set_annotations(Some(
            [
                (hoist_oci::REF_NAME_ANNOTATION.to_string(), "2".to_string()),
                (
                    "io.containerd.image.name".to_string(),
                    "localhost/other:2".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        ));
        let mut index = layout.index().unwrap();
        let mut manifests = index.manifests().clone();
        manifests.push(exported.clone());
        index.set_manifests(manifests);
        std::fs::write(
            layout.path().join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        let file = temp.path().join("saved.tar");
        for (name, wanted) in [
            ("app:1", &saved),
            ("docker.io/library/app:1", &saved),
            ("2", &exported),
            ("localhost/other:2", &exported),
        ] {
            let found = resolve_in_archive(&layout, Some(name), &file).unwrap();
            assert_eq!(found.digest(), wanted.digest(), "{name}");
        }
        for name in [Some("app:2"), Some("Not A Name"), None] {
            let refused = resolve_in_archive(&layout, name, &file);
            assert!(
                matches!(&refused, Err(Error::Image(
                    hoist_oci::Error::UnknownTag { path, .. } | hoist_oci::Error::WhichImage { path, .. }
                )) if *path == file),
                "{name:?}: {refused:?}"
            );
        }
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
