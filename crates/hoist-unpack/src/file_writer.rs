//! Small regular files written by a second thread while the applier reads the tar stream on.
//! A layer of many small files is bound by the kernel's work to create each one, which two
//! threads do side by side (file systems lock a directory while they create in it, not the
//! whole tree), while decompression has a core of its own.
//!
//! The applier hands over only a file no pending one could clash with: not at a pending path,
//! not below one. It waits for every pending file ([`FileWriter::settle`]) before any entry at,
//! above or below a pending file's path (a directory made setgid, or replaced, above a file not
//! yet created would change what it becomes), before a link to one, a whiteout, and restoring
//! directory times. A file whose name is taken is not replaced here: it comes back from `settle`, for the
//! applier to replace what is there itself, in the stream's order. Each file is created under
//! the fd of its directory with `O_EXCL | O_NOFOLLOW`, as the applier creates its own.
//!
//! Nothing is allocated per file: content buffers go back to the applier for the next files,
//! and pending paths are kept as hashes.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;

use rustc_hash::FxHashSet;
use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::entry_path;

/// The largest file handed over: its content is held in memory until written.
pub(crate) const SMALL_FILE: u64 = 16 * 1024;
/// Files queued at most: with `SMALL_FILE`, 4 MiB of content in memory. Measured on 50 000
/// small files: 64 leaves the writer waiting on the applier, 1 024 is slower again.
const QUEUE: usize = 256;

/// One small file, with everything about it decided by the applier.
pub(crate) struct FileJob {
    pub dir: Arc<OwnedFd>,
    /// Its path in the rootfs, for error messages; its name in `dir` is the last component.
    pub path: Box<[u8]>,
    /// Its content, in a buffer that goes back to the applier for the next file.
    pub data: Vec<u8>,
    /// The mode it is created with (the umask applies).
    pub create_mode: u32,
    pub chown: Option<(u32, u32)>,
    /// A mode to set after the owner (the umask took bits, or special bits).
    pub chmod: Option<u32>,
    pub mtime: i64,
    /// Its place in the stream, so that files coming back are replaced in order.
    pub sequence: u64,
}

impl FileJob {
    /// The file's name in its directory.
    pub(crate) fn name(&self) -> &OsStr {
        let name = match self.path.iter().rposition(|&b| b == b'/') {
            Some(slash) => &self.path[slash + 1..],
            None => &self.path[..],
        };
        OsStr::from_bytes(name)
    }
}

/// What became of a job.
enum Outcome {
    /// Written; its content buffer, to be used again.
    Written(Vec<u8>),
    /// The name was taken: the applier replaces what is there.
    Taken(FileJob),
    Failed(Box<[u8]>, io::Error),
}

/// The second thread and what it has not finished.
pub(crate) struct FileWriter {
    jobs: Option<SyncSender<FileJob>>,
    outcomes: Receiver<Outcome>,
    in_flight: usize,
    /// Hashes of the pending files' paths, and of the directories above them. A hash shared
    /// with another path only makes the applier wait when it need not, never the reverse; and
    /// no path is copied per file.
    pending: FxHashSet<u64>,
    pending_dirs: FxHashSet<u64>,
    /// The hashes of a job's directories, kept between jobs for its capacity.
    dir_hashes: Vec<u64>,
    /// What came back before `settle` asked: names that were taken, the first failure.
    taken: Vec<FileJob>,
    failure: Option<(Box<[u8]>, io::Error)>,
    /// Content buffers of written files, for the next ones.
    spare: Vec<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileWriter {
    pub(crate) fn start() -> io::Result<FileWriter> {
        let (jobs, queue) = sync_channel::<FileJob>(QUEUE);
        let (done, outcomes) = channel();
        let thread = std::thread::Builder::new()
            .name("hoist-files".into())
            .spawn(move || write_all(queue, done))?;
        Ok(FileWriter {
            jobs: Some(jobs),
            outcomes,
            in_flight: 0,
            pending: FxHashSet::default(),
            pending_dirs: FxHashSet::default(),
            dir_hashes: Vec::new(),
            taken: Vec::new(),
            failure: None,
            spare: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Whether `path`, or a directory above it, is a file still pending, or a pending file is
    /// below it.
    pub(crate) fn clashes(&self, path: &[u8]) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        if self.pending_dirs.contains(&hash(path)) {
            return true;
        }
        let mut end = path.len();
        loop {
            if self.pending.contains(&hash(&path[..end])) {
                return true;
            }
            match path[..end].iter().rposition(|&b| b == b'/') {
                Some(slash) => end = slash,
                None => return false,
            }
        }
    }

    /// A buffer for a file's content: one a written file gave back, when there is one.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        while let Ok(outcome) = self.outcomes.try_recv() {
            self.receive(outcome);
        }
        self.spare.pop().unwrap_or_default()
    }

    /// Takes back the buffer of a file written elsewhere. Its bytes stay: resizing it for the
    /// next file then zeroes only what it never held.
    pub(crate) fn give_back(&mut self, data: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(data);
        }
    }

    /// Queues `job`, or gives it back when the queue is full (the applier writes it then).
    pub(crate) fn submit(&mut self, job: FileJob) -> Result<(), FileJob> {
        let Some(jobs) = &self.jobs else {
            return Err(job);
        };
        let path_hash = hash(&job.path);
        self.dir_hashes.clear();
        let mut end = job.path.len();
        while let Some(slash) = job.path[..end].iter().rposition(|&b| b == b'/') {
            self.dir_hashes.push(hash(&job.path[..slash]));
            end = slash;
        }
        match jobs.try_send(job) {
            Ok(()) => {
                for dir in &self.dir_hashes {
                    if !self.pending_dirs.insert(*dir) {
                        break; // its own parents are in already
                    }
                }
                self.pending.insert(path_hash);
                self.in_flight += 1;
                Ok(())
            }
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Err(job),
        }
    }

