//! Shared read-only layers: each layer unpacked once into a cache directory keyed by its chain
//! id, and a container's rootfs an overlayfs mount of its image's layers with a writable upper
//! directory of its own.
//!
//! A layer is unpacked the way containerd and docker's overlay2 do it: into the upper directory
//! of an overlay mount of the layers below it, so paths resolve through the lower layers'
//! symlinks, deletions become overlayfs whiteouts, and a hardlink to a lower file is copied up.
//! That mount lives in a private mount namespace of the unpacking thread, so it vanishes with
//! the thread whatever happens; only a complete, verified layer is renamed into the cache.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use hoist_fs::Root;
use hoist_oci::{descriptor_digest, Descriptor, Digest, ImageConfiguration, Layout};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::apply::{ApplyOptions, Leftovers};
use crate::bundle::{apply_stream, current_umask, read_image};
use crate::layer::{decode, Budget, LayerPosition};
use crate::progress::UnpackEvent;
use crate::runtime_spec::runtime_spec;
use crate::{Error, Result, UnpackOptions};

/// The kernel's limit on a mount's option string (one page).
const MOUNT_DATA_LIMIT: usize = 4096;

/// A directory of unpacked layers, `<chain id hex>/` each.
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

/// An image whose layers are all in the cache.
#[derive(Debug, Clone)]
pub struct CachedImage {
    /// Layer directories, bottom first.
    pub layers: Vec<PathBuf>,
    pub config: ImageConfiguration,
    pub manifest: Digest,
}

