//! Terminal sessions, as podman and conmon make them: a process with a terminal (`run -it`,
//! `run -dit`, `exec -it`) has a host that holds the pty master as long as it runs — a
//! container's monitor, or for `exec -it` a session host of its own — and the callers' hoists
//! are its clients, attached and detached at will (`--detach-keys`, `hoist attach`).
//!
//! A foreground `run -it` starts the monitor with its first client already connected (a socket
//! pair, the monitor's stdin), so nothing the container prints is missed; `hoist attach`
//! connects to the container's `attach.sock`, in its directory under the store's `containers/`,
//! which only root may enter (0700).

mod client;
mod detach_keys;
mod host;
mod wire;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hoist_runtime::{ExecOptions, Runtime, TerminalUse};
use oci_spec::runtime::Process;

pub(crate) use client::run_client;
pub use client::{ClientOptions, Ended};
pub use detach_keys::{DetachKeys, DEFAULT_DETACH_KEYS};
pub(crate) use host::Session;

use crate::{Activity, Container, Error, Result, Store};

/// The hidden verb of an `exec -it` session's host: `exec-session [--pid-file FILE] ID`, its
/// client on stdin.
pub const EXEC_SESSION_VERB: &str = "exec-session";
/// The session host's flag for where to write the process's pid.
pub const EXEC_SESSION_PID_FILE_FLAG: &str = "--pid-file";

/// `hoist attach NAME`: joins a running container's terminal until it ends or the caller
/// detaches.
pub fn attach(
    runtime: &Runtime,
    store: &Store,
    id: &str,
    options: &ClientOptions,
) -> Result<Ended> {
    let container = Container::find(store, id)?;
    let id = container.record.name.as_str();
    if !Activity::of(runtime, &container).alive() {
        return Err(Error::NotRunning(id.to_string()));
    }
    if !container.record.tty {
        return Err(Error::NoTerminal(id.to_string()));
    }
    let socket =
        wire::connect(&container.dir, host::ATTACH_SOCKET).map_err(|source| Error::Attaching {
            id: id.to_string(),
            source,
        })?;
    match client::run_client(socket, options) {
        // Attached as the monitor was ending: its record says how the container did.
        Err(Error::SessionLost) => match Container::open(store, id)
            .ok()
            .and_then(|c| c.record.exit_code)
        {
            Some(code) => Ok(Ended::Exited(code)),
            None => Err(Error::SessionLost),
        },
        ended => ended,
    }
}

/// `hoist exec -it NAME CMD`: the process runs under a session host (hoist re-executed with
/// [`EXEC_SESSION_VERB`]), so that it runs on when the caller detaches; this process is the
/// host's client. The process starts at the caller's window size.
pub fn exec_in_terminal(
    runtime: &Runtime,
    id: &str,
    process: &Process,
    pid_file: Option<&Path>,
    options: &ClientOptions,
) -> Result<Ended> {
    let mut process = process.clone();
    if process.console_size().is_none() {
        process.set_console_size(callers_size());
    }
    let (client, host) = session_pair()?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("--root")
        .arg(runtime.root())
        .arg(EXEC_SESSION_VERB);
    if let Some(path) = pid_file {
        command.arg(EXEC_SESSION_PID_FILE_FLAG).arg(path);
    }
    let spawned = command
        .arg(id)
        .stdin(Stdio::from(host))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // The command holds the host's end of the socket: this process must not, or it would never
    // see the host go.
    drop(command);
    let mut child = spawned.map_err(|source| Error::Spawn {
        what: "the exec session's host",
        source,
    })?;
    let json = serde_json::to_vec(&process).expect("a process serializes");
    wire::send_to_host(&client, &wire::ToHost::Start(json)).map_err(|source| Error::Process {
        what: "sending the process to its session host",
        source,
    })?;
    let ended = client::run_client(client, options);
    if session_over(&ended) {
        let _ = child.wait();
    }
    ended
}

/// Whether the session's host is done (then it ends at once), rather than running on after a
/// detach or a closed output.
pub(crate) fn session_over(ended: &Result<Ended>) -> bool {
    matches!(
        ended,
        Ok(Ended::Exited(_)) | Err(Error::SessionFailed(_) | Error::SessionLost)
    )
}

/// The caller's window size (from stdin, else stdout), if either is a terminal.
pub(crate) fn callers_size() -> Option<oci_spec::runtime::Box> {
    let size = rustix::termios::tcgetwinsize(rustix::stdio::stdin())
        .or_else(|_| rustix::termios::tcgetwinsize(rustix::stdio::stdout()))
        .ok()?;
    oci_spec::runtime::BoxBuilder::default()
        .height(size.ws_row)
        .width(size.ws_col)
        .build()
        .ok()
}

/// A connected pair of sockets: a session's client's end, and its host's.
pub(crate) fn session_pair() -> Result<(OwnedFd, OwnedFd)> {
    wire::pair().map_err(|source| Error::Process {
        what: "making the terminal session's socket",
        source,
    })
}

/// The session host's side of `exec -it`: runs the process its client sends, with a terminal,
/// to its end, whether or not the client stays.
pub fn host_exec_session(runtime: &Runtime, id: &str, pid_file: Option<PathBuf>) -> Result<()> {
    leave_callers_session();
    let client = take_stdin()?;
    let mut buffer = vec![0u8; 1 << 20];
    let process: Process = match wire::receive_for_host(&client, &mut buffer) {
        Some(wire::ToHost::Start(json)) => {
            serde_json::from_slice(&json).map_err(|_| Error::NoProcessToStart)?
        }
        _ => return Err(Error::NoProcessToStart),
    };
    let mut session = Session::with_client(client);
    let options = ExecOptions {
        process,
        pid_file,
        console_socket: None,
        detach: false,
        preserve_fds: 0,
    };
    let outcome = runtime.exec_with_terminal(id, &options, TerminalUse::Hand(session.handler()));
    session.drain();
    session.finish(
        outcome
            .map(|exited| exited.map_or(0, |e| e.code))
            .map_err(|e| crate::render_chain(&e)),
    );
    Ok(())
}

/// Leaves the caller's session, so that neither its terminal's hangup nor the keys typed there
/// reach this process (fails only for a process group leader, which a spawned child is not).
pub(crate) fn leave_callers_session() {
    let _ = nix::unistd::setsid();
}

/// Takes stdin (the first client's socket) as a socket of its own, leaving /dev/null there so
/// that nothing started from here inherits it.
pub(crate) fn take_stdin() -> Result<OwnedFd> {
    let stdin = rustix::stdio::stdin();
    let socket = rustix::io::fcntl_dupfd_cloexec(stdin, 3).map_err(|e| Error::Process {
        what: "taking the client's socket from stdin",
        source: e.into(),
    })?;
    let null = std::fs::File::open("/dev/null").map_err(Error::io("opening", "/dev/null"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| Error::io("making stdin", "/dev/null")(e.into()))?;
    Ok(socket)
}

/// Writes all of `bytes`; an error means the reader is gone.
fn write_all(to: impl std::os::fd::AsFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(&to, bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
