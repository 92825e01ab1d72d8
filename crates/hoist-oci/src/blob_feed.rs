//! Blobs readable while they are written: a pull's writers publish how much of each blob is in
//! its partial file, and a reader in the same process follows, so a layer can be unpacked while
//! it downloads (`hoist run IMAGE` on an image not yet in the store).
//!
//! A follower reads only bytes the writer has handed to the file, through a descriptor of the
//! writer's own partial file (the same inode before and after the commit's rename), and sees the
//! end of the blob only once the writer has committed it: size and digest checked, synced,
//! renamed into place. A writer that starts over, fails or is dropped ends its followers with an
//! error; they never see bytes the blob's digest does not cover.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::{descriptor_digest, Descriptor, Digest, Error, Layout, Result};

/// The blobs a layout's writers are writing, for followers in this process. Attach it with
/// [`Layout::with_feeds`]; [`BlobFeeds::close`] when no more writers will come.
#[derive(Debug, Default)]
pub struct BlobFeeds {
    growing: Mutex<Growing>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Growing {
    feeds: HashMap<Digest, Arc<Feed>>,
    closed: bool,
}

/// One writer's partial file, as its followers see it.
#[derive(Debug)]
pub(crate) struct Feed {
    file: File,
    state: Mutex<FeedState>,
    changed: Condvar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FeedState {
    /// Bytes from the start of the file that the writer has written through to it.
    visible: u64,
    end: FeedEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedEnd {
    Writing,
    /// Verified and in place: `visible` is the whole blob.
    Committed,
    /// Started over, failed or dropped: what was read may not be the blob.
    Abandoned,
}

/// How long a follower waits before it looks at the layout again for a blob no writer here
/// has claimed (another process may be writing it).
const POLL: Duration = Duration::from_millis(50);

impl BlobFeeds {
    pub fn new() -> Arc<BlobFeeds> {
        Arc::default()
    }

    /// No writer will be registered any more: followers of blobs that never came give up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// A reader of the blob `descriptor` names: verified from the layout if it is there, else
    /// following this process's writer of it, waiting for one until [`BlobFeeds::close`].
    pub fn follow(&self, layout: &Layout, descriptor: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let digest = descriptor_digest(descriptor)?;
        let mut growing = self.lock();
        loop {
            // Stored (and so verified) first: a feed may be a failed writer's, left behind.
            if layout.has_blob(&digest, descriptor.size()) {
                return Ok(Box::new(layout.open_blob(descriptor)?));
            }
            if let Some(feed) = growing.feeds.get(&digest) {
                return Ok(Box::new(FollowedBlob {
                    feed: Arc::clone(feed),
                    offset: 0,
                }));
            }
            if growing.closed {
                return Err(Error::MissingBlob(digest));
            }
            growing = self
                .changed
                .wait_timeout(growing, POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A writer of `digest` starts (or starts over) on `file`; earlier followers of it are
    /// abandoned by the caller.
    pub(crate) fn register(&self, digest: &Digest, file: File, visible: u64) -> Arc<Feed> {
        let feed = Arc::new(Feed {
            file,
            state: Mutex::new(FeedState {
                visible,
                end: FeedEnd::Writing,
            }),
            changed: Condvar::new(),
        });
        self.lock().feeds.insert(digest.clone(), Arc::clone(&feed));
        self.changed.notify_all();
        feed
    }

    fn lock(&self) -> MutexGuard<'_, Growing> {
        self.growing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Feed {
    /// The writer has written the first `visible` bytes through to the file.
    pub(crate) fn publish(&self, visible: u64) {
        self.update(|state| state.visible = visible);
    }

    pub(crate) fn commit(&self, size: u64) {
        self.update(|state| {
            state.visible = size;
            state.end = FeedEnd::Committed;
        });
    }

    pub(crate) fn abandon(&self) {
        self.update(|state| {
            if state.end == FeedEnd::Writing {
                state.end = FeedEnd::Abandoned;
            }
        });
    }

    fn update(&self, change: impl FnOnce(&mut FeedState)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = *state;
        change(&mut state);
        if *state != before {
            self.changed.notify_all();
        }
    }
}

/// A blob read as it is written.
struct FollowedBlob {
    feed: Arc<Feed>,
    offset: u64,
}

impl Read for FollowedBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.feed.state.lock().unwrap_or_else(|e| e.into_inner());
        let available = loop {
            match state.end {
                FeedEnd::Abandoned => {
                    return Err(io::Error::other(
                        "the download of this blob started over or failed",
                    ))
                }
                _ if state.visible > self.offset => break state.visible - self.offset,
                FeedEnd::Committed => return Ok(0),
                FeedEnd::Writing => {
                    state = self
                        .feed
                        .changed
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner())
                }
            }
        };
        drop(state);
        let wanted = buf
            .len()
            .min(usize::try_from(available).unwrap_or(usize::MAX));
        let n = self.feed.file.read_at(&mut buf[..wanted], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the partial blob is shorter than its writer said",
            ));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{descriptor_of, BlobSlot};

    fn writer(layout: &Layout, bytes: &[u8]) -> Box<crate::BlobWriter> {
        match layout
            .try_begin_blob(&Digest::of(bytes), bytes.len() as u64)
            .unwrap()
        {
            BlobSlot::Writer(writer) => writer,
            _ => panic!("a fresh layout has no such blob"),
        }
    }

    fn descriptor(bytes: &[u8]) -> Descriptor {
        descriptor_of(
            "application/octet-stream",
            &Digest::of(bytes),
            bytes.len() as u64,
        )
    }

    #[test]
    fn a_follower_reads_what_was_written_and_ends_only_at_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let feeds = BlobFeeds::new();
        let layout = Layout::create(dir.path())
            .unwrap()
            .with_feeds(Arc::clone(&feeds));
        let blob = vec![7u8; 600 * 1024];
        let mut writer = writer(&layout, &blob);
        let mut follower = feeds.follow(&layout, &descriptor(&blob)).unwrap();
        let reading = std::thread::spawn(move || {
            let mut read = Vec::new();
            follower.read_to_end(&mut read).map(|_| read)
        });
        for chunk in blob.chunks(100 * 1024) {
            writer.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !reading.is_finished(),
            "the follower ended before the commit"
        );
        writer.commit().unwrap();
        assert_eq!(reading.join().unwrap().unwrap(), blob);
    }

    #[test]
    fn a_writer_that_starts_over_or_is_dropped_fails_its_followers() {
        let dir = tempfile::tempdir().unwrap();
        let feeds = BlobFeeds::new();
        let layout = Layout::create(dir.path())
            .unwrap()
            .with_feeds(Arc::clone(&feeds));
        let blob = vec![1u8; 300 * 1024];
        let mut writer = writer(&layout, &blob);
        writer.write_all(&[9u8; 280 * 1024]).unwrap();
        let mut before_restart = feeds.follow(&layout, &descriptor(&blob)).unwrap();
        writer.restart().unwrap();
        let mut buffer = vec![0u8; 1 << 20];
        let mut error = None;
        while error.is_none() {
            match before_restart.read(&mut buffer) {
                Ok(n) => assert!(n > 0, "no end before the commit"),
                Err(e) => error = Some(e),
            }
        }
        let mut after_restart = feeds.follow(&layout, &descriptor(&blob)).unwrap();
        writer.write_all(&blob[..1000]).unwrap();
        drop(writer);
        assert!(after_restart.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_blob_no_writer_brings_is_missing_once_the_feeds_close() {
        let dir = tempfile::tempdir().unwrap();
        let feeds = BlobFeeds::new();
        let layout = Layout::create(dir.path())
            .unwrap()
            .with_feeds(Arc::clone(&feeds));
        let stored = b"already here".to_vec();
        layout.write_blob(&stored, &descriptor(&stored)).unwrap();
        let mut present = feeds.follow(&layout, &descriptor(&stored)).unwrap();
        let mut read = Vec::new();
        present.read_to_end(&mut read).unwrap();
        assert_eq!(read, stored);
        let waiting = {
            let (feeds, layout) = (Arc::clone(&feeds), layout.clone());
            std::thread::spawn(move || feeds.follow(&layout, &descriptor(b"never")).is_err())
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiting.is_finished(), "gave up before the feeds closed");
        feeds.close();
        assert!(waiting.join().unwrap());
    }
}
