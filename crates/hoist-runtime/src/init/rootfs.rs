//! The container's mount namespace: the rootfs as a mount, the config's mounts placed inside it
//! by fd, `/dev`, `pivot_root`, and the masked and read-only paths.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use hoist_fs::{split_parent, Root};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::Mount;
use rustix::fs::{self as rfs, FileType, Mode, OFlags};

use super::dev;
use super::mount_options::{self, MountOptions};
use super::procfs::{self, fd_path};
use crate::spec::Bundle;
use crate::{Error, Result};

/// Everything about the container's file system view, done in the init before `pivot_root`.
pub(crate) fn prepare(
    bundle: &Bundle,
    in_user_ns: bool,
    own_cgroup_ns: bool,
    no_pivot: bool,
    before_pivot: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    // Mount events from the container must not reach the host: slave by default, as runc does.
    let propagation = linux
        .rootfs_propagation()
        .as_deref()
        .map(mount_options::propagation)
        .filter(|p| !p.is_empty())
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>).map_err(Error::sys(
        "setting the propagation of / in the container's mount namespace",
    ))?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(&bundle.rootfs),
        &bundle.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(Error::sys(format!(
        "bind-mounting the rootfs {}",
        bundle.rootfs.display()
    )))?;

    let root =
        Root::open(&bundle.rootfs).map_err(Error::io("opening the rootfs", &bundle.rootfs))?;
    let mounts = bundle.spec.mounts().as_deref().unwrap_or_default();
    for m in mounts {
        mount_one(&root, bundle, m, in_user_ns, own_cgroup_ns)?;
    }
    // A /dev bind-mounted from elsewhere (the host's, or a directory of the user's) is the
    // user's: no node is made or removed in it, as runc leaves it. A fresh one is filled.
    match mounts
        .iter()
        .rev()
        .find(|m| m.destination() == Path::new("/dev"))
    {
        Some(dev) if is_bind(dev) => {}
        fresh => {
            if fresh.is_some() {
                dev::populate_default(&root, in_user_ns)?;
            }
            dev::create_configured(
                &root,
                linux.devices().as_deref().unwrap_or_default(),
                in_user_ns,
            )?;
        }
    }
    drop(root);

    // createContainer hooks: in the container's namespaces, still with the host's paths.
    before_pivot()?;
    enter_rootfs(&bundle.rootfs, no_pivot)?;

    // Sysctls before /proc/sys is made read-only below.
    for (key, value) in linux.sysctl().clone().unwrap_or_default() {
        write_sysctl(&key, &value)?;
    }
    let root = Root::open(Path::new("/")).map_err(Error::io("opening the new root", "/"))?;
    for path in linux.masked_paths().as_deref().unwrap_or_default() {
        mask(&root, Path::new(path))?;
    }
    for path in linux.readonly_paths().as_deref().unwrap_or_default() {
        make_readonly(&root, Path::new(path))?;
    }
    let readonly_root = bundle
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if readonly_root {
        remount(Path::new("/"), MsFlags::MS_RDONLY)
            .map_err(Error::sys("making the root read-only"))?;
    }
    Ok(())
}

