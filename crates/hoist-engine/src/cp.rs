//! podman's `cp`: files into and out of a container's root file system. Inside it, every path
//! resolves against the rootfs's fd (`hoist_fs::Root`), and the tree is walked by fd with
//! `O_NOFOLLOW`: a symlink the container made is copied as a symlink, never followed out of
//! it, and never written through.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoist_runtime::Runtime;
use hoist_unpack::LayerCache;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::{Activity, Container, Driver, Error, Result, Store};

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

/// Runs `work` on the container's root file system, mounting a stopped container's for the
/// while.
fn with_rootfs(
    runtime: &Runtime,
    store: &Store,
    reference: &str,
    work: impl FnOnce(&hoist_fs::Root) -> io::Result<()>,
) -> Result<()> {
    let container = Container::find(store, reference)?;
    let rootfs = container.dir.join("rootfs");
    let mounted_here = container.record.driver == Driver::Overlay
        && !Activity::of(runtime, &container).alive()
        && {
            let _lock = store.lock(false)?;
            LayerCache::open(store.layers())?.remount(&container.record.layers, &container.dir)?
        };
    let root = hoist_fs::Root::open(&rootfs).map_err(Error::io("opening", &rootfs));
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

/// The parent directory (resolved in the root) and the last component of `path`.
fn parent_and_name<'p>(root: &hoist_fs::Root, path: &'p Path) -> io::Result<(OwnedFd, &'p OsStr)> {
    let (parent, name) = hoist_fs::split_parent(path)?;
    Ok((root.open_dir(parent)?, name))
}

fn copy_out(root: &hoist_fs::Root, path: &Path, host: &Path) -> io::Result<()> {
    let (dir, name) = match path.file_name() {
        Some(_) => parent_and_name(root, path)?,
        None => (root.open_dir(Path::new("/"))?, OsStr::new(".")),
    };
    let target = match host.is_dir() {
        true if name != "." => host.join(name),
        _ => host.to_path_buf(),
    };
    copy_node_out(&dir, name, &target)
}

/// Copies the entry `name` of `dir` (in the container) to `target` on the host.
fn copy_node_out(dir: &OwnedFd, name: &OsStr, target: &Path) -> io::Result<()> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = stat.st_mode & 0o7777;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {
            let fd = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(target)?;
            io::copy(&mut File::from(fd), &mut out)?;
            out.set_permissions(std::fs::Permissions::from_mode(mode))
        }
        FileType::Directory => {
            match std::fs::DirBuilder::new().mode(mode).create(target) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && target.is_dir() => {}
                other => other?,
            }
            let sub = rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            for entry in rustix::fs::Dir::read_from(&sub)? {
                let entry = entry?;
                let child = OsStr::from_bytes(entry.file_name().to_bytes());
                if child != "." && child != ".." {
                    copy_node_out(&sub, child, &target.join(child))?;
                }
            }
            Ok(())
        }
        FileType::Symlink => {
            let link = rustix::fs::readlinkat(dir, name, Vec::new())?;
            std::os::unix::fs::symlink(OsStr::from_bytes(link.as_bytes()), target)
        }
        // Devices, sockets and fifos are the container's business.
        _ => Ok(()),
    }
}

fn copy_in(host: &Path, root: &hoist_fs::Root, path: &Path) -> io::Result<()> {
    let source_name = host
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the source names no file"))?;
    let (dir, name) = match root.open_dir(path) {
        // Into an existing directory, under the source's name.
        Ok(dir) => (dir, source_name),
        Err(_) => parent_and_name(root, path)?,
    };
    copy_node_in(host, &dir, name)
}

/// Copies `source` on the host to the entry `name` of `dir` in the container, never through a
/// symlink there.
fn copy_node_in(source: &Path, dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(source)?;
    let mode = Mode::from_raw_mode(meta.permissions().mode() & 0o7777);
    if meta.file_type().is_symlink() {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        return Ok(rustix::fs::symlinkat(
            std::fs::read_link(source)?,
            dir,
            name,
        )?);
    }
    if meta.is_dir() {
        match rustix::fs::mkdirat(dir, name, mode) {
            Err(rustix::io::Errno::EXIST) => {}
            other => other?,
        }
        let sub = rustix::fs::openat(
            dir,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_node_in(&entry.path(), &sub, &entry.file_name())?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(());
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symlink in the container: hoist does not write through it",
                name.to_string_lossy()
            ),
        ),
        other => other.into(),
    })?;
    let mut out = File::from(fd);
    io::copy(&mut File::open(source)?, &mut out)?;
    rustix::fs::fchmod(out.as_fd(), mode)?;
    Ok(())
}
