//! Cloning the container's init into its new namespaces.

use std::io;

/// Which side of the clone this process is on.
pub(crate) enum Forked {
    Parent { child: i32 },
    Child,
}

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
/// pid 1 of a new pid namespace). `clone3` where the kernel has it, else `clone`; both without a
/// new stack, which gives fork semantics: the child continues from here on a copy of this
/// stack.
///
/// # Safety
/// The caller must be single-threaded: the child gets a copy of only the calling thread, so
/// locks held by other threads would stay locked forever in it.
pub(crate) unsafe fn clone_into_namespaces(flags: u64) -> io::Result<Forked> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    let mut ret = libc::syscall(
        libc::SYS_clone3,
        &args as *const CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    );
    if ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
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
        }),
    }
}
