use std::os::fd::OwnedFd;

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::ops::create::CreateOptions;
use crate::ops::delete::DeleteOptions;
use crate::ops::terminal;
use crate::{Error, Result, Runtime};

/// Who takes the terminal of a foreground process that has one and no console socket.
pub enum TerminalUse {
    /// The runtime relays it to its own stdin and stdout (as `runc run` does).
    Relay,
    /// The pty master goes to this function, with the process's pid (not yet reaped, so a
    /// pidfd opened from it is the process's). A container's is called before its process is
    /// started; an exec'd process's once it has exec'd (it has the size `process.consoleSize`
    /// gives it until then). It may start threads (the runtime is past its clones by then),
    /// which inherit a mask that blocks every signal.
    Hand(MasterHandler),
}

/// Takes a foreground process's pty master (see [`TerminalUse::Hand`]).
pub type MasterHandler = Box<dyn FnOnce(OwnedFd, i32) + Send>;

impl TerminalUse {
    /// Relays the master, or hands it over (then there is no relay to finish).
    pub(crate) fn take(self, master: OwnedFd, pid: i32) -> Option<terminal::Relay> {
        match self {
            TerminalUse::Relay => Some(terminal::Relay::start(master)),
            TerminalUse::Hand(handler) => {
                handler(master, pid);
                None
            }
        }
    }
}

/// How a foreground container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exited {
    /// As a shell reports it: the exit code, or 128 + the signal that killed it.
    pub code: i32,
    /// The kernel's OOM killer killed a process of the container (its memory limit was hit).
    pub oom_killed: bool,
}

impl Runtime {
    /// Creates and starts a container, then waits for it in the foreground: signals sent to
    /// this process are passed on to the container. The container is deleted afterwards.
    pub fn run(&self, id: &str, options: &CreateOptions) -> Result<Exited> {
        self.run_with_terminal(id, options, TerminalUse::Relay)
    }

    /// [`Runtime::run`], with the container's terminal (when it has one and `options` names no
    /// console socket) going where `terminal` says.
    pub fn run_with_terminal(
        &self,
        id: &str,
        options: &CreateOptions,
        terminal: TerminalUse,
    ) -> Result<Exited> {
        // Block signals before the clone so none is lost between it and the wait loop; the init
        // unblocks them in itself before exec.
        let all = SigSet::all();
        let mut previous = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut previous))
            .map_err(Error::sys("blocking signals"))?;
        let result = self.run_blocked(id, options, terminal);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
        result
    }

    /// Creates and starts a container and returns at once (`run --detach`).
    pub fn run_detached(&self, id: &str, options: &CreateOptions) -> Result<()> {
        self.create(id, options)?;
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, DeleteOptions { force: true });
            return Err(e);
        }
        Ok(())
    }

    fn run_blocked(
        &self,
        id: &str,
        options: &CreateOptions,
        terminal: TerminalUse,
    ) -> Result<Exited> {
        // Without an engine's console socket, a terminal is the runtime's to relay.
        let (relay_end, init_end) = match &options.console_socket {
            None => std::os::unix::net::UnixStream::pair()
                .map(|(ours, theirs)| (Some(ours), Some(OwnedFd::from(theirs))))
                .map_err(Error::io("making a socket pair for the terminal", "/"))?,
            Some(_) => (None, None),
        };
        let state = self.create_init(id, options, true, init_end)?;
        let relay = relay_end
            .as_ref()
            .and_then(terminal::received_master)
            .and_then(|master| terminal.take(master, state.pid));
        let pid = Pid::from_raw(state.pid);
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, DeleteOptions { force: true });
            let _ = waitpid(pid, None);
            return Err(e);
        }
        let code = forward_signals_until_exit(pid, relay.as_ref())?;
        if let Some(relay) = relay {
            relay.finish();
        }
        let oom_killed = state.cgroup.oom_kills() > 0;
        self.delete(id, DeleteOptions { force: true })?;
        Ok(Exited { code, oom_killed })
    }
}

/// Passes signals on to the container until it exits; with a terminal relay, a change of the
/// caller's window size goes to the container's terminal instead.
pub(crate) fn forward_signals_until_exit(pid: Pid, relay: Option<&terminal::Relay>) -> Result<i32> {
    let all = SigSet::all();
    loop {
        if let Some(code) = exit_code(waitpid(pid, Some(WaitPidFlag::WNOHANG)))? {
            return Ok(code);
        }
        let signal = all.wait().map_err(Error::sys("waiting for signals"))?;
        match signal {
            Signal::SIGCHLD => {}
            // Terminal stop requests are for this foreground process group, not the container.
            Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU => {}
            Signal::SIGWINCH if relay.is_some() => relay.iter().for_each(|r| r.resize()),
            other => {
                let _ = kill(pid, other);
            }
        }
    }
}

fn exit_code(status: nix::Result<WaitStatus>) -> Result<Option<i32>> {
    match status.map_err(Error::sys("waiting for the container"))? {
        WaitStatus::Exited(_, code) => Ok(Some(code)),
        WaitStatus::Signaled(_, signal, _) => Ok(Some(128 + signal as i32)),
        _ => Ok(None),
    }
}
