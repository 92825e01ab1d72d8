//! Staging directories that say whether their maker still lives: the maker holds an exclusive
//! `flock` on the directory while it works, which the kernel drops when the process ends,
//! however it ends (kill -9 included). A staging directory nobody holds locked is a dead
//! command's leftover, and the next command working in the same place removes it. A lock rather
//! than a pid in the name: pids are reused, and a lock cannot outlive its process.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation, Mode, OFlags};

/// A staging directory this process holds.
pub(crate) struct Staging {
    dir: tempfile::TempDir,
    /// Held until the staging directory is renamed into place (or removed); none where the
    /// file system has no locks (then no other command can take the directory either).
    lock: Option<OwnedFd>,
}

impl Staging {
    /// Makes and locks a new staging directory `PREFIX*` in `parent`.
    pub(crate) fn new_in(parent: &Path, prefix: &str) -> std::io::Result<Staging> {
        let mut tries = 0;
        loop {
            let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
            // A remover may have taken the directory between its making and this lock (it
            // holds the lock while it removes it): then another one.
            let lock = try_lock(dir.path()).filter(|lock| {
                let locked = rustix::fs::fstat(lock).map(|s| s.st_ino);
                fs::symlink_metadata(dir.path()).is_ok_and(|m| locked.is_ok_and(|i| i == m.ino()))
            });
            tries += 1;
            if lock.is_some() || tries == 3 {
                return Ok(Staging { dir, lock });
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Leaves the directory in place (to be renamed), still locked until the returned guard
    /// is dropped.
    pub(crate) fn keep(self) -> (PathBuf, Option<OwnedFd>) {
        (self.dir.keep(), self.lock)
    }
}

/// The directory at `path`, locked, unless someone holds it (or it is not a directory of this
/// user's: never followed through a symlink).
fn try_lock(path: &Path) -> Option<OwnedFd> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let owner = rustix::fs::fstat(&fd).ok()?.st_uid;
    if owner != rustix::process::geteuid().as_raw() {
        return None;
    }
    flock(&fd, FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(fd)
}

/// Removes the staging directories `PREFIX*` in `parent` whose makers have died; returns how
/// many. Failures are left for the next command (this one has its own work to do).
pub(crate) fn remove_dead(parent: &Path, prefix: &str) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        // Held while it goes, so that no maker takes it meanwhile.
        if let Some(_lock) = try_lock(&path) {
            if fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_no_live_process_holds_is_removed() {
        let parent = tempfile::tempdir().unwrap();
        let live = Staging::new_in(parent.path(), ".test-staging-").unwrap();
        std::fs::write(live.path().join("file"), b"x").unwrap();
        // What a killed command leaves: the directory, and no lock.
        let dead = parent.path().join(".test-staging-dead");
        std::fs::create_dir_all(dead.join("rootfs/etc")).unwrap();
        let other = parent.path().join("bundle");
        std::fs::create_dir(&other).unwrap();

        assert_eq!(remove_dead(parent.path(), ".test-staging-"), 1);
        assert!(!dead.exists());
        assert!(live.path().join("file").exists(), "the live one stays");
        assert!(other.exists(), "other names are not touched");

        let (kept, lock) = live.keep();
        assert_eq!(
            remove_dead(parent.path(), ".test-staging-"),
            0,
            "still held"
        );
        drop(lock);
        assert_eq!(remove_dead(parent.path(), ".test-staging-"), 1);
        assert!(!kept.exists());
    }

    #[test]
    fn a_symlink_with_the_prefix_is_not_followed() {
        let parent = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("precious"), b"x").unwrap();
        std::os::unix::fs::symlink(target.path(), parent.path().join(".test-staging-link"))
            .unwrap();
        assert_eq!(remove_dead(parent.path(), ".test-staging-"), 0);
        assert!(target.path().join("precious").exists());
    }
}
