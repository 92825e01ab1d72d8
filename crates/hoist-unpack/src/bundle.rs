use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_fs::Root;
use hoist_oci::{
    descriptor_digest, BlobFeeds, Descriptor, Digest, ImageConfiguration, ImageManifest, Layout,
    Platform,
};

use crate::apply::{ApplyOptions, EntryError, LayerApplier, Leftovers, SkippedDevice};
use crate::idmap::IdMap;
use crate::layer::{decode, BlobReader, Budget, LayerPosition, LayerStream, OpenedOnRead};
use crate::origin::BundleOrigin;
use crate::progress::{Progress, UnpackEvent};
use crate::runtime_spec::{runtime_spec, LabelPolicy, RootlessSpec};
use crate::staging::{self, Staging};
use crate::{Error, Result};

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The platform chosen when the image is an index.
    pub platform: Platform,
    /// Unpack without privileges: no ownership changes, no device nodes.
    pub rootless: bool,
    /// The most uncompressed bytes (all layers' tar streams) the image may unpack to.
    pub max_size: u64,
    /// Container ids to host ids for file ownership (empty: as in the image).
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// Which image labels become `config.json` annotations.
    pub labels: LabelPolicy,
    /// Where per-layer progress goes.
    pub progress: Progress,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            platform: Platform::host(),
            rootless: !rustix::process::geteuid().is_root(),
            max_size: 64 << 30,
            uid_map: IdMap::default(),
            gid_map: IdMap::default(),
            labels: LabelPolicy::default(),
            progress: Progress::default(),
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub bundle: PathBuf,
    /// Device nodes a rootless unpack left out (the runtime config bind-mounts the host's).
    pub skipped_devices: Vec<SkippedDevice>,
    /// The image config the runtime config was made from.
    pub config: ImageConfiguration,
    pub manifest: Digest,
    pub layers: usize,
}

/// Where a bundle is assembled, beside it (see `staging`).
const STAGING_PREFIX: &str = ".hoist-unpack-";

/// Unpacks the image `image` names in `layout` into a new bundle directory: `config.json` and
/// `rootfs/`. The bundle is assembled under a temporary name beside it and renamed into place
/// when complete, so a failure of any kind leaves no bundle behind, and what a killed unpack
/// left is removed by the next unpack beside it.
pub fn unpack(
    layout: &Layout,
    image: &Descriptor,
    bundle: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked> {
    let (manifest_descriptor, manifest, config) = read_image(layout, image, &options.platform)?;
    let chosen = ChosenImage {
        digest: &descriptor_digest(&manifest_descriptor)?,
        manifest: &manifest,
        config,
    };
    unpack_from(chosen, bundle, options, &|layer| {
        Ok(Box::new(layout.open_blob(layer)?))
    })
}

/// Like [`unpack`], for the image `manifest` (whose digest is `digest`) while a pull in this
/// process writes its blobs into `layout`, followed through `feeds`: each layer is applied as
/// it arrives. The bundle appears only once every layer has been committed by its writer (size
/// and digest) and matched its diff_id; a pull that fails ends this with an error and no
/// bundle.
pub fn unpack_following(
    layout: &Layout,
    feeds: &Arc<BlobFeeds>,
    manifest: &ImageManifest,
    digest: &Digest,
    bundle: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked> {
    let chosen = ChosenImage {
        digest,
        manifest,
        config: followed_config(layout, feeds, manifest)?,
    };
    // Layers are opened ahead of the one applied; one whose download has not begun yet is
    // waited for by its own decoder, not by the applier.
    unpack_from(chosen, bundle, options, &|layer| {
        let (feeds, layout, layer) = (Arc::clone(feeds), layout.clone(), layer.clone());
        Ok(Box::new(OpenedOnRead::new(move || {
            Ok(feeds.follow(&layout, &layer)?)
        })))
    })
}

/// The config of `manifest`, once its writer has committed it (or read as stored), with a
/// diff_id for every layer.
pub(crate) fn followed_config(
    layout: &Layout,
    feeds: &BlobFeeds,
    manifest: &ImageManifest,
) -> Result<ImageConfiguration> {
    // It is small: waited for whole, then read as any stored blob.
    std::io::copy(
        &mut feeds.follow(layout, manifest.config())?,
        &mut std::io::sink(),
    )
    .map_err(Error::io(layout.path()))?;
    let config: ImageConfiguration = layout.read_json(manifest.config(), "image config")?;
    check_layer_count(manifest, &config)?;
    Ok(config)
}

/// The image an unpack is of.
struct ChosenImage<'a> {
    digest: &'a Digest,
    manifest: &'a ImageManifest,
    config: ImageConfiguration,
}

/// Unpacks `image` into a new bundle, reading its layers' blobs from `open`.
fn unpack_from(
    image: ChosenImage<'_>,
    bundle: &Path,
    options: &UnpackOptions,
    open: &OpenBlob<'_>,
) -> Result<Unpacked> {
    let ChosenImage {
        digest: manifest_digest,
        manifest,
        config,
    } = image;
    let diff_ids = config.rootfs().diff_ids();
    ensure_bundle_free(bundle)?;

    let parent = hoist_oci::parent_dir(bundle);
    fs::create_dir_all(parent).map_err(Error::io(parent))?;
    // What an unpack killed here before left behind.
    staging::remove_dead(parent, STAGING_PREFIX);
    let staging = Staging::new_in(parent, STAGING_PREFIX).map_err(Error::io(parent))?;
    let rootfs = staging.path().join("rootfs");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&rootfs)
        .map_err(Error::io(&rootfs))?;
    let root = Root::open(&rootfs).map_err(Error::io(&rootfs))?;

    let apply_options = ApplyOptions {
        rootless: options.rootless,
        uid_map: options.uid_map.clone(),
        gid_map: options.gid_map.clone(),
    };
    let leftovers = apply_layers(open, manifest, diff_ids, &root, &apply_options, options)?;
    let rootless = options.rootless.then(|| RootlessSpec {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        skipped_devices: leftovers.skipped_devices.clone(),
    });
    let spec = runtime_spec(&config, &root, rootless.as_ref(), options.labels)?;
    let config_path = staging.path().join("config.json");
    let json = serde_json::to_vec_pretty(&spec).expect("a runtime spec always serialises");
    fs::write(&config_path, json).map_err(Error::io(&config_path))?;
    BundleOrigin::new(
        manifest_digest,
        options.rootless,
        &options.uid_map,
        &options.gid_map,
    )
    .write(staging.path())?;
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o700))
        .map_err(Error::io(staging.path()))?;

    ensure_bundle_free(bundle)?;
    if bundle.is_dir() {
        fs::remove_dir(bundle).map_err(Error::io(bundle))?;
    }
    let (staged, _lock) = staging.keep();
    if let Err(e) = fs::rename(&staged, bundle) {
        let _ = fs::remove_dir_all(&staged);
        return Err(Error::io(bundle)(e));
    }
    Ok(Unpacked {
        bundle: bundle.to_path_buf(),
        config,
        skipped_devices: leftovers.skipped_devices,
        manifest: manifest_digest.clone(),
        layers: manifest.layers().len(),
    })
}

