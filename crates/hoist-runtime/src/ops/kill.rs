use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::state::{ContainerLock, ContainerState};
use crate::{Error, Result, Runtime, Status};

impl Runtime {
    /// Sends `signal` to the container's init, or with `all` to every process in its pid
    /// namespace.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let _lock = ContainerLock::acquire(&self.root, id)?;
        let state = ContainerState::load(&self.root, id)?;
        if state.status(&self.root) == Status::Stopped {
            // containerd and podman recognise "container not running" as "already finished".
            return Err(Error::NotRunning(id.to_string()));
        }
        let targets = if !all {
            vec![state.pid]
        } else if state.cgroup.made_by_hoist() {
            state.cgroup.pids()
        } else if has_own_pid_namespace(state.pid) {
            pids_in_namespace_of(state.pid)
        } else {
            // Its processes cannot be told from the host's: signalling "all" of them would
            // signal every process the runtime can see.
            return Err(Error::InvalidSpec(format!(
                "kill --all: container {id} has neither a cgroup hoist made nor a pid namespace of its own, so its processes cannot be told from the host's; signal its init (without --all) instead"
            )));
        };
        for pid in targets {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) if pid != state.pid => {}
                Ok(()) => {}
                Err(e) => {
                    return Err(Error::sys(format!(
                        "sending {signal} to container {id} (pid {pid})"
                    ))(e))
                }
            }
        }
        Ok(())
    }
}

/// Whether `pid` is in another pid namespace than the runtime.
fn has_own_pid_namespace(pid: i32) -> bool {
    match (
        std::fs::read_link(format!("/proc/{pid}/ns/pid")),
        std::fs::read_link("/proc/self/ns/pid"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs != ours,
        _ => false,
    }
}

/// Every process that shares `pid`'s pid namespace, itself included. Without a cgroup of its
/// own to list, the namespace is what defines the container's processes.
fn pids_in_namespace_of(pid: i32) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/pid")) else {
        return vec![pid];
    };
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|p: &i32| {
            std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|other| other == ns)
        })
        .collect();
    if !pids.contains(&pid) {
        pids.push(pid);
    }
    pids
}
