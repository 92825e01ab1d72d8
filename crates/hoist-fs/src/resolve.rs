use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};

use crate::relative_components;

/// How lookups are confined to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// The kernel's `openat2` with `RESOLVE_IN_ROOT` (Linux 5.6+).
    Kernel,
    /// A walk in user space, one `O_NOFOLLOW` open per component, that expands symlinks itself
    /// and clamps `..` at the root. Used where `openat2` is missing or blocked (seccomp).
    Userspace,
}

/// A directory treated as `/` for every lookup made through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    resolver: Resolver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Symlinks {
    Follow,
    Refuse,
}

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

impl Root {
    /// Opens `path` as a root, using `openat2` if the kernel has it (and
    /// `HOIST_RESOLVE_IN_USERSPACE` is not set: tests use it to run everything through the
    /// fallback, as if a seccomp filter blocked openat2).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let forced = std::env::var_os("HOIST_RESOLVE_IN_USERSPACE").is_some();
        let resolver = if !forced && kernel_resolves_in_root(fd.as_fd()) {
            Resolver::Kernel
        } else {
            Resolver::Userspace
        };
        Ok(Root { fd, resolver })
    }

    /// Opens `path` as a root with a chosen resolver (tests exercise both).
    pub fn open_with(path: &Path, resolver: Resolver) -> io::Result<Root> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd, resolver })
    }

    pub fn resolver(&self) -> Resolver {
        self.resolver
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` inside the root, following symlinks as if the root were `/`. Returns an
    /// `O_PATH` fd: usable as a directory for `*at` calls, or as a mount target through
    /// `/proc/self/fd/N`.
    pub fn open_path(&self, path: &Path) -> io::Result<OwnedFd> {
        self.lookup(path, Symlinks::Follow)
    }

    /// Like [`Root::open_path`], but fails (`ELOOP`) if any component is a symlink: for targets
    /// that must be exactly what their path says, like the container's `/proc`.
    pub fn open_path_no_symlinks(&self, path: &Path) -> io::Result<OwnedFd> {
        self.lookup(path, Symlinks::Refuse)
    }

    fn lookup(&self, path: &Path, symlinks: Symlinks) -> io::Result<OwnedFd> {
        match self.resolver {
            Resolver::Kernel => {
                let mut resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
                if symlinks == Symlinks::Refuse {
                    resolve |= ResolveFlags::NO_SYMLINKS;
                }
                Ok(rfs::openat2(
                    &self.fd,
                    relative(path),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve,
                )?)
            }
            Resolver::Userspace => self.walk(path, symlinks),
        }
    }

    /// Reads a regular file inside the root, at most `limit` bytes of it (files like
    /// `/etc/passwd` that a runtime or unpacker consults are small; a huge one is hostile).
    pub fn read_file(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let fd = self.open_path(path)?;
        if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        // An O_PATH fd cannot be read; reopening it through its /proc magic link opens the very
        // inode that was resolved inside the root, with no new path lookup.
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let file = std::fs::File::from(rfs::open(
            proc_path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Like [`Root::open_path`] but the result must be a directory.
    pub fn open_dir(&self, path: &Path) -> io::Result<OwnedFd> {
        if self.resolver == Resolver::Kernel {
            // O_DIRECTORY makes the kernel check, with no fstat after.
            return Ok(rfs::openat2(
                &self.fd,
                relative(path),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )?);
        }
        let fd = self.open_path(path)?;
        if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::Directory {
            return Err(io::Error::from_raw_os_error(libc_enotdir()));
        }
        Ok(fd)
    }

    /// Opens the directory `path`, creating what is missing along the way (`mkdir -p` inside the
    /// root). Existing symlinks along the path are followed, but only within the root.
    pub fn create_dir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.create_dir_all_following(path, mode, 0)
    }

    /// `create_dir_all`, where a dangling symlink on the way has its target created (inside
    /// the root), as runc's path join does: an image's `/var/run -> /run` must work before
    /// `/run` exists.
    fn create_dir_all_following(
        &self,
        path: &Path,
        mode: u32,
        symlinks: usize,
    ) -> io::Result<OwnedFd> {
        match self.open_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let components = relative_components(path);
        // The deepest directory that exists, searched from the end: usually only the last
        // name is missing, so this is one lookup rather than one per component.
        let mut existing = components.len();
        let mut dir = loop {
            let Some(shorter) = existing.checked_sub(1) else {
                return self.open_dir(Path::new(""));
            };
            existing = shorter;
            let prefix: std::path::PathBuf = components[..existing].iter().collect();
            match self.open_dir(&prefix) {
                Ok(fd) => break fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && existing > 0 => {}
                Err(e) => return Err(e),
            }
        };
        // Every name below it was missing (another process may make one meanwhile: EEXIST).
        for (i, name) in components.iter().enumerate().skip(existing) {
            match rfs::mkdirat(&dir, *name, Mode::from_raw_mode(mode)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let prefix: std::path::PathBuf = components[..=i].iter().collect();
            match self.open_dir(&prefix) {
                Ok(fd) => dir = fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The name exists but leads nowhere: a dangling symlink.
                    let target = rfs::readlinkat(&dir, *name, Vec::new())?;
                    if symlinks >= MAX_SYMLINKS {
                        return Err(io::Error::from_raw_os_error(
                            rustix::io::Errno::LOOP.raw_os_error(),
                        ));
                    }
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    let parent: std::path::PathBuf = components[..i].iter().collect();
                    let rest: std::path::PathBuf = components[i + 1..].iter().collect();
                    let redirected = if target.is_absolute() {
                        target.to_path_buf()
                    } else {
                        parent.join(target)
                    };
                    return self.create_dir_all_following(
                        &redirected.join(rest),
                        mode,
                        symlinks + 1,
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }

    fn walk(&self, path: &Path, symlinks_allowed: Symlinks) -> io::Result<OwnedFd> {
        let mut pending: VecDeque<OsString> = relative_components(path)
            .into_iter()
            .map(OsStr::to_os_string)
            .collect();
        // The directories walked through, so `..` can step back without a lookup that could
        // leave the root.
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut symlinks = 0;
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                stack.pop();
                continue;
            }
            let current = stack.last().map_or(self.fd.as_fd(), AsFd::as_fd);
            let fd = rfs::openat(
                current,
                name.as_os_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) == FileType::Symlink {
                symlinks += 1;
                if symlinks_allowed == Symlinks::Refuse {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::LOOP.raw_os_error(),
                    ));
                }
                if symlinks > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::LOOP.raw_os_error(),
                    ));
                }
                let target = rfs::readlinkat(&fd, "", Vec::new())?;
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    stack.clear();
                }
                for component in relative_components(target).into_iter().rev() {
                    pending.push_front(component.to_os_string());
                }
                continue;
            }
            stack.push(fd);
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => Ok(rustix::io::dup(&self.fd)?),
        }
    }
}

fn relative(path: &Path) -> &Path {
    let stripped = path.strip_prefix("/").unwrap_or(path);
    if stripped.as_os_str().is_empty() {
        Path::new(".")
    } else {
        stripped
    }
}

fn kernel_resolves_in_root(root: BorrowedFd<'_>) -> bool {
    rfs::openat2(
        root,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .is_ok()
}

fn libc_enotdir() -> i32 {
    rustix::io::Errno::NOTDIR.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn real_path(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    fn hostile_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/", root.join("abs-root")).unwrap();
        symlink("../../../../outside", root.join("climb")).unwrap();
        symlink("/etc", root.join("etc-link")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        dir
    }

    fn each_resolver(check: impl Fn(&Root, &Path)) {
        let dir = hostile_tree();
        for resolver in [Resolver::Kernel, Resolver::Userspace] {
            let root_path = dir.path().join("root");
            let root = Root::open_with(&root_path, resolver).unwrap();
            check(&root, &root_path);
        }
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        each_resolver(|root, root_path| {
            let at = |p: &str| {
                real_path(
                    &root
                        .open_path(Path::new(p))
                        .unwrap_or_else(|e| panic!("{p} {:?}: {e}", root.resolver())),
                )
            };
            assert_eq!(
                at("lib"),
                root_path.join("usr/lib"),
                "{:?}",
                root.resolver()
            );
            assert_eq!(at("abs-root"), root_path.to_path_buf());
            assert_eq!(at("../../.."), root_path.to_path_buf());
            assert_eq!(at("/usr/../../lib"), root_path.join("usr/lib"));
            // `climb` points above the root: `..` is clamped at the root, so it names the root's
            // own (missing) `outside`, never the real one next to the root.
            let err = root.open_path(Path::new("climb")).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
            // /etc does not exist inside the root; the host's /etc must not be found.
            assert!(root.open_path(Path::new("etc-link/passwd")).is_err());
            let err = root.open_path_no_symlinks(Path::new("lib")).unwrap_err();
            assert_eq!(
                err.raw_os_error(),
                Some(rustix::io::Errno::LOOP.raw_os_error())
            );
            root.open_path_no_symlinks(Path::new("/usr/lib")).unwrap();
            let err = root.open_path(Path::new("loop1")).unwrap_err();
            assert_eq!(
                err.raw_os_error(),
                Some(rustix::io::Errno::LOOP.raw_os_error())
            );
        });
    }

    #[test]
    fn create_dir_all_creates_inside_the_root_through_symlinks() {
        each_resolver(|root, root_path| {
            root.create_dir_all(Path::new("/lib/x/../y/z"), 0o755)
                .unwrap();
            assert!(
                root_path.join("usr/lib/y/z").is_dir(),
                "{:?}",
                root.resolver()
            );
            // A dangling link has its target created, inside the root.
            root.create_dir_all(Path::new("etc-link/ssl"), 0o755)
                .unwrap();
            assert!(root_path.join("etc/ssl").is_dir(), "{:?}", root.resolver());
            // `climb` points above the root: its target is made where `..` clamps it.
            root.create_dir_all(Path::new("climb/made"), 0o755).unwrap();
            assert!(root_path.join("outside/made").is_dir());
            assert!(!root_path.parent().unwrap().join("outside/made").exists());
            assert!(
                root.create_dir_all(Path::new("loop1/x"), 0o755).is_err(),
                "a symlink loop ends"
            );
            std::fs::remove_dir_all(root_path.join("etc")).unwrap();
            std::fs::remove_dir_all(root_path.join("outside")).unwrap();
            std::fs::remove_dir_all(root_path.join("usr/lib/y")).unwrap();
        });
    }
}
