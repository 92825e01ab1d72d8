//! Application of one layer's tar stream to a rootfs, with overlayfs whiteout semantics.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use hoist_fs::{remove_all_at, Root};
use rustc_hash::{FxHashMap, FxHashSet};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::entry_path::{self, as_os_str, as_path, confine_into, WrittenPaths};
use crate::file_writer::{self, FileJob, FileWriter};
use crate::idmap::IdMap;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";
/// Where rootless unpackers (umoci, and so hoist) record the owner a file should have had.
pub(crate) const ROOTLESS_OWNER_XATTR: &str = "user.rootlesscontainers";
const COPY_BUFFER: usize = 256 * 1024;

/// How entries are written.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApplyOptions {
    /// Unprivileged: ownership is recorded in an xattr instead of set, device nodes are skipped,
    /// and directories stay writable until the last layer is in.
    pub rootless: bool,
    pub uid_map: IdMap,
    pub gid_map: IdMap,
}

/// A device node a rootless unpack could not create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDevice {
    pub path: PathBuf,
    pub kind: char,
    pub major: u32,
    pub minor: u32,
}

/// What outlives one layer: work left for after the last one, and what was left out.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// Rootless: directory modes held back so later layers could still write into them.
    dir_modes: Vec<(PathBuf, u32)>,
    pub skipped_devices: Vec<SkippedDevice>,
}

impl Leftovers {
    /// Gives held-back directories their modes, deepest first.
    pub(crate) fn apply(&mut self, root: &Root) -> io::Result<()> {
        self.dir_modes
            .sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (path, mode) in self.dir_modes.drain(..) {
            if let Ok(dir) = root
                .open_dir(&path)
                .and_then(|fd| reopen(&fd, OFlags::RDONLY | OFlags::DIRECTORY))
            {
                rfs::fchmod(&dir, Mode::from_raw_mode(mode))?;
            }
        }
        Ok(())
    }
}

/// One layer being applied.
pub(crate) struct LayerApplier<'a> {
    root: &'a Root,
    options: &'a ApplyOptions,
    leftovers: &'a mut Leftovers,
    umask: u32,
    /// What this layer has put in place, which its own whiteouts spare.
    upper: WrittenPaths,
    /// Directories whose times are set after their contents have been written.
    dir_times: Vec<(PathBuf, i64)>,
    /// The directories entries went into, kept open with their times saved: entries share
    /// directories (often consecutively, not always), so each is resolved and opened once.
    parents: FxHashMap<Box<[u8]>, ParentDir>,
    /// The key in `parents` of the directory the current entry goes into.
    current: Vec<u8>,
    /// The current entry's confined path, a buffer reused from entry to entry.
    path: Vec<u8>,
    owner: (u32, u32),
    buffer: Vec<u8>,
    /// The second thread small files are written by (none for a rootless unpack).
    files: Option<FileWriter>,
    /// Entries handed over so far, for the order of the files that come back.
    handed_over: u64,
    /// The path of a handed-over file whose writing failed, named in the error.
    failed_file: Option<Box<[u8]>>,
}

/// Open directories kept at most; past this they are all closed (their times restored).
const MAX_OPEN_PARENTS: usize = 512;

struct ParentDir {
    fd: Arc<OwnedFd>,
    times: Timestamps,
    setgid: bool,
}

/// A failure on one tar entry, named for the error message.
pub(crate) struct EntryError {
    pub entry: String,
    pub source: io::Error,
}

impl<'a> LayerApplier<'a> {
    pub(crate) fn new(
        root: &'a Root,
        options: &'a ApplyOptions,
        leftovers: &'a mut Leftovers,
        umask: u32,
    ) -> Self {
        LayerApplier {
            root,
            options,
            leftovers,
            umask,
            upper: WrittenPaths::default(),
            dir_times: Vec::new(),
            parents: FxHashMap::default(),
            current: Vec::new(),
            path: Vec::new(),
            owner: (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            ),
            buffer: vec![0; COPY_BUFFER],
            files: match options.rootless {
                true => None,
                false => FileWriter::start().ok(),
            },
            handed_over: 0,
            failed_file: None,
        }
    }

