//! How `create` clones the container's init: straight into its new namespaces (and cgroup), or,
//! when the config joins a user namespace by path, through a helper that enters it first, so
//! that the namespaces the clone makes belong to that user namespace and the container holds
//! rights over them (runc's stage-1 child does the same). The helper then exits; the runtime
//! is a child subreaper, so the init becomes its child and can be waited for.

use std::os::fd::AsFd;

use crate::cgroups::Cgroup;
use crate::channel::{InitEnd, ParentEnd};
use crate::namespaces::{NamespaceFd, Namespaces};
use crate::sys::{clone_into_namespaces, Forked, SingleThreaded};
use crate::{Error, Result};

/// Clones the init. Returns `Forked::Child` in the init, `Forked::Parent` in the runtime.
pub(crate) fn clone_init(
    single_threaded: &SingleThreaded,
    namespaces: &Namespaces,
    cgroup: &Cgroup,
    parent_end: &ParentEnd,
    init_end: &InitEnd,
) -> Result<Forked> {
    let flags = namespaces.clone_flags.bits() as u64;
    let Some(user) = namespaces.foreign_user() else {
        let unified_dir = cgroup.open_unified_dir();
        return clone_into_namespaces(
            single_threaded,
            flags,
            unified_dir.as_ref().map(|fd| fd.as_fd()),
        )
        .map_err(Error::sys("cloning the container's init"));
    };
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| Error::sys("becoming a child subreaper")(std::io::Error::from(e)))?;
    match clone_into_namespaces(single_threaded, 0, None).map_err(Error::sys(
        "forking the helper that enters the user namespace",
    ))? {
        Forked::Child(single_threaded) => {
            match enter_then_clone(&single_threaded, cgroup, user, flags) {
                Ok(Forked::Child(proof)) => Ok(Forked::Child(proof)),
                Ok(Forked::Parent { child, .. }) => {
                    let _ = init_end.spawned(child);
                    crate::init::exit(0)
                }
                Err(e) => {
                    init_end.failed(&e);
                    crate::init::exit(1)
                }
            }
        }
        Forked::Parent { child: helper, .. } => {
            let init = parent_end.wait_for_spawned();
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
            Ok(Forked::Parent {
                child: init?,
                in_cgroup: true,
            })
        }
    }
}

/// In the helper: joins the container's cgroup while it still has the host's rights over it
/// (the init, born of it, is born there), then the user namespace, then clones the init.
fn enter_then_clone(
    single_threaded: &SingleThreaded,
    cgroup: &Cgroup,
    user: &NamespaceFd,
    flags: u64,
) -> Result<Forked> {
    cgroup.attach_current_thread_v1()?;
    cgroup.add_unified(std::process::id() as i32)?;
    user.enter()?;
    clone_into_namespaces(single_threaded, flags, None).map_err(Error::sys(
        "cloning the container's init in its user namespace",
    ))
}