fn mount_one(
    root: &Root,
    bundle: &Bundle,
    m: &Mount,
    in_user_ns: bool,
    own_cgroup_ns: bool,
) -> Result<()> {
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(Error::InvalidSpec(format!(
            "mount destination {} is not absolute",
            dest.display()
        )));
    }
    let typ = m.typ().as_deref().unwrap_or("");
    let options = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let what = |verb: &str| format!("{verb} {} ({typ}) on {}", source_text(m), dest.display());

    if options.bind || typ == "bind" {
        let source = m
            .source()
            .as_ref()
            .map(|s| {
                if s.is_absolute() {
                    s.clone()
                } else {
                    bundle.path.join(s)
                }
            })
            .ok_or_else(|| {
                Error::InvalidSpec(format!("bind mount on {} has no source", dest.display()))
            })?;
        let source_is_dir = std::fs::metadata(&source)
            .map_err(Error::io("opening the bind mount source", &source))?
            .is_dir();
        let target = if source_is_dir {
            root.create_dir_all(dest, 0o755)
        } else {
            create_file(root, dest)
        }
        .map_err(Error::io("creating the mount point", dest))?;
        procfs::check_mount_target(target.as_fd(), &in_rootfs(bundle, &target), dest)?;
        let mounted = match bind_detached(&source, &target, &options) {
            Ok(mounted) => mounted,
            // A kernel before 5.12: bind, then remount the new mount found by a second lookup.
            Err(nix::errno::Errno::ENOSYS) => {
                let mut flags = MsFlags::MS_BIND;
                if options.recursive {
                    flags |= MsFlags::MS_REC;
                }
                mount(
                    Some(&source),
                    &fd_path(&target),
                    None::<&str>,
                    flags,
                    None::<&str>,
                )
                .map_err(Error::sys(what("bind-mounting")))?;
                let mounted = root
                    .open_path(dest)
                    .map_err(Error::io("opening the mount", dest))?;
                let remount_flags = options.flags & !MsFlags::MS_REMOUNT;
                if !remount_flags.is_empty() {
                    remount(&fd_path(&mounted), remount_flags)
                        .map_err(Error::sys(what("remounting")))?;
                }
                mounted
            }
            Err(e) => return Err(Error::sys(what("bind-mounting"))(e)),
        };
        set_propagation(&mounted, &options).map_err(Error::sys(what("setting propagation of")))?;
        return Ok(());
    }

    let target = if matches!(typ, "proc" | "sysfs") || dest == Path::new("/dev") {
        // A rootfs whose /proc, /sys or /dev is a symlink could otherwise steer procfs (and
        // every mask placed on it later) or the device nodes somewhere else: these targets
        // must be real directories.
        root.create_dir_all(dest, 0o555)
            .and_then(|_| root.open_path_no_symlinks(dest))
    } else {
        root.create_dir_all(dest, 0o755)
    }
    .map_err(Error::io("creating the mount point", dest))?;
    procfs::check_mount_target(target.as_fd(), &in_rootfs(bundle, &target), dest)?;

    if matches!(typ, "cgroup" | "cgroup2") && !host_is_unified() {
        return mount_cgroup_v1(root, dest, &target, &options, own_cgroup_ns, in_user_ns);
    }
    let (fs_type, source, data) = match typ {
        "cgroup" | "cgroup2" => ("cgroup2".into(), "cgroup2".into(), String::new()),
        _ => (typ.to_string(), source_text(m), options.data.join(",")),
    };
    let data = (!data.is_empty()).then_some(data);
    let flags = options.flags & !MsFlags::MS_REMOUNT;
    let result = mount(
        Some(source.as_str()),
        &fd_path(&target),
        Some(fs_type.as_str()),
        flags,
        data.as_deref(),
    );
    match result {
        Ok(()) => {}
        // Without a network namespace of its own, a user namespace may not mount sysfs; a
        // read-only recursive bind of the host's /sys is what runc gives then.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" && in_user_ns => {
            mount(
                Some("/sys"),
                &fd_path(&target),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(Error::sys(what("bind-mounting the host's /sys as")))?;
            let mounted = root
                .open_path(dest)
                .map_err(Error::io("opening the mount", dest))?;
            remount(&fd_path(&mounted), MsFlags::MS_RDONLY)
                .map_err(Error::sys(what("remounting")))?;
        }
        Err(e) => return Err(Error::sys(what("mounting"))(e)),
    }
    if !options.propagation.is_empty() {
        let mounted = root
            .open_path(dest)
            .map_err(Error::io("opening the mount", dest))?;
        set_propagation(&mounted, &options).map_err(Error::sys(what("setting propagation of")))?;
    }
    Ok(())
}

fn host_is_unified() -> bool {
    rustix::fs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.f_type as u64 == libc::CGROUP2_SUPER_MAGIC as u64)
}