impl LayerCache {
    pub fn open(dir: impl Into<PathBuf>) -> Result<LayerCache> {
        let dir = dir.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(Error::io(&dir))?;
        Ok(LayerCache { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The cache directory names (chain ids) of an image's layers, bottom first.
    pub fn layer_names(config: &ImageConfiguration) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut chain: Option<Digest> = None;
        for diff_id in config.rootfs().diff_ids() {
            let diff: Digest = diff_id.parse().map_err(hoist_oci::Error::from)?;
            let chain_id = match &chain {
                None => diff,
                Some(below) => Digest::of(format!("{below} {diff}").as_bytes()),
            };
            names.push(chain_id.hex().to_string());
            chain = Some(chain_id);
        }
        Ok(names)
    }

    /// Removes every cached layer not named in `keep`, and staging directories an interrupted
    /// unpack left (older than an hour, so none still in use). Returns how many were removed.
    pub fn prune(&self, keep: &std::collections::HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale_staging = name.starts_with(".staging-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
            if (!name.starts_with('.') && !keep.contains(&name)) || stale_staging {
                fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Unpacks whatever layers of the image the cache does not hold yet (each verified against
    /// its digest and diff_id), bottom first.
    pub fn prepare(
        &self,
        layout: &Layout,
        image: &Descriptor,
        options: &UnpackOptions,
    ) -> Result<CachedImage> {
        let (manifest_descriptor, manifest, config) = read_image(layout, image, &options.platform)?;
        let diff_ids = config.rootfs().diff_ids();
        let budget = Budget::new(options.max_size);
        let names = LayerCache::layer_names(&config)?;
        let mut layers: Vec<PathBuf> = Vec::new();
        for (index, ((layer, diff_id), name)) in manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .zip(&names)
            .enumerate()
        {
            let dir = self.dir.join(name);
            if !dir.is_dir() {
                let position = LayerPosition {
                    index,
                    total: diff_ids.len(),
                    progress: &options.progress,
                };
                self.build(layout, layer, diff_id, &layers, &dir, &budget, position)?;
            }
            options.progress.send(UnpackEvent::LayerDone { index });
            layers.push(dir);
        }
        Ok(CachedImage {
            layers,
            config,
            manifest: descriptor_digest(&manifest_descriptor)?,
        })
    }

    /// Unpacks one layer over `lowers` (bottom first) and renames it to `dir`.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        layout: &Layout,
        layer: &Descriptor,
        diff_id: &str,
        lowers: &[PathBuf],
        dir: &Path,
        budget: &Budget,
        position: LayerPosition<'_>,
    ) -> Result<()> {
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&self.dir)
            .map_err(Error::io(&self.dir))?;
        let upper = staging.path().join("diff");
        for sub in ["diff", "work", "merged"] {
            let path = staging.path().join(sub);
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .map_err(Error::io(&path))?;
        }
        let umask = current_umask();
        std::thread::scope(|scope| {
            let mut stream = decode(scope, layout, layer, budget, position)?;
            let staging_path = staging.path();
            let cache_dir = &self.dir;
            scope
                .spawn(move || {
                    let target = if lowers.is_empty() {
                        staging_path.join("diff")
                    } else {
                        mount_privately(cache_dir, lowers, staging_path)?
                    };
                    let root = Root::open(&target).map_err(Error::io(&target))?;
                    let mut leftovers = Leftovers::default();
                    apply_stream(
                        &mut stream,
                        &root,
                        &ApplyOptions::default(),
                        &mut leftovers,
                        umask,
                    )?;
                    stream.finish(diff_id)
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::io(dir)(std::io::Error::other(
                        "the layer applier panicked",
                    )))
                })
        })?;
        match fs::rename(&upper, dir) {
            Ok(()) => Ok(()),
            // Another unpack of the same layer finished first: its copy is as good as ours.
            Err(_) if dir.is_dir() => Ok(()),
            Err(e) => Err(Error::io(dir)(e)),
        }
    }
}

/// In this thread only: a private mount namespace and working directory, with an overlay of
/// `lowers` and `staging/diff` mounted at `staging/merged`. Returns where it is mounted.
fn mount_privately(cache_dir: &Path, lowers: &[PathBuf], staging: &Path) -> Result<PathBuf> {
    let failed = |what: &str, e: rustix::io::Errno| {
        Error::io(staging)(std::io::Error::other(format!("{what}: {e}")))
    };
    // SAFETY: NEWNS and FS change only this thread's view of mounts and its working
    // directory; no memory or fd tables are unshared behind Rust's back.
    unsafe {
        rustix::thread::unshare_unsafe(
            rustix::thread::UnshareFlags::NEWNS | rustix::thread::UnshareFlags::FS,
        )
    }
    .map_err(|e| failed("a private mount namespace for unpacking", e))?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(|e| failed("making mounts private", e))?;
    let merged = staging.join("merged");
    mount_overlay(
        cache_dir,
        lowers,
        &staging.join("diff"),
        &staging.join("work"),
        &merged,
    )
    .map_err(|e| failed("mounting the layers below", e))?;
    Ok(merged)
}

/// Mounts an overlay of `lowers` (bottom first) under `upper` at `target`. The layers are named
/// relative to `cache_dir`, made the working directory of the calling thread (which must have
/// its own, see unshare(CLONE_FS)), so that many layers fit in the mount's one-page options.
fn mount_overlay(
    cache_dir: &Path,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    rustix::process::chdir(cache_dir)?;
    let lowerdir: Vec<String> = lowers
        .iter()
        .rev()
        .map(|l| l.strip_prefix(cache_dir).unwrap_or(l).display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= MOUNT_DATA_LIMIT {
        return Err(rustix::io::Errno::TOOBIG);
    }
    let data = std::ffi::CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
}

/// A container's root file system over cached layers: `rootfs/` (the overlay mount),
/// `upper/` and `work/` in `container_dir`, and `config.json` made from the image config.
pub fn mount_rootfs(
    cache: &LayerCache,
    image: &CachedImage,
    container_dir: &Path,
) -> Result<oci_spec::runtime::Spec> {
    let path = |name: &str| container_dir.join(name);
    for name in ["rootfs", "upper", "work"] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path(name))
            .map_err(Error::io(path(name)))?;
    }
    let (rootfs, upper, work) = (path("rootfs"), path("upper"), path("work"));
    let layers = image.layers.clone();
    let cache_dir = cache.dir.clone();
    // A thread with a working directory of its own, for the relative layer names.
    let mounted = std::thread::spawn(move || {
        // SAFETY: FS unshares only this thread's working directory, root and umask.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
        mount_overlay(&cache_dir, &layers, &upper, &work, &rootfs)
    })
    .join()
    .unwrap_or(Err(rustix::io::Errno::IO));
    mounted.map_err(|e| Error::Overlay {
        path: path("rootfs"),
        source: e.into(),
    })?;
    let spec = (|| {
        let root = Root::open(&path("rootfs")).map_err(Error::io(path("rootfs")))?;
        runtime_spec(&image.config, &root, None)
    })();
    if spec.is_err() {
        let _ = unmount_rootfs(container_dir);
    }
    spec
}

/// Unmounts a container's overlay rootfs (if mounted); its directories stay for the caller.
pub fn unmount_rootfs(container_dir: &Path) -> Result<()> {
    let rootfs = container_dir.join("rootfs");
    match rustix::mount::unmount(&rootfs, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::io(&rootfs)(e.into())),
    }
}

/// Whether this process can mount overlays (root, a kernel with overlayfs).
pub fn overlay_supported() -> bool {
    rustix::process::geteuid().is_root()
        && fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("\toverlay\n"))
}
