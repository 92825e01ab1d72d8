//! `--network container:NAME`: a container in another's network namespace, found by the
//! other's init process each time it starts.

use std::path::PathBuf;

use hoist_runtime::{Runtime, Status};

use crate::{Container, Error, Result};

/// The network namespace of a running container, for `--network container:NAME`.
pub(crate) fn network_of(runtime: &Runtime, id: &str) -> Result<PathBuf> {
    let state = runtime
        .state(id)
        .map_err(|source| Error::NoContainerToJoin {
            id: id.to_string(),
            source,
        })?;
    if state.pid <= 0 || state.status != Status::Running {
        return Err(Error::NotRunningToJoin(id.to_string()));
    }
    Ok(format!("/proc/{}/ns/net", state.pid).into())
}

/// Points a `--network container:NAME` container's config at that container's namespace as
/// it is now (and at its user namespace, where it joins that too: an unprivileged user's):
/// the path recorded at creation names a process that may have ended, and its pid may since
/// be another's.
pub(crate) fn join_network_again(runtime: &Runtime, container: &Container) -> Result<()> {
    let Some(other) = &container.record.joins_network_of else {
        return Ok(());
    };
    let path = network_of(runtime, other)?;
    let config_path = container.dir.join("config.json");
    let config_error = |source| Error::Config {
        path: config_path.clone(),
        source,
    };
    let mut spec = oci_spec::runtime::Spec::load(&config_path).map_err(config_error)?;
    let mut namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    for namespace in namespaces.iter_mut().flatten() {
        match namespace.typ() {
            oci_spec::runtime::LinuxNamespaceType::Network => {
                namespace.set_path(Some(path.clone()));
            }
            oci_spec::runtime::LinuxNamespaceType::User if namespace.path().is_some() => {
                namespace.set_path(Some(path.with_file_name("user")));
            }
            _ => {}
        }
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_namespaces(namespaces);
    }
    spec.save(&config_path).map_err(config_error)
}
