//! `/dev` inside the container: the default nodes and links every runtime provides, and the
//! devices the config asks for.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use hoist_fs::{remove_all_at, split_parent, Root};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{self as rfs, FileType, Mode, OFlags};

use super::procfs::fd_path;
use super::syscall::{Mounter, NodeSpec};
use crate::{Error, Result};

/// (name, major, minor) of the nodes runc and crun create in every container's /dev.
const DEFAULT_NODES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEFAULT_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// A device to place in /dev.
struct Node<'a> {
    path: PathBuf,
    kind: FileType,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    /// The host node to bind-mount where mknod is not allowed (in a user namespace).
    host_path: &'a Path,
}

pub(super) fn populate_default(mounter: &Mounter, root: &Root) -> Result<()> {
    for (name, major, minor) in DEFAULT_NODES {
        let path = Path::new("/dev").join(name);
        let host_path = path.clone();
        create_node(
            mounter,
            root,
            &Node {
                path,
                kind: FileType::CharacterDevice,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
                host_path: &host_path,
            },
        )?;
    }
    let dev = root
        .open_dir(Path::new("/dev"))
        .map_err(Error::io("opening", "/dev"))?;
    for (name, target) in DEFAULT_LINKS {
        match mounter.sys.symlink(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::io("creating the link", Path::new("/dev").join(name))(e.into()))
            }
        }
    }
    Ok(())
}

pub(super) fn create_configured(
    mounter: &Mounter,
    root: &Root,
    devices: &[LinuxDevice],
) -> Result<()> {
    for device in devices {
        let kind = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => {
                return Err(Error::InvalidSpec(format!(
                    "device {} has type \"a\", which is for cgroup rules only",
                    device.path().display()
                )))
            }
        };
        create_node(
            mounter,
            root,
            &Node {
                path: device.path().clone(),
                kind,
                major: device.major() as u32,
                minor: device.minor() as u32,
                mode: device.file_mode().unwrap_or(0o666) & 0o7777,
                uid: device.uid().unwrap_or(0),
                gid: device.gid().unwrap_or(0),
                host_path: device.path(),
            },
        )?;
    }
    Ok(())
}

fn create_node(mounter: &Mounter, root: &Root, node: &Node<'_>) -> Result<()> {
    let path = &node.path;
    let io = |what| Error::io(what, path.clone());
    let (parent, name) = split_parent(path).map_err(io("placing the device"))?;
    let dir = root
        .create_dir_all(parent, 0o755)
        .map_err(io("creating the parent of device"))?;
    remove_all_at(&dir, name).map_err(io("replacing the device"))?;
    if mounter.in_user_ns && node.kind != FileType::Fifo {
        // mknod is refused in a user namespace; bind the host's node over an empty file.
        rfs::openat(
            &dir,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io("creating the mount point for device")(e.into()))?;
        let target = root
            .open_path_no_symlinks(path)
            .map_err(io("opening the device mount point"))?;
        mounter
            .sys
            .mount(
                Some(node.host_path),
                &fd_path(&target),
                None,
                MsFlags::MS_BIND,
                None,
            )
            .map_err(Error::sys(format!(
                "bind-mounting the host's {}",
                node.host_path.display()
            )))?;
        return Ok(());
    }
    let spec = NodeSpec {
        kind: node.kind,
        major: node.major,
        minor: node.minor,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
    };
    mounter
        .sys
        .make_node(dir.as_fd(), Path::new(name), spec)
        .map_err(|e| io("creating the device")(e.into()))
}

/// The container's `/dev/null`, checked to be the real null device: a rootfs whose /dev/null
/// is a symlink or a plain file must not get that file bind-mounted over masked paths.
pub(super) fn verified_null(mounter: &Mounter, root: &Root) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let fd = root
        .open_path_no_symlinks(path)
        .map_err(Error::io("opening the container's", path))?;
    let (kind, rdev) = mounter
        .sys
        .device_of(fd.as_fd())
        .map_err(|e| Error::io("inspecting the container's", path)(e.into()))?;
    let is_null =
        kind == FileType::CharacterDevice && rfs::major(rdev) == 1 && rfs::minor(rdev) == 3;
    if !is_null {
        return Err(Error::InvalidSpec(
            "the container's /dev/null is not the null device (1:3); refusing to use it to mask paths".into(),
        ));
    }
    Ok(fd)
}
