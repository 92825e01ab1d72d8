//! A foreground container with a terminal and no console socket gets a pty of its own, which
//! the runtime relays to the caller's terminal (as runc and podman do): the container never
//! holds the caller's terminal, so it cannot push input into the caller's shell (TIOCSTI) or
//! change its settings. The caller's terminal is raw for the relay and given back its settings
//! when the relay ends, on an error too (a SIGKILL of the runtime leaves it raw, as under runc).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::MsgFlags;
use rustix::termios::{self, OptionalActions, Termios};

/// The pty master the init sent over its console socket, if it sent one (it does when the
/// process has a terminal); read without waiting: the init sends it before it reports ready.
pub(crate) fn received_master(socket: &UnixStream) -> Option<OwnedFd> {
    let mut buf = [0u8; 256];
    crate::sys::receive_with_fd(socket, &mut buf, MsgFlags::MSG_DONTWAIT)
        .ok()?
        .1
}

/// The relay between the caller's stdin/stdout and the container's pty.
pub(crate) struct Relay {
    master: Arc<OwnedFd>,
    /// The caller's terminal settings, put back when the relay ends.
    saved: Option<Termios>,
    output: Option<JoinHandle<()>>,
}

impl Relay {
    pub(crate) fn start(master: OwnedFd) -> Relay {
        let saved = termios::tcgetattr(stdin()).ok();
        if let Some(settings) = &saved {
            let mut raw = settings.clone();
            raw.make_raw();
            let _ = termios::tcsetattr(stdin(), OptionalActions::Now, &raw);
        }
        let master = Arc::new(master);
        resize(master.as_fd());
        let input = Arc::clone(&master);
        // Left running when the container ends: it is blocked reading the caller's stdin.
        let _ = std::thread::Builder::new().spawn(move || copy(stdin(), input.as_fd()));
        let output_master = Arc::clone(&master);
        let output = std::thread::Builder::new()
            .spawn(move || copy(output_master.as_fd(), stdout()))
            .ok();
        Relay {
            master,
            saved,
            output,
        }
    }

    /// Gives the container's terminal the caller's window size (the kernel then signals
    /// SIGWINCH to its foreground process group).
    pub(crate) fn resize(&self) {
        resize(self.master.as_fd());
    }

    /// Waits (briefly) for the container's last output to reach the caller, then restores the
    /// caller's terminal.
    pub(crate) fn finish(mut self) {
        if let Some(output) = self.output.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !output.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(settings) = &self.saved {
            let _ = termios::tcsetattr(stdin(), OptionalActions::Now, settings);
        }
    }
}

/// Copies the caller's window size (from stdin, else stdout) to the container's terminal.
fn resize(master: BorrowedFd<'_>) {
    let size = termios::tcgetwinsize(stdin()).or_else(|_| termios::tcgetwinsize(stdout()));
    if let Ok(size) = size {
        let _ = termios::tcsetwinsize(master, size);
    }
}

fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

fn stdout() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}

/// Copies until either side ends (a pty master reads EIO once no process holds the terminal).
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut buffer = [0u8; 8192];
    loop {
        let n = match rustix::io::read(from, &mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        };
        let mut written = 0;
        while written < n {
            match rustix::io::write(to, &buffer[written..n]) {
                Ok(0) => return,
                Ok(m) => written += m,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}
