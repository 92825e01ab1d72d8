//! Every `unsafe` of the runtime: the system calls no safe binding (nix, rustix) offers, and
//! the few places where the kernel hands over a raw fd. Each block carries its SAFETY note; the
//! functions here are safe to call.

pub(crate) mod bpf;
mod clone;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

pub(crate) use clone::{clone_into_namespaces, ensure_single_threaded, Forked, SingleThreaded};

/// `struct mount_attr` of mount_setattr(2) (libc has no binding for it).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the detached mount `tree` itself: sets and clears `MOUNT_ATTR_*` bits.
pub(crate) fn mount_setattr(tree: &OwnedFd, set: u64, clear: u64) -> nix::Result<()> {
    setattr(
        tree,
        &MountAttr {
            attr_set: set,
            attr_clr: clear,
            propagation: 0,
            userns_fd: 0,
        },
        0,
    )
}

/// mount_setattr(2) giving the whole detached tree `tree` a propagation (`MS_PRIVATE`,
/// `MS_SLAVE`, ...).
pub(crate) fn set_tree_propagation(tree: &OwnedFd, propagation: u64) -> nix::Result<()> {
    setattr(
        tree,
        &MountAttr {
            attr_set: 0,
            attr_clr: 0,
            propagation,
            userns_fd: 0,
        },
        libc::AT_RECURSIVE,
    )
}

fn setattr(tree: &OwnedFd, attr: &MountAttr, flags: libc::c_int) -> nix::Result<()> {
    // SAFETY: an open fd, an empty C string, and a mount_attr whose size is the one given;
    // the kernel only reads them.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if done != 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// The `CLONE_NEW*` type of the namespace `fd` refers to (ioctl NS_GET_NSTYPE, which nix and
/// rustix do not wrap); an error for a file that is not a namespace.
pub(crate) fn namespace_type(fd: &OwnedFd) -> std::io::Result<i32> {
    // SAFETY: an open fd and a request that takes no argument; the kernel reads nothing of
    // ours and returns an integer.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if kind < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(kind)
}

/// Marks every fd from `first` up close-on-exec (close_range(2) with CLOSE_RANGE_CLOEXEC, or
/// one by one where the kernel, before 5.11, lacks it).
pub(crate) fn cloexec_from(first: u32) -> std::io::Result<()> {
    // SAFETY: close_range with integer arguments only; with CLOSE_RANGE_CLOEXEC it closes
    // nothing, so no OwnedFd elsewhere is invalidated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: setting a flag on an fd number; a stale number (the listing's own) fails
        // harmlessly.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Gives every signal (but SIGKILL and SIGSTOP, which have none to give) its default
/// disposition.
pub(crate) fn default_signal_handlers() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if !matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            // SAFETY: installing the default disposition, which runs no code of ours.
            let _ = unsafe { sigaction(signal, &default) };
        }
    }
}

/// Runs `write` with SIGPIPE ignored, so a write to a pipe nobody reads fails with EPIPE
/// instead of ending the runtime; a SIGPIPE left pending (signals are blocked during a
/// foreground `run`, and Linux keeps even an ignored one pending then) is taken before the
/// old disposition comes back.
pub(crate) fn without_sigpipe<T>(write: impl FnOnce() -> T) -> T {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: ignoring a signal runs no code of ours; the runtime is single-threaded here,
    // and the old disposition is put back below.
    let previous = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
    let result = write();
    let mut pipe = SigSet::empty();
    pipe.add(Signal::SIGPIPE);
    if sigpipe_pending() {
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid signal set and timespec; with a zero timeout it only takes a
        // SIGPIPE that is already pending.
        unsafe { libc::sigtimedwait(pipe.as_ref(), std::ptr::null_mut(), &now) };
    }
    if let Ok(previous) = previous {
        // SAFETY: as above.
        let _ = unsafe { sigaction(Signal::SIGPIPE, &previous) };
    }
    result
}

/// Whether a SIGPIPE is pending for this thread or process.
fn sigpipe_pending() -> bool {
    // SAFETY: plain signal-set calls on a local, zero-initialised sigset_t.
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGPIPE) == 1
    }
}

