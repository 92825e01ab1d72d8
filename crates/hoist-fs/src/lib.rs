//! Paths inside a container root file system, resolved relative to an fd of that root.
//!
//! A path from a layer or a runtime config is hostile input: it may hold `..`, be absolute, or
//! pass through symlinks that point anywhere. Joining it to the root's path as a string and
//! handing it to the kernel lets any of those escape. Here every lookup starts at the root's fd
//! and treats the root as `/`: the kernel's `openat2(RESOLVE_IN_ROOT)` where it exists, and a
//! component-by-component walk that does the same in user space where it does not.

mod overlay_options;
mod remove;
mod resolve;

pub use overlay_options::overlay_options;
pub use remove::remove_all_at;
pub use resolve::{Resolver, Root};

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Splits a path into its parent and its final name, refusing names that are not a plain entry
/// (`/`, `.`, `..`), since an operation on the final component must never be redirected.
pub fn split_parent(path: &Path) -> io::Result<(&Path, &OsStr)> {
    match path.components().next_back() {
        Some(Component::Normal(name)) => {
            let parent = path.parent().unwrap_or(Path::new(""));
            Ok((parent, name))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not end in a file name", path.display()),
        )),
    }
}

/// The path as seen from inside the root: leading `/` removed, `.` dropped.
pub(crate) fn relative_components(path: &Path) -> Vec<&OsStr> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            Component::ParentDir => Some(OsStr::from_bytes(b"..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}
