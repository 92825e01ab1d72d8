//! The container's mount namespace: the rootfs as a mount, the config's mounts placed inside it
//! by fd, `/dev`, `pivot_root`, and the masked and read-only paths. Every call that changes a
//! mount goes through `Syscall`, so `rootfs_tests.rs` checks this without root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use hoist_fs::{split_parent, Root};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, Mount};
use rustix::fs::{self as rfs, FileType, Mode, OFlags};

use super::mount_calls::{bind, remount, set_propagation};
use super::mount_options::{self, MountOptions};
use super::mount_sources::{bind_source, is_bind, DetachedBind, MountSources};
use super::procfs::{self, fd_path};
use super::root_propagation::RootPropagation;
use super::syscall::{Kernel, Mounter, Syscall};
use super::{cgroup_mount, dev};
use crate::rootfs_overlay::{RootfsOverlay, ROOTFS_OVERLAY_ANNOTATION};
use crate::spec::Bundle;
use crate::{Error, Result};

/// Everything about the container's file system view, done in the init before `pivot_root`.
pub(crate) fn prepare(
    bundle: &Bundle,
    in_user_ns: bool,
    own_cgroup_ns: bool,
    sources: Option<&MountSources>,
    no_pivot: bool,
    before_pivot: &dyn Fn() -> Result<()>,
) -> Result<()> {
    let mounter = Mounter {
        sys: &Kernel,
        in_user_ns,
        own_cgroup_ns,
        sources,
    };
    mounter.prepare(bundle, no_pivot, before_pivot, Path::new("/"))
}

/// A container in the runtime's own mount namespace: nothing is mounted (validate has refused
/// what would be), it is only chrooted into its rootfs.
pub(crate) fn chroot_only(rootfs: &Path) -> Result<()> {
    let sys = &Kernel;
    sys.chdir(rootfs)
        .map_err(Error::sys("entering the rootfs"))?;
    sys.chroot_here()
        .map_err(Error::sys("chroot into the rootfs (no mount namespace)"))?;
    sys.chdir(Path::new("/"))
        .map_err(Error::sys("changing to the new root"))
}

