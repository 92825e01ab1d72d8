//! podman's `cp`: files into and out of a container's root file system. Inside it, every path
//! resolves against the rootfs's fd (`hoist_fs::Root`), and both trees are walked by fd with
//! `O_NOFOLLOW`: a symlink the container made is copied as a symlink, never followed out of
//! it, and never written through; nor is one on the host.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hoist_runtime::Runtime;
use hoist_unpack::LayerCache;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::keeper::Starting;
use crate::{Container, Driver, Error, Result, Store};

/// One end of a `cp`: a path on the host, or in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyEnd {
    Host(PathBuf),
    Container { reference: String, path: PathBuf },
}

impl CopyEnd {
    /// `NAME:PATH` names a container's path when NAME is a container (podman's rule); anything
    /// else is a host path.
    pub fn parse(store: &Store, arg: &str) -> CopyEnd {
        if let Some((reference, path)) = arg.split_once(':') {
            if !reference.contains('/') && Container::find(store, reference).is_ok() {
                return CopyEnd::Container {
                    reference: reference.to_string(),
                    path: PathBuf::from(if path.is_empty() { "/" } else { path }),
                };
            }
        }
        CopyEnd::Host(PathBuf::from(arg))
    }
}

/// Copies `from` to `to`, one of them in a container (podman's `cp`). A directory is copied
/// whole; into an existing directory, the copy takes the source's name.
pub fn copy_files(runtime: &Runtime, store: &Store, from: &CopyEnd, to: &CopyEnd) -> Result<()> {
    match (from, to) {
        (CopyEnd::Container { reference, path }, CopyEnd::Host(host)) => {
            with_rootfs(runtime, store, reference, |root| copy_out(root, path, host))
        }
        (CopyEnd::Host(host), CopyEnd::Container { reference, path }) => {
            with_rootfs(runtime, store, reference, |root| copy_in(host, root, path))
        }
        _ => Err(Error::bad_option(
            "cp",
            "copies between a container and the host: name one end as CONTAINER:PATH",
        )),
    }
}

/// Runs `work` on the container's root file system: a running one's as its processes see it
/// (through its init's `/proc/PID/root`), a stopped one's mounted for the while.
fn with_rootfs(
    runtime: &Runtime,
    store: &Store,
    reference: &str,
    work: impl FnOnce(&hoist_fs::Root) -> io::Result<()>,
) -> Result<()> {
    let container = Container::find(store, reference)?;
    // No `start` mounts it for a run meanwhile, to have it unmounted under it below.
    let _turn = Starting::take(&container.dir)?;
    let init = running_init(runtime, &container.record.name);
    let root = match init {
        // Its tree as its processes see it, with its volumes and tmpfs mounts.
        Some(pid) => PathBuf::from(format!("/proc/{pid}/root")),
        None => container.dir.join("rootfs"),
    };
    if container.record.driver == Driver::Overlay
        && init.is_none()
        && crate::rootless::is_rootless()
    {
        // Its rootfs is an overlay only its runtime mounts, inside the container.
        return Err(Error::bad_option(
            "cp",
            format!(
                "{} is stopped, and an unprivileged user's stopped container has no rootfs to copy with; start it first",
                container.record.name
            ),
        ));
    }
    let mounted_here = container.record.driver == Driver::Overlay && init.is_none() && {
        let _lock = store.lock(false)?;
        LayerCache::open(store.layers())?.remount(&container.record.layers, &container.dir)?
    };
    let root = hoist_fs::Root::open(&root).map_err(Error::io("opening", &root));
    // The pid was the init's when the root was opened only if it still is now: otherwise the
    // init ended meanwhile, and the pid may be another process's.
    let root = root.and_then(
        |root| match init == running_init(runtime, &container.record.name) {
            true => Ok(root),
            false => Err(Error::NotRunning(container.record.name.clone())),
        },
    );
    let done = root.and_then(|root| {
        work(&root).map_err(|source| Error::Copy {
            container: container.record.name.clone(),
            source,
        })
    });
    if mounted_here {
        hoist_unpack::unmount_rootfs(&container.dir)?;
    }
    done
}

/// The pid of the container's init, if it runs (or is paused).
fn running_init(runtime: &Runtime, name: &str) -> Option<i32> {
    let state = runtime.state(name).ok()?;
    let alive = matches!(
        state.status,
        hoist_runtime::Status::Running | hoist_runtime::Status::Paused
    );
    (alive && state.pid > 0).then_some(state.pid)
}

/// The parent directory (resolved in the root) and the last component of `path`.
fn parent_and_name<'p>(root: &hoist_fs::Root, path: &'p Path) -> io::Result<(OwnedFd, &'p OsStr)> {
    let (parent, name) = hoist_fs::split_parent(path)?;
    Ok((root.open_dir(parent)?, name))
}

/// Whether `path` ends in `/.`: the directory's contents are copied, not the directory
/// (podman's and docker's rule). `Path` drops a trailing `.`, so the bytes are read.
fn names_contents(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    bytes == b"." || bytes.ends_with(b"/.")
}

