//! An unprivileged user's containers, as rootless podman runs them: each in a user namespace
//! whose root is the user and whose other ids are the user's subordinate ids (`ids`), over
//! layers whose files belong to those ids, which only the storage helper (`helper`) makes and
//! removes. The overlay of a container's rootfs is mounted by the runtime's init inside the
//! container's namespaces (`hoist_runtime::RootfsOverlay`): the user may not mount it here.

mod helper;
mod ids;
pub(crate) mod pasta;
mod spec_cache;

use std::path::{Path, PathBuf};

use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::UnpackOptions;

pub use helper::{serve_storage_helper, STORAGE_HELPER_VERB};
pub use ids::{Maps, UserIds};

use crate::{Driver, Error, Result, Store};
use helper::{carried, Outcome, Task};

/// Whether hoist runs as an unprivileged user.
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Whether the store's files belong to the user's subordinate ids, so that the storage helper
/// makes and removes them (an unprivileged user with subordinate ids).
pub(crate) fn uses_helper() -> bool {
    is_rootless() && UserIds::of_caller().has_subordinates()
}

/// `make_bundle` through the storage helper (or from the kept config, when every layer is
/// cached); `options`' id maps (host ids) are a copy's owners.
pub(crate) fn make_bundle(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<(ImageConfiguration, Driver, Vec<String>)> {
    let base = UserIds::of_caller().default_maps();
    let requested = crate::rootless::Maps {
        uid: options.uid_map.clone(),
        gid: options.gid_map.clone(),
    };
    // The helper is root of the default maps: the copy's owners as it names them.
    let inside = match requested.uid.0.is_empty() {
        true => Maps::default(),
        false => requested.within(&base).ok_or_else(|| {
            Error::StorageHelper("the container's ids are not all the user's".into())
        })?,
    };
    if inside.uid.0.is_empty() {
        if let Some(made) = spec_cache::bundle_from(store, layout, image, dir, options)? {
            return Ok(made);
        }
    }
    let task = Task::MakeBundle {
        store: absolute(store.root())?,
        layout: absolute(layout.path())?,
        image: Box::new(image.clone()),
        dir: absolute(dir)?,
        platform: options.platform.to_string(),
        uid_map: carried(&inside.uid),
        gid_map: carried(&inside.gid),
    };
    match helper::run(&task)? {
        Outcome::Bundle {
            config,
            driver,
            layers,
        } => {
            if driver == Driver::Overlay && inside.uid.0.is_empty() {
                spec_cache::keep(store, layout, image, dir, options);
            }
            Ok((*config, driver, layers))
        }
        other => Err(Error::StorageHelper(format!("unexpected answer {other:?}"))),
    }
}

/// `commit` of an unprivileged user's container, done by the storage helper.
pub(crate) fn commit(
    store: &Store,
    container: &str,
    request: &crate::CommitRequest,
) -> Result<hoist_oci::Digest> {
    let task = Task::Commit {
        store: absolute(store.root())?,
        container: container.to_string(),
        image: request.image.to_string(),
        author: request.author.clone(),
        message: request.message.clone(),
        changes: request.changes.to_vec(),
    };
    match helper::run(&task)? {
        Outcome::Committed(digest) => digest
            .parse()
            .map_err(|e| Error::StorageHelper(format!("it answered {digest:?}: {e}"))),
        other => Err(Error::StorageHelper(format!("unexpected answer {other:?}"))),
    }
}

/// Removes a tree of the store: directly, and where files of subordinate ids refuse that,
/// through the storage helper. The user's own directories it may not enter (overlayfs makes
/// its `work/work` mode 0) are opened up first, which spares the helper in the common case.
pub(crate) fn remove_dir_all(path: &Path) -> Result<()> {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    let removed = match std::fs::remove_dir_all(path) {
        Err(e) if denied(&e) && is_rootless() => {
            open_own_dirs(path);
            std::fs::remove_dir_all(path)
        }
        removed => removed,
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if denied(&e) && uses_helper() => helper::run(&Task::Remove {
            path: absolute(path)?,
        })
        .map(drop),
        Err(e) => Err(Error::io("removing", path)(e)),
    }
}

/// Gives the owner full access to every directory under `dir` (itself included) that the
/// caller owns. Walked by fd, each directory opened without following a symlink and changed
/// through that fd: a symlink put in place of a directory meanwhile is never followed.
fn open_own_dirs(dir: &Path) {
    if let Ok(fd) = rustix::fs::open(dir, own_dir_flags(), rustix::fs::Mode::empty()) {
        open_own_dirs_at(fd, 0);
    }
}

fn own_dir_flags() -> rustix::fs::OFlags {
    use rustix::fs::OFlags;
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Deep enough for any container's tree, shallow enough for the stack.
const MAX_DEPTH: usize = 256;

fn open_own_dirs_at(dir: std::os::fd::OwnedFd, depth: usize) {
    use rustix::fs::{fstat, Mode, RawMode};
    let Ok(stat) = fstat(&dir) else { return };
    if stat.st_uid != nix::unistd::geteuid().as_raw() || depth > MAX_DEPTH {
        return;
    }
    if stat.st_mode & 0o700 != 0o700 {
        let mode = Mode::from_raw_mode((stat.st_mode as RawMode & 0o7777) | 0o700);
        let _ = rustix::fs::fchmod(&dir, mode);
    }
    let Ok(names) = rustix::fs::Dir::read_from(&dir) else {
        return;
    };
    let names: Vec<std::ffi::CString> = names
        .flatten()
        .filter(|e| e.file_type() == rustix::fs::FileType::Directory)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        if let Ok(child) = rustix::fs::openat(&dir, name.as_c_str(), own_dir_flags(), Mode::empty())
        {
            open_own_dirs_at(child, depth + 1);
        }
    }
}

/// Removes the cached layers not in `keep` through the storage helper. Returns how many.
pub(crate) fn prune_layers(store: &Store, keep: Vec<String>) -> Result<usize> {
    spec_cache::clear(store);
    match helper::run(&Task::PruneLayers {
        store: absolute(store.root())?,
        keep,
    })? {
        Outcome::Removed(count) => Ok(count),
        other => Err(Error::StorageHelper(format!("unexpected answer {other:?}"))),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(Error::io("finding", path))
}
