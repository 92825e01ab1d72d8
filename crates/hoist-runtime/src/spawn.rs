//! Cloning the container's init into its new namespaces.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which side of the clone this process is on.
pub(crate) enum Forked {
    Parent {
        child: i32,
        /// The child was born in the cgroup asked for.
        in_cgroup: bool,
    },
    Child,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks with `flags` (CLONE_NEW*) in one step, so the child is born in its namespaces (and is
/// pid 1 of a new pid namespace) and, given a cgroup2 directory, in that cgroup
/// (`CLONE_INTO_CGROUP`: no later move, and nothing the child does escapes its limits).
/// `clone3` where the kernel has it, else `clone`; both without a new stack, which gives fork
/// semantics: the child continues from here on a copy of this stack.
///
/// Refuses unless this process runs from a sealed binary (see `sealed_exe`): every process
/// that ends up in a container is born here.
///
/// # Safety
/// The caller must be single-threaded: the child gets a copy of only the calling thread, so
/// locks held by other threads would stay locked forever in it.
pub(crate) unsafe fn clone_into_namespaces(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<Forked> {
    crate::sealed_exe::verify().map_err(io::Error::other)?;
    let clone3 = |flags: u64, cgroup: Option<BorrowedFd<'_>>| {
        let args = CloneArgs {
            flags: flags | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
            ..CloneArgs::default()
        };
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let mut in_cgroup = cgroup.is_some();
    let mut ret = clone3(flags, cgroup);
    if ret < 0 && in_cgroup && io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
        // A kernel before 5.7, or a cgroup it will not clone into: the caller moves the child.
        in_cgroup = false;
        ret = clone3(flags, None);
    }
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        in_cgroup = false;
        ret = libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        );
    }
    match ret {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        child => Ok(Forked::Parent {
            child: child as i32,
            in_cgroup,
        }),
    }
}
