//! A `cgroup` mount on a v1 or hybrid host, as runc makes it: a tmpfs with each hierarchy in
//! it, showing the container's own cgroup as its root, so what a program reads there (a JVM its
//! memory limit, say) is the container's. With a cgroup namespace of its own the hierarchies are
//! mounted afresh (the namespace makes its cgroup their root); without one (podman's default on
//! v1), the container's cgroup directories are bind-mounted.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use hoist_fs::Root;
use nix::mount::MsFlags;

use super::mount_calls::remount;
use super::mount_options::MountOptions;
use super::procfs::fd_path;
use super::syscall::Mounter;
use crate::{Error, Result};

/// Whether the host's /sys/fs/cgroup is cgroup2 alone.
pub(super) fn host_is_unified() -> bool {
    rustix::fs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.f_type as u64 == libc::CGROUP2_SUPER_MAGIC as u64)
}

pub(super) fn mount_v1(
    mounter: &Mounter,
    rootfs: &Path,
    root: &Root,
    dest: &Path,
    target: &OwnedFd,
    options: &MountOptions,
) -> Result<()> {
    let sys = mounter.sys;
    let what = |verb: &str, path: &Path| format!("{verb} {}", path.display());
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    sys.mount(
        Some(Path::new("tmpfs")),
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
    let hierarchies = crate::cgroups::Hierarchies::detect_outside(rootfs).map_err(Error::io(
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
        if mounter.own_cgroup_ns {
            let (fs_type, data) = if hierarchy.unified {
                ("cgroup2", None)
            } else {
                ("cgroup", Some(name.clone()))
            };
            match sys.mount(
                Some(Path::new("cgroup")),
                &fd_path(&dir),
                Some(fs_type),
                flags | read_only,
                data.as_deref(),
            ) {
                Ok(()) => {}
                // A v1 hierarchy cannot be mounted from a user namespace that holds no cgroup
                // of its own (a rootless container on a v1 host has none): its directory stays
                // empty, as it would under podman.
                Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) if mounter.in_user_ns => {}
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
            sys.mount(Some(&own), &fd_path(&dir), None, MsFlags::MS_BIND, None)
                .map_err(Error::sys(what(
                    "bind-mounting the container's cgroup on",
                    &path,
                )))?;
            let mounted = root
                .open_path(&path)
                .map_err(Error::io("opening the mount", &path))?;
            remount(sys, &fd_path(&mounted), flags | read_only)
                .map_err(Error::sys(what("remounting", &path)))?;
        }
        if hierarchy.controllers.len() > 1 && !hierarchy.unified {
            let parent = root.open_dir(dest).map_err(Error::io("opening", dest))?;
            for controller in &hierarchy.controllers {
                // cpu,cpuacct is also reachable as cpu and as cpuacct.
                let _ = sys.symlink(name.as_str(), parent.as_fd(), controller.as_str());
            }
        }
    }
    if !read_only.is_empty() {
        let mounted = root
            .open_path(dest)
            .map_err(Error::io("opening the mount", dest))?;
        sys.mount(
            None,
            &fd_path(&mounted),
            None,
            MsFlags::MS_REMOUNT | flags | read_only,
            Some("mode=755,size=64k"),
        )
        .map_err(Error::sys(what("making read-only", dest)))?;
    }
    Ok(())
}
