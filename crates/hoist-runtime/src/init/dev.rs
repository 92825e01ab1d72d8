//! `/dev` inside the container: the default nodes and links every runtime provides, and the
//! devices the config asks for.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use hoist_fs::{remove_all_at, split_parent, Root};
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::process::{Gid, Uid};

use super::procfs::fd_path;
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

pub(crate) fn populate_default(root: &Root, in_user_ns: bool) -> Result<()> {
    for (name, major, minor) in DEFAULT_NODES {
        let path = Path::new("/dev").join(name);
        let host_path = path.clone();
        create_node(
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
            in_user_ns,
        )?;
    }
    let dev = root
        .open_dir(Path::new("/dev"))
        .map_err(Error::io("opening", "/dev"))?;
    for (name, target) in DEFAULT_LINKS {
        match rfs::symlinkat(*target, &dev, *name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(Error::io("creating the link", Path::new("/dev").join(name))(e.into()))
            }
        }
    }
    Ok(())
}

pub(crate) fn create_configured(
    root: &Root,
    devices: &[LinuxDevice],
    in_user_ns: bool,
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
            in_user_ns,
        )?;
    }
    Ok(())
}

fn create_node(root: &Root, node: &Node<'_>, in_user_ns: bool) -> Result<()> {
    let path = &node.path;
    let io = |what| Error::io(what, path.clone());
    let (parent, name) = split_parent(path).map_err(io("placing the device"))?;
    let dir = root
        .create_dir_all(parent, 0o755)
        .map_err(io("creating the parent of device"))?;
    remove_all_at(&dir, name).map_err(io("replacing the device"))?;
    if in_user_ns && node.kind != FileType::Fifo {
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
        mount(
            Some(node.host_path),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(Error::sys(format!(
            "bind-mounting the host's {}",
            node.host_path.display()
        )))?;
        return Ok(());
    }
    let dev = rfs::makedev(node.major, node.minor);
    rfs::mknodat(&dir, name, node.kind, Mode::from_raw_mode(node.mode), dev)
        .map_err(|e| io("creating the device")(e.into()))?;
    // mknod's mode is filtered by the umask; set it exactly.
    rfs::chmodat(&dir, name, Mode::from_raw_mode(node.mode), AtFlags::empty())
        .map_err(|e| io("setting the mode of the device")(e.into()))?;
    rfs::chownat(
        &dir,
        name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io("setting the owner of the device")(e.into()))?;
    Ok(())
}

/// The container's `/dev/null`, checked to be the real null device: a rootfs whose /dev/null
/// is a symlink or a plain file must not get that file bind-mounted over masked paths.
pub(crate) fn verified_null(root: &Root) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let fd = root
        .open_path_no_symlinks(path)
        .map_err(Error::io("opening the container's", path))?;
    let stat =
        rfs::fstat(&fd).map_err(|e| Error::io("inspecting the container's", path)(e.into()))?;
    let is_null = FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
        && rfs::major(stat.st_rdev) == 1
        && rfs::minor(stat.st_rdev) == 3;
    if !is_null {
        return Err(Error::InvalidSpec(
            "the container's /dev/null is not the null device (1:3); refusing to use it to mask paths".into(),
        ));
    }
    Ok(fd)
}
