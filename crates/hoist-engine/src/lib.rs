//! The engine of `hoist run IMAGE` (the part podman keeps in libpod): hoist's store of images,
//! layers and containers, each container's record and bundle, and where an image argument
//! points (`docker://`, `oci:`, `oci-archive:`, or the store). The binary parses and renders;
//! what it does to the machine happens here.

mod container;
mod error;
mod store;
mod transport;

pub use container::{
    bridge_config, check_name, driver_in_use, make_bundle, name_files, Container, Driver, Record,
};
pub use error::{Error, Result};
pub use store::{default_runtime_root, split_layout_arg, Store};
pub use transport::{LocalImage, Location};
