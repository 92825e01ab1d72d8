use hoist_oci::Digest;

/// What a pull is doing, for a progress display. Sent from download tasks, so the sink must be
/// `Sync`.
#[derive(Debug, Clone)]
pub enum Event {
    /// The manifest is known: this many blobs (config and layers) make up the image.
    Resolved { manifest: Digest, blobs: usize },
    /// The one image being pulled (not sent for `--all-platforms`): its layers can be followed
    /// while they download (see `hoist_oci::BlobFeeds`).
    ImageChosen {
        manifest: Box<hoist_oci::ImageManifest>,
        digest: Digest,
    },
    /// A blob is being fetched.
    BlobStarted { digest: Digest, size: u64 },
    /// More bytes of a blob arrived (`bytes` is the running total).
    BlobProgress { digest: Digest, bytes: u64 },
    /// A blob is in the store, verified. `fetched` is false when it was there already.
    BlobDone { digest: Digest, fetched: bool },
    /// A request failed in a way worth another try, which comes after `wait`: try `attempt`
    /// of `of` retries.
    Retrying {
        what: String,
        reason: String,
        wait: std::time::Duration,
        attempt: u32,
        of: u32,
    },
    /// A blob's transfer broke off (or stalled) at `at` bytes and resumes there after `wait`.
    Resuming {
        digest: Digest,
        at: u64,
        reason: String,
        wait: std::time::Duration,
        attempt: u32,
        of: u32,
    },
}

/// Where a session reports its retries (the pull's or push's own event sink).
#[derive(Clone)]
pub struct Reporter(pub std::sync::Arc<dyn Fn(Event) + Send + Sync>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}
