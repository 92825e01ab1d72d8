use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FlockOperation;

use crate::blob_feed::Feed;
use crate::layout::sync_dir;
use crate::verify::Tally;
use crate::{BlobFeeds, Digest, Error, Layout, Result};

const COPY_BUFFER: usize = 256 * 1024;

/// What [`Layout::try_begin_blob`] found.
pub enum BlobSlot {
    /// The blob is in the layout already.
    Present,
    /// Another writer (in this process or another) holds it; try again after a while.
    Busy,
    /// This caller now owns the blob's partial file.
    Writer(Box<BlobWriter>),
}

/// A blob being written into the layout, under `blobs/sha256/.partial-<hex>` and an exclusive
/// flock on it, so one writer at a time owns a digest. The blob becomes visible only when
/// [`BlobWriter::commit`] has checked its size and digest and renamed it into place.
///
/// Bytes an earlier writer left behind (a dropped writer, or a pull killed with SIGKILL) are kept:
/// the next writer hashes them again and continues after them, so a download resumes where the
/// last one stopped. Whatever is resumed is verified whole at commit, like anything else.
pub struct BlobWriter {
    file: BufWriter<File>,
    tally: Tally,
    partial: PathBuf,
    target: PathBuf,
    expected: Digest,
    expected_size: u64,
    /// Where followers in this process learn what is written (see `blob_feed`).
    feed: Option<Followed>,
}

/// A writer's link to the layout's feeds.
struct Followed {
    feeds: Arc<BlobFeeds>,
    feed: Arc<Feed>,
}

