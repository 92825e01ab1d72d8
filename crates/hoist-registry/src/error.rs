use hoist_oci::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns oci-client's errors into ones that say what to do.
pub(crate) fn manifest_error(
    reference: &impl std::fmt::Display,
    source: oci_client::errors::OciDistributionError,
) -> Error {
    use oci_client::errors::OciDistributionError as E;
    let reference = reference.to_string();
    match &source {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            Error::Unauthorized { reference }
        }
        E::ImageManifestNotFoundError(_) => Error::NotFound { reference },
        E::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                        | oci_client::errors::OciErrorCode::NotFound
                )
            }) =>
        {
            Error::NotFound { reference }
        }
        _ => Error::Manifest {
            reference,
            source: Box::new(source),
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("fetching the manifest of {reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: Box<oci_client::errors::OciDistributionError>,
    },
    #[error("the registry refused access to {reference} (401 unauthorized): give credentials with --creds USER:PASSWORD, or check the ones given")]
    Unauthorized { reference: String },
    #[error("{reference} was not found in the registry (no such repository, tag or digest)")]
    NotFound { reference: String },
    #[error("fetching blob {digest} of {reference}: {source}")]
    Blob {
        reference: String,
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("the registry sent a manifest for {reference} whose digest is {actual}, not the {expected} that was asked for")]
    ManifestDigestMismatch {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference} is a Docker schema 1 manifest, which hoist does not support; push the image again with a current tool (docker, podman, skopeo) to get schema 2 or OCI")]
    SchemaOne { reference: String },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: the manifest is not valid JSON for its type: {source}")]
    BadManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{reference} has no image for platform {wanted}; it has: {available}. Choose one with --platform")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error(
        "{reference}: an image index points to another index; nested indexes are not followed"
    )]
    NestedIndex { reference: String },
    #[error(transparent)]
    Store(#[from] hoist_oci::Error),
    #[error("the download task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
