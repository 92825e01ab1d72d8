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
use hoist_oci::{
    descriptor_digest, BlobFeeds, Descriptor, Digest, ImageConfiguration, ImageManifest, Layout,
};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::apply::{ApplyOptions, Leftovers};
use crate::bundle::{apply_stream, current_umask, followed_config, read_image, OpenBlob};
use crate::layer::{decode, Budget, LayerPosition};
use crate::progress::UnpackEvent;
use crate::runtime_spec::{runtime_spec, LabelPolicy};
use crate::staging::{self, Staging};
use crate::{Error, Result, UnpackOptions};

/// The most lower layers overlayfs stacks (the kernel's `OVL_MAX_STACK`); an image with more
/// is unpacked as a full copy instead.
pub const MAX_OVERLAY_LAYERS: usize = 500;
/// In an entry of the cache: the layer's files, the overlay lower directory.
const ENTRY_FILES: &str = "diff";
/// In an entry of the cache: written (holding the chain id) and synced with the files before
/// the entry is renamed into place, so an entry without it was never finished.
const ENTRY_COMPLETE: &str = "complete";

/// Where a layer is unpacked before it becomes an entry (see `staging`).
const STAGING_PREFIX: &str = ".staging-";

/// A directory of unpacked layers: `<chain id hex>/diff/` each, with `<chain id hex>/complete`.
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

/// An image whose layers are all in the cache.
#[derive(Debug, Clone)]
pub struct CachedImage {
    /// Layer directories (the overlay lower directories), bottom first.
    pub layers: Vec<PathBuf>,
    /// Their names in the cache (chain ids), bottom first.
    pub names: Vec<String>,
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

