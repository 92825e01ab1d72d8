//! `--init` (the annotation [`INIT_ANNOTATION`]): the container's init stays as PID 1 instead
//! of becoming the program. It forks the program, passes on every signal it gets, reaps every
//! orphan the container's processes leave, and exits as the program does. It is the runtime's
//! own sealed binary (see `sealed_exe`), not dumpable, with nothing of the runtime's open.

use std::path::Path;

use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::{Process, Spec};

use super::process;
use crate::Error;

/// The annotation that asks for the init: `"true"`.
pub const INIT_ANNOTATION: &str = "run.hoist.init";

/// Whether the config asks for the init.
pub(crate) fn wanted(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(INIT_ANNOTATION))
        .is_some_and(|value| value == "true")
}

/// Forks the program (which execs it) and reaps as PID 1 in this process; returns only if
/// the fork fails.
pub(crate) fn exec_under_init(program: &Path, process: &Process) -> Error {
    // Blocked before the fork, so that no signal meant for the program is lost before the
    // loop below waits for it; the program unblocks them.
    let mut previous = SigSet::empty();
    if let Err(e) = sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut previous),
    ) {
        return Error::sys("blocking signals for the init")(e);
    }
    match crate::sys::fork_init() {
        Err(e) => Error::sys("forking the program under the init")(e),
        Ok(ForkResult::Child) => {
            if process.terminal().unwrap_or(false) {
                take_the_terminal();
            }
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
            process::exec(program, process)
        }
        Ok(ForkResult::Parent { child }) => reap(child),
    }
}

/// With a terminal, the program leads a process group of its own, the terminal's foreground
/// one: what the terminal sends (Ctrl-C's SIGINT) reaches it once, not a second time through
/// the init, which would be in the group too (tini does the same). SIGTTOU, which
/// tcsetpgrp sends a background group, is still blocked here.
fn take_the_terminal() {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
}

fn reap(program: Pid) -> ! {
    // Nothing of the runtime's stays open in a process that lives on in the container.
    crate::sys::close_all_from(3);
    crate::sys::blank_command_line();
    let _ = rustix::thread::set_name(c"hoist-init");
    let signals = SigSet::all();
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap_children(program) {
                    crate::sys::exit_now(code);
                }
            }
            Ok(signal) => {
                let _ = kill(program, signal);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that has ended; the program's exit code once it has.
fn reap_children(program: Pid) -> Option<i32> {
    let mut ended = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => ended = Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                ended = Some(128 + signal as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return ended,
            Ok(_) => {}
        }
    }
}
