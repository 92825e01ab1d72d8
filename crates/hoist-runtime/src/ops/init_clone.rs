//! How `create` clones the container's init: straight into its new namespaces (and cgroup), or,
//! when the config joins a user namespace by path, through a helper that enters it first, so
//! that the namespaces the clone makes belong to that user namespace and the container holds
//! rights over them (runc's stage-1 child does the same). A new user namespace that goes with
//! namespaces joined by path (a network namespace the engine made) takes the helper too: it
//! joins them with the host's rights, which the init, born in its user namespace, no longer
//! has over namespaces the host owns. The helper then exits; the runtime is a child subreaper,
//! so the init becomes its child and can be waited for.

use std::os::fd::AsFd;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use crate::channel::{InitEnd, ParentEnd};
use crate::namespaces::{NamespaceFd, Namespaces};
use crate::sys::{clone_into_namespaces, Forked, SingleThreaded};
use crate::{Error, Result};

/// Clones the init. Returns `Forked::Child` in the init, `Forked::Parent` in the runtime.
/// A pid namespace to join is entered here: by the runtime before a direct clone, by the
/// helper otherwise (so that the pid it reports is the host's).
pub(crate) fn clone_init(
    single_threaded: &SingleThreaded,
    namespaces: &Namespaces,
    cgroup: &Cgroup,
    parent_end: &ParentEnd,
    init_end: &InitEnd,
) -> Result<Forked> {
    let flags = namespaces.clone_flags.bits() as u64;
    let user = namespaces.foreign_user();
    let joins_before_new_user =
        namespaces.new_user && (!namespaces.join.is_empty() || namespaces.join_pid.is_some());
    if user.is_none() && !joins_before_new_user {
        if let Some(pid_ns) = &namespaces.join_pid {
            // Joining a pid namespace takes effect for children: enter it before the clone.
            pid_ns.enter()?;
        }
        let unified_dir = cgroup.open_unified_dir();
        return clone_into_namespaces(
            single_threaded,
            flags,
            unified_dir.as_ref().map(|fd| fd.as_fd()),
        )
        .map_err(Error::sys("cloning the container's init"));
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| Error::sys("becoming a child subreaper")(std::io::Error::from(e)))?;
    match clone_into_namespaces(single_threaded, 0, None).map_err(Error::sys(
        "forking the helper that enters the user namespace",
    ))? {
        Forked::Child(single_threaded) => {
            // It holds host fds in the host's mount namespace, and is about to take the
            // credentials of a user namespace other containers may share.
            crate::init::not_dumpable();
            match enter_then_clone(&single_threaded, namespaces, cgroup, user, flags) {
                Ok(Forked::Child(proof)) => Ok(Forked::Child(proof)),
                Ok(Forked::Parent { child, .. }) => match init_end.spawned(child) {
                    Ok(()) => crate::init::exit(0),
                    Err(_) => {
                        let _ = nix::sys::signal::kill(
                            Pid::from_raw(child),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                        crate::init::exit(1)
                    }
                },
                Err(e) => {
                    init_end.failed(&e);
                    crate::init::exit(1)
                }
            }
        }
        Forked::Parent { child: helper, .. } => {
            // The helper's end is its exit: 0 once the init's pid is sent, 1 once its failure
            // is. Either message is queued by then, so the read below cannot block.
            match waitpid(Pid::from_raw(helper), None) {
                Ok(WaitStatus::Exited(_, 0 | 1)) => {}
                other => {
                    return Err(Error::sys(
                        "waiting for the helper that enters the user namespace",
                    )(std::io::Error::other(format!(
                        "it ended with {other:?}"
                    ))))
                }
            }
            let child = parent_end.wait_for_spawned()?;
            // The init is the runtime's child now; no other orphan is to be.
            let _ = rustix::process::set_child_subreaper(None);
            Ok(Forked::Parent {
                child,
                in_cgroup: true,
            })
        }
    }
}

/// In the helper: joins the container's cgroup and pid namespace while it still has the
/// host's rights over them (the init, born of it, is born there), and the other namespaces it
/// can (one the host owns, a CNI network namespace say, refuses a process of another user
/// namespace); then the user namespace to join, if any; then clones the init (into a new user
/// namespace, if asked), whose `enter_all` joins the rest.
fn enter_then_clone(
    single_threaded: &SingleThreaded,
    namespaces: &Namespaces,
    cgroup: &Cgroup,
    user: Option<&NamespaceFd>,
    flags: u64,
) -> Result<Forked> {
    cgroup.attach_current_thread_v1()?;
    cgroup.add_unified(0)?;
    if let Some(pid_ns) = &namespaces.join_pid {
        pid_ns.enter()?;
    }
    for namespace in namespaces.join.iter().filter(|ns| {
        !matches!(
            ns.flag,
            nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS
        )
    }) {
        let _ = namespace.enter();
    }
    if let Some(user) = user {
        user.enter()?;
    }
    clone_into_namespaces(single_threaded, flags, None).map_err(Error::sys(
        "cloning the container's init in its user namespace",
    ))
}
