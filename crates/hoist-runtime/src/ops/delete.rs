use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::state::{container_dir, process_alive, ContainerLock, ContainerState};
use crate::status::Operation;
use crate::{Error, Result, Runtime, Status};

/// `delete`'s flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    /// Kill a running container first; and succeed if there is no such container.
    pub force: bool,
}

const KILL_WAIT: Duration = Duration::from_secs(10);

impl Runtime {
    /// Removes a stopped (or created) container's state; with `force`, kills it first.
    pub fn delete(&self, id: &str, options: DeleteOptions) -> Result<()> {
        let lock = match ContainerLock::acquire(&self.root, id) {
            Err(Error::NotFound(_)) if options.force => return Ok(()),
            other => other?,
        };
        let state = match ContainerState::load(&self.root, id) {
            Err(Error::NotFound(_)) => {
                // A `create` that died leaves no state: what it made goes all the same.
                let dir = container_dir(&self.root, id);
                drop(lock);
                if crate::creation::remove_abandoned(&dir)? || options.force {
                    return Ok(());
                }
                return Err(Error::NotFound(id.to_string()));
            }
            other => other?,
        };
        let status = state.status(&self.root);
        if !options.force {
            status.require(Operation::Delete, id)?;
        }
        // A created container has not run anything yet: like runc, delete kills its init.
        if status != Status::Stopped {
            kill_and_wait(&state)?;
        }
        // Whatever is left in the cgroup (processes outside the init's pid namespace) goes too.
        state.cgroup.remove()?;
        let dir = state.dir(&self.root);
        drop(lock);
        std::fs::remove_dir_all(&dir).map_err(Error::io("removing the container's state", &dir))?;
        if let Some(hooks) = &state.hooks {
            let poststop = hooks.poststop().as_deref().unwrap_or_default();
            crate::hooks::run_all_warning(
                "poststop",
                poststop,
                &state.oci_state_as(Status::Stopped),
            );
        }
        Ok(())
    }
}

fn kill_and_wait(state: &ContainerState) -> Result<()> {
    match kill(Pid::from_raw(state.pid), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(Error::sys(format!("killing container {}", state.id))(e)),
    }
    // The init may be another process's child (conmon's, the shim's): it cannot be waited for
    // here, only watched until it is gone (a zombie counts as gone).
    let deadline = Instant::now() + KILL_WAIT;
    while process_alive(state.pid, state.start_time) {
        if Instant::now() > deadline {
            return Err(Error::WouldNotDie {
                id: state.id.clone(),
                secs: KILL_WAIT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
