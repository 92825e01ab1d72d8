//! Mount steps made of several calls: a bind with its flags, a remount that keeps the flags a
//! mount has, and a propagation change.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::statvfs::FsFlags;

use super::mount_options::{mount_attributes, MountOptions};
use super::procfs::fd_path;
use super::syscall::Syscall;

/// A bind mount of `source` on `target`, made detached, given its flags while detached, then
/// attached: the flags land on this very mount, never on whatever a second lookup of the
/// destination would find there (the race of runc's CVE-2025-52565). Flags are only added, as
/// a remount keeping the present ones did: in a user namespace, flags inherited from the host
/// are locked. Returns the attached mount.
pub(super) fn bind(
    sys: &dyn Syscall,
    source: &Path,
    target: &OwnedFd,
    options: &MountOptions,
) -> nix::Result<OwnedFd> {
    sys.bind_detached(
        source,
        target.as_fd(),
        options.recursive,
        mount_attributes(options.flags),
    )
}

/// Remounts a bind mount with `flags` added, keeping the flags it has: in a user namespace,
/// flags like nosuid inherited from the host are locked and a remount that drops them fails.
pub(super) fn remount(sys: &dyn Syscall, target: &Path, flags: MsFlags) -> nix::Result<()> {
    let existing = sys.mount_flags(target)?;
    let mut kept = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if existing.contains(fs_flag) {
            kept |= ms_flag;
        }
    }
    sys.mount(
        None,
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | kept | flags,
        None,
    )
}

/// Sets the mount's propagation (shared, slave, private, unbindable), if the options name one.
pub(super) fn set_propagation(
    sys: &dyn Syscall,
    target: &OwnedFd,
    propagation: MsFlags,
) -> nix::Result<()> {
    if propagation.is_empty() {
        return Ok(());
    }
    sys.mount(None, &fd_path(target), None, propagation, None)
}
