//! Mount steps made of several calls: a bind with its flags, a remount that keeps the flags a
//! mount has, and a propagation change.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::statvfs::FsFlags;

use super::mount_options::MountOptions;
use super::procfs::fd_path;
use super::syscall::{MountAttributes, Syscall};

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

/// mount(2) per-mount flags as mount_setattr's (`MOUNT_ATTR_*`): what to set and to clear.
/// Superblock flags (sync, dirsync, mand) have no per-mount meaning and are left out, as a
/// bind remount ignores them.
pub(super) fn mount_attributes(flags: MsFlags) -> MountAttributes {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const ATIME_MASK: u64 = 0x70;
    const NOATIME: u64 = 0x10;
    const STRICTATIME: u64 = 0x20;
    const NODIRATIME: u64 = 0x80;
    let mut attributes = MountAttributes::default();
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, RDONLY),
        (MsFlags::MS_NOSUID, NOSUID),
        (MsFlags::MS_NODEV, NODEV),
        (MsFlags::MS_NOEXEC, NOEXEC),
        (MsFlags::MS_NODIRATIME, NODIRATIME),
    ] {
        if flags.contains(flag) {
            attributes.set |= attr;
        }
    }
    // The access-time mode is one field: relatime is its zero.
    for (flag, attr) in [
        (MsFlags::MS_NOATIME, NOATIME),
        (MsFlags::MS_STRICTATIME, STRICTATIME),
        (MsFlags::MS_RELATIME, 0),
    ] {
        if flags.contains(flag) {
            attributes.set |= attr;
            attributes.clear |= ATIME_MASK;
        }
    }
    attributes
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mount_flags_become_mount_attributes() {
        let attributes = |flags| {
            let MountAttributes { set, clear } = mount_attributes(flags);
            (set, clear)
        };
        assert_eq!(attributes(MsFlags::empty()), (0, 0));
        assert_eq!(
            attributes(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
            (0x7, 0)
        );
        assert_eq!(attributes(MsFlags::MS_NOATIME), (0x10, 0x70));
        assert_eq!(attributes(MsFlags::MS_RELATIME), (0, 0x70));
        assert_eq!(
            attributes(MsFlags::MS_SYNCHRONOUS | MsFlags::MS_NOEXEC),
            (0x8, 0),
            "superblock flags have no per-mount attribute"
        );
    }
}
