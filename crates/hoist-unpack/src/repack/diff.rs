//! The changes between two trees as layer entries: what is new or changed in `new` is written
//! whole, what `new` lacks becomes a whiteout. Both trees are walked by directory fds, every
//! entry looked at with `AT_SYMLINK_NOFOLLOW` and opened with `O_NOFOLLOW`: the rootfs is the
//! container's, and nothing in it is followed out of it.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

use crate::apply::{is_reserved_xattr, ROOTLESS_OWNER_XATTR};
use crate::IdMap;

/// How owners on disk become owners in the layer.
pub(crate) enum Owners {
    /// A rootless bundle: the owner recorded in `user.rootlesscontainers`, else root.
    Recorded,
    /// Host ids mapped back to container ids.
    Mapped { uid: IdMap, gid: IdMap },
}

pub(crate) struct Differ<'a, W: io::Write> {
    pub(crate) tar: &'a mut tar::Builder<W>,
    pub(crate) owners: Owners,
    /// Paths (relative to the root) neither compared nor written, nor descended into.
    pub(crate) masked: BTreeSet<PathBuf>,
    /// Files written so far by inode, so a second name of one becomes a hard link.
    pub(crate) written: HashMap<(u64, u64), PathBuf>,
    pub(crate) changes: usize,
    /// The tree is an overlayfs upper directory: its whiteouts (0:0 character devices) and
    /// opaque directories (the `overlay.opaque` xattr) become the layer's own.
    pub(crate) overlay_upper: bool,
}

/// One entry's metadata, as compared and as written.
struct Entry {
    stat: rfs::Stat,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Entry {
    fn kind(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode)
    }
}