/// An open host directory, for the copy's host end: the user's path, followed as given.
fn open_host_dir(path: &Path) -> io::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn copy_out(root: &hoist_fs::Root, path: &Path, host: &Path) -> io::Result<()> {
    let (source_dir, source_name) = match path.file_name() {
        Some(_) if !names_contents(path) => parent_and_name(root, path)?,
        _ => (root.open_dir(path)?, OsStr::new(".")),
    };
    let into_existing = host.is_dir();
    let (target_dir, target_name) = match (into_existing, source_name == ".") {
        (true, false) => (open_host_dir(host)?, source_name),
        (true, true) => (open_host_dir(host)?, OsStr::new(".")),
        (false, _) => {
            let name = host.file_name().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the target names no file")
            })?;
            (
                open_host_dir(host.parent().unwrap_or(Path::new(".")))?,
                name,
            )
        }
    };
    copy_node_out(&source_dir, source_name, &target_dir, target_name)
}

/// Copies the entry `name` of `dir` (in the container) to the entry `target_name` of
/// `target_dir` on the host. Both sides are walked by fd without following symlinks: a
/// symlink the container made is copied as one, and one on the host is never written through
/// (a first copy may have made it). Devices, fifos and sockets stay behind, and copies lose
/// their setuid and setgid bits: nothing from a container becomes a host privilege.
fn copy_node_out(
    dir: &OwnedFd,
    name: &OsStr,
    target_dir: &OwnedFd,
    target_name: &OsStr,
) -> io::Result<()> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_raw_mode(stat.st_mode & 0o1777);
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {
            let Some(source) = open_regular(dir, name)? else {
                return Ok(());
            };
            let out = create_file(target_dir, target_name, mode)?;
            copy_contents(source, out, mode)
        }
        FileType::Directory => {
            let target = make_dir(target_dir, target_name, mode, OFlags::RDONLY)?;
            let sub = open_dir_at(dir, name)?;
            for entry in rustix::fs::Dir::read_from(&sub)? {
                let entry = entry?;
                let child = OsStr::from_bytes(entry.file_name().to_bytes());
                if child != "." && child != ".." {
                    copy_node_out(&sub, child, &target, child)?;
                }
            }
            Ok(())
        }
        FileType::Symlink => {
            let link = rustix::fs::readlinkat(dir, name, Vec::new())?;
            make_symlink(OsStr::from_bytes(link.as_bytes()), target_dir, target_name)
        }
        _ => Ok(()),
    }
}

fn copy_in(host: &Path, root: &hoist_fs::Root, path: &Path) -> io::Result<()> {
    let source_name = match names_contents(host) {
        true => OsStr::new("."),
        false => host.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the source names no file")
        })?,
    };
    let (dir, name) = match root.open_dir(path) {
        // Into an existing directory: under the source's name, or its contents merged.
        Ok(dir) => (dir, source_name),
        Err(_) => parent_and_name(root, path)?,
    };
    copy_node_in(host, &dir, name)
}

/// Copies `source` on the host to the entry `name` of `dir` in the container: never through a
/// symlink there, and never into a device or fifo the container made (an existing entry is
/// replaced, the new one made with `O_EXCL`).
fn copy_node_in(source: &Path, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(source)?;
    let mode = Mode::from_raw_mode(meta.permissions().mode() & 0o7777);
    if meta.file_type().is_symlink() {
        return make_symlink(std::fs::read_link(source)?.as_os_str(), dir, name);
    }
    if meta.is_dir() {
        let sub = make_dir(dir, name, mode, OFlags::PATH)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_node_in(&entry.path(), &sub, &entry.file_name())?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(());
    }
    let out = create_file(dir, name, mode)?;
    copy_contents(File::open(source)?, out, mode)
}

/// Opens a regular file to read, never blocking on a fifo or opening a device: `None` if the
/// entry turned out to be something else by the time it was opened.
fn open_regular(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<File>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let regular = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) == FileType::RegularFile;
    Ok(regular.then(|| File::from(fd)))
}

fn open_dir_at(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// A new regular file `name` in `dir`, replacing what was there but a directory or a symlink
/// (never written through). `O_EXCL`: whatever appears there meanwhile fails the copy.
fn create_file(dir: &OwnedFd, name: &OsStr, mode: Mode) -> io::Result<File> {
    clear_entry(dir, name, false)?;
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
    )?;
    Ok(File::from(fd))
}

fn copy_contents(mut from: File, mut to: File, mode: Mode) -> io::Result<()> {
    io::copy(&mut from, &mut to)?;
    // The mode as given, whatever the umask took away at creation.
    Ok(rustix::fs::fchmod(to.as_fd(), mode)?)
}

/// The directory `name` in `dir`, made if missing, opened with `flags` and never through a
/// symlink.
fn make_dir(dir: &OwnedFd, name: &OsStr, mode: Mode, flags: OFlags) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(dir, name, mode) {
        Err(rustix::io::Errno::EXIST) => {}
        other => other?,
    }
    rustix::fs::openat(
        dir,
        name,
        flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => not_written_through(name),
        other => other.into(),
    })
}

fn make_symlink(target: &OsStr, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    clear_entry(dir, name, true)?;
    Ok(rustix::fs::symlinkat(target, dir, name)?)
}

/// Removes the entry `name` of `dir` for a new one: a file, device or fifo (and a symlink if
/// `symlinks`); a directory or another symlink stays, and the copy fails.
fn clear_entry(dir: &OwnedFd, name: &OsStr, symlinks: bool) -> io::Result<()> {
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        other => other?,
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is a directory", name.to_string_lossy()),
        )),
        FileType::Symlink if !symlinks => Err(not_written_through(name)),
        _ => Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?),
    }
}

fn not_written_through(name: &OsStr) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symlink: hoist does not write through it",
            name.to_string_lossy()
        ),
    )
}
