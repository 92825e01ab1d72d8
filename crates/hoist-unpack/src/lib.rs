//! Turning an image in a layout into an OCI runtime bundle (`config.json` + `rootfs/`).
//!
//! Every layer is read through a pipeline that checks it twice: the compressed bytes against the
//! manifest's digest and size, the uncompressed stream against the config's diff_id. Entries
//! are applied relative to an fd of the rootfs ([`hoist_fs::Root`]); no path from a layer is
//! ever joined to the rootfs path as a string. The bundle is built under a temporary name and
//! renamed into place only when complete.
//!
//! # What is tolerated, and what is always refused
//!
//! Strict where strictness buys safety, lenient where it would only break images that podman,
//! containerd and umoci run (the README has the same table; a test keeps them equal):
//!
#![doc = include_str!("../TOLERANCE.md")]

mod apply;
mod bundle;
mod entry_path;
mod error;
mod file_writer;
mod idmap;
mod layer;
mod origin;
mod overlay;
mod progress;
mod repack;
mod runtime_spec;
mod staging;
mod user;

pub use apply::SkippedDevice;
pub use bundle::{unpack, unpack_following, UnpackOptions, Unpacked};
pub use error::{Error, Result};
pub use idmap::{IdMap, IdRange};
pub use origin::{BundleOrigin, ORIGIN_FILE};
pub use overlay::{
    in_user_namespace, mount_rootfs, overlay_in_user_namespaces, overlay_supported, unmount_rootfs,
    CachedImage, LayerCache,
};
pub use progress::{Progress, UnpackEvent};
pub use repack::{commit_overlay_upper, insert, repack, InsertOptions, RepackOptions, Repacked};
pub use runtime_spec::{
    default_spec, process_user, LabelPolicy, RUNTIME_LABEL_PREFIXES, SKIPPED_DEVICES_ANNOTATION,
    VOLUMES_ANNOTATION,
};