impl Mounter<'_> {
    /// `new_root` is where the rootfs is once entered: `/`, but for the tests, which never
    /// enter it.
    pub(super) fn prepare(
        &self,
        bundle: &Bundle,
        no_pivot: bool,
        before_pivot: &dyn Fn() -> Result<()>,
        new_root: &Path,
    ) -> Result<()> {
        let linux = bundle.spec.linux().clone().unwrap_or_default();
        // Mount events from the container must not reach the host (see RootPropagation).
        let propagation = RootPropagation::from_spec(linux.rootfs_propagation().as_deref());
        self.sys
            .mount(
                None,
                Path::new("/"),
                None,
                propagation.of_the_copies(),
                None,
            )
            .map_err(Error::sys(
                "setting the propagation of / in the container's mount namespace",
            ))?;
        if let Some(overlay) = RootfsOverlay::from_spec(&bundle.spec)? {
            if self.sources.is_some() {
                // Sources are opened by a runtime that is root, which validation has refused
                // an overlay to already: this is the second lock on that door.
                return Err(Error::InvalidSpec(format!(
                    "annotation {ROOTFS_OVERLAY_ANNOTATION}: a rootfs overlay is mounted by an \
                     unprivileged runtime only"
                )));
            }
            self.mount_rootfs_overlay(&overlay, &bundle.rootfs)?;
        }
        // Where the rootfs is reached from here (see MountSources).
        let rootfs_here = match self.sources {
            Some(_) => Path::new("."),
            None => bundle.rootfs.as_path(),
        };
        if propagation.holder_becomes_slave() {
            let holder = self
                .sys
                .mount_point_of(rootfs_here)
                .map_err(Error::sys("finding the mount that holds the rootfs"))?;
            // The rootfs's own mount (an overlay) is reached as "." when its path is not.
            let holder = match holder == bundle.rootfs {
                true => rootfs_here.to_path_buf(),
                false => holder,
            };
            self.sys
                .mount(None, &holder, None, MsFlags::MS_SLAVE, None)
                .map_err(Error::sys(format!(
                    "making {} (which holds the rootfs) a slave",
                    holder.display()
                )))?;
        }
        let bound = self.bind_rootfs(bundle)?;
        let rootfs = bound.path();
        let root = Root::open(&rootfs).map_err(Error::io("opening the rootfs", &bundle.rootfs))?;
        let mounts = bundle.spec.mounts().as_deref().unwrap_or_default();
        for (index, m) in mounts.iter().enumerate() {
            self.mount_one(&root, bundle, index, m)?;
        }
        self.fill_dev(
            &root,
            mounts,
            linux.devices().as_deref().unwrap_or_default(),
        )?;
        drop(root);

        // createContainer hooks: in the container's namespaces, still with the host's paths.
        before_pivot()?;
        self.enter_rootfs(&rootfs, no_pivot)?;
        drop(bound);

        // Sysctls before /proc/sys is made read-only below.
        for (key, value) in linux.sysctl().clone().unwrap_or_default() {
            self.write_sysctl(&key, &value)?;
        }
        let root = Root::open(new_root).map_err(Error::io("opening the new root", "/"))?;
        for path in linux.masked_paths().as_deref().unwrap_or_default() {
            self.mask(&root, Path::new(path))?;
        }
        for path in linux.readonly_paths().as_deref().unwrap_or_default() {
            self.make_readonly(&root, Path::new(path))?;
        }
        let readonly_root = bundle
            .spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false);
        if readonly_root {
            remount(self.sys, new_root, MsFlags::MS_RDONLY)
                .map_err(Error::sys("making the root read-only"))?;
        }
        // Last: masks and read-only paths are bind mounts, which an unbindable tree refuses.
        if let Some(flags) = propagation.after_entering() {
            self.sys
                .mount(None, new_root, None, flags, None)
                .map_err(Error::sys("setting the propagation of the new root"))?;
        }
        Ok(())
    }

    /// pivot_root needs the new root to be a mount point: the rootfs is bound on itself.
    fn bind_rootfs(&self, bundle: &Bundle) -> Result<BoundRootfs> {
        let what = format!("bind-mounting the rootfs {}", bundle.rootfs.display());
        if self.sources.is_none() {
            self.sys
                .mount(
                    Some(&bundle.rootfs),
                    &bundle.rootfs,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .map_err(Error::sys(what))?;
            return Ok(BoundRootfs::AtPath(bundle.rootfs.clone()));
        }
        // The working directory is the rootfs, in this mount namespace (see MountSources).
        let here = self.sys.working_dir().map_err(Error::sys(what.clone()))?;
        let tree = self
            .sys
            .bind_detached(Path::new("."), here.as_fd(), true, Default::default())
            .map_err(Error::sys(what))?;
        Ok(BoundRootfs::Attached(tree))
    }

    /// A /dev bind-mounted from elsewhere (the host's, or a directory of the user's) is the
    /// user's: no node is made or removed in it, as runc leaves it. A fresh one is filled.
    fn fill_dev(&self, root: &Root, mounts: &[Mount], devices: &[LinuxDevice]) -> Result<()> {
        let dev_mount = mounts
            .iter()
            .rev()
            .find(|m| m.destination() == Path::new("/dev"));
        match dev_mount {
            Some(dev) if is_bind(dev) => Ok(()),
            fresh => {
                if fresh.is_some() {
                    dev::populate_default(self, root)?;
                }
                dev::create_configured(self, root, devices)
            }
        }
    }

    fn mount_one(&self, root: &Root, bundle: &Bundle, index: usize, m: &Mount) -> Result<()> {
        let dest = m.destination();
        let typ = m.typ().as_deref().unwrap_or("");
        let options = mount_options::parse(m.options().as_deref().unwrap_or_default());
        if is_bind(m) {
            let detached = self.sources.and_then(|s| s.bind(index));
            return self.mount_bind(root, bundle, m, &options, detached);
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

        if matches!(typ, "cgroup" | "cgroup2") && !cgroup_mount::host_is_unified() {
            return cgroup_mount::mount_v1(self, &bundle.rootfs, root, dest, &target, &options);
        }
        let what = |verb: &str| format!("{verb} {} ({typ}) on {}", source_text(m), dest.display());
        let (fs_type, source, data) = match typ {
            "cgroup" | "cgroup2" => ("cgroup2".into(), "cgroup2".into(), String::new()),
            _ => (typ.to_string(), source_text(m), options.data.join(",")),
        };
        let data = (!data.is_empty()).then_some(data);
        let flags = options.flags & !MsFlags::MS_REMOUNT;
        let result = self.sys.mount(
            Some(Path::new(&source)),
            &fd_path(&target),
            Some(fs_type.as_str()),
            flags,
            data.as_deref(),
        );
        match result {
            Ok(()) => {}
            // Without a network namespace of its own, a user namespace may not mount sysfs; a
            // read-only recursive bind of the host's /sys is what runc gives then.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" && self.in_user_ns => {
                self.sys
                    .mount(
                        Some(Path::new("/sys")),
                        &fd_path(&target),
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                    )
                    .map_err(Error::sys(what("bind-mounting the host's /sys as")))?;
                let mounted = root
                    .open_path(dest)
                    .map_err(Error::io("opening the mount", dest))?;
                remount(self.sys, &fd_path(&mounted), MsFlags::MS_RDONLY)
                    .map_err(Error::sys(what("remounting")))?;
            }
            Err(e) => return Err(Error::sys(what("mounting"))(e)),
        }
        if !options.propagation.is_empty() {
            let mounted = root
                .open_path(dest)
                .map_err(Error::io("opening the mount", dest))?;
            set_propagation(self.sys, &mounted, options.propagation)
                .map_err(Error::sys(what("setting propagation of")))?;
        }
        Ok(())
    }

    /// `detached`: the source made a detached mount by the runtime, flags and all.
    fn mount_bind(
        &self,
        root: &Root,
        bundle: &Bundle,
        m: &Mount,
        options: &MountOptions,
        detached: Option<&DetachedBind>,
    ) -> Result<()> {
        let dest = m.destination();
        let what = |verb: &str| format!("{verb} {} (bind) on {}", source_text(m), dest.display());
        let source = bind_source(bundle, m)?;
        let source_is_dir = match detached {
            Some(detached) => detached.is_dir,
            None => std::fs::metadata(&source)
                .map_err(Error::io("opening the bind mount source", &source))?
                .is_dir(),
        };
        let target = if source_is_dir {
            root.create_dir_all(dest, 0o755)
        } else {
            create_file(root, dest)
        }
        .map_err(Error::io("creating the mount point", dest))?;
        procfs::check_mount_target(target.as_fd(), &in_rootfs(bundle, &target), dest)?;
        let attached;
        let mounted = match detached {
            Some(detached) => {
                self.sys
                    .attach(detached.tree.as_fd(), target.as_fd())
                    .map_err(Error::sys(what("attaching")))?;
                &detached.tree
            }
            None => {
                attached = self.bind_by_path(root, &source, &target, m, options)?;
                &attached
            }
        };
        let propagation = match options.propagation.is_empty() {
            true => RootPropagation::from_spec(
                bundle
                    .spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.rootfs_propagation().as_deref()),
            )
            .default_for_binds(),
            false => options.propagation,
        };
        set_propagation(self.sys, mounted, propagation)
            .map_err(Error::sys(what("setting propagation of")))
    }

    /// A bind the init makes itself, looking its source up.
    fn bind_by_path(
        &self,
        root: &Root,
        source: &Path,
        target: &OwnedFd,
        m: &Mount,
        options: &MountOptions,
    ) -> Result<OwnedFd> {
        let dest = m.destination();
        let what = |verb: &str| format!("{verb} {} (bind) on {}", source_text(m), dest.display());
        match bind(self.sys, source, target, options) {
            Ok(mounted) => Ok(mounted),
            // A kernel before 5.12: bind, then remount the new mount found by a second lookup.
            Err(nix::errno::Errno::ENOSYS) => {
                let mut flags = MsFlags::MS_BIND;
                if options.recursive {
                    flags |= MsFlags::MS_REC;
                }
                self.sys
                    .mount(Some(source), &fd_path(target), None, flags, None)
                    .map_err(Error::sys(what("bind-mounting")))?;
                let mounted = root
                    .open_path(dest)
                    .map_err(Error::io("opening the mount", dest))?;
                let remount_flags = options.flags & !MsFlags::MS_REMOUNT;
                if !remount_flags.is_empty() {
                    remount(self.sys, &fd_path(&mounted), remount_flags)
                        .map_err(Error::sys(what("remounting")))?;
                }
                Ok(mounted)
            }
            Err(e) => Err(Error::sys(what("bind-mounting"))(e)),
        }
    }

    fn enter_rootfs(&self, rootfs: &Path, no_pivot: bool) -> Result<()> {
        let sys = self.sys;
        sys.chdir(rootfs)
            .map_err(Error::sys("entering the rootfs"))?;
        if no_pivot {
            // The move must not reach the peers of `/` (the host's, for a shared root).
            sys.mount(None, Path::new("/"), None, MsFlags::MS_SLAVE, None)
                .map_err(Error::sys(
                    "making / a slave before the rootfs is moved over it",
                ))?;
            sys.mount(
                Some(Path::new(".")),
                Path::new("/"),
                None,
                MsFlags::MS_MOVE,
                None,
            )
            .map_err(Error::sys("moving the rootfs to / (--no-pivot)"))?;
            sys.chroot_here()
                .map_err(Error::sys("chroot into the rootfs (--no-pivot)"))?;
        } else {
            // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "."
            // then removes it without needing a directory for it inside the rootfs.
            sys.pivot_root_here()
                .map_err(Error::sys("pivot_root into the rootfs"))?;
            sys.mount(
                None,
                Path::new("."),
                None,
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
                None,
            )
            .map_err(Error::sys(
                "making the old root a slave before unmounting it",
            ))?;
            sys.detach(Path::new("."))
                .map_err(Error::sys("unmounting the old root"))?;
        }
        sys.chdir(Path::new("/"))
            .map_err(Error::sys("changing to the new root"))?;
        Ok(())
    }

    /// Hides a path: a read-only empty tmpfs over a directory, the container's /dev/null over
    /// anything else. A path that does not exist needs no mask.
    fn mask(&self, root: &Root, path: &Path) -> Result<()> {
        let target = match root.open_path(path) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("opening the masked path", path)(e)),
        };
        let (kind, _) = self
            .sys
            .device_of(target.as_fd())
            .map_err(|e| Error::io("inspecting", path)(e.into()))?;
        let what = format!("masking {}", path.display());
        if kind == FileType::Directory {
            self.sys
                .mount(
                    Some(Path::new("tmpfs")),
                    &fd_path(&target),
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )
                .map_err(Error::sys(what))
        } else {
            let null = dev::verified_null(self, root)?;
            self.sys
                .mount(
                    Some(&fd_path(&null)),
                    &fd_path(&target),
                    None,
                    MsFlags::MS_BIND,
                    None,
                )
                .map_err(Error::sys(what))
        }
    }

    fn make_readonly(&self, root: &Root, path: &Path) -> Result<()> {
        let target = match root.open_path(path) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("opening the read-only path", path)(e)),
        };
        let what = format!("making {} read-only", path.display());
        let target_path = fd_path(&target);
        self.sys
            .mount(
                Some(&target_path),
                &target_path,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(Error::sys(what.clone()))?;
        let mounted = root
            .open_path(path)
            .map_err(Error::io("opening the read-only path", path))?;
        remount(self.sys, &fd_path(&mounted), MsFlags::MS_RDONLY).map_err(Error::sys(what))
    }

    /// Writes one sysctl through the container's own /proc/sys (so the kernel applies it to
    /// the container's namespaces, or refuses a sysctl that is not namespaced).
    fn write_sysctl(&self, key: &str, value: &str) -> Result<()> {
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
        self.sys
            .write_proc(&path, value.as_bytes())
            .map_err(|e| Error::Sysctl {
                key: key.to_string(),
                value: value.to_string(),
                source: Box::new(e),
            })
    }
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

/// Where an fd opened inside the rootfs is, as the container will see it (`/` its root).
fn in_rootfs(bundle: &Bundle, fd: &OwnedFd) -> PathBuf {
    let host = std::fs::read_link(fd_path(fd)).unwrap_or_default();
    match host.strip_prefix(&bundle.rootfs) {
        Ok(inside) => Path::new("/").join(inside),
        Err(_) => host,
    }
}

/// The rootfs bound on itself: at its path, or as the mount an fd holds.
enum BoundRootfs {
    AtPath(PathBuf),
    Attached(OwnedFd),
}

impl BoundRootfs {
    fn path(&self) -> PathBuf {
        match self {
            BoundRootfs::AtPath(path) => path.clone(),
            BoundRootfs::Attached(mount) => fd_path(mount),
        }
    }
}

fn source_text(m: &Mount) -> String {
    m.source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_else(|| "none".into())
}
