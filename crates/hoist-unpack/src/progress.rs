//! What an unpack is doing, for a progress display. Events come from decoder threads, so the
//! sink must be `Send + Sync`; drawing them is the caller's business.

use std::fmt;
use std::sync::Arc;

use hoist_oci::Digest;

#[derive(Debug, Clone)]
pub enum UnpackEvent {
    /// Layer `index` (of `total`) started decoding; `size` is its compressed size.
    LayerStarted {
        index: usize,
        total: usize,
        digest: Digest,
        size: u64,
    },
    /// Compressed bytes of layer `index` read so far.
    LayerProgress { index: usize, bytes: u64 },
    /// Layer `index` is applied and verified.
    LayerDone { index: usize },
}

/// A sink for [`UnpackEvent`]s.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(UnpackEvent) + Send + Sync>>);

impl Progress {
    pub fn new(sink: impl Fn(UnpackEvent) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(sink)))
    }

    pub(crate) fn send(&self, event: UnpackEvent) {
        if let Some(sink) = &self.0 {
            sink(event);
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(on)"
        } else {
            "Progress(off)"
        })
    }
}

/// Counts the compressed bytes a decoder reads and reports them every MiB or so.
pub(crate) struct CountingReader<'a, R> {
    pub inner: R,
    pub progress: &'a Progress,
    pub index: usize,
    pub bytes: u64,
    pub reported: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes - self.reported >= 1 << 20 || n == 0 {
            self.reported = self.bytes;
            self.progress.send(UnpackEvent::LayerProgress {
                index: self.index,
                bytes: self.bytes,
            });
        }
        Ok(n)
    }
}
