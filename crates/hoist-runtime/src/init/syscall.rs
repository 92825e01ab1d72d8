//! The calls that shape the container's mount namespace (mount, mknod, symlink, pivot_root and
//! their kin), behind one trait as youki's `Syscall` is: `Kernel` makes them, and the tests'
//! `Recorder` writes them down instead, so the order and flags of the mounts, masks, read-only
//! paths and devices of `rootfs.rs` and `dev.rs` are checked without root. Lookups in the rootfs
//! (`hoist_fs::Root`) stay real in both: they need no privilege, and they are what the checks
//! against hostile rootfs trees are about.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::statvfs::FsFlags;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::process::{Gid, Uid};

use super::mount_options::MountAttributes;
use crate::Result;

/// A device node to make: its type, numbers, exact mode and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeSpec {
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

pub(crate) trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fs_type: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;

    /// A bind mount of `source` made detached (open_tree), given `attributes` while detached
    /// (mount_setattr), then attached on `target` (move_mount). Returns the attached mount.
    fn bind_detached(
        &self,
        source: &Path,
        target: BorrowedFd<'_>,
        recursive: bool,
        attributes: MountAttributes,
    ) -> nix::Result<OwnedFd>;

    /// Attaches the detached mount `tree` (made by the runtime: see `MountSources`) on
    /// `target` (move_mount).
    fn attach(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()>;

    /// An `O_PATH` fd of the working directory.
    fn working_dir(&self) -> nix::Result<OwnedFd>;

    /// The per-mount flags of the mount at `target` (statvfs(2)).
    fn mount_flags(&self, target: &Path) -> nix::Result<FsFlags>;

    /// The mount point of the mount that holds `path` (statx's mount id, in mountinfo).
    fn mount_point_of(&self, path: &Path) -> nix::Result<PathBuf>;

    /// umount2(2) with MNT_DETACH.
    fn detach(&self, target: &Path) -> nix::Result<()>;

    fn chdir(&self, dir: &Path) -> nix::Result<()>;

    /// pivot_root(".", "."): the old root stacked on the new one.
    fn pivot_root_here(&self) -> nix::Result<()>;

    /// chroot("."), for `--no-pivot`.
    fn chroot_here(&self) -> nix::Result<()>;

    /// mknodat(2) of `name` in `dir`, then its exact mode (mknod's is filtered by the umask)
    /// and owner.
    fn make_node(&self, dir: BorrowedFd<'_>, name: &Path, node: NodeSpec) -> nix::Result<()>;

    /// symlinkat(2): `name` in `dir`, pointing at `target`.
    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> nix::Result<()>;

    /// The file type and device number of an open file (fstat(2)).
    fn device_of(&self, file: BorrowedFd<'_>) -> nix::Result<(FileType, u64)>;

    /// Writes a file of the container's procfs (a sysctl), refusing one that is not procfs's.
    fn write_proc(&self, path: &str, value: &[u8]) -> Result<()>;
}

/// How the mounts are made, and in what kind of namespace.
pub(crate) struct Mounter<'a> {
    pub sys: &'a dyn Syscall,
    /// mknod is refused, and host flags are locked, in a user namespace.
    pub in_user_ns: bool,
    pub own_cgroup_ns: bool,
    /// Bind sources the runtime opened, and the rootfs as the working directory (see
    /// `MountSources`); `None`: looked up by path.
    pub sources: Option<&'a super::mount_sources::MountSources>,
}

/// The kernel itself.
pub(crate) struct Kernel;

fn errno(e: rustix::io::Errno) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error())
}

impl Syscall for Kernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fs_type: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fs_type, flags, data)
    }

    fn bind_detached(
        &self,
        source: &Path,
        target: BorrowedFd<'_>,
        recursive: bool,
        attributes: MountAttributes,
    ) -> nix::Result<OwnedFd> {
        let tree = super::mount_sources::detached_copy(source, recursive, attributes, None)?;
        self.attach(tree.as_fd(), target)?;
        Ok(tree)
    }

    fn attach(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
        use rustix::mount::{move_mount, MoveMountFlags};
        move_mount(
            tree,
            "",
            target,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )
        .map_err(errno)
    }

    fn working_dir(&self) -> nix::Result<OwnedFd> {
        rfs::open(
            ".",
            rfs::OFlags::PATH | rfs::OFlags::DIRECTORY | rfs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)
    }

    fn mount_flags(&self, target: &Path) -> nix::Result<FsFlags> {
        Ok(nix::sys::statvfs::statvfs(target)?.flags())
    }

    fn mount_point_of(&self, path: &Path) -> nix::Result<PathBuf> {
        let stat =
            rfs::statx(rfs::CWD, path, AtFlags::empty(), rfs::StatxFlags::MNT_ID).map_err(errno)?;
        // Before Linux 5.8 there is no mount id to read.
        if stat.stx_mask & rfs::StatxFlags::MNT_ID.bits() == 0 {
            return Err(nix::errno::Errno::ENOSYS);
        }
        let id = stat.stx_mnt_id;
        let mounts = crate::mountinfo::read()
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        mounts
            .into_iter()
            .find(|m| m.id == id)
            .map(|m| m.mount_point)
            .ok_or(nix::errno::Errno::ENOENT)
    }

    fn detach(&self, target: &Path) -> nix::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH)
    }

    fn chdir(&self, dir: &Path) -> nix::Result<()> {
        nix::unistd::chdir(dir)
    }

    fn pivot_root_here(&self) -> nix::Result<()> {
        nix::unistd::pivot_root(".", ".")
    }

    fn chroot_here(&self) -> nix::Result<()> {
        nix::unistd::chroot(".")
    }

    fn make_node(&self, dir: BorrowedFd<'_>, name: &Path, node: NodeSpec) -> nix::Result<()> {
        let mode = Mode::from_raw_mode(node.mode);
        let dev = rfs::makedev(node.major, node.minor);
        rfs::mknodat(dir, name, node.kind, mode, dev).map_err(errno)?;
        rfs::chmodat(dir, name, mode, AtFlags::empty()).map_err(errno)?;
        rfs::chownat(
            dir,
            name,
            Some(Uid::from_raw(node.uid)),
            Some(Gid::from_raw(node.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno)
    }

    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> nix::Result<()> {
        rfs::symlinkat(target, dir, name).map_err(errno)
    }

    fn device_of(&self, file: BorrowedFd<'_>) -> nix::Result<(FileType, u64)> {
        let stat = rfs::fstat(file).map_err(errno)?;
        Ok((FileType::from_raw_mode(stat.st_mode), stat.st_rdev))
    }

    fn write_proc(&self, path: &str, value: &[u8]) -> Result<()> {
        super::procfs::write(path, value)
    }
}
