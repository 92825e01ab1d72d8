use std::io;
use std::path::PathBuf;

use crate::{Digest, DigestError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not an OCI image layout (no oci-layout file); create it with `hoist pull --dest oci:{path}` or `skopeo copy`", path = .0.display())]
    NotALayout(PathBuf),
    #[error("{path}: {what} is not valid JSON for its type")]
    BadJson {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("blob {digest} is {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {0} is not in the layout")]
    MissingBlob(Digest),
    #[error("no image tagged {tag:?} in {path}; it has: {available}", path = .path.display())]
    UnknownTag {
        path: PathBuf,
        tag: String,
        available: String,
    },
    #[error("{path} holds more than one image ({available}): name the one to use after a colon", path = .path.display())]
    WhichImage { path: PathBuf, available: String },
    #[error("{path} holds no images", path = .path.display())]
    NoImages { path: PathBuf },
    #[error("no image in the index matches platform {wanted}; it has: {available}")]
    NoMatchingPlatform { wanted: String, available: String },
    #[error("the reference names a {media_type:?} document, expected {expected}")]
    WrongDocument {
        media_type: String,
        expected: &'static str,
    },
    #[error("{path}: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    #[error("descriptor has a bad digest")]
    BadDigest(#[from] DigestError),
    #[error("descriptor for {digest} has a negative size ({size})")]
    NegativeSize { digest: Digest, size: i64 },
    #[error("document is {actual} bytes, more than the {limit}-byte limit for {what}")]
    TooLarge {
        what: &'static str,
        actual: u64,
        limit: u64,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
