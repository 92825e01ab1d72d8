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

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;

use rustc_hash::FxHashSet;
use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::entry_path;

/// The largest file handed over: its content is held in memory until written.
pub(crate) const SMALL_FILE: u64 = 64 * 1024;
/// Files queued at most: with `SMALL_FILE`, 4 MiB of content in memory.
const QUEUE: usize = 64;

/// One small file, with everything about it decided by the applier.
pub(crate) struct FileJob {
    pub dir: Arc<OwnedFd>,
    pub name: OsString,
    /// Its path in the rootfs, for the pending set and error messages.
    pub path: Box<[u8]>,
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

/// What became of a job.
enum Outcome {
    Written,
    /// The name was taken: the applier replaces what is there.
    Taken(FileJob),
    Failed(Box<[u8]>, io::Error),
}

/// The second thread and what it has not finished.
pub(crate) struct FileWriter {
    jobs: Option<SyncSender<FileJob>>,
    outcomes: Receiver<Outcome>,
    in_flight: usize,
    pending: FxHashSet<Box<[u8]>>,
    /// The directories above the pending files.
    pending_dirs: FxHashSet<Box<[u8]>>,
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
            thread: Some(thread),
        })
    }

    /// Whether `path`, or a directory above it, is a file still pending, or a pending file is
    /// below it.
    pub(crate) fn clashes(&self, path: &[u8]) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        if self.pending_dirs.contains(path) {
            return true;
        }
        let mut end = path.len();
        loop {
            if self.pending.contains(&path[..end]) {
                return true;
            }
            match path[..end].iter().rposition(|&b| b == b'/') {
                Some(slash) => end = slash,
                None => return false,
            }
        }
    }

    /// Queues `job`, or gives it back when the queue is full (the applier writes it then).
    pub(crate) fn submit(&mut self, job: FileJob) -> Result<(), FileJob> {
        let Some(jobs) = &self.jobs else {
            return Err(job);
        };
        let path = job.path.clone();
        match jobs.try_send(job) {
            Ok(()) => {
                let mut end = path.len();
                while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
                    if !self.pending_dirs.insert(path[..slash].into()) {
                        break; // its own parents are in already
                    }
                    end = slash;
                }
                self.pending.insert(path);
                self.in_flight += 1;
                Ok(())
            }
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Err(job),
        }
    }

    /// Waits for every pending file. Returns those whose name was taken, in stream order, or
    /// the first failure (with the file's path).
    pub(crate) fn settle(&mut self) -> Result<Vec<FileJob>, (Box<[u8]>, io::Error)> {
        let mut taken = Vec::new();
        let mut failure = None;
        while self.in_flight > 0 {
            let outcome = self.outcomes.recv().map_err(|_| {
                let path: Box<[u8]> = Box::from(&b""[..]);
                (path, io::Error::other("the file writer thread stopped"))
            })?;
            self.in_flight -= 1;
            match outcome {
                Outcome::Written => {}
                Outcome::Taken(job) => taken.push(job),
                Outcome::Failed(path, error) => {
                    failure.get_or_insert((path, error));
                }
            }
        }
        self.pending.clear();
        self.pending_dirs.clear();
        if let Some(failure) = failure {
            return Err(failure);
        }
        taken.sort_by_key(|job| job.sequence);
        Ok(taken)
    }
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
            Ok(true) => Outcome::Written,
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
    let fd = match create_new(job.dir.as_fd(), &job.name, job.create_mode) {
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
