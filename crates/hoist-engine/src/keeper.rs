//! Who looks after a container of `hoist run IMAGE`. The process that makes it, and then
//! whoever runs it (a foreground `hoist run`, or the container's monitor), holds a shared
//! `flock` on the container's directory until the end is recorded; the maker lets go only once
//! the monitor holds it too. A directory nobody holds whose container has no recorded end and
//! does not run was left by a process that died (`kill -9`, a crash, a power cut): `system
//! prune`, `rm` and a `run` that wants the same name clean it up.
//!
//! A lock rather than a recorded pid: the kernel lets go of it when its holder dies, however
//! it dies. (Its one copy that outlives the holder, the container init's until exec, is told
//! apart by `/proc/locks`.)

use std::fs::File;
use std::path::Path;

use rustix::fs::FlockOperation;

use crate::{Error, Result};

/// A shared hold on a container's directory; let go when dropped.
#[derive(Debug)]
pub struct Keeper(#[allow(dead_code)] File);

impl Keeper {
    /// Holds `dir` for its container, waiting while a cleaner looks at it.
    pub fn hold(dir: &Path) -> Result<Keeper> {
        let file = File::open(dir).map_err(Error::io("opening", dir))?;
        rustix::fs::flock(&file, FlockOperation::LockShared)
            .map_err(|e| Error::io("locking", dir)(e.into()))?;
        if !still_at(&file, dir) {
            // A cleaner removed it while this waited: there is no container to keep.
            return Err(Error::io("locking", dir)(
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        Ok(Keeper(file))
    }
}

/// The one process that may start a container or mount its stopped root: `start`, `restart`
/// and `cp` into a stopped container take turns, so that none launches a second monitor or
/// unmounts a root another just mounted for a running container.
#[derive(Debug)]
pub struct Starting(#[allow(dead_code)] File);

impl Starting {
    /// Waits for the turn on the container in `dir`.
    pub fn take(dir: &Path) -> Result<Starting> {
        let path = dir.join(STARTING_LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        rustix::fs::flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking", &path)(e.into()))?;
        Ok(Starting(file))
    }
}

const STARTING_LOCK: &str = "starting.lock";

/// The exclusive hold of a cleaner on a directory nobody keeps; while it is held, no process
/// can start keeping the container.
pub struct Abandoned(#[allow(dead_code)] File);

/// `Some` if no live process keeps the container in `dir`.
pub fn abandoned(dir: &Path) -> Option<Abandoned> {
    let file = File::open(dir).ok()?;
    let locked = rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok();
    if !locked && keepers_alive(&file) {
        return None;
    }
    // Locked after another cleaner removed it and a new claimant took the name: the lock is
    // on the old directory, and says nothing about the new one.
    still_at(&file, dir).then_some(Abandoned(file))
}

/// Whether a process that took a keeper's lock on the directory open as `file` still lives.
/// Its lock outlives it in the container's init (a clone of it, holding a copy of the fd
/// until exec): an init left waiting for `start` by a keeper that died keeps nothing.
/// `/proc/locks` names the process that took each lock.
fn keepers_alive(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else {
        return true;
    };
    let device = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(meta.dev()),
        rustix::fs::minor(meta.dev()),
        meta.ino()
    );
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return true;
    };
    locks
        .lines()
        .filter(|line| !line.contains("->"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&device.as_str()))
                .then(|| fields.get(4)?.parse::<u32>().ok())
                .flatten()
        })
        .any(|pid| Path::new("/proc").join(pid.to_string()).exists())
}

/// Whether the directory open as `file` is still the one at `path`.
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(there)) => open.dev() == there.dev() && open.ino() == there.ino(),
        _ => false,
    }
}