impl<W: io::Write> Differ<'_, W> {
    /// Compares the directory `new` (at `path`) with `old`, if there was one there.
    pub(crate) fn dir(
        &mut self,
        old: Option<&OwnedFd>,
        new: &OwnedFd,
        path: &Path,
    ) -> io::Result<()> {
        let new_names = names(new)?;
        if let Some(old) = old {
            for gone in names(old)?.difference(&new_names) {
                let at = path.join(gone);
                if !self.masked.contains(&at) {
                    let mut whiteout = OsString::from(".wh.");
                    whiteout.push(gone);
                    self.whiteout(&path.join(whiteout))?;
                }
            }
        }
        for name in &new_names {
            let at = path.join(name);
            if self.masked.contains(&at) {
                continue;
            }
            let entry = entry(new, name)?;
            let before = match old {
                Some(old) => entry_if_any(old, name)?,
                None => None,
            };
            let changed = match &before {
                None => true,
                Some(before) => differs(before, &entry) || !same_content(old, new, name, &entry)?,
            };
            if self.overlay_upper && is_overlay_whiteout(&entry) {
                let mut whiteout = OsString::from(".wh.");
                whiteout.push(name);
                self.whiteout(&path.join(whiteout))?;
                continue;
            }
            if changed {
                self.write(new, name, &at, &entry)?;
            }
            if self.overlay_upper && is_opaque(&entry) {
                self.whiteout(&at.join(".wh..wh..opq"))?;
            }
            if entry.kind() == FileType::Directory {
                let sub_new = open_dir(new, name)?;
                let sub_old = match (&before, old) {
                    (Some(b), Some(old)) if b.kind() == FileType::Directory => {
                        Some(open_dir(old, name)?)
                    }
                    _ => None,
                };
                self.dir(sub_old.as_ref(), &sub_new, &at)?;
            }
        }
        Ok(())
    }

    /// Writes `name` of `dir` as `path`, and below it everything it holds: all of it new.
    pub(crate) fn add(&mut self, dir: &OwnedFd, name: &OsStr, path: &Path) -> io::Result<()> {
        let entry = entry(dir, name)?;
        self.write(dir, name, path, &entry)?;
        if entry.kind() == FileType::Directory {
            self.dir(None, &open_dir(dir, name)?, path)?;
        }
        Ok(())
    }

    pub(crate) fn whiteout(&mut self, path: &Path) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        self.changes += 1;
        self.tar.append_data(&mut header, path, io::empty())
    }

    /// Writes `name` of `dir` whole, as the entry `path`.
    fn write(&mut self, dir: &OwnedFd, name: &OsStr, path: &Path, entry: &Entry) -> io::Result<()> {
        self.changes += 1;
        let stat = &entry.stat;
        let (uid, gid) = self.owner(entry, path)?;
        let pax: Vec<(String, Vec<u8>)> = entry
            .xattrs
            .iter()
            .filter(|(name, _)| !is_reserved_xattr(name.as_bytes()))
            .map(|(name, value)| {
                (
                    format!("SCHILY.xattr.{}", name.to_string_lossy()),
                    value.clone(),
                )
            })
            .collect();
        if !pax.is_empty() {
            self.tar
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(stat.st_mtime.max(0) as u64);
        header.set_size(0);
        match entry.kind() {
            FileType::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                self.tar.append_data(&mut header, path, io::empty())
            }
            FileType::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                let target = Path::new(OsStr::from_bytes(target.to_bytes()));
                self.tar.append_link(&mut header, path, target)
            }
            FileType::RegularFile => {
                let key = (stat.st_dev, stat.st_ino);
                if stat.st_nlink > 1 {
                    if let Some(first) = self.written.get(&key).cloned() {
                        header.set_entry_type(tar::EntryType::Link);
                        return self.tar.append_link(&mut header, path, first);
                    }
                    self.written.insert(key, path.to_path_buf());
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(stat.st_size as u64);
                let file = open_file(dir, name)?;
                // The file opened must be the one looked at (a running container may swap it),
                // and give exactly the size the header says: a shorter read would put the
                // next file's bytes where the layer's next header belongs.
                let opened = rfs::fstat(&file)?;
                if (opened.st_dev, opened.st_ino) != key
                    || FileType::from_raw_mode(opened.st_mode) != FileType::RegularFile
                {
                    return Err(io::Error::other(format!(
                        "{} changed while it was read",
                        path.display()
                    )));
                }
                let exact = ExactReader {
                    inner: std::fs::File::from(file),
                    left: stat.st_size as u64,
                };
                self.tar.append_data(&mut header, path, exact)
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                let char = entry.kind() == FileType::CharacterDevice;
                header.set_entry_type(if char {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                header.set_device_major(rfs::major(stat.st_rdev))?;
                header.set_device_minor(rfs::minor(stat.st_rdev))?;
                self.tar.append_data(&mut header, path, io::empty())
            }
            FileType::Fifo => {
                header.set_entry_type(tar::EntryType::Fifo);
                self.tar.append_data(&mut header, path, io::empty())
            }
            // A socket is no file a layer can hold.
            _ => {
                self.changes -= 1;
                Ok(())
            }
        }
    }

    /// The owner the layer records. A host id no range maps back is an error, as umoci has
    /// it: the image would otherwise carry a host's id.
    fn owner(&self, entry: &Entry, path: &Path) -> io::Result<(u32, u32)> {
        let (uid, gid) = (entry.stat.st_uid, entry.stat.st_gid);
        match &self.owners {
            Owners::Recorded => Ok(entry
                .xattrs
                .iter()
                .find(|(name, _)| name.as_bytes() == ROOTLESS_OWNER_XATTR.as_bytes())
                .map(|(_, record)| parse_owner_record(record))
                .unwrap_or((0, 0))),
            Owners::Mapped {
                uid: uids,
                gid: gids,
            } => match (uids.to_container(uid), gids.to_container(gid)) {
                (Some(uid), Some(gid)) => Ok((uid, gid)),
                _ => Err(io::Error::other(format!(
                    "{} is owned by {uid}:{gid}, which the bundle's id maps do not map back",
                    path.display()
                ))),
            },
        }
    }
}

/// overlayfs marks a deleted name with a character device 0:0.
fn is_overlay_whiteout(entry: &Entry) -> bool {
    entry.kind() == FileType::CharacterDevice && entry.stat.st_rdev == 0
}

/// overlayfs marks a directory that hides what lower layers had there with an xattr
/// (`trusted.` for root's mounts, `user.` for a user namespace's).
fn is_opaque(entry: &Entry) -> bool {
    entry.kind() == FileType::Directory
        && entry.xattrs.iter().any(|(name, value)| {
            matches!(
                name.as_bytes(),
                b"trusted.overlay.opaque" | b"user.overlay.opaque"
            ) && value.as_slice() == b"y"
        })
}

/// Whether two entries differ in what a layer records of them (not their content). Times
/// are compared in whole seconds, as a tar header holds them: an entry written to the last
/// layer compares equal to itself unpacked.
fn differs(old: &Entry, new: &Entry) -> bool {
    let (a, b) = (&old.stat, &new.stat);
    a.st_mode != b.st_mode
        || a.st_uid != b.st_uid
        || a.st_gid != b.st_gid
        || a.st_mtime != b.st_mtime
        || (old.kind() == FileType::RegularFile && a.st_size != b.st_size)
        || (matches!(
            old.kind(),
            FileType::CharacterDevice | FileType::BlockDevice
        ) && a.st_rdev != b.st_rdev)
        || old.xattrs != new.xattrs
}

/// Whether `name` holds the same bytes (files) or target (symlinks) in both directories. Only
/// asked of entries whose metadata agree: an edit that kept the size and time is still found.
fn same_content(
    old: Option<&OwnedFd>,
    new: &OwnedFd,
    name: &OsStr,
    entry: &Entry,
) -> io::Result<bool> {
    let Some(old) = old else { return Ok(false) };
    match entry.kind() {
        FileType::Symlink => {
            Ok(rfs::readlinkat(old, name, Vec::new())? == rfs::readlinkat(new, name, Vec::new())?)
        }
        FileType::RegularFile => {
            let (mut a, mut b) = (
                std::fs::File::from(open_file(old, name)?),
                std::fs::File::from(open_file(new, name)?),
            );
            let (mut left, mut right) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
            loop {
                let n = read_full(&mut a, &mut left)?;
                let m = read_full(&mut b, &mut right)?;
                if n != m || left[..n] != right[..m] {
                    return Ok(false);
                }
                if n == 0 {
                    return Ok(true);
                }
            }
        }
        _ => Ok(true),
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The names in a directory, sorted (a layer's order is then the same every time).
fn names(dir: &OwnedFd) -> io::Result<BTreeSet<OsString>> {
    let mut names = BTreeSet::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.insert(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}

fn entry(dir: &OwnedFd, name: &OsStr) -> io::Result<Entry> {
    let stat = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    let xattrs = match kind {
        FileType::RegularFile => xattrs(open_file(dir, name)?.as_fd())?,
        FileType::Directory => xattrs(open_dir(dir, name)?.as_fd())?,
        _ => Vec::new(),
    };
    Ok(Entry { stat, xattrs })
}

fn entry_if_any(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<Entry>> {
    match entry(dir, name) {
        Ok(entry) => Ok(Some(entry)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every extended attribute, sorted by name (each list and value sized first).
fn xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let size = match rfs::flistxattr_query(fd) {
        Ok(size) => size,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut list = vec![0u8; size];
    let n = rfs::flistxattr(fd, &mut list)?;
    let mut found = Vec::new();
    for name in list[..n.min(size)]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let name = OsStr::from_bytes(name);
        let mut value = vec![0u8; rfs::fgetxattr_query(fd, name)?];
        let size = rfs::fgetxattr(fd, name, &mut value)?;
        value.truncate(size);
        found.push((name.to_os_string(), value));
    }
    found.sort();
    Ok(found)
}

/// A file's bytes, exactly `left` of them: an early end is an error, not a short entry.
struct ExactReader {
    inner: std::fs::File,
    left: u64,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

pub(crate) fn open_dir(dir: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_file(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )?)
}

/// The `user.rootlesscontainers` record's uid and gid (protobuf varint fields 1 and 2; the
/// writer is `apply::rootless_owner_record`). Anything unreadable is root.
fn parse_owner_record(record: &[u8]) -> (u32, u32) {
    let (mut uid, mut gid, mut at) = (0u32, 0u32, 0usize);
    while at < record.len() {
        let key = record[at];
        at += 1;
        let mut value = 0u32;
        let mut shift = 0;
        while at < record.len() && shift < 35 {
            let byte = record[at];
            at += 1;
            value |= u32::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        match key {
            0x08 => uid = value,
            0x10 => gid = value,
            _ => return (0, 0),
        }
    }
    (uid, gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_records_read_back_what_the_unpack_wrote() {
        for (uid, gid) in [(0, 0), (1000, 1000), (0, 42), (65534, 300_000)] {
            let record = crate::apply::rootless_owner_record(uid, gid);
            assert_eq!(parse_owner_record(&record), (uid, gid));
        }
    }
}
