//! Where hoist keeps images and containers, and how image arguments name a layout.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use hoist_oci::Layout;

use crate::{Error, Result};

/// hoist's own store: `$HOIST_ROOT`, default `/var/lib/hoist` for root and
/// `$XDG_DATA_HOME/hoist` otherwise. Images live in one OCI layout (`images/`), named by their
/// full normalised reference.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn locate() -> Store {
        let root = std::env::var_os("HOIST_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                if nix::unistd::geteuid().is_root() {
                    PathBuf::from("/var/lib/hoist")
                } else {
                    let data = std::env::var_os("XDG_DATA_HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| home().join(".local/share"));
                    data.join("hoist")
                }
            });
        Store { root }
    }

    /// A store at `root` (tests, and callers that choose their own place).
    pub fn at(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn images(&self) -> Result<Layout> {
        self.ensure_private()?;
        Ok(Layout::create(self.root.join("images"))?)
    }

    /// Held while images are added to or read from the store (shared), or removed from it
    /// (exclusive): a blob pulled but not yet named must not be collected as garbage.
    pub fn lock(&self, exclusive: bool) -> Result<std::fs::File> {
        self.ensure_private()?;
        let path = self.root.join("images.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        let operation = if exclusive {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::LockShared
        };
        rustix::fs::flock(&file, operation).map_err(|e| Error::io("locking", &path)(e.into()))?;
        Ok(file)
    }

    /// Creates the store's root, reachable by its owner only (mode 0700, as podman's is), and
    /// takes that mode back from a root made before or by someone else: images may be
    /// private, and a setuid file a container made in its rootfs must not be runnable by
    /// another local user through the host's path to it.
    fn ensure_private(&self) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(Error::io("creating", &self.root))?;
        let mode = std::fs::metadata(&self.root)
            .map_err(Error::io("reading", &self.root))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(Error::io("making private (mode 0700)", &self.root))?;
        }
        Ok(())
    }

    /// A directory to extract or stage an image in, under the store rather than `$TMPDIR`
    /// (often a tmpfs, i.e. memory, and shared with other users), as podman stages in
    /// `/var/tmp`. What a killed command left there over an hour ago is removed first.
    pub fn staging(&self, prefix: &str) -> Result<tempfile::TempDir> {
        self.ensure_private()?;
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        for leftover in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let old = leftover
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
            if old {
                let _ = std::fs::remove_dir_all(leftover.path());
            }
        }
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&dir)
            .map_err(Error::io("making a staging directory in", &dir))
    }

    /// The layer cache: each layer unpacked once, shared by containers through overlayfs.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The default runtime state root: one path for every call, so calls that pass no `--root`
/// (podman's) find each other's containers. An unprivileged user's is under
/// `$XDG_RUNTIME_DIR`; where that is unset, as podman does, under `/run/user/UID` if the user
/// owns it, else in a directory of the user's own in `$TMPDIR` (a `/tmp` cleaner may age it,
/// which is why podman warns of it too), which must be the user's alone: state there names
/// processes to signal.
pub fn default_runtime_root() -> Result<PathBuf> {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return Ok(PathBuf::from(hoist_runtime::DEFAULT_ROOT));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("hoist"));
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if is_own_private_dir(&run_user, 0o022) {
        return Ok(run_user.join("hoist"));
    }
    let fallback = std::env::temp_dir().join(format!("hoist-run-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&fallback) {
        Ok(()) => tracing::info!(
            "XDG_RUNTIME_DIR is not set: keeping containers' state in {}",
            fallback.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("creating the runtime directory", &fallback)(e)),
    }
    if !is_own_private_dir(&fallback, 0o077) {
        return Err(Error::bad_option(
            "XDG_RUNTIME_DIR",
            format!(
                "is not set, and {} (where hoist keeps containers' state then) is not a directory of yours alone: set XDG_RUNTIME_DIR to one that is (or pass --root)",
                fallback.display()
            ),
        ));
    }
    Ok(fallback)
}

/// Whether `path` is a directory (not a symlink) the caller owns, without the mode bits
/// `forbidden`.
fn is_own_private_dir(path: &std::path::Path, forbidden: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & forbidden == 0
    })
}

/// Splits `DIR[:TAG]` (after an optional `oci:`): the tag is what follows the last `:` when
/// that part has no `/`, so `./a:b/c` is a directory and `./dir:v1` is a tagged layout.
pub fn split_layout_arg(arg: &str) -> (PathBuf, Option<String>) {
    let arg = arg.strip_prefix("oci:").unwrap_or(arg);
    match arg.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() && !tag.is_empty() => {
            (PathBuf::from(dir), Some(tag.to_string()))
        }
        _ => (PathBuf::from(arg), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_made_private_and_taken_back_if_found_open() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let store = Store::at(temp.path().join("store"));
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let staged = store.staging("x-").unwrap();
        assert_eq!(mode(store.root()), 0o700);
        assert!(staged.path().starts_with(store.root().join("tmp")));
        std::fs::set_permissions(store.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let _lock = store.lock(false).unwrap();
        assert_eq!(mode(store.root()), 0o700);
    }

    #[test]
    fn layout_arguments_split_at_a_tag_only() {
        assert_eq!(
            split_layout_arg("oci:/tmp/l:v1"),
            (PathBuf::from("/tmp/l"), Some("v1".into()))
        );
        assert_eq!(split_layout_arg("/tmp/l"), (PathBuf::from("/tmp/l"), None));
        assert_eq!(
            split_layout_arg("./a:b/c"),
            (PathBuf::from("./a:b/c"), None)
        );
    }
}
