use crate::state::{ContainerState, OciState};
use crate::{Result, Runtime};

impl Runtime {
    /// The container's state, as the runtime spec's state document.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let state = ContainerState::load(&self.root, id)?;
        Ok(state.oci_state(&self.root))
    }

    /// Every container under this runtime's root, by id.
    pub fn list(&self) -> Result<Vec<ContainerState>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(crate::Error::io("listing containers in", &self.root)(e)),
        };
        let mut states: Vec<ContainerState> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|id| ContainerState::load(&self.root, &id).ok())
            .collect();
        states.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(states)
    }
}
