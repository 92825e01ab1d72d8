use oci_spec::runtime::LinuxResources;

use crate::state::{ContainerLock, ContainerState};
use crate::{Error, Result, Runtime, Status};

impl Runtime {
    /// Applies new resource limits to a live container's cgroup.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let _lock = ContainerLock::acquire(&self.root, id)?;
        let state = ContainerState::load(&self.root, id)?;
        if state.status(&self.root) == Status::Stopped {
            return Err(Error::NotRunning(id.to_string()));
        }
        state.cgroup.apply(resources)?;
        Ok(())
    }
}
