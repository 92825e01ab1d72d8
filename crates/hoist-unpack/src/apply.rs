//! Application of one layer's tar stream to a rootfs, with overlayfs whiteout semantics.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use hoist_fs::{remove_all_at, split_parent, Root};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

/// How entries are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApplyOptions {
    /// Unprivileged: ownership is not set and device nodes are skipped.
    pub rootless: bool,
}

/// One layer being applied.
pub(crate) struct LayerApplier<'a> {
    root: &'a Root,
    options: ApplyOptions,
    /// Paths this layer has put in place: its own whiteouts must not remove them, since a
    /// whiteout hides only what the layers below provided.
    upper: BTreeSet<PathBuf>,
    /// Directories whose times are set after their contents have been written.
    dir_times: Vec<(PathBuf, i64)>,
    /// Uncompressed bytes still allowed before the unpack is judged a decompression bomb.
    pub(crate) budget: u64,
}

/// A failure on one tar entry, named for the error message.
pub(crate) struct EntryError {
    pub entry: String,
    pub source: io::Error,
}

impl<'a> LayerApplier<'a> {
    pub(crate) fn new(root: &'a Root, options: ApplyOptions, budget: u64) -> Self {
        LayerApplier {
            root,
            options,
            upper: BTreeSet::new(),
            dir_times: Vec::new(),
            budget,
        }
    }

    /// Applies every entry of the archive, then sets directory times.
    pub(crate) fn apply<R: Read>(
        mut self,
        archive: &mut tar::Archive<R>,
    ) -> Result<u64, EntryError> {
        let stream_error = |source| EntryError {
            entry: "(tar stream)".into(),
            source,
        };
        for entry in archive.entries().map_err(stream_error)? {
            let mut entry = entry.map_err(stream_error)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            self.entry(&mut entry).map_err(|source| EntryError {
                entry: name,
                source,
            })?;
        }
        for (path, mtime) in self.dir_times.iter().rev() {
            let fd = self
                .root
                .open_dir(path)
                .and_then(|fd| reopen(&fd, OFlags::RDONLY | OFlags::DIRECTORY));
            if let Ok(fd) = fd {
                let _ = rfs::futimens(&fd, &timestamps(*mtime));
            }
        }
        Ok(self.budget)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> io::Result<()> {
        let Some(path) = confine(&entry.path()?) else {
            return Ok(()); // the root directory itself: the rootfs keeps its own metadata
        };
        let (parent, name) = split_parent(&path)?;
        let (parent, name) = (parent.to_path_buf(), name.to_os_string());
        if name == OPAQUE_WHITEOUT {
            return self.opaque_whiteout(&parent);
        }
        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&parent, OsStr::from_bytes(hidden));
        }

