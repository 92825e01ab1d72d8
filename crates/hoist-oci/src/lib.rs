//! The bottom of hoist's data flow: names and bytes of OCI images, and the image-layout store.
//!
//! Nothing here touches the network or spawns processes. Every byte that enters the store goes
//! through [`BlobWriter`], which checks size and digest before an atomic rename makes it visible;
//! every byte read back goes through [`VerifiedReader`], which fails rather than report a
//! mismatched blob as complete.

mod archive;
mod archive_path;
mod blob_feed;
mod blob_writer;
mod digest;
mod dir_transport;
mod docker_archive;
mod docker_archive_writer;
mod error;
mod graph;
mod image_edit;
mod layout;
pub mod media_type;
mod platform;
mod reference;
mod tar_guard;
mod verify;

pub use archive::{docker_archive_names, parent_dir, read_archive, write_archive, ArchiveFormat};
pub use blob_feed::BlobFeeds;
pub use blob_writer::{BlobSlot, BlobWriter};
pub use digest::{Digest, DigestError};
pub use dir_transport::{read_dir_image, write_dir_image};
pub use docker_archive_writer::write_docker_archive;
pub use error::{Error, Result};
pub use image_edit::{array_at, object_at, AddedLayer, HistoryNote};
pub use layout::{
    descriptor_digest, descriptor_of, full_name, image_name, nondistributable_urls, ref_name,
    Layout, REF_NAME_ANNOTATION,
};
pub use platform::Platform;
pub use reference::{Reference, ReferenceError, DEFAULT_REGISTRY};
pub use tar_guard::{GuardedTarReader, TarHeaderError, TarHeaderGuard, MAX_HEADER_BODY};
pub use verify::{DigestingReader, DigestingWriter, VerifiedReader};

/// The descriptor type of the image spec, re-exported so callers need not depend on oci-spec.
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
