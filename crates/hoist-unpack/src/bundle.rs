use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoist_fs::Root;
use hoist_oci::media_type::{self, ManifestKind};
use hoist_oci::{
    descriptor_digest, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, Layout,
    Platform,
};

use crate::apply::ApplyOptions;
use crate::layer::apply_layer;
use crate::runtime_spec::runtime_spec;
use crate::{Error, Result};

/// How to unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// The platform chosen when the image is an index.
    pub platform: Platform,
    /// Unpack without privileges: no ownership changes, no device nodes.
    pub rootless: bool,
    /// The most uncompressed file content the image may unpack to.
    pub max_size: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            platform: Platform::host(),
            rootless: !rustix::process::geteuid().is_root(),
            max_size: 64 << 30,
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone)]
pub struct Unpacked {
    pub bundle: PathBuf,
    /// The image config the runtime config was made from.
    pub config: ImageConfiguration,
    pub manifest: Digest,
    pub layers: usize,
}

/// Unpacks the image `image` names in `layout` into a new bundle directory: `config.json` and
/// `rootfs/`. The bundle is assembled under a temporary name beside it and renamed into place
/// when complete, so a failure of any kind leaves no bundle behind.
pub fn unpack(
    layout: &Layout,
    image: &Descriptor,
    bundle: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked> {
    let manifest_descriptor = choose_manifest(layout, image, &options.platform)?;
    let manifest: ImageManifest = layout.read_json(&manifest_descriptor, "image manifest")?;
    let config: ImageConfiguration = layout.read_json(manifest.config(), "image config")?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::LayerCountMismatch {
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    ensure_bundle_free(bundle)?;

    let parent = bundle
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".hoist-unpack-")
        .tempdir_in(parent)
        .map_err(Error::io(parent))?;
    let rootfs = staging.path().join("rootfs");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&rootfs)
        .map_err(Error::io(&rootfs))?;
    let root = Root::open(&rootfs).map_err(Error::io(&rootfs))?;

    let apply_options = ApplyOptions {
        rootless: options.rootless,
    };
    let mut budget = options.max_size;
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        budget = apply_layer(layout, layer, diff_id, &root, apply_options, budget).map_err(
            |e| match e {
                Error::TooLarge { .. } => Error::TooLarge {
                    limit: options.max_size,
                },
                other => other,
            },
        )?;
    }

    let spec = runtime_spec(&config, &root)?;
    let config_path = staging.path().join("config.json");
    let json = serde_json::to_vec_pretty(&spec).expect("a runtime spec always serialises");
    fs::write(&config_path, json).map_err(Error::io(&config_path))?;
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o700))
        .map_err(Error::io(staging.path()))?;

    ensure_bundle_free(bundle)?;
    if bundle.is_dir() {
        fs::remove_dir(bundle).map_err(Error::io(bundle))?;
    }
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, bundle) {
        let _ = fs::remove_dir_all(&staged);
        return Err(Error::io(bundle)(e));
    }
    Ok(Unpacked {
        bundle: bundle.to_path_buf(),
        config,
        manifest: descriptor_digest(&manifest_descriptor)?,
        layers: manifest.layers().len(),
    })
}

/// The image manifest to unpack: `image` itself, or its platform's entry if it is an index.
fn choose_manifest(layout: &Layout, image: &Descriptor, platform: &Platform) -> Result<Descriptor> {
    let media_type = image.media_type().to_string();
    match media_type::manifest_kind(&media_type) {
        Some(ManifestKind::Image) => Ok(image.clone()),
        Some(ManifestKind::Index) => {
            let index: ImageIndex = layout.read_json(image, "image index")?;
            let entry = platform
                .choose(&index)
                .ok_or_else(|| Error::NoMatchingPlatform {
                    wanted: platform.to_string(),
                    available: Platform::listed(&index),
                })?;
            choose_manifest(layout, entry, platform)
        }
        None => Err(Error::WrongDocument {
            what: "the image reference",
            media_type,
            expected: "an image manifest or index",
        }),
    }
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
