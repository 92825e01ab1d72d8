use std::time::Duration;

use hoist_oci::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the registry {registry}")]
    Connect {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the registry {registry} presented a certificate that is not trusted ({detail}): give its CA with --cert-dir (or put it in /etc/containers/certs.d/{registry}/), or use --tls-verify=false")]
    Certificate { registry: String, detail: String },
    #[error("{what}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{what}: no data for {after:?}; the connection stalled (allow longer with --stall-timeout)"
    )]
    Stalled { what: String, after: Duration },
    #[error("{what}: the registry answered {status}{}", message_suffix(.message))]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("the registry refused access to {reference} ({status}): give credentials with --creds USER:PASSWORD, --authfile, or `hoist login {registry}`, or check the ones given")]
    Unauthorized {
        reference: String,
        registry: String,
        status: u16,
    },
    #[error("the registry {registry} asks for an authentication scheme hoist does not speak: {header:?}")]
    UnsupportedAuth { registry: String, header: String },
    #[error("{host}, where the registry {registry} sent hoist (by a redirect or an upload location), asked for credentials: hoist sends a registry's credentials to that registry alone")]
    ForeignChallenge { registry: String, host: String },
    #[error("the registry {registry} wants its credentials sent to the token service {realm} over plain HTTP; hoist sends them there only over HTTPS (plain HTTP only where the registry itself may be reached over it: a loopback registry, or --tls-verify=false)")]
    InsecureRealm { registry: String, realm: String },
    #[error("the registry {registry} names a token service that is not an HTTP(S) URL: {realm:?} ({reason})")]
    BadRealm {
        registry: String,
        realm: String,
        reason: String,
    },
    #[error("{what}: refused a redirect from HTTPS to plain HTTP ({to}); what was asked for over TLS is not fetched in the clear")]
    HttpsDowngrade { what: String, to: String },
    #[error("the token service of {registry} gave no usable token: {reason}")]
    BadToken { registry: String, reason: String },
    #[error("the registry {registry} does not allow deleting images (the distribution registry allows it with storage.delete.enabled)")]
    DeleteNotAllowed { registry: String },
    #[error("{reference} was not found in the registry (no such repository, tag or digest)")]
    NotFound { reference: String },
    #[error("{what} is larger than the {limit}-byte limit; the registry is misbehaving")]
    TooLarge { what: String, limit: usize },
    #[error("the registry does not hold this non-distributable layer; its descriptor points at {}, where hoist fetches only when asked: pass --allow-layer-urls (the bytes must match the digest all the same)", .urls.join(", "))]
    LayerUrlsNotAllowed { urls: Vec<String> },
    #[error("the registry does not hold this non-distributable layer, and none of its URLs gave it: {}", .failures.join("; "))]
    LayerUrlsFailed { failures: Vec<String> },
    #[error("{what}: the server answered {status}")]
    LayerUrlStatus { what: String, status: u16 },
    #[error("the registry refused the manifest, which points at non-distributable layers left at their URLs ({}): a registry takes such a manifest only where its configuration allows those URLs (distribution: validation.manifests.urls.allow)", .layers.join(", "))]
    LayersLeftAtUrls {
        layers: Vec<String>,
        #[source]
        source: Box<Error>,
    },
    #[error("blob {digest}")]
    Blob {
        digest: Digest,
        #[source]
        source: Box<Error>,
    },
    #[error("the registry sent a manifest for {reference} whose digest is {actual}, not the {expected} that was asked for")]
    ManifestDigestMismatch {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("the registry says the manifest of {reference} is {claimed} (Docker-Content-Digest), but the bytes it sent are {actual}: it, or something between, is not telling the truth; nothing was stored")]
    ManifestDigestHeaderMismatch {
        reference: String,
        claimed: String,
        actual: Digest,
    },
    #[error("{reference}: the registry labels the manifest {content_type:?}, but the document is a {declared}")]
    ContentTypeMismatch {
        reference: String,
        content_type: String,
        declared: String,
    },
    #[error("{reference} is a Docker schema 1 manifest, which hoist does not support; push the image again with a current tool (docker, podman, skopeo) to get schema 2 or OCI")]
    SchemaOne { reference: String },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: the manifest is not valid JSON for its type")]
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
    #[error("reading the CA certificates in {path}: {reason}")]
    Certificates { path: String, reason: String },
    #[error("credentials: {0}")]
    Credentials(String),
    #[error(transparent)]
    Store(#[from] hoist_oci::Error),
    #[error("stopped because another download of the same pull failed")]
    Aborted,
    #[error("the download task failed")]
    Task(#[from] tokio::task::JoinError),
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// An error and its causes, on one line (what a retry report shows).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
