//! Where a container's cgroup goes, and making it.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Linux;

use super::resources::CREATING;
use super::{Cgroup, CgroupError, Hierarchies};

/// The container's cgroup, made before the clone so a limit this host cannot enforce fails
/// `create` before anything runs. Its path is the config's `cgroupsPath` (systemd's
/// `slice:prefix:name` form becomes the path systemd would give it), or `/hoist/<id>`.
pub(crate) fn create_for(
    linux: &Linux,
    id: &str,
    before: impl FnOnce(&Cgroup) -> Result<(), CgroupError>,
) -> Result<Cgroup, CgroupError> {
    let path = match linux.cgroups_path() {
        Some(path) => systemd_to_path(path),
        None => PathBuf::from(format!("/hoist/{id}")),
    };
    let hierarchies = Hierarchies::detect().map_err(super::io_error(
        "reading the cgroup hierarchies from",
        Path::new("/proc/self"),
    ))?;
    let resources = linux.resources().clone().unwrap_or_default();
    match Cgroup::create(&hierarchies, &path, &resources, before) {
        // A rootless container runs without a cgroup where the user may not make one, as under
        // runc, unless the config asks for limits that only a cgroup could enforce.
        Err(CgroupError::Io {
            source,
            path,
            action: CREATING,
        }) if source.kind() == std::io::ErrorKind::PermissionDenied
            && !nix::unistd::geteuid().is_root() =>
        {
            if sets_limits(&resources) {
                Err(CgroupError::MayNotCreate(path))
            } else {
                Ok(Cgroup::default())
            }
        }
        other => other,
    }
}

/// Whether `resources` asks for anything beyond device rules (a pids limit of 0 or less is
/// none, as `--pids-limit -1` says).
fn sets_limits(resources: &oci_spec::runtime::LinuxResources) -> bool {
    resources.memory().is_some()
        || resources.cpu().is_some()
        || resources.pids().is_some_and(|p| p.limit() > 0)
        || resources.block_io().is_some()
        || resources
            .hugepage_limits()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || resources.network().is_some()
        || resources.unified().as_ref().is_some_and(|u| !u.is_empty())
}

fn systemd_to_path(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [slice, prefix, name] if !text.starts_with('/') => {
            let slice = if slice.is_empty() {
                "system.slice"
            } else {
                slice
            };
            PathBuf::from(format!("/{slice}/{prefix}-{name}.scope"))
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemds_slice_prefix_name_becomes_the_scope_systemd_would_make() {
        assert_eq!(
            systemd_to_path(Path::new("machine.slice:libpod:abc")),
            Path::new("/machine.slice/libpod-abc.scope")
        );
        assert_eq!(
            systemd_to_path(Path::new(":crio:x")),
            Path::new("/system.slice/crio-x.scope")
        );
        assert_eq!(systemd_to_path(Path::new("/a/b")), Path::new("/a/b"));
    }
}