    /// Waits for every pending file. Returns those whose name was taken, in stream order, or
    /// the first failure (with the file's path).
    pub(crate) fn settle(&mut self) -> Result<Vec<FileJob>, (Box<[u8]>, io::Error)> {
        while self.in_flight > 0 {
            match self.outcomes.recv() {
                Ok(outcome) => self.receive(outcome),
                Err(_) => {
                    self.in_flight = 0;
                    let path: Box<[u8]> = Box::from(&b""[..]);
                    self.failure
                        .get_or_insert((path, io::Error::other("the file writer thread stopped")));
                }
            }
        }
        self.pending.clear();
        self.pending_dirs.clear();
        if let Some(failure) = self.failure.take() {
            self.taken.clear();
            return Err(failure);
        }
        let mut taken = std::mem::take(&mut self.taken);
        taken.sort_by_key(|job| job.sequence);
        Ok(taken)
    }

    fn receive(&mut self, outcome: Outcome) {
        self.in_flight -= 1;
        match outcome {
            Outcome::Written(data) => self.give_back(data),
            Outcome::Taken(job) => self.taken.push(job),
            Outcome::Failed(path, error) => {
                self.failure.get_or_insert((path, error));
            }
        }
    }
}

/// Buffers kept for reuse: as many as can be in the queue and coming back, and a few more.
const SPARE_BUFFERS: usize = QUEUE + 16;

fn hash(path: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(path)
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written what it holds.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_all(queue: Receiver<FileJob>, done: Sender<Outcome>) {
    for job in queue {
        let outcome = match write_new(&job) {
            Ok(true) => Outcome::Written(job.data),
            Ok(false) => Outcome::Taken(job),
            Err(error) => Outcome::Failed(job.path.clone(), error),
        };
        if done.send(outcome).is_err() {
            return;
        }
    }
}

/// Creates the job's file and gives it its content and metadata. `Ok(false)`: the name was
/// taken, and nothing was done.
pub(crate) fn write_new(job: &FileJob) -> io::Result<bool> {
    let fd = match create_new(job.dir.as_fd(), job.name(), job.create_mode) {
        Ok(fd) => fd,
        Err(Errno::EXIST) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    fill(fd, job)?;
    Ok(true)
}

/// Creates the file `name` in `dir` for writing: never one that exists, never through a
/// symlink.
pub(crate) fn create_new(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
}

/// Writes the content, owner, mode and times of a file just created.
pub(crate) fn fill(fd: OwnedFd, job: &FileJob) -> io::Result<()> {
    let mut file = std::fs::File::from(fd);
    file.write_all(&job.data)?;
    if let Some((uid, gid)) = job.chown {
        rfs::fchown(&file, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    }
    if let Some(mode) = job.chmod {
        rfs::fchmod(&file, Mode::from_raw_mode(mode))?;
    }
    let time = rfs::Timespec {
        tv_sec: job.mtime,
        tv_nsec: 0,
    };
    rfs::futimens(
        &file,
        &rfs::Timestamps {
            last_access: time,
            last_modification: time,
        },
    )?;
    Ok(())
}

/// The job's path, for an error message.
pub(crate) fn shown(path: &[u8]) -> String {
    entry_path::as_path(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dir: &Arc<OwnedFd>, path: &[u8], data: &[u8], sequence: u64) -> FileJob {
        FileJob {
            dir: Arc::clone(dir),
            path: path.into(),
            data: data.to_vec(),
            create_mode: 0o644,
            chown: None,
            chmod: None,
            mtime: 1_700_000_000,
            sequence,
        }
    }

    #[test]
    fn a_pending_file_holds_its_path_its_parents_and_what_is_below_it_until_settled() {
        let root = tempfile::tempdir().unwrap();
        let dir = Arc::new(OwnedFd::from(std::fs::File::open(root.path()).unwrap()));
        let mut writer = FileWriter::start().unwrap();
        assert!(writer.submit(job(&dir, b"a/b/c", b"one", 1)).is_ok());
        for path in [&b"a/b/c"[..], b"a/b/c/d", b"a/b", b"a"] {
            assert!(writer.clashes(path), "{}", shown(path));
        }
        for path in [&b"a/b/cc"[..], b"a/x", b"b"] {
            assert!(!writer.clashes(path), "{}", shown(path));
        }
        assert!(writer.settle().unwrap().is_empty());
        assert!(!writer.clashes(b"a/b/c"));
        assert_eq!(std::fs::read(root.path().join("c")).unwrap(), b"one");

        // The same name again is not replaced by the writer: it comes back, in order.
        assert!(writer.submit(job(&dir, b"a/b/c", b"two", 3)).is_ok());
        assert!(writer.submit(job(&dir, b"a/b/e", b"three", 2)).is_ok());
        let taken = writer.settle().unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            (&taken[0].data[..], taken[0].name()),
            (&b"two"[..], OsStr::new("c"))
        );
        assert_eq!(std::fs::read(root.path().join("c")).unwrap(), b"one");

        // A written file's buffer serves the next one.
        let buffer = writer.buffer();
        assert!(
            buffer.capacity() > 0,
            "the buffer of a written file comes back"
        );
    }
}
