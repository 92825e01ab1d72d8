use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::state::{process_alive, ContainerLock, ContainerState, EXEC_FIFO};
use crate::status::Operation;
use crate::{Error, Result, Runtime, Status};

impl Runtime {
    /// Lets a created container's init exec the user's program.
    pub fn start(&self, id: &str) -> Result<()> {
        let _lock = ContainerLock::acquire(&self.root, id)?;
        let state = ContainerState::load(&self.root, id)?;
        state.status(&self.root).require(Operation::Start, id)?;
        let fifo_path = state.dir(&self.root).join(EXEC_FIFO);
        // Non-blocking, so a dead init (no writer will ever come) cannot hang us.
        let fifo = rfs::open(
            &fifo_path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening the exec fifo", &fifo_path)(e.into()))?;
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: Duration::from_millis(100).as_nanos() as i64,
        };
        loop {
            let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(n) if n > 0 => break,
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::io("waiting on the exec fifo", &fifo_path)(e.into())),
            }
            if !process_alive(state.pid, state.start_time) {
                return Err(Error::ExitedBeforeStart(id.to_string()));
            }
        }
        let mut byte = [0u8; 1];
        let mut reader = fs::File::from(
            fifo.as_fd()
                .try_clone_to_owned()
                .map_err(Error::io("reading the exec fifo", &fifo_path))?,
        );
        match reader.read(&mut byte) {
            Ok(1) => {}
            _ => return Err(Error::ExitedBeforeStart(id.to_string())),
        }
        fs::remove_file(&fifo_path).map_err(Error::io("removing the exec fifo", &fifo_path))?;
        if let Some(hooks) = &state.hooks {
            let poststart = hooks.poststart().as_deref().unwrap_or_default();
            crate::hooks::run_all_warning(
                "poststart",
                poststart,
                &state.oci_state_as(Status::Running),
            );
        }
        Ok(())
    }
}
