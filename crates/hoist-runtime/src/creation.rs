//! A container being created. Its state directory is made under a temporary name with
//! `.creating` inside, locked (`flock`) by the creator and holding the cgroup once there is
//! one, then renamed to the id (never over another); `.creating` goes once the state is saved.
//! An error undoes what was made at once. A creator that dies (`kill -9`) leaves a directory
//! with no state whose `.creating` nobody holds: the next `create` or `delete` of that id, or
//! [`Runtime::remove_abandoned`], finds the cgroup there and removes it with the directory.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, RenameFlags};

use crate::cgroups::Cgroup;
use crate::state::{container_dir, STATE_FILE};
use crate::{Error, Result, Runtime};

const CREATING: &str = ".creating";
/// A directory being claimed: `.claim-<creator's pid>-<random>`. Not a valid id (ids cannot
/// start with a dot), so never taken for a container; the pid tells a dead creator's, which
/// never got to rename it (it holds no cgroup: that is made after the rename).
const CLAIM_PREFIX: &str = ".claim-";

/// The pid of the creator that made the claim directory `name`.
fn claimant(name: &str) -> Option<u32> {
    name.strip_prefix(CLAIM_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

pub(crate) struct Creation {
    dir: PathBuf,
    lock: File,
    cgroup: Option<Cgroup>,
    done: bool,
}

impl Creation {
    /// Claims `id`'s state directory under `root`, after undoing what a dead creator of the
    /// same id left there.
    pub(crate) fn claim(root: &Path, id: &str) -> Result<Creation> {
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(root)
            .map_err(Error::io("creating the state directory", root))?;
        let dir = container_dir(root, id);
        remove_abandoned(&dir)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!("{CLAIM_PREFIX}{}-", std::process::id()))
            .tempdir_in(root)
            .map_err(Error::io(
                "creating the container's state directory in",
                root,
            ))?;
        let lock_path = staging.path().join(CREATING);
        let lock = File::create(&lock_path).map_err(Error::io("creating", &lock_path))?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking", &lock_path)(e.into()))?;
        let cwd = rustix::fs::CWD;
        match rustix::fs::renameat_with(cwd, staging.path(), cwd, &dir, RenameFlags::NOREPLACE) {
            Ok(()) => {
                let _ = staging.keep();
                Ok(Creation {
                    dir,
                    lock,
                    cgroup: None,
                    done: false,
                })
            }
            Err(rustix::io::Errno::EXIST) => Err(Error::AlreadyExists(id.to_string())),
            Err(e) => Err(Error::io("creating the container's state directory", &dir)(
                e.into(),
            )),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records the cgroup made (or about to be made) for the container, for whoever cleans up
    /// should this process die before the state is saved.
    pub(crate) fn record_cgroup(&mut self, cgroup: &Cgroup) -> std::io::Result<()> {
        let json = serde_json::to_vec(cgroup).expect("a cgroup serialises");
        self.cgroup = Some(cgroup.clone());
        self.lock.set_len(0)?;
        self.lock.write_all_at(&json, 0)
    }

    /// In the container's init, a clone of the creator: lets go of its copy of the lock (the
    /// creator's own holds it), undoing nothing. Kept until exec, the copy would outlive a
    /// killed creator in an init waiting for `start`, and the creation would never be found
    /// abandoned.
    pub(crate) fn leave_to_creator(mut self) {
        self.done = true;
    }

    /// The state is saved: nothing is undone any more.
    pub(crate) fn finish(mut self) {
        self.done = true;
        let _ = fs::remove_file(self.dir.join(CREATING));
    }
}

impl Drop for Creation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.remove();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The lock of `dir`'s `.creating`, if `dir` was left by a `create` that died: it has no state
/// and nobody holds `.creating`.
fn abandoned(dir: &Path) -> Option<File> {
    if dir.join(STATE_FILE).exists() {
        return None;
    }
    let lock = File::open(dir.join(CREATING)).ok()?;
    rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).ok()?;
    // Looked at again under the lock: the creator may have saved the state just before.
    (!dir.join(STATE_FILE).exists()).then_some(lock)
}

/// Undoes what a `create` that died left in `dir`: its cgroup (and whatever runs in it) and the
/// directory. Returns false if `dir` is no such thing: it has a state, or its creator lives.
pub(crate) fn remove_abandoned(dir: &Path) -> Result<bool> {
    let Some(_lock) = abandoned(dir) else {
        return Ok(false);
    };
    let recorded = fs::read(dir.join(CREATING)).unwrap_or_default();
    if let Ok(cgroup) = serde_json::from_slice::<Cgroup>(&recorded) {
        cgroup.remove()?;
    }
    fs::remove_dir_all(dir).map_err(Error::io("removing the container's state", dir))?;
    Ok(true)
}

impl Runtime {
    /// The state directories `create`s that died left under this runtime's root.
    pub fn abandoned_creations(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(
                |entry| match claimant(&entry.file_name().to_string_lossy()) {
                    Some(pid) => !Path::new("/proc").join(pid.to_string()).exists(),
                    None => abandoned(&entry.path()).is_some(),
                },
            )
            .map(|entry| entry.path())
            .collect()
    }

    /// Removes what `create`s that died left under this runtime's root (see the module's
    /// docs). Returns how many.
    pub fn remove_abandoned(&self) -> Result<usize> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let removed_here = match claimant(&name) {
                Some(pid) if !Path::new("/proc").join(pid.to_string()).exists() => {
                    fs::remove_dir_all(&path).is_ok()
                }
                Some(_) => false,
                None => remove_abandoned(&path)?,
            };
            removed += usize::from(removed_here);
        }
        Ok(removed)
    }
}
