//! cgroups v1, hybrid (v1 controllers plus an unified hierarchy) and v2 behind one interface.
//!
//! A container's cgroup is one directory per hierarchy, all at the same path. Everything here
//! works on paths under a cgroup root given at construction, so the code that writes limits can
//! be exercised against a plain directory tree that mimics cgroupfs.

mod delegation;
mod device_filter;
mod for_container;
mod layout;
mod resources;
mod usage;

pub use delegation::{Delegation, NoDelegation};
pub(crate) use for_container::create_for;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub(crate) use layout::Hierarchies;
pub use usage::Usage;

/// One directory of a container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// The controllers this hierarchy carries (`["memory"]`, `["cpu", "cpuacct"]`), or for a
    /// cgroup2 hierarchy the ones enabled for it.
    pub controllers: Vec<String>,
    pub path: PathBuf,
    /// A cgroup2 (unified) hierarchy.
    pub unified: bool,
    /// Made by hoist for this container. Only then is it removed with the container, and only
    /// then are the processes in it the container's (to kill, list, freeze): a `cgroupsPath`
    /// naming a cgroup that already existed shares it with whatever lives there. Absent from
    /// the state of an older hoist, and then taken as not made.
    #[serde(default)]
    pub created: bool,
}

/// A container's cgroup: its directory in every hierarchy. Persisted in the container state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    pub dirs: Vec<CgroupDir>,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{action} {path}", path = .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the config asks for {what}, which this host's cgroups cannot do: {why}")]
    Unsupported { what: String, why: String },
    #[error("cgroup {path} still has processes after they were killed", path = .0.display())]
    Busy(PathBuf),
    #[error("moving a process into the container's cgroup {}: {source}; an unprivileged user may move processes only within the cgroup delegated to them, so run hoist from a cgroup inside it (under systemd: `systemd-run --user --scope hoist ...`)", .path.display())]
    OutsideDelegation {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the config sets resource limits, but this user may not make cgroups ({} is not writable); run as root, point linux.cgroupsPath into a cgroup delegated to this user, or remove linux.resources", .0.display())]
    MayNotCreate(PathBuf),
}

/// The controllers this process's containers can have limits of: every hierarchy's for root;
/// for an unprivileged user, those of the cgroup2 subtree delegated to them (podman's
/// `cgroupControllers`).
pub fn available_controllers() -> Vec<String> {
    if !rustix::process::geteuid().is_root() {
        return Delegation::find()
            .map(|d| d.controllers())
            .unwrap_or_default();
    }
    let mut controllers: Vec<String> = Hierarchies::detect()
        .map(|h| h.0.into_iter().flat_map(|h| h.controllers).collect())
        .unwrap_or_default();
    controllers.sort();
    controllers.dedup();
    controllers
}

/// A refused move of a process into the cgroup at `dir`. An `unprivileged` caller (not root
/// on the host) is refused when the move crosses the edge of their delegated subtree (the
/// kernel wants write access to the common ancestor's `cgroup.procs`): say so, and how to
/// stay inside.
pub(crate) fn joining_error(dir: &Path, source: io::Error, unprivileged: bool) -> CgroupError {
    let refused = matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM));
    if refused && unprivileged {
        return CgroupError::OutsideDelegation {
            path: dir.to_path_buf(),
            source,
        };
    }
    CgroupError::Io {
        action: "adding the container to",
        path: dir.join("cgroup.procs"),
        source,
    }
}

pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io {
        action,
        path,
        source,
    }
}

