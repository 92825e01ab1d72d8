//! The exec helper: forked by `exec`, it enters the container's cgroups and namespaces, clones
//! the process to run (which becomes `init::exec`), tells the runtime its pid, and exits. A
//! process enters a pid namespace only by being born in it, hence the second fork.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::cgroups::Cgroup;
use crate::channel::InitEnd;
use crate::init::exec::{self as exec_init, ExecSettings};
use crate::init::exit;
use crate::namespaces::NamespaceFd;
use crate::sys::{clone_into_namespaces, Forked, SingleThreaded};
use crate::{Error, Result};

/// The helper's life; never returns.
pub(crate) fn run(
    single_threaded: &SingleThreaded,
    cgroup: &Cgroup,
    namespaces: &[NamespaceFd],
    chroot_to: Option<&OwnedFd>,
    settings: ExecSettings<'_>,
    channel: InitEnd,
) -> ! {
    // Non-dumpable from birth, and so is the process it clones into the container: no
    // /proc/PID/exe of the host's binary for the container to open, at any moment (the exec'd
    // process also says so again first thing).
    crate::init::not_dumpable();
    // The helper moves itself into the v1 directories (cheaply: see
    // Cgroup::attach_current_thread_v1) and clones the process straight into the unified one,
    // whose fd it opens while host paths are still in view. The process joins the cgroup
    // namespace itself, once born: where cgroup2 is mounted with nsdelegate (systemd's
    // default), a process inside a cgroup namespace may place another only in cgroups inside
    // it, and the helper's own cgroup is outside.
    let unified = cgroup.open_unified_dir();
    // Asked before the user namespace makes it root.
    let unprivileged = !rustix::process::geteuid().is_root();
    let (cgroup_namespace, others): (Vec<&NamespaceFd>, Vec<&NamespaceFd>) = namespaces
        .iter()
        .partition(|ns| ns.flag == CloneFlags::CLONE_NEWCGROUP);
    if let Err(e) = enter(cgroup, unified.is_none(), &others, chroot_to) {
        channel.failed(&e);
        exit(1);
    }
    match clone_into_namespaces(single_threaded, 0, unified.as_ref().map(AsFd::as_fd)) {
        Ok(Forked::Child(_)) => {
            if let Err(e) = cgroup_namespace.iter().try_for_each(|ns| ns.enter()) {
                channel.failed(&e);
                exit(1);
            }
            exec_init::run(settings, channel)
        }
        Ok(Forked::Parent { child, in_cgroup }) => {
            if let (false, Some(unified)) = (in_cgroup, &unified) {
                if let Err(e) = move_into(cgroup, unified, child, unprivileged) {
                    // Outside the container's cgroup it must not run on.
                    let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
                    channel.failed(&e);
                    exit(1);
                }
            }
            let _ = channel.spawned(child);
            exit(0);
        }
        Err(e) => {
            channel.failed(&Error::sys("cloning the process into the container")(e));
            exit(1);
        }
    }
}

/// Joins the container's v1 cgroups (and its unified one, when it cannot be cloned into) and
/// namespaces.
fn enter(
    cgroup: &Cgroup,
    add_unified: bool,
    namespaces: &[&NamespaceFd],
    chroot_to: Option<&OwnedFd>,
) -> Result<()> {
    cgroup.attach_current_thread_v1()?;
    if add_unified {
        cgroup.add_unified(std::process::id() as i32)?;
    }
    crate::namespaces::enter_all(namespaces.iter().copied())?;
    if let Some(root) = chroot_to {
        rustix::process::fchdir(root)
            .and_then(|()| rustix::process::chroot("."))
            .map_err(|e| Error::sys("chroot into the container's root")(std::io::Error::from(e)))?;
    }
    Ok(())
}

/// A kernel without CLONE_INTO_CGROUP, or a clone into the cgroup refused: the process is
/// moved through the cgroup's fd.
fn move_into(cgroup: &Cgroup, unified: &OwnedFd, pid: i32, unprivileged: bool) -> Result<()> {
    rfs::openat(
        unified,
        "cgroup.procs",
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| rustix::io::write(&fd, pid.to_string().as_bytes()))
    .map(drop)
    .map_err(|e| {
        let dir = cgroup.unified_dir().unwrap_or(std::path::Path::new("/"));
        crate::cgroups::joining_error(dir, e.into(), unprivileged).into()
    })
}
