use crate::state::ContainerState;
use crate::{Result, Runtime};

impl Runtime {
    /// The host pids of the container's processes (everything in its cgroup; the init alone if
    /// it has none).
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let state = ContainerState::load(&self.root, id)?;
        let pids = state.cgroup.pids();
        if pids.is_empty() && state.status(&self.root) != crate::Status::Stopped {
            return Ok(vec![state.pid]);
        }
        Ok(pids)
    }
}

impl Runtime {
    /// What the container's cgroup has used so far (`stats`).
    pub fn usage(&self, id: &str) -> Result<crate::cgroups::Usage> {
        Ok(ContainerState::load(&self.root, id)?.cgroup.usage())
    }
}
