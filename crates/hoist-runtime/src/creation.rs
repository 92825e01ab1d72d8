//! A container being created. Its state directory is made under a temporary name with
//! `.creating` inside, locked (`flock`) by the creator and holding the cgroup once there is
//! one, then renamed to the id (never over another); `.creating` goes once the state is saved.
//! An error undoes what was made at once. A creator that dies (`kill -9`) leaves a directory
//! with no state whose `.creating` nobody holds: the next `create` or `delete` of that id, or
//! [`Runtime::remove_abandoned`], finds the cgroup there and removes it with the directory.

use std::fs::{self, File};
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

/// What a creation has made so far, in `.made.json` (replaced whole, by rename).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Made {
    /// Recorded before it is made.
    cgroup: Option<Cgroup>,
    /// The init's pid and start time, once cloned. Until then nothing in the cgroup is this
    /// creation's, and a cleanup kills nothing there.
    init: Option<(i32, u64)>,
}

const MADE: &str = ".made.json";

pub(crate) struct Creation {
    dir: PathBuf,
    /// Held (`flock`) for as long as the creation runs.
    _lock: File,
    made: Made,
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
                    _lock: lock,
                    made: Made::default(),
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

    /// Records the cgroup about to be made for the container, for whoever cleans up should
    /// this process die before the state is saved.
    pub(crate) fn record_cgroup(&mut self, cgroup: &Cgroup) -> std::io::Result<()> {
        self.made.cgroup = Some(cgroup.clone());
        self.save()
    }

    /// Records the init, which a cleanup kills should it outlive this process.
    pub(crate) fn record_init(&mut self, pid: i32, start_time: u64) -> std::io::Result<()> {
        self.made.init = Some((pid, start_time));
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        let temp = self.dir.join(".made.json.tmp");
        fs::write(
            &temp,
            serde_json::to_vec(&self.made).expect("a record serialises"),
        )?;
        fs::rename(&temp, self.dir.join(MADE))
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
        let _ = fs::remove_file(self.dir.join(MADE));
        let _ = fs::remove_file(self.dir.join(CREATING));
    }
}

impl Drop for Creation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        undo(&self.made);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Undoes what a creation made: its init killed, its cgroup removed (what runs there killed
/// only once the init was born into it).
fn undo(made: &Made) {
    if let Some((pid, start_time)) = made.init {
        if crate::state::process_alive(pid, start_time) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    match &made.cgroup {
        Some(cgroup) if made.init.is_some() => {
            if let Err(error) = cgroup.remove() {
                tracing::warn!(%error, "removing the cgroup of a creation that died");
            }
        }
        Some(planned) => {
            for dir in planned.dirs.iter().filter(|d| d.created) {
                let _ = fs::remove_dir(&dir.path);
            }
        }
        None => {}
    }
}

/// The lock of `dir`'s `.creating`, if `dir` was left by a `create` that died: it has no state
/// and nobody holds `.creating`.
fn abandoned(dir: &Path) -> Option<File> {
    if dir.join(STATE_FILE).exists() {
        return None;
    }
    let path = dir.join(CREATING);
    let lock = File::open(&path).ok()?;
    rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).ok()?;
    // Locked after another cleaner removed it and a new creator took the id: the lock is on
    // the old file, and says nothing about the new creation.
    let same = match (lock.metadata(), fs::metadata(&path)) {
        (Ok(open), Ok(there)) => {
            use std::os::unix::fs::MetadataExt;
            open.dev() == there.dev() && open.ino() == there.ino()
        }
        _ => false,
    };
    if !same {
        return None;
    }
    // Looked at again under the lock: the creator may have saved the state just before.
    (!dir.join(STATE_FILE).exists()).then_some(lock)
}

/// Undoes what a `create` that died left in `dir`: its cgroup (and whatever runs in it) and the
/// directory. Returns false if `dir` is no such thing: it has a state, or its creator lives.
pub(crate) fn remove_abandoned(dir: &Path) -> Result<bool> {
    let Some(_lock) = abandoned(dir) else {
        return Ok(false);
    };
    let made: Made = fs::read(dir.join(MADE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    undo(&made);
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
                None => remove_abandoned(&path).unwrap_or_else(|error| {
                    // One stuck cgroup must not keep the others.
                    tracing::warn!(%error, "removing what a dead create left");
                    false
                }),
            };
            removed += usize::from(removed_here);
        }
        Ok(removed)
    }
}
