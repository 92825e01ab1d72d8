//! Writes into the container's `/proc`, and which mounts may land inside it.
//!
//! After `pivot_root` the runtime writes sysctls, `oom_score_adj` and LSM labels through the
//! container's own `/proc`. Something mounted over one of those files (runc's CVE-2025-31133,
//! -52565 and -52881 did it with a bind mount or a symlink in the image) would turn the write
//! into one on whatever was mounted there, a host file included. So config mounts may not land
//! inside `/proc` (except the files lxcfs emulates, runc's list), and every write checks that
//! the file it opened is procfs's.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags};

use crate::{Error, Result};

/// What may be mounted over inside `/proc`: the files lxcfs provides (runc's allow-list).
const MOUNTABLE_IN_PROC: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Writes `value` to a file of the container's procfs, refusing one that is not procfs's.
pub(crate) fn write(path: &str, value: &[u8]) -> Result<()> {
    let failed = |e: std::io::Error| Error::io("writing", path)(e);
    let file = rfs::open(
        path,
        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed(e.into()))?;
    if !is_procfs(file.as_fd()) {
        return Err(Error::NotProcfs(path.to_string()));
    }
    std::fs::File::from(file).write_all(value).map_err(failed)
}

fn is_procfs(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    rfs::fstatfs(fd).is_ok_and(|s| s.f_type == libc::PROC_SUPER_MAGIC)
}

/// Refuses a mount whose target (opened inside the rootfs, symlinks resolved there) lies in the
/// container's procfs, unless it is one of the files lxcfs emulates. `container_path` is where
/// the target is as the container sees it.
pub(crate) fn check_mount_target(
    target: std::os::fd::BorrowedFd<'_>,
    container_path: &Path,
    destination: &Path,
) -> Result<()> {
    if !is_procfs(target) {
        return Ok(());
    }
    if MOUNTABLE_IN_PROC
        .iter()
        .any(|allowed| container_path == Path::new(allowed))
    {
        return Ok(());
    }
    Err(Error::InvalidSpec(format!(
        "mount destination {} resolves to {}, inside /proc: mounting there could redirect what the runtime writes to /proc (only the files lxcfs emulates, such as /proc/meminfo, may be mounted over)",
        destination.display(),
        container_path.display()
    )))
}

/// The `/proc/self/fd/N` magic link of `fd`: a path to exactly the file the fd holds, for calls
/// that take a path (mount targets), with no new lookup of the name it was opened by.
pub(crate) fn fd_path(fd: &impl std::os::fd::AsRawFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
