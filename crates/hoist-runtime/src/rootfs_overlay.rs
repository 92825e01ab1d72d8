//! A rootfs that is an overlay of directories, mounted by the init in the container's own mount
//! namespace. An unprivileged caller needs this: overlayfs may be mounted from inside a user
//! namespace (Linux 5.11), but never by that user on the host, so the mount can only be made
//! where the container's root has the right, in the init, before the rootfs is entered. The
//! caller names the directories in the annotation [`ROOTFS_OVERLAY_ANNOTATION`] and gives
//! `root.path` as the (empty) mount point; `init/overlay_mount.rs` mounts it.

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The annotation naming a rootfs overlay, a JSON [`RootfsOverlay`].
pub const ROOTFS_OVERLAY_ANNOTATION: &str = "org.hoist.rootfs.overlay";

/// The directories of a rootfs overlay: `lower` bottom first, `upper` and `work` writable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsOverlay {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl RootfsOverlay {
    /// The overlay a config's annotation names, if any; refused unless every path is absolute.
    pub fn from_spec(spec: &Spec) -> Result<Option<RootfsOverlay>> {
        let Some(text) = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(ROOTFS_OVERLAY_ANNOTATION))
        else {
            return Ok(None);
        };
        let invalid = |why: String| {
            Error::InvalidSpec(format!("annotation {ROOTFS_OVERLAY_ANNOTATION}: {why}"))
        };
        let overlay: RootfsOverlay =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if overlay.lower.is_empty() {
            return Err(invalid("names no lower directory".into()));
        }
        let paths = overlay.lower.iter().chain([&overlay.upper, &overlay.work]);
        if let Some(relative) = paths.into_iter().find(|p| !p.is_absolute()) {
            return Err(invalid(format!("{} is not absolute", relative.display())));
        }
        Ok(Some(overlay))
    }

    /// Names this overlay in `spec`'s annotations.
    pub fn annotate(&self, spec: &mut Spec) {
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(
            ROOTFS_OVERLAY_ANNOTATION.to_string(),
            serde_json::to_string(self).expect("paths serialize"),
        );
        spec.set_annotations(Some(annotations));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(value: &str) -> Spec {
        let mut spec = Spec::default();
        let mut annotations = std::collections::HashMap::new();
        annotations.insert(ROOTFS_OVERLAY_ANNOTATION.to_string(), value.to_string());
        spec.set_annotations(Some(annotations));
        spec
    }

    #[test]
    fn only_an_unprivileged_runtime_takes_an_overlay() {
        let overlay = RootfsOverlay {
            lower: vec!["/".into()],
            upper: "/tmp/u".into(),
            work: "/tmp/w".into(),
        };
        let mut spec = Spec::default();
        overlay.annotate(&mut spec);
        let validated = crate::validate::host_facing_fields(&spec);
        assert_eq!(
            validated.is_err(),
            nix::unistd::geteuid().is_root(),
            "{validated:?}"
        );
    }

    #[test]
    fn an_overlay_is_read_back_as_annotated_and_relative_paths_are_refused() {
        let overlay = RootfsOverlay {
            lower: vec!["/l/1".into(), "/l/2".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
        };
        let mut spec = Spec::default();
        overlay.annotate(&mut spec);
        assert_eq!(RootfsOverlay::from_spec(&spec).unwrap(), Some(overlay));
        assert_eq!(RootfsOverlay::from_spec(&Spec::default()).unwrap(), None);
        for bad in [
            r#"{"lower":["l"],"upper":"/u","work":"/w"}"#,
            r#"{"lower":[],"upper":"/u","work":"/w"}"#,
            r#"{"lower":["/l"],"upper":"u","work":"/w"}"#,
            "lowerdir=/l",
        ] {
            assert!(RootfsOverlay::from_spec(&spec_with(bad)).is_err(), "{bad}");
        }
    }
}
