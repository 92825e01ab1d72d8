//! Running from a sealed copy of the hoist binary (the CVE-2019-5736 class).
//!
//! A container's init and every exec'd process are clones of the calling hoist process, so
//! their `/proc/PID/exe` is hoist's binary until they exec the user's program. An image whose
//! program is `#!/proc/self/exe` makes the kernel run that binary inside the container, where
//! the container's root can open it through `/proc/PID/exe` and, once it exits, write to it:
//! the next hoist run on the host would run the container's code as root.
//!
//! So every command that starts container processes first re-executes itself from a copy that
//! cannot be written: the binary's directory under a private, read-only overlayfs that is
//! mounted nowhere (runc 1.2's scheme: zero-copy, and unlike a read-only bind mount it cannot
//! be unwrapped to the host file), or, where overlayfs cannot be made, a sealed memfd copy. An
//! unprivileged caller that cannot write the binary itself needs neither: nothing in its
//! containers can either. Before it clones a container process, the runtime checks that this
//! holds, so a command that skipped the re-exec fails instead of exposing the binary.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Access, AtFlags, MemfdFlags, Mode, OFlags, SealFlags, CWD};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

use crate::error::{Error, Result, SealError};

/// Set across the re-exec, so a copy that still does not count as sealed fails instead of
/// re-executing itself for ever.
const REEXECUTED: &str = "_HOIST_SEALED_EXE";

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Re-executes this process from a sealed copy of its binary, with the same arguments and
/// environment, unless it already runs from one. Call it first thing, before any work that a
/// second run would repeat. Returns only when nothing needs doing.
pub fn reexec_sealed() -> Result<()> {
    if let Some(marker) = std::env::var_os(REEXECUTED) {
        // Called first in main, before any other thread exists.
        crate::sys::forget_env_var(REEXECUTED);
        return verify().map_err(|e| {
            Error::from(SealError::StillUnsealed {
                marker: marker.to_string_lossy().into_owned(),
                source: Box::new(e),
            })
        });
    }
    if verify().is_ok() {
        return Ok(());
    }
    let (copy, kind) = match overlay_copy() {
        Ok(copy) => (copy, "a private read-only overlayfs"),
        Err(_) => (memfd_copy()?, "a sealed memfd"),
    };
    let args = to_cstrings(std::env::args_os())?;
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            pair
        })
        .collect();
    env.push(format!("{REEXECUTED}={kind}").into());
    let env = to_cstrings(env)?;
    let err = nix::unistd::execveat(
        copy.as_fd(),
        c"",
        &args,
        &env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )
    .unwrap_err();
    Err(Error::sys(format!("re-executing hoist from {kind}"))(err))
}

/// Succeeds when the container's root can never open this process's binary for writing:
/// it lies on a read-only overlayfs, or is a memfd sealed against writes, or (for an
/// unprivileged caller) is not writable by the caller at all.
///
/// The answer holds for the life of the process (only an exec changes its binary) and is kept,
/// so a clone that has since joined a container's namespaces, where `/proc/self` may not be
/// its own, still has it.
pub(crate) fn verify() -> Result<()> {
    if VERIFIED.load(Ordering::Relaxed) {
        return Ok(());
    }
    check_sealed()?;
    VERIFIED.store(true, Ordering::Relaxed);
    Ok(())
}

static VERIFIED: AtomicBool = AtomicBool::new(false);

fn check_sealed() -> Result<()> {
    let exe = File::open("/proc/self/exe").map_err(Error::io("opening", "/proc/self/exe"))?;
    let stats = rustix::fs::fstatfs(&exe).map_err(Error::sys("fstatfs of /proc/self/exe"))?;
    let read_only = stats.f_flags as u64 & libc::ST_RDONLY != 0;
    if stats.f_type as i64 == OVERLAYFS_SUPER_MAGIC && read_only {
        return Ok(());
    }
    if rustix::fs::fcntl_get_seals(&exe).is_ok_and(|seals| seals.contains(SealFlags::WRITE)) {
        return Ok(());
    }
    let unprivileged = !rustix::process::geteuid().is_root();
    if unprivileged
        && rustix::fs::accessat(CWD, "/proc/self/exe", Access::WRITE_OK, AtFlags::EACCESS).is_err()
    {
        return Ok(());
    }
    Err(SealError::Unsealed.into())
}