/// The platform's image manifest (its descriptor and contents) and config, with a diff_id for
/// every layer.
pub(crate) fn read_image(
    layout: &Layout,
    image: &Descriptor,
    platform: &Platform,
) -> Result<(Descriptor, ImageManifest, ImageConfiguration)> {
    let manifest_descriptor = layout.choose_image(image, platform)?;
    let manifest: ImageManifest = layout.read_json(&manifest_descriptor, "image manifest")?;
    let config: ImageConfiguration = layout.read_json(manifest.config(), "image config")?;
    check_layer_count(&manifest, &config)?;
    Ok((manifest_descriptor, manifest, config))
}

/// An image whose config names another number of layers than its manifest is refused.
pub(crate) fn check_layer_count(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<()> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::LayerCountMismatch {
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    Ok(())
}

/// Where the layers' blobs are read from: the layout, or a pull's writers.
pub(crate) type OpenBlob<'a> = dyn Fn(&Descriptor) -> Result<BlobReader> + Sync + 'a;

/// How many layers are decoded ahead of the one being applied.
const LOOKAHEAD: usize = 2;

/// Applies the layers in order. Each is decoded (and its digest checked) on a thread of its
/// own, up to LOOKAHEAD layers ahead; the scope joins them all before this returns, so callers
/// are single-threaded again (`hoist run` clones a container's init next).
pub(crate) fn apply_layers(
    open: &OpenBlob<'_>,
    manifest: &ImageManifest,
    diff_ids: &[String],
    root: &Root,
    apply_options: &ApplyOptions,
    options: &UnpackOptions,
) -> Result<Leftovers> {
    let budget = Budget::new(options.max_size);
    let umask = current_umask();
    let mut leftovers = Leftovers::default();
    std::thread::scope(|scope| {
        let layers = manifest.layers();
        let mut pending: std::collections::VecDeque<LayerStream> =
            std::collections::VecDeque::new();
        let mut started = 0;
        for (done, diff_id) in diff_ids.iter().enumerate() {
            while started < layers.len() && pending.len() <= LOOKAHEAD {
                let position = LayerPosition {
                    index: started,
                    total: layers.len(),
                    progress: &options.progress,
                };
                let blob = open(&layers[started])?;
                pending.push_back(decode(scope, blob, &layers[started], &budget, position)?);
                started += 1;
            }
            let mut stream = pending.pop_front().expect("one decoder per layer");
            apply_stream(&mut stream, root, apply_options, &mut leftovers, umask)?;
            stream.finish(diff_id)?;
            options
                .progress
                .send(UnpackEvent::LayerDone { index: done });
        }
        Ok::<(), Error>(())
    })?;
    leftovers.apply(root).map_err(Error::io(Path::new("/")))?;
    Ok(leftovers)
}

/// Applies one decoded layer's tar stream to `root`, naming the layer and entry on failure.
pub(crate) fn apply_stream(
    stream: &mut LayerStream,
    root: &Root,
    apply_options: &ApplyOptions,
    leftovers: &mut Leftovers,
    umask: u32,
) -> Result<()> {
    let applied = {
        let mut archive = tar::Archive::new(&mut *stream);
        LayerApplier::new(root, apply_options, leftovers, umask).apply(&mut archive)
    };
    let Err(EntryError { entry, source }) = applied else {
        return Ok(());
    };
    // A failing stream explains itself better than the tar reader that tripped on it.
    if let Some(failure) = stream.take_failure() {
        return Err(failure);
    }
    let layer = stream.layer.clone();
    Err(if entry.is_empty() {
        Error::Layer { layer, source }
    } else {
        Error::Entry {
            layer,
            entry,
            source,
        }
    })
}

/// The process umask, read without changing it (umask(2) can only be read by setting it).
pub(crate) fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| u32::from_str_radix(l.strip_prefix("Umask:")?.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

fn ensure_bundle_free(bundle: &Path) -> Result<()> {
    match fs::read_dir(bundle) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(Error::BundleExists(bundle.to_path_buf())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(bundle)(e)),
    }
}