    /// Removes every cached layer not named in `keep`, and what interrupted unpacks left
    /// (staging directories no live process holds, discarded ones whose discarding process is
    /// gone). Returns how many were removed.
    pub fn prune(&self, keep: &std::collections::HashSet<String>) -> Result<usize> {
        let mut removed = staging::remove_dead(&self.dir, STAGING_PREFIX);
        let entries = fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `.stale-<name>-<pid>`: discarded by a process that died before it had removed it.
            let stale_leftover = name
                .strip_prefix(".stale-")
                .and_then(|rest| rest.rsplit('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
            if (!name.starts_with('.') && !keep.contains(&name)) || stale_leftover {
                fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Unpacks whatever layers of the image the cache does not hold complete yet (each
    /// verified against its digest and diff_id), bottom first.
    pub fn prepare(
        &self,
        layout: &Layout,
        image: &Descriptor,
        options: &UnpackOptions,
    ) -> Result<CachedImage> {
        let (manifest_descriptor, manifest, config) = read_image(layout, image, &options.platform)?;
        let names = self.build_missing(&manifest, &config, options, &|layer| {
            Ok(Box::new(layout.open_blob(layer)?))
        })?;
        Ok(CachedImage {
            layers: self.layer_dirs(&names),
            names,
            config,
            manifest: descriptor_digest(&manifest_descriptor)?,
        })
    }

    /// Unpacks the layers of `manifest` the cache lacks while a pull in this process writes
    /// their blobs into `layout` (followed through `feeds`): each layer is applied as it
    /// arrives, once the layers below it are in. An entry is made only of a blob its writer
    /// committed (size and digest checked) whose content matches the config's diff_id, as
    /// [`LayerCache::prepare`] does; a pull that fails ends this with an error and leaves no
    /// entry of what it was writing.
    pub fn warm(
        &self,
        layout: &Layout,
        feeds: &BlobFeeds,
        manifest: &ImageManifest,
        options: &UnpackOptions,
    ) -> Result<()> {
        let config = followed_config(layout, feeds, manifest)?;
        self.build_missing(manifest, &config, options, &|layer| {
            Ok(feeds.follow(layout, layer)?)
        })?;
        Ok(())
    }

    /// Builds the entries of the image's layers that are not complete, bottom first, reading
    /// each layer's blob from `open`. Returns the names of all its layers' entries.
    fn build_missing(
        &self,
        manifest: &ImageManifest,
        config: &ImageConfiguration,
        options: &UnpackOptions,
        open: &OpenBlob<'_>,
    ) -> Result<Vec<String>> {
        if manifest.layers().len() > MAX_OVERLAY_LAYERS {
            return Err(Error::TooManyLayers {
                layers: manifest.layers().len(),
                limit: MAX_OVERLAY_LAYERS,
            });
        }
        let diff_ids = config.rootfs().diff_ids();
        let budget = Budget::new(options.max_size);
        let names = LayerCache::layer_names(config)?;
        let mut cleaned = false;
        let mut lowers: Vec<PathBuf> = Vec::new();
        for (index, ((layer, diff_id), name)) in manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .zip(&names)
            .enumerate()
        {
            if !self.is_complete(name) {
                // What an unpack killed here before left behind; looked for only when a layer
                // is built, so that a run from cached layers never reads the whole cache.
                if !std::mem::replace(&mut cleaned, true) {
                    staging::remove_dead(&self.dir, STAGING_PREFIX);
                }
                self.discard(name)?;
                let position = LayerPosition {
                    index,
                    total: diff_ids.len(),
                    progress: &options.progress,
                };
                self.build(open, layer, diff_id, &lowers, name, &budget, position)?;
            }
            options.progress.send(UnpackEvent::LayerDone { index });
            lowers.push(self.dir.join(name).join(ENTRY_FILES));
        }
        Ok(names)
    }

    /// The directories of the entries `names` (bottom first): an overlay's lower directories.
    pub fn layer_dirs(&self, names: &[String]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|name| self.dir.join(name).join(ENTRY_FILES))
            .collect()
    }

    /// The image as the cache holds it, if every layer of it is there complete (nothing is
    /// unpacked).
    pub fn lookup(
        &self,
        layout: &Layout,
        image: &Descriptor,
        platform: &hoist_oci::Platform,
    ) -> Result<Option<CachedImage>> {
        let (manifest_descriptor, _, config) = read_image(layout, image, platform)?;
        let names = LayerCache::layer_names(&config)?;
        if !names.iter().all(|name| self.is_complete(name)) {
            return Ok(None);
        }
        Ok(Some(CachedImage {
            layers: self.layer_dirs(&names),
            names,
            config,
            manifest: descriptor_digest(&manifest_descriptor)?,
        }))
    }

    /// Every entry (not what is being or was being unpacked), and whether it was finished.
    pub fn entries(&self) -> Result<Vec<(String, bool)>> {
        let entries = fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        Ok(entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .map(|name| {
                let complete = self.is_complete(&name);
                (name, complete)
            })
            .collect())
    }

    /// Whether the entry `name` was finished: its marker is there and names it.
    pub fn is_complete(&self, name: &str) -> bool {
        fs::read(self.dir.join(name).join(ENTRY_COMPLETE))
            .is_ok_and(|marker| marker == name.as_bytes())
    }

    /// Removes an unfinished entry (a crash's, or an older hoist's layout). It is renamed
    /// aside first, so a concurrent unpack of the same layer never sees half of it removed.
    fn discard(&self, name: &str) -> Result<()> {
        let entry = self.dir.join(name);
        let aside = self
            .dir
            .join(format!(".stale-{name}-{}", std::process::id()));
        match fs::rename(&entry, &aside) {
            Ok(()) => fs::remove_dir_all(&aside).map_err(Error::io(&aside)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&entry)(e)),
        }
    }

    /// Unpacks one layer over `lowers` (bottom first) into a staging entry, syncs it and
    /// renames it to `name`.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        open: &OpenBlob<'_>,
        layer: &Descriptor,
        diff_id: &str,
        lowers: &[PathBuf],
        name: &str,
        budget: &Budget,
        position: LayerPosition<'_>,
    ) -> Result<()> {
        let staging = Staging::new_in(&self.dir, STAGING_PREFIX).map_err(Error::io(&self.dir))?;
        for sub in [ENTRY_FILES, "work", "merged"] {
            let path = staging.path().join(sub);
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .map_err(Error::io(&path))?;
        }
        let umask = current_umask();
        // Opened once the staging entry is there, so that a blob that is slow to come (or a
        // run killed while it waits) leaves what the next run recognises and cleans.
        let blob = open(layer)?;
        std::thread::scope(|scope| {
            let mut stream = decode(scope, blob, layer, budget, position)?;
            let staging_path = staging.path();
            scope
                .spawn(move || {
                    let target = if lowers.is_empty() {
                        staging_path.join(ENTRY_FILES)
                    } else {
                        mount_privately(lowers, staging_path)?
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
                    Err(Error::io(staging_path)(std::io::Error::other(
                        "the layer applier panicked",
                    )))
                })
        })?;
        self.finish_entry(staging, name)
    }

    /// Makes a staging entry whose files are in place the cache entry `name`: the marker
    /// written, everything synced, then one rename.
    fn finish_entry(&self, staging: Staging, name: &str) -> Result<()> {
        let io = |path: &Path| Error::io(path.to_path_buf());
        for sub in ["work", "merged"] {
            let path = staging.path().join(sub);
            fs::remove_dir_all(&path).map_err(io(&path))?;
        }
        let marker = staging.path().join(ENTRY_COMPLETE);
        fs::write(&marker, name).map_err(io(&marker))?;
        // One syncfs for the whole layer (a file at a time would cost an fsync each): after
        // a crash, an entry that exists has every byte of its files on disk.
        let staged = fs::File::open(staging.path()).map_err(io(staging.path()))?;
        rustix::fs::syncfs(&staged).map_err(|e| io(staging.path())(e.into()))?;
        let entry = self.dir.join(name);
        match fs::rename(staging.path(), &entry) {
            Ok(()) => {
                let _ = staging.keep();
                // The rename itself made durable; without it a crash only costs a rebuild.
                let _ = fs::File::open(&self.dir).and_then(|dir| dir.sync_all());
                Ok(())
            }
            // Another unpack of the same layer finished first: its copy is as good as ours.
            Err(_) if self.is_complete(name) => Ok(()),
            Err(e) => Err(io(&entry)(e)),
        }
    }
}

/// In this thread only: a private mount namespace and working directory, with an overlay of
/// `lowers` and `staging/diff` mounted at `staging/merged`. Returns where it is mounted.
fn mount_privately(lowers: &[PathBuf], staging: &Path) -> Result<PathBuf> {
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
        lowers,
        &staging.join(ENTRY_FILES),
        &staging.join("work"),
        &merged,
    )
    .map_err(|e| failed("mounting the layers below", e))?;
    Ok(merged)
}

/// Mounts an overlay of `lowers` (bottom first) under `upper` at `target`. The calling thread
/// must have a working directory of its own (see unshare(CLONE_FS)): it moves to
/// `/proc/self/fd`, where each directory is named by an fd held open on it (see
/// `hoist_fs::overlay_options`). In a user namespace (an unprivileged user's store) whiteouts
/// and opaque directories are kept in `user.overlay.*` xattrs: the `trusted.*` ones are the
/// host root's.
fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> rustix::io::Result<()> {
    let open = |dir: &Path| {
        rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let opened: Vec<std::os::fd::OwnedFd> = lowers
        .iter()
        .rev()
        .map(|layer| open(layer))
        .collect::<rustix::io::Result<_>>()?;
    let (upper, work) = (open(upper)?, open(work)?);
    let data = hoist_fs::overlay_options(&opened, &upper, &work, in_user_namespace())
        .ok_or(rustix::io::Errno::TOOBIG)?;
    let data = std::ffi::CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?;
    rustix::process::chdir("/proc/self/fd")?;
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
pub fn mount_rootfs(image: &CachedImage, container_dir: &Path) -> Result<oci_spec::runtime::Spec> {
    let path = |name: &str| container_dir.join(name);
    for name in ["rootfs", "upper", "work"] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path(name))
            .map_err(Error::io(path(name)))?;
    }
    mount_over(image.layers.clone(), container_dir)?;
    let spec = (|| {
        let root = Root::open(&path("rootfs")).map_err(Error::io(path("rootfs")))?;
        runtime_spec(&image.config, &root, None, LabelPolicy::default())
    })();
    if spec.is_err() {
        let _ = unmount_rootfs(container_dir);
    }
    spec
}

/// Mounts `rootfs/` of `container_dir` over `layers` (bottom first), with its `upper/` and
/// `work/`.
fn mount_over(layers: Vec<PathBuf>, container_dir: &Path) -> Result<()> {
    let path = |name: &str| container_dir.join(name);
    let (rootfs, upper, work) = (path("rootfs"), path("upper"), path("work"));
    // A thread with a working directory of its own, for the layers named by fd.
    let mounted = std::thread::spawn(move || {
        // SAFETY: FS unshares only this thread's working directory, root and umask.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
        mount_overlay(&layers, &upper, &work, &rootfs)
    })
    .join()
    .unwrap_or(Err(rustix::io::Errno::IO));
    mounted.map_err(|e| Error::Overlay {
        path: path("rootfs"),
        source: e.into(),
    })
}

impl LayerCache {
    /// Mounts a stopped container's rootfs again over the cached layers it was made of
    /// (`names`, bottom first), unless it is mounted: what it changed is in its `upper/`.
    /// Returns whether it mounted it.
    pub fn remount(&self, names: &[String], container_dir: &Path) -> Result<bool> {
        let rootfs = container_dir.join("rootfs");
        let device = |p: &Path| fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::dev(&m));
        if device(&rootfs).map_err(Error::io(&rootfs))?
            != device(container_dir).map_err(Error::io(container_dir))?
        {
            return Ok(false);
        }
        let mut layers = Vec::new();
        for name in names {
            if !self.is_complete(name) {
                return Err(Error::LayerGone(name.clone()));
            }
            layers.push(self.dir.join(name).join(ENTRY_FILES));
        }
        mount_over(layers, container_dir).map(|()| true)
    }
}

/// Unmounts a container's overlay rootfs (if mounted); its directories stay for the caller.
pub fn unmount_rootfs(container_dir: &Path) -> Result<()> {
    let rootfs = container_dir.join("rootfs");
    match rustix::mount::unmount(&rootfs, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        // An unprivileged user's rootfs is mounted in its container only, never here.
        Err(rustix::io::Errno::PERM) if !rustix::process::geteuid().is_root() => Ok(()),
        Err(e) => Err(Error::io(&rootfs)(e.into())),
    }
}

/// Whether this process can mount overlays: root (of the host, or of a user namespace on
/// Linux 5.11 or later, which first allowed it there), a kernel with overlayfs.
pub fn overlay_supported() -> bool {
    rustix::process::geteuid().is_root()
        && if in_user_namespace() {
            overlay_in_user_namespaces()
        } else {
            overlay_in_kernel()
        }
}

/// Whether the kernel has overlayfs.
fn overlay_in_kernel() -> bool {
    fs::read_to_string("/proc/filesystems").is_ok_and(|f| f.contains("\toverlay\n"))
}

/// Whether a user namespace's root may mount overlays here (overlayfs, Linux 5.11 or later).
pub fn overlay_in_user_namespaces() -> bool {
    kernel_at_least(5, 11) && overlay_in_kernel()
}

/// Whether the running kernel is version `major.minor` or later.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// Whether this process runs in a user namespace other than the host's (whose map is the
/// identity of every id).
pub fn in_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}