impl Cgroup {
    /// Creates the container's cgroup at `path` (absolute: from each hierarchy's root;
    /// relative: below the caller's own cgroup there), applies `resources`, and returns it.
    /// Directories are created only where missing, and only those are ever removed.
    pub(crate) fn create(
        hierarchies: &Hierarchies,
        path: &Path,
        resources: &LinuxResources,
        before: impl FnOnce(&Cgroup) -> Result<(), CgroupError>,
    ) -> Result<Cgroup, CgroupError> {
        // What is about to be made, told before anything is: a process killed halfway leaves
        // a record of every directory that may be its own (one already there is not).
        before(&Cgroup {
            dirs: hierarchies
                .0
                .iter()
                .map(|hierarchy| {
                    let dir = hierarchy.dir_for(path);
                    CgroupDir {
                        controllers: hierarchy.controllers.clone(),
                        created: !dir.exists(),
                        path: dir,
                        unified: hierarchy.unified,
                    }
                })
                .collect(),
        })?;
        let mut cgroup = Cgroup::default();
        let hybrid = hierarchies.0.iter().any(|h| !h.unified);
        for hierarchy in &hierarchies.0 {
            let dir = hierarchy.dir_for(path);
            let created = match resources::prepare(hierarchy, &dir, hybrid) {
                Ok(created) => created,
                Err(e) => {
                    let _ = cgroup.remove();
                    return Err(e);
                }
            };
            cgroup.dirs.push(CgroupDir {
                controllers: hierarchy.controllers.clone(),
                path: dir,
                unified: hierarchy.unified,
                created,
            });
        }
        let applied = cgroup.apply_limits(resources).and_then(|()| {
            // A new container always gets device rules, the config's or the defaults.
            cgroup.set_devices(resources.devices().as_deref().unwrap_or_default())
        });
        if let Err(e) = applied {
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// Writes the resource limits (also used by `update` on a live container, where device
    /// rules change only if `resources` has some).
    pub(crate) fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.apply_limits(resources)?;
        if let Some(devices) = resources.devices() {
            self.set_devices(devices)?;
        }
        Ok(())
    }

    fn apply_limits(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        resources::check_supported(self, resources)?;
        for dir in &self.dirs {
            if dir.unified {
                resources::apply_v2(dir, resources)?;
            } else {
                resources::apply_v1(dir, resources)?;
            }
        }
        Ok(())
    }

    /// Sets which devices the container may create and open: through the v1 devices
    /// controller where the host has one, else with an eBPF program on the cgroup2 directory.
    /// An unprivileged caller the kernel refuses the program goes on without one, as runc and
    /// crun do: its container has no more rights than the caller, who can make no device node
    /// and open only those it may open anyway.
    fn set_devices(
        &self,
        rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    ) -> Result<(), CgroupError> {
        let v1 = self
            .dirs
            .iter()
            .find(|d| !d.unified && d.controllers.iter().any(|c| c == "devices"));
        match (v1, self.dirs.iter().find(|d| d.unified)) {
            (Some(dir), _) => resources::apply_device_rules(&dir.path, rules),
            (None, Some(dir)) => {
                match device_filter::install(&dir.path, &resources::device_filter_rules(rules)) {
                    Err(CgroupError::Io { source, .. })
                        if source.kind() == io::ErrorKind::PermissionDenied
                            && !rustix::process::geteuid().is_root() =>
                    {
                        Ok(())
                    }
                    installed => installed,
                }
            }
            (None, None) => Ok(()),
        }
    }

    /// The cgroup's directory in the unified (cgroup2) hierarchy, if the host has one.
    pub(crate) fn unified_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.unified)
            .map(|d| d.path.as_path())
    }

    /// An `O_PATH` fd of the unified directory, to clone a process straight into
    /// (`CLONE_INTO_CGROUP`) or move it through; opened while host paths are in view.
    pub(crate) fn open_unified_dir(&self) -> Option<std::os::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        let dir = self.unified_dir()?;
        rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    }

    /// Moves a process into every directory of the cgroup.
    pub(crate) fn add(&self, pid: i32) -> Result<(), CgroupError> {
        self.add_where(pid, |_| true)
    }

    /// Moves a process into the v1 directories of the cgroup (it was born in the unified one).
    pub(crate) fn add_outside_unified(&self, pid: i32) -> Result<(), CgroupError> {
        self.add_where(pid, |dir| !dir.unified)
    }

    /// Moves the calling thread (the whole process, when it has one thread) into the v1
    /// directories of the cgroup through their `tasks` files. A process moving its own single
    /// thread is spared the kernel's global threadgroup lock, whose first taking after a quiet
    /// spell waits an RCU grace period (10-20 ms here), where `cgroup.procs` would take it.
    pub(crate) fn attach_current_thread_v1(&self) -> Result<(), CgroupError> {
        for dir in self.dirs.iter().filter(|d| !d.unified) {
            let tasks = dir.path.join("tasks");
            fs::write(&tasks, "0").map_err(io_error("moving the container into", &tasks))?;
        }
        Ok(())
    }

    /// Moves a process into the unified directory of the cgroup, if there is one.
    pub(crate) fn add_unified(&self, pid: i32) -> Result<(), CgroupError> {
        self.add_where(pid, |dir| dir.unified)
    }

    fn add_where(&self, pid: i32, pick: impl Fn(&CgroupDir) -> bool) -> Result<(), CgroupError> {
        for dir in self.dirs.iter().filter(|d| pick(d)) {
            let procs = dir.path.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(|source| {
                joining_error(&dir.path, source, !rustix::process::geteuid().is_root())
            })?;
        }
        Ok(())
    }

    /// Whether hoist made the cgroup (in at least one hierarchy) for the container.
    pub fn made_by_hoist(&self) -> bool {
        self.dirs.iter().any(|d| d.created)
    }

    /// The processes in the cgroup (from the first hierarchy hoist made it in that lists any;
    /// none if it made it in none).
    pub fn pids(&self) -> Vec<i32> {
        for dir in self.dirs.iter().filter(|d| d.created) {
            if let Ok(text) = fs::read_to_string(dir.path.join("cgroup.procs")) {
                let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if !pids.is_empty() {
                    return pids;
                }
            }
        }
        Vec::new()
    }

    /// Freezes (`true`) or thaws every process in the cgroup, and waits until it is so.
    pub(crate) fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let ours = || self.dirs.iter().filter(|d| d.created);
        let dir = ours()
            .find(|d| d.controllers.iter().any(|c| c == "freezer"))
            .or_else(|| ours().find(|d| d.unified && d.path.join("cgroup.freeze").exists()))
            .ok_or_else(|| CgroupError::Unsupported {
                what: "pause/resume".into(),
                why: "no freezer controller and no cgroup.freeze in a cgroup hoist made for the container (one it shares would freeze others)".into(),
            })?;
        let (file, value, done) = if dir.unified {
            (
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
                if frozen { "frozen 1" } else { "frozen 0" },
            )
        } else {
            (
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
                if frozen { "FROZEN" } else { "THAWED" },
            )
        };
        let path = dir.path.join(file);
        fs::write(&path, value).map_err(io_error("writing", &path))?;
        let (check, expected) = if dir.unified {
            (dir.path.join("cgroup.events"), done)
        } else {
            (path.clone(), done)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = fs::read_to_string(&check).unwrap_or_default();
            if state.lines().any(|l| l.trim() == expected) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Io {
                    action: "waiting for the freezer in",
                    path: check,
                    source: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("still not {expected}"),
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether the cgroup is frozen now.
    pub fn is_frozen(&self) -> bool {
        self.dirs.iter().any(|dir| {
            if dir.unified {
                fs::read_to_string(dir.path.join("cgroup.events"))
                    .is_ok_and(|e| e.lines().any(|l| l.trim() == "frozen 1"))
            } else {
                dir.controllers.iter().any(|c| c == "freezer")
                    && fs::read_to_string(dir.path.join("freezer.state"))
                        .is_ok_and(|s| s.trim() == "FROZEN")
            }
        })
    }

    /// How many processes of the cgroup the kernel's OOM killer has killed.
    pub fn oom_kills(&self) -> u64 {
        self.dirs
            .iter()
            .filter_map(|dir| {
                let file = if dir.unified {
                    "memory.events"
                } else {
                    "memory.oom_control"
                };
                let text = fs::read_to_string(dir.path.join(file)).ok()?;
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
            })
            .sum()
    }

    /// Kills whatever is left in the cgroup and removes its directories: the leaves hoist made
    /// only (parents may be shared, and a cgroup that was there before is not ours).
    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        for dir in self.dirs.iter().filter(|d| d.created) {
            remove_dir(&dir.path)?;
        }
        Ok(())
    }
}

fn remove_dir(path: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                for pid in fs::read_to_string(path.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                {
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
                if Instant::now() > deadline {
                    return Err(CgroupError::Busy(path.to_path_buf()));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(io_error("removing", path)(e)),
        }
    }
}