/// Ends this process at once: no atexit handlers, no flushing of stdio state a forked child
/// copied from its parent.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit terminates the process and touches nothing of Rust's.
    unsafe { libc::_exit(code) }
}

/// Receives one message from a Unix socket, and the first fd sent with it (SCM_RIGHTS), into
/// `buf`; returns the length read (0: the other end closed).
pub(crate) fn receive_with_fd(
    socket: &impl AsRawFd,
    buf: &mut [u8],
    flags: MsgFlags,
) -> nix::Result<(usize, Option<OwnedFd>)> {
    let mut control = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        flags | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut passed = None;
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for raw in fds {
                // SAFETY: SCM_RIGHTS gave this process a new fd, owned by no one else.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                passed.get_or_insert(owned);
            }
        }
    }
    Ok((message.bytes, passed))
}

/// seccomp(SECCOMP_SET_MODE_FILTER) with the compiled program `bpf` (sock_filter records).
pub(crate) fn seccomp_set_filter(bpf: &[u8], flags: libc::c_ulong) -> std::io::Result<()> {
    let program = libc::sock_fprog {
        len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a valid sock_fprog over `bpf`, which outlives the call; the kernel only reads it.
    let done = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &program as *const libc::sock_fprog,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The notifier fd libseccomp got from the kernel when it loaded a filter with a listener.
pub(crate) fn seccomp_notify_fd(
    context: &libseccomp::ScmpFilterContext,
) -> Result<OwnedFd, libseccomp::error::SeccompError> {
    let fd = context.get_notify_fd()?;
    // SAFETY: libseccomp hands over the fd the kernel returned at load; nothing else closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Removes a variable from this process's environment.
pub(crate) fn forget_env_var(name: &str) {
    // SAFETY: called first in main, before any other thread exists to read the environment.
    unsafe { std::env::remove_var(name) };
}

/// `fork()` for the container's init when it runs the program under a reaper (`--init`).
pub(crate) fn fork_init() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: the init is a single thread (it was cloned from a single-threaded runtime, see
    // `ensure_single_threaded`), so the child's copy of its state is whole; the child only
    // unblocks signals and execs.
    unsafe { nix::unistd::fork() }
}

/// Blanks this process's command line (`/proc/self/cmdline`): a reaper that stays as PID 1 in
/// the container keeps the runtime's arguments, host paths among them, to itself.
pub(crate) fn blank_command_line() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some(after_name) = stat.rfind(')') else {
        return;
    };
    // Fields 48 and 49 (arg_start, arg_end), counted from field 3 after the name.
    let fields: Vec<&str> = stat[after_name + 2..].split_whitespace().collect();
    let (Some(start), Some(end)) = (
        fields.get(48 - 3).and_then(|f| f.parse::<usize>().ok()),
        fields.get(49 - 3).and_then(|f| f.parse::<usize>().ok()),
    ) else {
        return;
    };
    if end <= start {
        return;
    }
    // SAFETY: [arg_start, arg_end) is this process's own argument area, which the kernel
    // mapped writable at exec; it is a single thread, and nothing reads its arguments after
    // this (the reaper never looks at them).
    unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
}

/// Closes every fd from `first` up, for a process that stays in the container without
/// exec'ing (the `--init` reaper).
/// Without `close_range` (kernels before 5.9, or a seccomp filter refusing it), each fd is
/// closed up to the highest the kernel allows any process (`fs.nr_open`, or its default when
/// /proc hides it): no fd can be above it, so none is missed.
pub(crate) fn close_all_from(first: u32) {
    // SAFETY (both): the reaper never returns from its loop and never drops a Rust object
    // again (it leaves by `exit_now`), so no owner of these fds closes them a second time.
    if unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) } == 0 {
        return;
    }
    let highest = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(1 << 20);
    for fd in first..highest {
        unsafe { libc::close(fd as i32) };
    }
}

/// Brings the loopback interface of this process's network namespace up (SIOCSIFFLAGS with
/// IFF_UP): nix and rustix bind no interface-flag ioctl.
pub(crate) fn loopback_up() -> std::io::Result<()> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: an all-zero `ifreq` is a valid value (an empty name, no flags).
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of the `ifreq` it is given,
    // which lives across the call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled `ifru_flags`, the union's member read and written here.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the `ifreq`, which lives across the call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
