//! OCI lifecycle hooks: programs run at fixed points of a container's life, each given the
//! container's state on stdin, and killed if they outlast their timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use oci_spec::runtime::Hook;

use crate::state::OciState;
use crate::{Error, Result};

/// The hook points of the runtime spec, in the order of a container's life.
pub(crate) const KINDS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Runs `hooks` in order; the first failure stops them and is returned.
pub(crate) fn run(kind: &str, hooks: &[Hook], state: &OciState) -> Result<()> {
    for hook in hooks {
        run_one(kind, hook, state)?;
    }
    Ok(())
}

/// Runs every hook, logging failures: poststart and poststop hooks must not stop the lifecycle.
pub(crate) fn run_all_warning(kind: &str, hooks: &[Hook], state: &OciState) {
    for hook in hooks {
        if let Err(e) = run_one(kind, hook, state) {
            tracing::warn!("{e}");
        }
    }
}

fn run_one(kind: &str, hook: &Hook, state: &OciState) -> Result<()> {
    let path = hook.path();
    let failed = |why: String| Error::Init(format!("{kind} hook {}: {why}", path.display()));
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(path);
    if let Some((argv0, rest)) = args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in hook.env().as_deref().unwrap_or_default() {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    // A group of its own, so a timeout ends whatever the hook started too.
    command.process_group(0);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin may exit before reading it: the write must then fail
        // with EPIPE rather than raise SIGPIPE, which would end the runtime.
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // SAFETY: the runtime is single-threaded here; the old disposition is put back below.
        let previous = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
        let document = serde_json::to_vec(state).unwrap_or_default();
        let _ = stdin.write_all(&document);
        drop(stdin);
        // While signals are blocked (a foreground `run`), Linux keeps even an ignored SIGPIPE
        // pending, and it would kill the runtime once they are unblocked: take it now.
        // SAFETY: plain signal-set calls on local sets; sigtimedwait with a zero timeout
        // only takes a signal that is already pending.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            if libc::sigpending(&mut pending) == 0
                && libc::sigismember(&pending, libc::SIGPIPE) == 1
            {
                let mut pipe: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut pipe);
                libc::sigaddset(&mut pipe, libc::SIGPIPE);
                let now = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &now);
            }
        }
        if let Ok(previous) = previous {
            // SAFETY: as above.
            let _ = unsafe { sigaction(Signal::SIGPIPE, &previous) };
        }
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
            if status.success() {
                return Ok(());
            }
            return Err(failed(format!("it exited with {status}")));
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            // SAFETY: signalling the hook's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Err(failed(format!(
                "it did not finish within its {}s timeout",
                timeout.unwrap_or_default().as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
