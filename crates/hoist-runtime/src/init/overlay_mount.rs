//! The init's side of a rootfs overlay (see `crate::rootfs_overlay`): the mount itself.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::MsFlags;
use rustix::fs::{Mode, OFlags};

use super::syscall::Mounter;
use crate::rootfs_overlay::{RootfsOverlay, ROOTFS_OVERLAY_ANNOTATION};
use crate::{Error, Result};

impl Mounter<'_> {
    /// Mounts `overlay` on `rootfs`, each directory named by an fd held open on it (see
    /// `hoist_fs::overlay_options`). In a user namespace the overlay keeps its metadata in
    /// `user.overlay.*` xattrs (`userxattr`): the `trusted.*` ones are the host root's.
    pub(super) fn mount_rootfs_overlay(
        &self,
        overlay: &RootfsOverlay,
        rootfs: &Path,
    ) -> Result<()> {
        let open = |dir: &Path| -> Result<OwnedFd> {
            rustix::fs::open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("opening the rootfs layer", dir)(e.into()))
        };
        let lowers: Vec<OwnedFd> = overlay
            .lower
            .iter()
            .rev()
            .map(|d| open(d))
            .collect::<Result<_>>()?;
        let (upper, work) = (open(&overlay.upper)?, open(&overlay.work)?);
        let data = hoist_fs::overlay_options(&lowers, &upper, &work, self.in_user_ns)
            .ok_or_else(|| {
                Error::InvalidSpec(format!(
                    "annotation {ROOTFS_OVERLAY_ANNOTATION}: {} layers are more than one mount can stack",
                    overlay.lower.len()
                ))
            })?;
        let what = format!("mounting the rootfs overlay on {}", rootfs.display());
        self.sys
            .chdir(Path::new("/proc/self/fd"))
            .map_err(Error::sys(what.clone()))?;
        self.sys
            .mount(
                Some(Path::new("overlay")),
                rootfs,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )
            .map_err(Error::sys(what))
    }
}
