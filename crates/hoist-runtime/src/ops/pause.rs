use crate::state::{ContainerLock, ContainerState};
use crate::status::Operation;
use crate::{Result, Runtime};

impl Runtime {
    /// Freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.set_frozen(id, true)
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.set_frozen(id, false)
    }

    fn set_frozen(&self, id: &str, frozen: bool) -> Result<()> {
        let _lock = ContainerLock::acquire(&self.root, id)?;
        let state = ContainerState::load(&self.root, id)?;
        let operation = if frozen {
            Operation::Pause
        } else {
            Operation::Resume
        };
        state.status(&self.root).require(operation, id)?;
        state.cgroup.freeze(frozen)?;
        Ok(())
    }
}
