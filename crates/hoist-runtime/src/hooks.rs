//! OCI lifecycle hooks: programs run at fixed points of a container's life, each given the
//! container's state on stdin, and killed if they outlast their timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{HookError, HookFailure};
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
    let failed = |failure| {
        Error::from(HookError {
            kind: kind.to_string(),
            path: path.clone(),
            failure,
        })
    };
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
    // Kept in a file (a pipe could fill while the hook runs and nothing reads), passed on to
    // the runtime's stderr once it ends, and its last line told in the error.
    let said = said_file().map_err(|e| failed(HookFailure::Start(e)))?;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            said.try_clone()
                .map_err(|e| failed(HookFailure::Start(e)))?,
        ))
        .spawn()
        .map_err(|e| failed(HookFailure::Start(e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin may exit before reading it: the write must then fail
        // with EPIPE rather than raise SIGPIPE, which would end the runtime.
        let document = serde_json::to_vec(state).unwrap_or_default();
        crate::sys::without_sigpipe(|| {
            let _ = stdin.write_all(&document);
            drop(stdin);
        });
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| failed(HookFailure::Wait(e)))? {
            let last_words = pass_on(said);
            if status.success() {
                return Ok(());
            }
            return Err(failed(HookFailure::Exit { status, last_words }));
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            pass_on(said);
            return Err(failed(HookFailure::Timeout(
                timeout.unwrap_or_default().as_secs(),
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An anonymous file for a hook's stderr.
fn said_file() -> std::io::Result<std::fs::File> {
    let fd = rustix::fs::memfd_create(c"hook-stderr", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(std::fs::File::from(fd))
}

/// Writes what the hook said to the runtime's stderr; returns its last line (shortened).
fn pass_on(mut said: std::fs::File) -> Option<String> {
    use std::io::{Read, Seek};
    let mut text = Vec::new();
    said.seek(std::io::SeekFrom::Start(0)).ok()?;
    said.take(1 << 20).read_to_end(&mut text).ok()?;
    let _ = std::io::stderr().write_all(&text);
    let text = String::from_utf8_lossy(&text);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(last.trim().chars().take(300).collect())
}
