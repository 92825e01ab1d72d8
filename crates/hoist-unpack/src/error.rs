use std::io;
use std::path::PathBuf;

use hoist_oci::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] hoist_oci::Error),
    #[error("{path}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}")]
    Layer {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}, entry {entry:?}")]
    Entry {
        layer: Digest,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}")]
    TarHeader {
        layer: Digest,
        #[source]
        source: hoist_oci::TarHeaderError,
    },
    #[error("layer {layer}: uncompressed content does not match the image config's diff_id: expected {expected}, got {actual}")]
    DiffIdMismatch {
        layer: Digest,
        expected: String,
        actual: Digest,
    },
    #[error("layer {layer} has media type {media_type:?}, which is not a layer type hoist can unpack (tar, tar+gzip, tar+zstd)")]
    UnsupportedLayer { layer: Digest, media_type: String },
    #[error("the image has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCountMismatch { layers: usize, diff_ids: usize },
    #[error("the image has {layers} layers; overlayfs stacks at most {limit}")]
    TooManyLayers { layers: usize, limit: usize },
    #[error("the cached layer {0} the container was made of is gone (was the layer cache pruned by hand?): remove the container and run the image again")]
    LayerGone(String),
    #[error("mounting the image's layers at {path} with overlayfs", path = .path.display())]
    Overlay {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bundle {path} already exists and is not empty; choose a new directory or remove it first", path = .0.display())]
    BundleExists(PathBuf),
    #[error("{path} does not say what image it was unpacked from (no hoist-origin.json): only bundles `hoist unpack` made can be repacked", path = .0.display())]
    NoOrigin(PathBuf),
    #[error("{path:?} is not a path in a rootfs to insert at: give an absolute or relative path without `..` (the root itself only for a directory's contents)", path = .0)]
    BadTarget(PathBuf),
    #[error("{path}: {reason}", path = .path.display())]
    BadOrigin { path: PathBuf, reason: String },
    #[error("the layout does not hold {manifest}, the image the bundle was unpacked from: give the layout it came from with --image")]
    OriginNotInLayout { manifest: Digest },
    #[error("the image's user {user:?} cannot be used: {reason}")]
    BadUser { user: String, reason: String },
    #[error("the layers unpack to more than the {limit}-byte limit (--max-size); this looks like a decompression bomb")]
    TooLarge { limit: u64 },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
