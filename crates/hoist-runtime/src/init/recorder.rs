//! The tests' `Syscall`: writes each call down, with paths as the container will see them
//! (`rootfs/dev/null`; a host path stays absolute), instead of making it. What later lookups
//! must find is made for real in the temporary rootfs: a symlink is a symlink, and a device
//! node is an empty file that `device_of` reports as the node it stands for.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statvfs::FsFlags;
use rustix::fs::{self as rfs, FileType, Mode, OFlags};

use super::mount_options::MountAttributes;
use super::procfs::fd_path;
use super::syscall::{NodeSpec, Syscall};
use crate::Result;

pub(crate) struct Recorder {
    rootfs: PathBuf,
    calls: RefCell<Vec<String>>,
    /// Placeholder files of the nodes made, by (st_dev, st_ino): the node's type and number.
    nodes: RefCell<HashMap<(u64, u64), (FileType, u64)>>,
    /// Calls that fail: a call whose line starts with the text fails with the errno.
    failing: Vec<(String, Errno)>,
}

impl Recorder {
    pub(crate) fn new(rootfs: &Path) -> Recorder {
        Recorder {
            rootfs: rootfs.canonicalize().unwrap(),
            calls: RefCell::new(Vec::new()),
            nodes: RefCell::new(HashMap::new()),
            failing: Vec::new(),
        }
    }

    /// Makes every call whose line starts with `prefix` fail with `errno`.
    pub(crate) fn failing(mut self, prefix: &str, errno: Errno) -> Recorder {
        self.failing.push((prefix.to_string(), errno));
        self
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// Records the call; fails it if asked to.
    fn record(&self, line: String) -> nix::Result<()> {
        let failure = self
            .failing
            .iter()
            .find(|(prefix, _)| line.starts_with(prefix.as_str()))
            .map(|(_, errno)| *errno);
        match failure {
            Some(errno) => {
                self.calls.borrow_mut().push(format!("{line} -> {errno:?}"));
                Err(errno)
            }
            None => {
                self.calls.borrow_mut().push(line);
                Ok(())
            }
        }
    }

    /// A path as the container will see it: `rootfs/...` inside the rootfs, else the host's.
    fn shown(&self, path: &Path) -> String {
        let real = if path.starts_with("/proc/self/fd") {
            std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf())
        } else {
            path.to_path_buf()
        };
        match real.strip_prefix(&self.rootfs) {
            Ok(inside) if inside.as_os_str().is_empty() => "rootfs".to_string(),
            Ok(inside) => format!("rootfs/{}", inside.display()),
            Err(_) => real.display().to_string(),
        }
    }

    fn shown_fd(&self, fd: BorrowedFd<'_>) -> String {
        self.shown(&fd_path(&fd))
    }
}

fn flag_names(flags: MsFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fs_type: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        let source = source.map_or("-".to_string(), |s| self.shown(s));
        let mut line = format!(
            "mount {source} on {} type {} {}",
            self.shown(target),
            fs_type.unwrap_or("-"),
            flag_names(flags)
        );
        if let Some(data) = data {
            line.push_str(&format!(" {data}"));
        }
        self.record(line)
    }

    fn bind_detached(
        &self,
        source: &Path,
        target: BorrowedFd<'_>,
        recursive: bool,
        attributes: MountAttributes,
    ) -> nix::Result<OwnedFd> {
        self.record(format!(
            "bind {} on {}{} set={:#x} clear={:#x}",
            self.shown(source),
            self.shown_fd(target),
            if recursive { " recursive" } else { "" },
            attributes.set,
            attributes.clear
        ))?;
        rustix::io::fcntl_dupfd_cloexec(target, 0).map_err(|e| Errno::from_raw(e.raw_os_error()))
    }

    fn attach(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
        self.record(format!(
            "attach {} on {}",
            self.shown_fd(tree),
            self.shown_fd(target)
        ))
    }

    /// As if the runtime had cloned the init from inside the rootfs.
    fn working_dir(&self) -> nix::Result<OwnedFd> {
        rustix::fs::open(
            &self.rootfs,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
    }

    fn mount_flags(&self, _target: &Path) -> nix::Result<FsFlags> {
        Ok(FsFlags::empty())
    }

    /// As if the rootfs were a directory of the host's root file system.
    fn mount_point_of(&self, _path: &Path) -> nix::Result<PathBuf> {
        Ok(PathBuf::from("/"))
    }

    fn detach(&self, target: &Path) -> nix::Result<()> {
        self.record(format!("umount {} detach", target.display()))
    }

    fn chdir(&self, dir: &Path) -> nix::Result<()> {
        self.record(format!("chdir {}", self.shown(dir)))
    }

    fn pivot_root_here(&self) -> nix::Result<()> {
        self.record("pivot_root . .".to_string())
    }

    fn chroot_here(&self) -> nix::Result<()> {
        self.record("chroot .".to_string())
    }

    fn make_node(&self, dir: BorrowedFd<'_>, name: &Path, node: NodeSpec) -> nix::Result<()> {
        let kind = match node.kind {
            FileType::CharacterDevice => "c",
            FileType::BlockDevice => "b",
            FileType::Fifo => "p",
            _ => "?",
        };
        self.record(format!(
            "mknod {}/{} {kind} {}:{} {:o} {}:{}",
            self.shown_fd(dir),
            name.display(),
            node.major,
            node.minor,
            node.mode,
            node.uid,
            node.gid
        ))?;
        let placeholder = rfs::openat(
            dir,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Errno::from_raw(e.raw_os_error()))?;
        let meta = std::fs::File::from(placeholder).metadata().unwrap();
        self.nodes.borrow_mut().insert(
            (meta.dev(), meta.ino()),
            (node.kind, rfs::makedev(node.major, node.minor)),
        );
        Ok(())
    }

    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> nix::Result<()> {
        rfs::symlinkat(target, dir, name).map_err(|e| Errno::from_raw(e.raw_os_error()))?;
        self.record(format!("symlink {}/{name} -> {target}", self.shown_fd(dir)))
    }

    fn device_of(&self, file: BorrowedFd<'_>) -> nix::Result<(FileType, u64)> {
        let stat = rfs::fstat(file.as_fd()).map_err(|e| Errno::from_raw(e.raw_os_error()))?;
        let made = self
            .nodes
            .borrow()
            .get(&(stat.st_dev, stat.st_ino))
            .copied();
        Ok(made.unwrap_or((FileType::from_raw_mode(stat.st_mode), stat.st_rdev)))
    }

    fn write_proc(&self, path: &str, value: &[u8]) -> Result<()> {
        self.record(format!("write {path} {}", String::from_utf8_lossy(value)))
            .map_err(crate::Error::sys(format!("writing {path}")))
    }
}
