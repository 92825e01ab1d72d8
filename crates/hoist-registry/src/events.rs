use hoist_oci::Digest;

/// What a pull is doing, for a progress display. Sent from download tasks, so the sink must be
/// `Sync`.
#[derive(Debug, Clone)]
pub enum Event {
    /// The manifest is known: this many blobs (config and layers) make up the image.
    Resolved { manifest: Digest, blobs: usize },
    /// A blob is being fetched.
    BlobStarted { digest: Digest, size: u64 },
    /// More bytes of a blob arrived (`bytes` is the running total).
    BlobProgress { digest: Digest, bytes: u64 },
    /// A blob is in the store, verified. `fetched` is false when it was there already.
    BlobDone { digest: Digest, fetched: bool },
}