    /// Applies every entry of the archive, then sets directory times.
    pub(crate) fn apply<R: Read + Seek>(
        mut self,
        archive: &mut tar::Archive<R>,
    ) -> Result<(), EntryError> {
        let stream_error = |source| EntryError {
            entry: String::new(),
            source,
        };
        for entry in archive.entries_with_seek().map_err(stream_error)? {
            let mut entry = entry.map_err(stream_error)?;
            let mut path = std::mem::take(&mut self.path);
            let applied = self.entry(&mut entry, &mut path);
            self.path = path;
            if let Err(source) = applied {
                let entry = match self.failed_file.take() {
                    Some(path) => file_writer::shown(&path),
                    None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                };
                return Err(EntryError { entry, source });
            }
        }
        let left = self.leave_parents();
        if let Err(source) = left {
            let entry = self
                .failed_file
                .take()
                .map(|path| file_writer::shown(&path));
            return Err(EntryError {
                entry: entry.unwrap_or_default(),
                source,
            });
        }
        for (path, mtime) in self.dir_times.iter().rev() {
            let fd = self
                .root
                .open_dir(path)
                .and_then(|fd| reopen(&fd, OFlags::RDONLY | OFlags::DIRECTORY));
            if let Ok(fd) = fd {
                rfs::futimens(&fd, &timestamps(*mtime)).map_err(|e| stream_error(e.into()))?;
            }
        }
        Ok(())
    }

