//! What the runtime remembers about a container between calls, and how its status is judged.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::status::Status;
use crate::{Error, Result};

pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const EXEC_FIFO: &str = "exec.fifo";

/// The persisted state of one container (`<root>/<id>/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    /// The init's pid in the caller's pid namespace.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (field 22 of `/proc/PID/stat`): a pid
    /// alone may have been reused by an unrelated process after the container exited.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub cgroup: Cgroup,
    /// The config's hooks, kept for `start` (poststart) and `delete` (poststop).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// Checks a container id the way runc does; the id becomes a directory name under the root.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

pub(crate) fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl ContainerState {
    pub(crate) fn load(root: &Path, id: &str) -> Result<ContainerState> {
        validate_id(id)?;
        let path = container_dir(root, id).join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("reading container state", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| Error::BadState { path, source })
    }

    /// Writes the state by atomic rename, so a reader never sees half a file.
    pub(crate) fn save(&self, root: &Path) -> Result<()> {
        let dir = container_dir(root, &self.id);
        let tmp = dir.join(".state.json.tmp");
        let json = serde_json::to_vec(self).expect("container state always serialises");
        let mut file = File::create(&tmp).map_err(Error::io("writing container state", &tmp))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(Error::io("writing container state", &tmp))?;
        fs::rename(&tmp, dir.join(STATE_FILE)).map_err(Error::io("writing container state", &dir))
    }

    pub(crate) fn dir(&self, root: &Path) -> PathBuf {
        container_dir(root, &self.id)
    }

    /// The container's status now, judged from the live process rather than a stored field.
    pub fn status(&self, root: &Path) -> Status {
        if !process_alive(self.pid, self.start_time) {
            return Status::Stopped;
        }
        if self.dir(root).join(EXEC_FIFO).exists() {
            Status::Created
        } else if self.cgroup.is_frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The state document of the runtime spec, as `runc state` prints it.
    pub fn oci_state(&self, root: &Path) -> OciState {
        self.oci_state_as(self.status(root))
    }

    /// The state document with a given status (hooks see the status of their moment).
    pub(crate) fn oci_state_as(&self, status: Status) -> OciState {
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.annotations.clone().into_iter().collect(),
            owner: String::new(),
        }
    }
}

/// The version of the runtime spec the state document follows.
pub(crate) const OCI_VERSION: &str = "1.1.0";

/// The runtime spec's state document, with the fields `runc state` adds and engines read
/// (`rootfs`, `created`, `owner`): what `hoist state` prints, what hooks read on stdin, and
/// what a seccomp listener receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    /// The init's pid; 0 once the container has stopped.
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    /// Sorted, so the document reads the same every time.
    pub annotations: BTreeMap<String, String>,
    pub owner: String,
}

/// The start time of a process (field 22 of `/proc/PID/stat`), or `None` if it is gone or a
/// zombie.
pub(crate) fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.get(19)?.parse().ok()
}

pub(crate) fn process_alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && process_start_time(pid) == Some(start_time)
}

/// An exclusive lock on one container's state directory, so two commands on one container
/// (a `kill` racing a `delete`, say) run one after the other.
pub(crate) struct ContainerLock {
    _dir: File,
}

impl ContainerLock {
    pub(crate) fn acquire(root: &Path, id: &str) -> Result<ContainerLock> {
        validate_id(id)?;
        let dir = container_dir(root, id);
        let file = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("opening container state", &dir)(e)),
        };
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking container state", &dir)(e.into()))?;
        Ok(ContainerLock { _dir: file })
    }
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_like_runc() {
        for good in ["a", "abc-123", "A_b.c+d", &"x".repeat(64)] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "../x", "a/b", "-x", "a b", &"x".repeat(1025)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let start = process_start_time(pid).expect("this process has a start time");
        assert!(process_alive(pid, start));
        assert!(
            !process_alive(pid, start + 1),
            "a reused pid must not count as the container"
        );
    }
}
