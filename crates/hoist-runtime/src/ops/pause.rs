use crate::state::{ContainerLock, ContainerState};
use crate::{Error, Result, Runtime, Status};

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
        let status = state.status(&self.root);
        let (operation, needed, allowed) = if frozen {
            ("pause", "running", status == Status::Running)
        } else {
            ("resume", "paused", status == Status::Paused)
        };
        if !allowed {
            return Err(Error::WrongState {
                id: id.to_string(),
                status,
                operation,
                needed,
            });
        }
        state.cgroup.freeze(frozen)?;
        Ok(())
    }
}
