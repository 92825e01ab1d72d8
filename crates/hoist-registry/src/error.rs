use hoist_oci::{Digest, Reference};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("fetching the manifest of {reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("fetching blob {digest} of {reference}: {source}")]
    Blob {
        reference: String,
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("the registry sent a manifest for {reference} whose digest is {actual}, not the {expected} that was asked for")]
    ManifestDigestMismatch {
        reference: Reference,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference} is a Docker schema 1 manifest, which hoist does not support; push the image again with a current tool (docker, podman, skopeo) to get schema 2 or OCI")]
    SchemaOne { reference: Reference },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedManifest {
        reference: Reference,
        media_type: String,
    },
    #[error("{reference}: the manifest is not valid JSON for its type: {source}")]
    BadManifest {
        reference: Reference,
        #[source]
        source: serde_json::Error,
    },
    #[error("{reference} has no image for platform {wanted}; it has: {available}. Choose one with --platform")]
    NoMatchingPlatform {
        reference: Reference,
        wanted: String,
        available: String,
    },
    #[error("{reference}: an image index points to another index; nested indexes are not followed")]
    NestedIndex { reference: Reference },
    #[error(transparent)]
    Store(#[from] hoist_oci::Error),
    #[error("the download task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