    /// Applies one entry; `path` is a buffer for its confined path.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &mut Vec<u8>,
    ) -> io::Result<()> {
        let header = entry.header();
        let kind = header.entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        if !confine_into(&entry.path_bytes(), path) {
            return Ok(()); // the root directory itself: the rootfs keeps its own metadata
        }
        let (parent, name) = entry_path::split(path);
        let removes = name.starts_with(WHITEOUT_PREFIX.as_bytes());
        if removes || self.files.as_ref().is_some_and(|files| files.clashes(path)) {
            self.settle()?;
        }
        if name == OPAQUE_WHITEOUT.as_bytes() {
            return self.opaque_whiteout(parent);
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parent, hidden);
        }
        let (uid, gid, mode, mtime) = (
            header.uid()?,
            header.gid()?,
            header.mode()?,
            header.mtime()?,
        );
        let device = match kind {
            tar::EntryType::Char | tar::EntryType::Block => (
                header.device_major()?.unwrap_or(0),
                header.device_minor()?.unwrap_or(0),
            ),
            _ => (0, 0),
        };

        let pax = PaxFields::read(entry)?;
        let meta = Metadata {
            uid: pax.uid.unwrap_or(uid),
            gid: pax.gid.unwrap_or(gid),
            mode: mode & 0o7777,
            mtime: mtime as i64,
            xattrs: pax.xattrs,
        };
        self.enter_parent(parent)?;
        let name = as_os_str(name);
        let path = &path[..];
        let small = entry.size() <= file_writer::SMALL_FILE && meta.xattrs.is_empty();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous
                if small && self.files.is_some() =>
            {
                self.hand_over(entry, path, &meta)?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.write_file(entry, path, name, &meta)?
            }
            tar::EntryType::Directory => self.write_dir(path, name, &meta)?,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("symlink without a target"))?;
                self.create(path, |dir| {
                    rfs::symlinkat(OsStr::from_bytes(&target), dir, name)
                })?;
                self.set_metadata_at(name, &meta, false)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("hardlink without a target"))?;
                let mut confined = Vec::new();
                if !confine_into(&target, &mut confined) {
                    return Err(invalid("hardlink to the root directory"));
                }
                if self.files.as_ref().is_some_and(|f| f.clashes(&confined)) {
                    self.settle()?;
                }
                let (target_parent, target_name) = entry_path::split(&confined);
                // The target's parent is resolved inside the root, and the final component is
                // never followed (linkat without AT_SYMLINK_FOLLOW), so the link cannot reach
                // a file outside the rootfs.
                let target_dir = self.root.open_dir(as_path(target_parent))?;
                self.create(path, |dir| {
                    rfs::linkat(
                        &target_dir,
                        as_os_str(target_name),
                        dir,
                        name,
                        AtFlags::empty(),
                    )
                })?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                // A fifo has no device numbers; writers often leave the fields blank.
                let (major, minor) = device;
                if self.options.rootless && file_type != FileType::Fifo {
                    self.leftovers.skipped_devices.push(SkippedDevice {
                        path: Path::new("/").join(as_path(path)),
                        kind: if file_type == FileType::BlockDevice {
                            'b'
                        } else {
                            'c'
                        },
                        major,
                        minor,
                    });
                    return Ok(());
                }
                let dev = rfs::makedev(major, minor);
                self.create(path, |dir| {
                    rfs::mknodat(dir, name, file_type, Mode::from_raw_mode(0o600), dev)
                })?;
                self.set_metadata_at(name, &meta, true)?;
            }
            other => return Err(invalid(&format!("unsupported tar entry type {other:?}"))),
        }
        self.upper.record(path);
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        name: &OsStr,
        meta: &Metadata,
    ) -> io::Result<()> {
        let create_mode = meta.mode & 0o777;
        let fd = self.create(path, |dir| file_writer::create_new(dir, name, create_mode))?;
        let mut file = File::from(fd);
        loop {
            let n = entry.read(&mut self.buffer)?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buffer[..n])?;
        }
        let chowned = self.set_owner_fd(file.as_fd(), meta)?;
        // The mode open() gave is the entry's unless the umask took bits, the entry has special
        // bits (open ignores them), or a chown cleared setuid/setgid.
        if meta.mode != create_mode & !self.umask || (chowned && meta.mode & 0o6000 != 0) {
            rfs::fchmod(&file, Mode::from_raw_mode(meta.mode))?;
        }
        self.set_xattrs(file.as_fd(), meta)?;
        rfs::futimens(&file, &timestamps(meta.mtime))?;
        Ok(())
    }

    /// A small file: its content read, its owner and mode decided, and handed to the file
    /// writer (or written now, when the writer's queue is full).
    fn hand_over<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        meta: &Metadata,
    ) -> io::Result<()> {
        let files = self.files.as_mut().expect("only with a file writer");
        let mut data = files.buffer();
        // At most SMALL_FILE, so it fits.
        data.resize(entry.size() as usize, 0);
        entry.read_exact(&mut data)?;
        let create_mode = meta.mode & 0o777;
        let ids = self.host_ids(meta)?;
        let chown = (ids != self.owner || self.current_parent().setgid).then_some(ids);
        let special_cleared = chown.is_some() && meta.mode & 0o6000 != 0;
        let chmod =
            (meta.mode != create_mode & !self.umask || special_cleared).then_some(meta.mode);
        self.handed_over += 1;
        let job = FileJob {
            dir: Arc::clone(&self.current_parent().fd),
            path: path.into(),
            data,
            create_mode,
            chown,
            chmod,
            mtime: meta.mtime,
            sequence: self.handed_over,
        };
        let files = self.files.as_mut().expect("only with a file writer");
        match files.submit(job) {
            Ok(()) => Ok(()),
            Err(job) => self.write_now(job),
        }
    }

    /// Waits for the file writer's pending files, and replaces what stood where one of them
    /// was to go (in stream order).
    fn settle(&mut self) -> io::Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        match files.settle() {
            Ok(taken) => taken.into_iter().try_for_each(|job| self.write_now(job)),
            Err((path, error)) => {
                self.failed_file = Some(path);
                Err(error)
            }
        }
    }

    /// Writes a handed-over file in this thread, replacing what has its name.
    fn write_now(&mut self, job: FileJob) -> io::Result<()> {
        if !file_writer::write_new(&job)? {
            self.forget_parents_under(&job.path);
            remove_all_at(&job.dir, job.name())?;
            let fd = file_writer::create_new(job.dir.as_fd(), job.name(), job.create_mode)?;
            file_writer::fill(fd, &job)?;
        }
        if let Some(files) = &mut self.files {
            files.give_back(job.data);
        }
        Ok(())
    }

    fn write_dir(&mut self, path: &[u8], name: &OsStr, meta: &Metadata) -> io::Result<()> {
        let dir = &self.current_parent().fd;
        match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let existing = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(existing.st_mode) != FileType::Directory {
                    self.create(path, |dir| {
                        rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                    })?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        let dir = &self.current_parent().fd;
        let fd = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.set_owner_fd(fd.as_fd(), meta)?;
        let mode = if self.options.rootless {
            self.leftovers
                .dir_modes
                .push((as_path(path).to_path_buf(), meta.mode));
            meta.mode | 0o700
        } else {
            meta.mode
        };
        rfs::fchmod(&fd, Mode::from_raw_mode(mode))?;
        self.set_xattrs(fd.as_fd(), meta)?;
        self.dir_times
            .push((as_path(path).to_path_buf(), meta.mtime));
        Ok(())
    }

    /// Runs `make` in the current parent directory; if the name is taken, removes what is there
    /// (a later layer replaces it) and tries once more.
    fn create<T>(
        &mut self,
        path: &[u8],
        make: impl Fn(BorrowedFd<'_>) -> rustix::io::Result<T>,
    ) -> io::Result<T> {
        match make(self.current_parent().fd.as_fd()) {
            Err(Errno::EXIST) => {
                self.forget_parents_under(path);
                let dir = self.current_parent().fd.as_fd();
                remove_all_at(dir, as_os_str(entry_path::split(path).1))?;
                Ok(make(dir)?)
            }
            other => Ok(other?),
        }
    }

    fn current_parent(&self) -> &ParentDir {
        &self.parents[&self.current[..]]
    }

    /// Drops (without restoring times) the open directories at or under `path`, which is
    /// about to be removed.
    fn forget_parents_under(&mut self, path: &[u8]) {
        self.parents
            .retain(|open, _| !entry_path::is_at_or_under(open, path));
    }

    /// Enters (resolving and creating as needed) the directory an entry goes into.
    fn enter_parent(&mut self, path: &[u8]) -> io::Result<()> {
        let open = self.parents.contains_key(path);
        if open && self.current == path {
            return Ok(());
        }
        if !open {
            if self.parents.len() >= MAX_OPEN_PARENTS {
                self.leave_parents()?;
            }
            let fd = reopen(
                &self.root.create_dir_all(as_path(path), 0o755)?,
                OFlags::RDONLY | OFlags::DIRECTORY,
            )?;
            let stat = rfs::fstat(&fd)?;
            let parent = ParentDir {
                fd: Arc::new(fd),
                times: saved_times(&stat),
                setgid: stat.st_mode & 0o2000 != 0,
            };
            self.parents.insert(path.into(), parent);
        }
        self.current.clear();
        self.current.extend_from_slice(path);
        Ok(())
    }

    /// Puts back the times of the directories entries went into, which writing into them
    /// bumped: a directory's mtime is what its own tar entry says (or when it was first made),
    /// as umoci and overlayfs-based engines leave it.
    fn leave_parents(&mut self) -> io::Result<()> {
        // Writing the pending files into them would bump their times again.
        self.settle()?;
        for (_, parent) in self.parents.drain() {
            rfs::futimens(&parent.fd, &parent.times)?;
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &[u8], hidden: &[u8]) -> io::Result<()> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(invalid("whiteout names no entry"));
        }
        let target = entry_path::join(parent, hidden);
        if self.upper.set().contains(&target[..]) {
            return Ok(());
        }
        self.forget_parents_under(&target);
        match self.root.open_dir(as_path(parent)) {
            Ok(dir) => keeping_times(&dir, || remove_all_at(&dir, as_os_str(hidden))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn opaque_whiteout(&mut self, dir_path: &[u8]) -> io::Result<()> {
        self.leave_parents()?;
        match self.root.open_dir(as_path(dir_path)) {
            Ok(dir) => clear_lower(&dir, dir_path, self.upper.set()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Gives the file its owner. Returns whether it chowned (which clears setuid bits).
    fn set_owner_fd(&self, fd: BorrowedFd<'_>, meta: &Metadata) -> io::Result<bool> {
        if self.options.rootless {
            if (meta.uid, meta.gid) != (0, 0) {
                let record = rootless_owner_record(meta.uid as u32, meta.gid as u32);
                rfs::fsetxattr(fd, ROOTLESS_OWNER_XATTR, &record, XattrFlags::empty())?;
            }
            return Ok(false);
        }
        let (uid, gid) = self.host_ids(meta)?;
        // A new file already belongs to us, unless its directory is setgid.
        if (uid, gid) == self.owner && !self.current_parent().setgid {
            return Ok(false);
        }
        rfs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
        Ok(true)
    }

    fn host_ids(&self, meta: &Metadata) -> io::Result<(u32, u32)> {
        let unmapped =
            |what: &str, id: u64| invalid(&format!("{what} {id} is not covered by --{what}-map"));
        let uid = u32::try_from(meta.uid)
            .ok()
            .and_then(|u| self.options.uid_map.to_host(u))
            .ok_or_else(|| unmapped("uid", meta.uid))?;
        let gid = u32::try_from(meta.gid)
            .ok()
            .and_then(|g| self.options.gid_map.to_host(g))
            .ok_or_else(|| unmapped("gid", meta.gid))?;
        Ok((uid, gid))
    }

    fn set_xattrs(&self, fd: BorrowedFd<'_>, meta: &Metadata) -> io::Result<()> {
        for (name, value) in &meta.xattrs {
            match rfs::fsetxattr(fd, name.as_os_str(), value, XattrFlags::empty()) {
                Ok(()) => {}
                // trusted.* and security.* need privileges a rootless unpack lacks.
                Err(Errno::PERM) | Err(Errno::NOTSUP) if self.options.rootless => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Owner, mode (unless a symlink, which has none) and times of an entry that cannot be
    /// opened for writing (a symlink, a device, a fifo), by name in the current directory.
    fn set_metadata_at(&self, name: &OsStr, meta: &Metadata, has_mode: bool) -> io::Result<()> {
        let dir = &self.current_parent().fd;
        if !self.options.rootless {
            let (uid, gid) = self.host_ids(meta)?;
            rfs::chownat(
                dir,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
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

/// Removes everything under `dir` that lower layers provided, keeping what this layer wrote
/// (`written`, which holds every directory above what it wrote).
fn clear_lower(dir: &OwnedFd, dir_path: &[u8], written: &FxHashSet<Box<[u8]>>) -> io::Result<()> {
    let listing = reopen(dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let mut children: Vec<OsString> = Vec::new();
    for entry in rfs::Dir::read_from(&listing)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            children.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    keeping_times(dir, || {
        for child in children {
            let child_path = entry_path::join(dir_path, child.as_bytes());
            if !written.contains(&child_path[..]) {
                remove_all_at(dir, &child)?;
            } else if let Ok(sub) = rfs::openat(
                dir,
                &child,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                clear_lower(&sub, &child_path, written)?;
            }
        }
        Ok(())
    })
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
                    if let Some(name) = key
                        .strip_prefix(XATTR_PAX_PREFIX.as_bytes())
                        .filter(|name| !is_reserved_xattr(name))
                    {
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

/// Extended attributes an image may not set: overlayfs's own (`trusted.overlay.*`, and
/// `user.overlay.*` for unprivileged mounts) would be read as whiteouts, opaque directories,
/// redirects or metacopy origins when the layer becomes an overlay lower directory (umoci drops
/// them too), and `user.rootlesscontainers` is the owner hoist itself records.
pub(crate) fn is_reserved_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay.")
        || name == ROOTLESS_OWNER_XATTR.as_bytes()
}

/// The owner a rootless unpack could not give, in the `user.rootlesscontainers` format umoci
/// and the rootlesscontainers tools read: the protobuf message `Resource { uint32 uid = 1;
/// uint32 gid = 2; }`. Two varint fields are written by hand rather than pulling in a protobuf
/// library for ten bytes.
pub(crate) fn rootless_owner_record(uid: u32, gid: u32) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut value: u32) {
        while value >= 0x80 {
            out.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    let mut record = Vec::new();
    if uid != 0 {
        record.push(0x08);
        varint(&mut record, uid);
    }
    if gid != 0 {
        record.push(0x10);
        varint(&mut record, gid);
    }
    record
}

/// Runs `change` on the contents of `dir` and then puts back the directory's own times.
fn keeping_times<T>(dir: &OwnedFd, change: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let readable = reopen(dir, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let times = saved_times(&rfs::fstat(&readable)?);
    let result = change()?;
    rfs::futimens(&readable, &times)?;
    Ok(result)
}

fn saved_times(stat: &rfs::Stat) -> Timestamps {
    Timestamps {
        last_access: rfs::Timespec {
            tv_sec: stat.st_atime as _,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: rfs::Timespec {
            tv_sec: stat.st_mtime as _,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    }
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

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_and_rootless_owner_xattrs_are_reserved() {
        assert!(is_reserved_xattr(b"trusted.overlay.opaque"));
        assert!(is_reserved_xattr(b"user.overlay.redirect"));
        assert!(is_reserved_xattr(b"user.rootlesscontainers"));
        assert!(!is_reserved_xattr(b"security.capability"));
        assert!(!is_reserved_xattr(b"user.mime_type"));
        assert!(!is_reserved_xattr(b"trusted.overlayish"));
    }

    #[test]
    fn rootless_owner_records_are_protobuf_varints() {
        assert_eq!(rootless_owner_record(0, 0), Vec::<u8>::new());
        assert_eq!(rootless_owner_record(1000, 0), vec![0x08, 0xe8, 0x07]);
        assert_eq!(rootless_owner_record(0, 5), vec![0x10, 0x05]);
    }
}
