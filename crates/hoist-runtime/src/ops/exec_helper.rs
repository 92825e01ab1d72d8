//! The exec helper: forked by `exec`, it enters the container's cgroups and namespaces, clones
//! the process to run (which becomes `init::exec`), tells the runtime its pid, and exits. A
//! process enters a pid namespace only by being born in it, hence the second fork.

use std::os::fd::OwnedFd;

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
    // The helper moves itself into the container's cgroup, then its namespaces, and the
    // process it clones is born in both. Not the other way round (cloning straight into the
    // unified directory after joining them): once in the container's cgroup namespace, a
    // process may move another only between cgroups inside that namespace where cgroup2 is
    // mounted with nsdelegate (systemd's default), and the helper still sits outside.
    if let Err(e) = enter(cgroup, namespaces, chroot_to) {
        channel.failed(&e);
        exit(1);
    }
    match clone_into_namespaces(single_threaded, 0, None) {
        Ok(Forked::Child(_)) => exec_init::run(settings, channel),
        Ok(Forked::Parent { child, .. }) => {
            let _ = channel.spawned(child);
            exit(0);
        }
        Err(e) => {
            channel.failed(&Error::sys("cloning the process into the container")(e));
            exit(1);
        }
    }
}

/// Joins the container's cgroups and namespaces.
fn enter(cgroup: &Cgroup, namespaces: &[NamespaceFd], chroot_to: Option<&OwnedFd>) -> Result<()> {
    cgroup.attach_current_thread_v1()?;
    cgroup.add_unified(std::process::id() as i32)?;
    crate::namespaces::enter_all(namespaces)?;
    if let Some(root) = chroot_to {
        rustix::process::fchdir(root)
            .and_then(|()| rustix::process::chroot("."))
            .map_err(|e| Error::sys("chroot into the container's root")(std::io::Error::from(e)))?;
    }
    Ok(())
}
