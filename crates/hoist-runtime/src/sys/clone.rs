//! Cloning the container's init (and an exec'd process) into its new namespaces.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which side of the clone this process is on.
pub(crate) enum Forked {
    Parent {
        child: i32,
        /// The child was born in the cgroup asked for.
        in_cgroup: bool,
    },
    /// A clone has one thread, whatever its parent had.
    Child(SingleThreaded),
}

/// Proof that this process had one thread when it was checked: made only by
/// `ensure_single_threaded` and by a clone for its child, and neither sent to nor kept by
/// another thread. The clone needs it, so the check runs once per clone, before it.
pub(crate) struct SingleThreaded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SingleThreaded {
    fn checked() -> SingleThreaded {
        SingleThreaded {
            _not_send: std::marker::PhantomData,
        }
    }
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
/// that ends up in a container is born here. Takes the proof that this process has a single
/// thread: the child gets a copy of only the calling thread, so locks held by other threads
/// would stay locked forever in it.
pub(crate) fn clone_into_namespaces(
    _single: &SingleThreaded,
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
        // SAFETY: a valid clone_args of the size given, without a new stack: fork semantics.
        // The child continues on a copy of this stack with a copy of this (single) thread.
        unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        }
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
        // SAFETY: as clone3 above: no new stack, so fork semantics.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags | libc::SIGCHLD as u64,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match ret {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child(SingleThreaded::checked())),
        child => Ok(Forked::Parent {
            child: child as i32,
            in_cgroup,
        }),
    }
}

/// Refuses to clone from a multi-threaded process (see `clone_into_namespaces`). A caller that
/// just shut down an async runtime may still have worker threads finishing: give them a moment.
pub(crate) fn ensure_single_threaded() -> crate::Result<SingleThreaded> {
    let threads = || threads().unwrap_or(1);
    for _ in 0..200 {
        if threads() <= 1 {
            return Ok(SingleThreaded::checked());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(crate::Error::TooManyThreads(threads()))
}

/// This process's thread count (`/proc/self/stat`'s 20th field), if /proc shows it.
fn threads() -> Option<usize> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The command name (field 2) is in parentheses and may hold spaces.
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.split_whitespace().nth(17)?.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_thread_count_is_read_from_proc() {
        // Other tests run on threads of their own: only a lower bound is certain.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        assert!(super::threads().unwrap() >= 2, "{:?}", super::threads());
        drop(tx);
        other.join().unwrap().unwrap_err();
    }
}