/// A `cgroup` mount on a v1 or hybrid host, as runc makes it: a tmpfs with each hierarchy in
/// it, showing the container's own cgroup as its root, so what a program reads there (a JVM its
/// memory limit, say) is the container's. With a cgroup namespace of its own the hierarchies are
/// mounted afresh (the namespace makes its cgroup their root); without one (podman's default on
/// v1), the container's cgroup directories are bind-mounted.
fn mount_cgroup_v1(
    root: &Root,
    dest: &Path,
    target: &OwnedFd,
    options: &MountOptions,
    own_cgroup_ns: bool,
    in_user_ns: bool,
) -> Result<()> {
    let what = |verb: &str, path: &Path| format!("{verb} {}", path.display());
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        &fd_path(target),
        Some("tmpfs"),
        flags,
        Some("mode=755,size=64k"),
    )
    .map_err(Error::sys(what("mounting a tmpfs for cgroups on", dest)))?;
    let read_only = if options.flags.contains(MsFlags::MS_RDONLY) {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    let hierarchies = crate::cgroups::Hierarchies::detect().map_err(Error::io(
        "reading the cgroup hierarchies from",
        "/proc/self",
    ))?;
    for hierarchy in &hierarchies.0 {
        let name = if hierarchy.unified {
            "unified".to_string()
        } else {
            hierarchy.controllers.join(",")
        };
        let path = dest.join(&name);
        let dir = root
            .create_dir_all(&path, 0o755)
            .map_err(Error::io("creating the mount point", &path))?;
        if own_cgroup_ns {
            let (fs_type, data) = if hierarchy.unified {
                ("cgroup2", None)
            } else {
                ("cgroup", Some(name.clone()))
            };
            match mount(
                Some("cgroup"),
                &fd_path(&dir),
                Some(fs_type),
                flags | read_only,
                data.as_deref(),
            ) {
                Ok(()) => {}
                // A v1 hierarchy cannot be mounted from a user namespace that holds no cgroup
                // of its own (a rootless container on a v1 host has none): its directory stays
                // empty, as it would under podman.
                Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) if in_user_ns => {}
                Err(e) => {
                    return Err(Error::sys(what("mounting the cgroup hierarchy on", &path))(
                        e,
                    ))
                }
            }
        } else {
            let own = hierarchy
                .mountpoint
                .join(hierarchy.own.strip_prefix("/").unwrap_or(&hierarchy.own));
            mount(
                Some(&own),
                &fd_path(&dir),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(Error::sys(what(
                "bind-mounting the container's cgroup on",
                &path,
            )))?;
            let mounted = root
                .open_path(&path)
                .map_err(Error::io("opening the mount", &path))?;
            remount(&fd_path(&mounted), flags | read_only)
                .map_err(Error::sys(what("remounting", &path)))?;
        }
        if hierarchy.controllers.len() > 1 && !hierarchy.unified {
            let parent = root.open_dir(dest).map_err(Error::io("opening", dest))?;
            for controller in &hierarchy.controllers {
                // cpu,cpuacct is also reachable as cpu and as cpuacct.
                let _ = rustix::fs::symlinkat(name.as_str(), &parent, controller.as_str());
            }
        }
    }
    if !read_only.is_empty() {
        let mounted = root
            .open_path(dest)
            .map_err(Error::io("opening the mount", dest))?;
        mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            MsFlags::MS_REMOUNT | flags | read_only,
            Some("mode=755,size=64k"),
        )
        .map_err(Error::sys(what("making read-only", dest)))?;
    }
    Ok(())
}

fn set_propagation(target: &OwnedFd, options: &MountOptions) -> nix::Result<()> {
    if options.propagation.is_empty() {
        return Ok(());
    }
    mount(
        None::<&str>,
        &fd_path(target),
        None::<&str>,
        options.propagation,
        None::<&str>,
    )
}

/// `struct mount_attr` of mount_setattr(2) (libc has no binding for it).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A bind mount of `source` on `target`, made detached (open_tree), given its flags while
/// detached (mount_setattr), then attached (move_mount): the flags land on this very mount,
/// never on whatever a second lookup of the destination would find there (the race of runc's
/// CVE-2025-52565). Flags are only added, as a remount keeping the present ones did: in a user
/// namespace, flags inherited from the host are locked. Returns the attached mount.
fn bind_detached(source: &Path, target: &OwnedFd, options: &MountOptions) -> nix::Result<OwnedFd> {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let errno = |e: rustix::io::Errno| nix::errno::Errno::from_raw(e.raw_os_error());
    let mut tree_flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if options.recursive {
        tree_flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(rfs::CWD, source, tree_flags).map_err(errno)?;
    let (attr_set, attr_clr) = mount_attributes(options.flags);
    if attr_set != 0 || attr_clr != 0 {
        let attr = MountAttr {
            attr_set,
            attr_clr,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: a valid fd, an empty C string, and a mount_attr of the size given.
        let done = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if done != 0 {
            return Err(nix::errno::Errno::last());
        }
    }
    move_mount(
        &tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(errno)?;
    Ok(tree)
}

/// mount(2) per-mount flags as mount_setattr's (`MOUNT_ATTR_*`): what to set and to clear.
/// Superblock flags (sync, dirsync, mand) have no per-mount meaning and are left out, as a
/// bind remount ignores them.
fn mount_attributes(flags: MsFlags) -> (u64, u64) {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const ATIME_MASK: u64 = 0x70;
    const NOATIME: u64 = 0x10;
    const STRICTATIME: u64 = 0x20;
    const NODIRATIME: u64 = 0x80;
    let mut set = 0;
    let mut clear = 0;
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, RDONLY),
        (MsFlags::MS_NOSUID, NOSUID),
        (MsFlags::MS_NODEV, NODEV),
        (MsFlags::MS_NOEXEC, NOEXEC),
        (MsFlags::MS_NODIRATIME, NODIRATIME),
    ] {
        if flags.contains(flag) {
            set |= attr;
        }
    }
    // The access-time mode is one field: relatime is its zero.
    for (flag, attr) in [
        (MsFlags::MS_NOATIME, NOATIME),
        (MsFlags::MS_STRICTATIME, STRICTATIME),
        (MsFlags::MS_RELATIME, 0),
    ] {
        if flags.contains(flag) {
            set |= attr;
            clear |= ATIME_MASK;
        }
    }
    (set, clear)
}

/// Remounts a bind mount with `flags` added, keeping the flags it has: in a user namespace,
/// flags like nosuid inherited from the host are locked and a remount that drops them fails.
fn remount(target: &Path, flags: MsFlags) -> nix::Result<()> {
    let existing = statvfs(target)?.flags();
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
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | kept | flags,
        None::<&str>,
    )
}

