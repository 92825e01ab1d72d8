//! Media types of the OCI image spec and their Docker schema 2 equivalents.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Non-distributable layers (deprecated for new images; registries may not serve their bytes,
/// which the descriptor's `urls` then point at). Their content is an ordinary layer's.
pub const OCI_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_NONDISTRIBUTABLE_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker's non-distributable ("foreign") layer, as Windows base images have.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Every manifest type hoist can read, in the order it prefers them (for `Accept` headers).
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// What a manifest document is, judged by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// How a layer's bytes are compressed, judged by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Every layer type, OCI or Docker, distributable or not: a layer's bytes are the same.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        OCI_LAYER_TAR | OCI_NONDISTRIBUTABLE_TAR | DOCKER_LAYER_TAR => Some(Compression::None),
        OCI_LAYER_GZIP
        | OCI_NONDISTRIBUTABLE_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
        OCI_LAYER_ZSTD | OCI_NONDISTRIBUTABLE_ZSTD | DOCKER_LAYER_ZSTD => Some(Compression::Zstd),
        _ => None,
    }
}

/// Whether a layer's bytes may be missing from registries (they then live at its `urls`).
pub fn is_nondistributable(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_NONDISTRIBUTABLE_TAR
            | OCI_NONDISTRIBUTABLE_GZIP
            | OCI_NONDISTRIBUTABLE_ZSTD
            | DOCKER_FOREIGN_LAYER_GZIP
    )
}

/// A reader of the layer's tar stream, decompressing `compressed` as `compression` says.
pub fn decompressing<'a>(
    compressed: impl std::io::BufRead + 'a,
    compression: Compression,
) -> std::io::Result<Box<dyn std::io::Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(compressed),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(compressed)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(compressed)?),
    })
}