/// The binary, opened through an overlayfs made of its own directory above an empty tmpfs
/// (overlayfs wants two lower layers to be read-only), mounted nowhere.
fn overlay_copy() -> Result<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe")
        .map_err(Error::io("reading the link", "/proc/self/exe"))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(SealError::NoDirectory(path.to_path_buf()).into());
    };
    let fail = |what: &'static str| Error::sys(format!("{what} for the sealed binary"));
    let tmpfs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(fail("fsopen tmpfs"))?;
    rustix::mount::fsconfig_create(&tmpfs).map_err(fail("creating the tmpfs"))?;
    let empty = rustix::mount::fsmount(
        &tmpfs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )
    .map_err(fail("fsmount tmpfs"))?;
    let overlay = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(fail("fsopen overlay"))?;
    let lower = format!(
        "{}:/proc/self/fd/{}",
        escape_lower_dir(dir.as_os_str().as_bytes()),
        empty.as_raw_fd()
    );
    rustix::mount::fsconfig_set_string(&overlay, "lowerdir", lower.as_str())
        .map_err(fail("setting the overlay's lowerdir"))?;
    // Not needed, and on by default where the layers are on different file systems, where
    // it only logs warnings.
    let _ = rustix::mount::fsconfig_set_string(&overlay, "xino", "off");
    rustix::mount::fsconfig_create(&overlay).map_err(fail("creating the overlay"))?;
    let mount = rustix::mount::fsmount(
        &overlay,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )
    .map_err(fail("fsmount overlay"))?;
    rustix::fs::openat(
        &mount,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail("opening the binary in the overlay"))
}

/// overlayfs separates lower directories with `:` and escapes with `\`.
fn escape_lower_dir(path: &[u8]) -> String {
    String::from_utf8_lossy(path)
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// A copy of the binary in a memfd, sealed against any change. Costs a copy of the whole
/// binary on every start, so it is only the fallback.
fn memfd_copy() -> Result<OwnedFd> {
    let fail = |what: &'static str| Error::sys(format!("{what} for the sealed binary"));
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps it executable where vm.memfd_noexec would not.
    let memfd = rustix::fs::memfd_create("hoist", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("hoist", flags))
        .map_err(fail("memfd_create"))?;
    let mut source =
        File::open("/proc/self/exe").map_err(Error::io("opening", "/proc/self/exe"))?;
    let mut copy = File::from(memfd);
    std::io::copy(&mut source, &mut copy).map_err(Error::sys("copying the binary into a memfd"))?;
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    rustix::fs::fcntl_add_seals(&copy, seals).map_err(fail("sealing the copy"))?;
    Ok(copy.into())
}

fn to_cstrings(items: impl IntoIterator<Item = OsString>) -> Result<Vec<CString>> {
    items
        .into_iter()
        .map(|item| CString::new(item.as_bytes()).map_err(|_| Error::from(SealError::NulByte)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the copy for writing the way a container would: through a magic link to it.
    fn write_through_proc(copy: &OwnedFd) -> std::io::Result<()> {
        let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        std::io::Write::write_all(
            &mut std::fs::OpenOptions::new().append(true).open(path)?,
            b"x",
        )
    }

    #[test]
    fn the_memfd_copy_cannot_be_written() {
        let copy = memfd_copy().unwrap();
        let seals = rustix::fs::fcntl_get_seals(&copy).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::GROW | SealFlags::SEAL));
        let refused = write_through_proc(&copy).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::EPERM), "{refused}");
    }

    #[test]
    fn the_overlay_copy_cannot_be_written() {
        if !rustix::process::geteuid().is_root() {
            return; // overlayfs needs root outside a user namespace
        }
        let copy = overlay_copy().unwrap();
        let refused = write_through_proc(&copy).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::EROFS), "{refused}");
    }

    #[test]
    fn lower_dirs_are_escaped() {
        assert_eq!(escape_lower_dir(b"/a:b\\c"), "/a\\:b\\\\c");
        assert_eq!(escape_lower_dir(b"/usr/bin"), "/usr/bin");
    }
}
