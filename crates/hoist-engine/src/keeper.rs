//! Who looks after a container of `hoist run IMAGE`. The process that makes it, and then
//! whoever runs it (a foreground `hoist run`, or the container's monitor), holds a shared
//! `flock` on the container's directory until the end is recorded; the maker lets go only once
//! the monitor holds it too. A directory nobody holds whose container has no recorded end and
//! does not run was left by a process that died (`kill -9`, a crash, a power cut): `system
//! prune`, `rm` and a `run` that wants the same name clean it up.
//!
//! A lock rather than a recorded pid: the kernel lets go of it when its holder dies, however
//! it dies, and a recycled pid cannot pass for the holder.

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
        Ok(Keeper(file))
    }
}

/// The exclusive hold of a cleaner on a directory nobody keeps; while it is held, no process
/// can start keeping the container.
pub struct Abandoned(#[allow(dead_code)] File);

/// `Some` if no live process keeps the container in `dir`.
pub fn abandoned(dir: &Path) -> Option<Abandoned> {
    let file = File::open(dir).ok()?;
    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(Abandoned(file))
}