        let header = entry.header().clone();
        let size = header.size()?;
        self.budget = self.budget.checked_sub(size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::FileTooLarge,
                "the unpack size limit was reached",
            )
        })?;
        let pax = PaxFields::read(entry)?;
        let meta = Metadata {
            uid: pax.uid.unwrap_or(header.uid()?),
            gid: pax.gid.unwrap_or(header.gid()?),
            mode: header.mode()? & 0o7777,
            mtime: header.mtime()? as i64,
            xattrs: pax.xattrs,
        };

        let dir = self.root.create_dir_all(&parent, 0o755)?;
        keeping_times(&dir, || {
            self.write_entry(entry, &dir, &name, path, &header, meta)
        })
    }

    /// Puts one (non-whiteout) entry in place in `dir`.
    fn write_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        dir: &OwnedFd,
        name: &OsStr,
        path: PathBuf,
        header: &tar::Header,
        meta: Metadata,
    ) -> io::Result<()> {
        let kind = header.entry_type();
        let existing = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let keep_existing_dir = kind.is_dir()
            && existing
                .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        if existing.is_some() && !keep_existing_dir {
            remove_all_at(dir, name)?;
        }

        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file)?;
                self.set_metadata_fd(file.as_fd(), &meta)?;
            }
            tar::EntryType::Directory => {
                if !keep_existing_dir {
                    rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700))?;
                }
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                self.set_metadata_fd(fd.as_fd(), &meta)?;
                self.dir_times.push((path.clone(), meta.mtime));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("symlink without a target"))?;
                rfs::symlinkat(OsStr::from_bytes(&target), dir, name)?;
                self.set_metadata_at(dir, name, &meta, false)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| invalid("hardlink without a target"))?;
                let target =
                    confine(&target).ok_or_else(|| invalid("hardlink to the root directory"))?;
                let (target_parent, target_name) = split_parent(&target)?;
                // The target's parent is resolved inside the root, and the final component is
                // never followed (linkat without AT_SYMLINK_FOLLOW), so the link cannot reach
                // a file outside the rootfs.
                let target_dir = self.root.open_dir(target_parent)?;
                rfs::linkat(&target_dir, target_name, dir, name, AtFlags::empty())?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if self.options.rootless && file_type != FileType::Fifo {
                    tracing::debug!(path = %path.display(), "rootless: device node skipped");
                    return Ok(());
                }
                // A fifo has no device numbers; writers often leave the fields blank.
                let dev = if file_type == FileType::Fifo {
                    0
                } else {
                    rfs::makedev(
                        header.device_major()?.unwrap_or(0),
                        header.device_minor()?.unwrap_or(0),
                    )
                };
                rfs::mknodat(dir, name, file_type, Mode::from_raw_mode(0o600), dev)?;
                self.set_metadata_at(dir, name, &meta, true)?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => return Ok(()),
            other => {
                return Err(invalid(&format!("unsupported tar entry type {other:?}")));
            }
        }
        self.upper.insert(path);
        Ok(())
    }

    fn whiteout(&mut self, parent: &Path, hidden: &OsStr) -> io::Result<()> {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(invalid("whiteout names no entry"));
        }
        let target = parent.join(hidden);
        if self.written_by_this_layer(&target) {
            return Ok(());
        }
        match self.root.open_dir(parent) {
            Ok(dir) => keeping_times(&dir, || remove_all_at(&dir, hidden)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn opaque_whiteout(&mut self, dir_path: &Path) -> io::Result<()> {
        match self.root.open_dir(dir_path) {
            Ok(dir) => self.clear_lower(&dir, dir_path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes everything under `dir` that lower layers provided, keeping this layer's entries.
    fn clear_lower(&self, dir: &OwnedFd, dir_path: &Path) -> io::Result<()> {
        let listing = reopen(dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut children: Vec<OsString> = Vec::new();
        for entry in rfs::Dir::read_from(&listing)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                children.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        keeping_times(dir, || self.clear_children(dir, dir_path, children))
    }

    fn clear_children(
        &self,
        dir: &OwnedFd,
        dir_path: &Path,
        children: Vec<OsString>,
    ) -> io::Result<()> {
        for child in children {
            let child_path = dir_path.join(&child);
            if !self.written_by_this_layer(&child_path) {
                remove_all_at(dir, &child)?;
            } else if let Ok(sub) = rfs::openat(
                dir,
                &child,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                self.clear_lower(&sub, &child_path)?;
            }
        }
        Ok(())
    }

    /// Whether this layer wrote `path` or anything beneath it.
    fn written_by_this_layer(&self, path: &Path) -> bool {
        self.upper
            .range(path.to_path_buf()..)
            .next()
            .is_some_and(|p| p.starts_with(path))
    }

    fn set_metadata_fd(&self, fd: std::os::fd::BorrowedFd<'_>, meta: &Metadata) -> io::Result<()> {
        if !self.options.rootless {
            rfs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
        }
        // After chown, which clears setuid/setgid bits.
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
        for (name, value) in &meta.xattrs {
            match rfs::fsetxattr(fd, name.as_os_str(), value, XattrFlags::empty()) {
                Ok(()) => {}
                // trusted.* and security.* need privileges a rootless unpack lacks.
                Err(Errno::PERM) | Err(Errno::NOTSUP) if self.options.rootless => {}
                Err(e) => return Err(e.into()),
            }
        }
        rfs::futimens(fd, &timestamps(meta.mtime))?;
        Ok(())
    }

    /// Owner, mode (unless a symlink, which has none) and times of an entry that cannot be
    /// opened for writing (a symlink, a device, a fifo), by name in its directory.
    fn set_metadata_at(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        meta: &Metadata,
        has_mode: bool,
    ) -> io::Result<()> {
        if !self.options.rootless {
            rfs::chownat(
                dir,
                name,
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        if has_mode {
            rfs::chmodat(dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())?;
        }
        rfs::utimensat(
            dir,
            name,
            &timestamps(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }
}

struct Metadata {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// The PAX records that override or extend the ustar header.
#[derive(Default)]
struct PaxFields {
    uid: Option<u64>,
    gid: Option<u64>,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl PaxFields {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<PaxFields> {
        let mut fields = PaxFields::default();
        let Some(extensions) = entry.pax_extensions()? else {
            return Ok(fields);
        };
        for ext in extensions {
            let ext = ext?;
            let key = ext.key_bytes();
            let number = || std::str::from_utf8(ext.value_bytes()).ok()?.parse().ok();
            match key {
                b"uid" => fields.uid = number(),
                b"gid" => fields.gid = number(),
                _ => {
                    if let Some(name) = key.strip_prefix(XATTR_PAX_PREFIX.as_bytes()) {
                        fields.xattrs.push((
                            OsStr::from_bytes(name).to_os_string(),
                            ext.value_bytes().to_vec(),
                        ));
                    }
                }
            }
        }
        Ok(fields)
    }
}

/// The entry's path as a plain relative path inside the root: `/` and `./` prefixes dropped and
/// `..` clamped at the root, as if the archive were extracted with the root as `/`. `None` for
/// the root itself.
fn confine(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

/// Runs `change` on the contents of `dir` and then puts back the directory's own times, which
/// the change would otherwise bump: a directory's mtime is what its own tar entry says (or when
/// it was first made), as umoci and overlayfs-based engines leave it.
fn keeping_times<T>(dir: &OwnedFd, change: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let readable = reopen(dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let before = rfs::fstat(&readable)?;
    let result = change()?;
    let times = Timestamps {
        last_access: rfs::Timespec {
            tv_sec: before.st_atime as i64,
            tv_nsec: before.st_atime_nsec as _,
        },
        last_modification: rfs::Timespec {
            tv_sec: before.st_mtime as i64,
            tv_nsec: before.st_mtime_nsec as _,
        },
    };
    rfs::futimens(&readable, &times)?;
    Ok(result)
}

fn reopen(fd: &OwnedFd, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        fd,
        ".",
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = rfs::Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn uid(id: u64) -> Uid {
    Uid::from_raw(id as u32)
}

fn gid(id: u64) -> Gid {
    Gid::from_raw(id as u32)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_clamps_dotdot_and_drops_absolute_prefixes() {
        assert_eq!(
            confine(Path::new("../../etc/passwd")),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(
            confine(Path::new("/a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(confine(Path::new("./")), None);
        assert_eq!(confine(Path::new("a/../..")), None);
    }
}