impl Layout {
    /// Claims the blob `digest` for writing without waiting for another writer.
    pub fn try_begin_blob(&self, digest: &Digest, size: u64) -> Result<BlobSlot> {
        if self.has_blob(digest, size) {
            return Ok(BlobSlot::Present);
        }
        let target = self.blob_path(digest);
        let partial = target.with_file_name(format!(".partial-{}", digest.hex()));
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&partial)
                .map_err(Error::io(&partial))?;
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(BlobSlot::Busy),
                Err(e) => return Err(Error::io(&partial)(e.into())),
            }
            // The lock holder before us may have committed (renamed this file into place) or
            // discarded it (unlinked it) while we waited: then our fd is not the partial file.
            let still_linked = fs::metadata(&partial)
                .is_ok_and(|m| m.ino() == file.metadata().map(|f| f.ino()).unwrap_or(0));
            if !still_linked {
                continue;
            }
            if self.has_blob(digest, size) {
                let _ = fs::remove_file(&partial);
                return Ok(BlobSlot::Present);
            }
            let mut writer = BlobWriter::resume(file, partial, target, digest.clone(), size)?;
            if let Some(feeds) = &self.feeds {
                writer.follow_in(Arc::clone(feeds))?;
            }
            return Ok(BlobSlot::Writer(Box::new(writer)));
        }
    }

    /// Claims the blob `digest` for writing from its first byte (bytes an earlier writer left are
    /// dropped: only a source that can start in the middle resumes, through
    /// [`Layout::try_begin_blob`]), waiting for another writer if there is one. `None` when the
    /// blob is (or has meanwhile become) present.
    pub fn begin_blob(&self, digest: &Digest, size: u64) -> Result<Option<BlobWriter>> {
        loop {
            match self.try_begin_blob(digest, size)? {
                BlobSlot::Present => return Ok(None),
                BlobSlot::Writer(mut writer) => {
                    if writer.bytes_written() > 0 {
                        writer.restart()?;
                    }
                    return Ok(Some(*writer));
                }
                BlobSlot::Busy => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}

impl BlobWriter {
    fn resume(
        mut file: File,
        partial: PathBuf,
        target: PathBuf,
        expected: Digest,
        expected_size: u64,
    ) -> Result<BlobWriter> {
        let io_error = |e| Error::io(&partial)(e);
        let mut tally = Tally::default();
        let existing = file.metadata().map_err(io_error)?.len();
        if existing > expected_size {
            file.set_len(0).map_err(io_error)?;
        } else if existing > 0 {
            let mut buffer = vec![0u8; COPY_BUFFER];
            loop {
                let n = file.read(&mut buffer).map_err(io_error)?;
                if n == 0 {
                    break;
                }
                tally.update(&buffer[..n]);
            }
        }
        file.seek(SeekFrom::End(0)).map_err(io_error)?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(COPY_BUFFER, file),
            tally,
            partial,
            target,
            expected,
            expected_size,
            feed: None,
        })
    }

    /// Publishes this writer's progress in `feeds`, from what it holds now.
    fn follow_in(&mut self, feeds: Arc<BlobFeeds>) -> Result<()> {
        let reader = self
            .file
            .get_ref()
            .try_clone()
            .map_err(Error::io(&self.partial))?;
        let visible = self.tally.bytes - self.file.buffer().len() as u64;
        let feed = feeds.register(&self.expected, reader, visible);
        self.feed = Some(Followed { feeds, feed });
        Ok(())
    }

    /// Bytes of the blob held so far, resumed ones included: where a download continues.
    pub fn bytes_written(&self) -> u64 {
        self.tally.bytes
    }

    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// Forgets what was written, for a source that starts again from the first byte.
    pub fn restart(&mut self) -> Result<()> {
        let io_error = Error::io(&self.partial);
        self.file.flush().map_err(Error::io(&self.partial))?;
        let file = self.file.get_mut();
        file.set_len(0).map_err(Error::io(&self.partial))?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let forgotten = std::mem::take(&mut self.tally).bytes;
        // What followers read so far is not what the blob will be made of now.
        if forgotten == 0 {
            return Ok(());
        }
        if let Some(followed) = self.feed.take() {
            followed.feed.abandon();
            self.follow_in(followed.feeds)?;
        }
        Ok(())
    }

    /// Writes more of the blob; more bytes than the descriptor's size is an error, at once.
    pub fn append(&mut self, chunk: &[u8]) -> Result<()> {
        let total = self.tally.bytes + chunk.len() as u64;
        if total > self.expected_size {
            return Err(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.expected_size,
                actual: total,
            });
        }
        self.write_all(chunk).map_err(Error::io(&self.partial))
    }

    /// Drops the partial file: what it holds is known to be wrong.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.partial);
    }

    /// Writes everything `source` holds (a blob read through its verifier) and commits it; on
    /// any failure, of the source or of this file system, nothing is kept.
    pub fn write_all_from(mut self, source: &mut impl Read, source_path: &Path) -> Result<()> {
        // No bigger than the blob: manifests and configs are a few KiB.
        let buffer_size = usize::try_from(self.expected_size)
            .map_or(COPY_BUFFER, |size| size.clamp(1, COPY_BUFFER));
        let mut buffer = vec![0u8; buffer_size];
        let copied = loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(Error::io(source_path)(e)),
            };
            if let Err(e) = self.append(&buffer[..n]) {
                break Err(e);
            }
        };
        match copied {
            Ok(()) => self.commit(),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Whether what was written so far is the blob (its size and digest), or how it is not.
    pub fn verify(&self) -> Result<()> {
        if self.tally.bytes != self.expected_size {
            return Err(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: self.expected_size,
                actual: self.tally.bytes,
            });
        }
        let actual = self.tally.clone().digest();
        if actual != self.expected {
            return Err(Error::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Verifies what was written and, if it matches, makes it visible by atomic rename. A blob
    /// that does not match, or that cannot be stored (a full disk), is removed, so the next
    /// attempt starts from nothing.
    pub fn commit(mut self) -> Result<()> {
        let stored = self.flush().map_err(Error::io(&self.target));
        if let Err(error) = stored {
            self.discard();
            return Err(error);
        }
        if let Err(error) = self.verify() {
            self.discard();
            return Err(error);
        }
        let io_error = |e| Error::io(&self.target)(e);
        if let Err(error) = self.file.get_ref().sync_all().map_err(io_error) {
            self.discard();
            return Err(error);
        }
        fs::rename(&self.partial, &self.target).map_err(io_error)?;
        let dir = self.target.parent().expect("blob paths have a parent");
        sync_dir(dir)?;
        if let Some(followed) = &self.feed {
            followed.feed.commit(self.expected_size);
        }
        Ok(())
    }
}

impl Drop for BlobWriter {
    /// Followers of a blob that was not committed end with an error (a no-op after commit).
    fn drop(&mut self) {
        if let Some(followed) = &self.feed {
            followed.feed.abandon();
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.tally.update(&buf[..n]);
        if let Some(followed) = &self.feed {
            followed
                .feed
                .publish(self.tally.bytes - self.file.buffer().len() as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::tests::blob_dir_names;

    #[test]
    fn an_interrupted_blob_is_resumed_and_verified_whole() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let content = b"the whole content of one blob".to_vec();
        let digest = Digest::of(&content);
        let size = content.len() as u64;

        let mut first = layout.begin_blob(&digest, size).unwrap().unwrap();
        first.append(&content[..10]).unwrap();
        assert!(matches!(
            layout.try_begin_blob(&digest, size).unwrap(),
            BlobSlot::Busy
        ));
        drop(first);

        let BlobSlot::Writer(mut second) = layout.try_begin_blob(&digest, size).unwrap() else {
            panic!("the dropped writer's lock should be free");
        };
        assert_eq!(second.bytes_written(), 10);
        assert!(second.append(&content[10..]).is_ok());
        assert!(
            second.append(b"x").is_err(),
            "a byte past the size is refused"
        );
        second.commit().unwrap();
        assert_eq!(fs::read(layout.blob_path(&digest)).unwrap(), content);
        assert!(matches!(
            layout.try_begin_blob(&digest, size).unwrap(),
            BlobSlot::Present
        ));
    }

    #[test]
    fn a_wrong_blob_is_refused_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let digest = Digest::of(b"right");
        let mut writer = layout.begin_blob(&digest, 5).unwrap().unwrap();
        writer.append(b"wrong").unwrap();
        assert!(matches!(writer.commit(), Err(Error::DigestMismatch { .. })));
        let names = blob_dir_names(&layout);
        assert!(names.is_empty(), "left behind: {names:?}");
        let mut writer = layout.begin_blob(&digest, 5).unwrap().unwrap();
        assert_eq!(writer.bytes_written(), 0);
        writer.append(b"right").unwrap();
        writer.commit().unwrap();
    }

    #[test]
    fn a_failing_source_leaves_no_partial() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(28))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let digest = Digest::of(b"never");
        let writer = layout.begin_blob(&digest, 5).unwrap().unwrap();
        let error = writer
            .write_all_from(&mut Failing, Path::new("/source"))
            .unwrap_err();
        assert!(error.to_string().contains("/source"), "{error}");
        let names = blob_dir_names(&layout);
        assert!(names.is_empty(), "left behind: {names:?}");
    }
}
