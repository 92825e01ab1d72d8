use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// Removes `name` in `dir` and everything under it, never following a symlink: a symlink is
/// removed itself, and directories are opened with `O_NOFOLLOW` relative to their parent's fd.
/// A missing entry is not an error.
pub fn remove_all_at(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dir = dir.as_fd();
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for entry in rfs::Dir::read_from(&sub)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name != b"." && entry_name != b".." {
            names.push(
                <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(entry_name).to_os_string(),
            );
        }
    }
    for child in names {
        remove_all_at(&sub, &child)?;
    }
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_trees_but_not_what_symlinks_point_to() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("keep"), b"x").unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&victim, tree.join("a/link")).unwrap();
        let parent = std::fs::File::open(dir.path()).unwrap();
        remove_all_at(&parent, OsStr::new("tree")).unwrap();
        assert!(!tree.exists());
        assert!(victim.join("keep").exists());
        remove_all_at(&parent, OsStr::new("tree")).unwrap();
    }
}
