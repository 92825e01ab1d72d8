//! What a container in a user namespace of its own could not reach by path. Its root is some
//! unprivileged host uid, so a bind source or a rootfs under a directory only the host's root
//! may enter (a store is 0700) fails with EACCES when looked up from inside. So the runtime,
//! root on the host, opens each such bind source as a detached mount (open_tree) before the
//! clone and gives it its flags there; the init only attaches it (move_mount), as crun and
//! runc 1.2 do. Only such sources: a tree attached that way does not carry the locks the
//! kernel puts on the copies of a new namespace (a host mount's ro or nosuid, its submounts),
//! which a root with CAP_SYS_ADMIN in the container could otherwise undo, so what the init can
//! reach itself it binds itself, from its locked copy, as before. The rootfs cannot be passed that way (pivot_root wants a mount of the init's own
//! namespace, and an fd opened before the clone stays in the host's), so the runtime clones the
//! init from inside it: the kernel moves a working directory into the new mount namespace, and
//! the init binds "." onto itself from there.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use rustix::fs::{self as rfs, Mode, OFlags};

use super::mount_options::{self, mount_attributes, MountAttributes};
use super::root_propagation::RootPropagation;
use crate::namespaces::Namespaces;
use crate::spec::Bundle;
use crate::{Error, Result};

/// One config mount's source, made a detached mount by the runtime.
pub(crate) struct DetachedBind {
    pub tree: OwnedFd,
    pub is_dir: bool,
}

/// The config's bind sources as detached mounts, by the index of their mount in the config.
pub(crate) struct MountSources {
    binds: Vec<Option<DetachedBind>>,
}

impl MountSources {
    /// Made only where it is needed and can be: a new mount namespace in a user namespace,
    /// created by a runtime that is root on the host (an unprivileged one reaches its own
    /// files anyway, and may not open_tree). `None` on a kernel without the new mount API too:
    /// then the init looks its sources up itself, as before Linux 5.12.
    pub(crate) fn for_container(
        bundle: &Bundle,
        namespaces: &Namespaces,
        unprivileged_parent: bool,
    ) -> Result<Option<MountSources>> {
        let in_user_ns = namespaces.new_user || namespaces.foreign_user().is_some();
        let new_mount_ns = namespaces
            .clone_flags
            .contains(nix::sched::CloneFlags::CLONE_NEWNS);
        if !(in_user_ns && new_mount_ns) || unprivileged_parent {
            return Ok(None);
        }
        match MountSources::open(bundle) {
            Err(Error::Sys { source, .. }) if source.raw_os_error() == Some(libc::ENOSYS) => {
                Ok(None)
            }
            opened => opened.map(Some),
        }
    }

    fn open(bundle: &Bundle) -> Result<MountSources> {
        let propagation = RootPropagation::from_spec(
            bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.rootfs_propagation().as_deref()),
        );
        let mounts = bundle.spec.mounts().as_deref().unwrap_or_default();
        let binds = mounts
            .iter()
            .map(|m| {
                if !is_bind(m) || reachable_by_anyone(&bind_source(bundle, m)?) {
                    return Ok(None);
                }
                detach(bundle, m, propagation).map(Some)
            })
            .collect::<Result<_>>()?;
        Ok(MountSources { binds })
    }

    /// Sources made by a test: any fd stands for a detached mount under `Recorder`.
    #[cfg(test)]
    pub(crate) fn from_binds(binds: Vec<Option<DetachedBind>>) -> MountSources {
        MountSources { binds }
    }

    /// The detached source of the config's mount number `index`, if it is a bind.
    pub(crate) fn bind(&self, index: usize) -> Option<&DetachedBind> {
        self.binds.get(index).and_then(Option::as_ref)
    }
}

fn detach(bundle: &Bundle, m: &Mount, propagation: RootPropagation) -> Result<DetachedBind> {
    let source = bind_source(bundle, m)?;
    let options = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let what = format!(
        "opening the bind mount source {} for {}",
        source.display(),
        m.destination().display()
    );
    let tree = detached_copy(
        &source,
        options.recursive,
        mount_attributes(options.flags),
        Some(propagation.of_detached_binds()),
    )
    .map_err(Error::sys(what.clone()))?;
    let is_dir = rfs::fstat(&tree)
        .map_err(|e| Error::sys(what)(std::io::Error::from(e)))?
        .st_mode
        & libc::S_IFMT
        == libc::S_IFDIR;
    Ok(DetachedBind { tree, is_dir })
}

/// Whether every directory on the way to `path` lets anyone through (o+x), as the container's
/// root, some other user, needs. Erring towards "no" only costs the locks (see above).
fn reachable_by_anyone(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    path.ancestors()
        .skip(1)
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// A bind mount's source on the host: absolute, or relative to the bundle.
pub(crate) fn bind_source(bundle: &Bundle, m: &Mount) -> Result<PathBuf> {
    let source = m.source().as_ref().ok_or_else(|| {
        Error::InvalidSpec(format!(
            "bind mount on {} has no source",
            m.destination().display()
        ))
    })?;
    Ok(match source.is_absolute() {
        true => source.clone(),
        false => bundle.path.join(source),
    })
}

pub(crate) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || mount_options::parse(m.options().as_deref().unwrap_or_default()).bind
}

/// The runtime's working directory while it clones the init: the rootfs (see the module's
/// comment). Dropping it goes back.
pub(crate) struct InRootfs {
    previous: OwnedFd,
}

impl InRootfs {
    /// Safe only in a single-threaded process (the clone needs one anyway): the working
    /// directory is the process's.
    pub(crate) fn enter(rootfs: &Path) -> Result<InRootfs> {
        let previous = rfs::open(
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening the working directory", ".")(e.into()))?;
        nix::unistd::chdir(rootfs).map_err(Error::sys(format!(
            "entering the rootfs {} to clone the init there",
            rootfs.display()
        )))?;
        Ok(InRootfs { previous })
    }
}

impl Drop for InRootfs {
    fn drop(&mut self) {
        if let Err(error) = rustix::process::fchdir(self.previous.as_fd()) {
            tracing::warn!(%error, "returning to the working directory");
        }
    }
}

/// A detached bind mount of `source` (open_tree), given `attributes` and, for the whole tree,
/// `propagation` while detached (mount_setattr).
pub(crate) fn detached_copy(
    source: &Path,
    recursive: bool,
    attributes: MountAttributes,
    propagation: Option<MsFlags>,
) -> nix::Result<OwnedFd> {
    use rustix::mount::{open_tree, OpenTreeFlags};
    let mut tree_flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        tree_flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(rfs::CWD, source, tree_flags)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error()))?;
    if attributes != MountAttributes::default() {
        crate::sys::mount_setattr(&tree, attributes.set, attributes.clear)?;
    }
    if let Some(propagation) = propagation {
        crate::sys::set_tree_propagation(&tree, propagation.bits())?;
    }
    Ok(tree)
}