fn enter_rootfs(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(Error::sys("entering the rootfs"))?;
    if no_pivot {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(Error::sys("moving the rootfs to / (--no-pivot)"))?;
        nix::unistd::chroot(".").map_err(Error::sys("chroot into the rootfs (--no-pivot)"))?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
        // removes it without needing a directory for it inside the rootfs.
        nix::unistd::pivot_root(".", ".").map_err(Error::sys("pivot_root into the rootfs"))?;
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(Error::sys(
            "making the old root a slave before unmounting it",
        ))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(Error::sys("unmounting the old root"))?;
    }
    nix::unistd::chdir("/").map_err(Error::sys("changing to the new root"))?;
    Ok(())
}

/// Hides a path: a read-only empty tmpfs over a directory, the container's /dev/null over
/// anything else. A path that does not exist needs no mask.
fn mask(root: &Root, path: &Path) -> Result<()> {
    let target = match root.open_path(path) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("opening the masked path", path)(e)),
    };
    let is_dir = FileType::from_raw_mode(
        rfs::fstat(&target)
            .map_err(|e| Error::io("inspecting", path)(e.into()))?
            .st_mode,
    ) == FileType::Directory;
    let what = format!("masking {}", path.display());
    if is_dir {
        mount(
            Some("tmpfs"),
            &fd_path(&target),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(Error::sys(what))
    } else {
        let null = dev::verified_null(root)?;
        mount(
            Some(&fd_path(&null)),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(Error::sys(what))
    }
}

fn make_readonly(root: &Root, path: &Path) -> Result<()> {
    let target = match root.open_path(path) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("opening the read-only path", path)(e)),
    };
    let what = format!("making {} read-only", path.display());
    let target_path = fd_path(&target);
    mount(
        Some(&target_path),
        &target_path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(Error::sys(what.clone()))?;
    let mounted = root
        .open_path(path)
        .map_err(Error::io("opening the read-only path", path))?;
    remount(&fd_path(&mounted), MsFlags::MS_RDONLY).map_err(Error::sys(what))
}

/// Creates (if needed) a file to bind-mount a file onto, and returns an fd of it.
fn create_file(root: &Root, dest: &Path) -> std::io::Result<OwnedFd> {
    let (parent, name) = split_parent(dest)?;
    let dir = root.create_dir_all(parent, 0o755)?;
    match rfs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    root.open_path(dest)
}

/// The magic-link path of an fd: mounting on it mounts on exactly the inode the fd holds, with
/// no second path lookup that a swapped symlink could redirect.
/// Where an fd opened inside the rootfs is, as the container will see it (`/` its root).
fn in_rootfs(bundle: &Bundle, fd: &OwnedFd) -> PathBuf {
    let host = std::fs::read_link(fd_path(fd)).unwrap_or_default();
    match host.strip_prefix(&bundle.rootfs) {
        Ok(inside) => Path::new("/").join(inside),
        Err(_) => host,
    }
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || mount_options::parse(m.options().as_deref().unwrap_or_default()).bind
}

fn source_text(m: &Mount) -> String {
    m.source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| "none".into())
}

/// Writes one sysctl through the container's own /proc/sys (so the kernel applies it to the
/// container's namespaces, or refuses a sysctl that is not namespaced).
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && !key
            .split(['.', '/'])
            .any(|part| part.is_empty() || part == "..");
    if !valid {
        return Err(Error::InvalidSpec(format!(
            "sysctl {key:?} is not a sysctl name"
        )));
    }
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    procfs::write(&path, value.as_bytes())
        .map_err(|e| Error::Init(format!("setting sysctl {key}={value}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mount_flags_become_mount_attributes() {
        assert_eq!(mount_attributes(MsFlags::empty()), (0, 0));
        assert_eq!(
            mount_attributes(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
            (0x7, 0)
        );
        assert_eq!(mount_attributes(MsFlags::MS_NOATIME), (0x10, 0x70));
        assert_eq!(mount_attributes(MsFlags::MS_RELATIME), (0, 0x70));
        assert_eq!(
            mount_attributes(MsFlags::MS_SYNCHRONOUS | MsFlags::MS_NOEXEC),
            (0x8, 0),
            "superblock flags have no per-mount attribute"
        );
    }
}
