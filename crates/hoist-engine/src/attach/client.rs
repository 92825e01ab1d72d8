//! The caller's side of a terminal session (`run -it`, `attach`, `exec -it`): the caller's
//! terminal in raw mode while it types into the container's (and given back its settings on
//! every way out: the end, a detach, an error, and while hoist itself is stopped), its window
//! size followed, the signals hoist receives passed on, the detach keys watched for.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use rustix::termios::{self, OptionalActions, Termios};

use super::detach_keys::{DetachKeys, DetachMatcher, Scanned};
use super::wire::{self, ToClient, ToHost, MAX_PAYLOAD};
use super::write_all;
use crate::{Error, Result};

/// How a session ended for its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The process ended with this code.
    Exited(i32),
    /// The detach keys were typed: the process runs on.
    Detached,
}

/// What a client does with the caller's stdin.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Pass stdin on (`-i`); without it stdin is left alone, and no keys detach.
    pub input: bool,
    /// The sequence that detaches (`None`: nothing does).
    pub detach_keys: Option<DetachKeys>,
}

/// The signals a client handles itself: passed on to the process, except window changes (sent
/// as sizes) and stops (hoist stops, with the caller's terminal settings given back).
fn handled_signals() -> SigSet {
    [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
        Signal::SIGWINCH,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGCONT,
    ]
    .into_iter()
    .collect()
}

/// Relays between the caller and the session's host until the process ends or the caller
/// detaches.
pub(crate) fn run_client(socket: OwnedFd, options: &ClientOptions) -> Result<Ended> {
    let socket = Arc::new(socket);
    let mut previous = SigSet::empty();
    // Blocked before any thread starts, so that every thread inherits the mask and only the
    // signal thread's sigwait takes them. SIGPIPE too, for a caller that does not ignore it
    // (hoist does): a closed stdout is then an error that ends the session with the terminal
    // given back, not a death in raw mode (a pending SIGPIPE acts once the mask is restored).
    let mut blocked = handled_signals();
    blocked.add(Signal::SIGPIPE);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut previous))
        .map_err(|e| Error::Process {
        what: "blocking signals",
        source: e.into(),
    })?;
    let terminal = Arc::new(CallerTerminal::take(options.input));
    // Gives the terminal back however this function is left, a panic included.
    let _give_back = GiveBack(Arc::clone(&terminal));
    send_size(&socket);
    {
        let (socket, terminal) = (Arc::clone(&socket), Arc::clone(&terminal));
        let _ = std::thread::Builder::new().spawn(move || handle_signals(&socket, &terminal));
    }
    let detached = Arc::new(AtomicBool::new(false));
    if options.input {
        let (socket, detached) = (Arc::clone(&socket), Arc::clone(&detached));
        let matcher = options.detach_keys.clone().map(DetachMatcher::new);
        let _ = std::thread::Builder::new().spawn(move || pass_input(&socket, matcher, &detached));
    }
    let ended = pass_output(&socket, &detached);
    terminal.give_back_for_good();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    ended
}

/// Copies the session's output to stdout until the host says how it ended.
fn pass_output(socket: &OwnedFd, detached: &AtomicBool) -> Result<Ended> {
    let mut buffer = vec![0u8; MAX_PAYLOAD + 1];
    let stdout = rustix::stdio::stdout();
    loop {
        match wire::receive_for_client(socket, &mut buffer) {
            Some(ToClient::Output(bytes)) => {
                write_all(stdout, &bytes).map_err(Error::OutputClosed)?;
            }
            Some(ToClient::Exited(code)) => return Ok(Ended::Exited(code)),
            Some(ToClient::Failed(why)) => return Err(Error::SessionFailed(why)),
            None if detached.load(Ordering::SeqCst) => {
                // On a terminal, the caller's prompt starts on a line of its own (as podman's).
                if termios::isatty(stdout) {
                    let _ = write_all(stdout, b"\r\n");
                }
                return Ok(Ended::Detached);
            }
            None => return Err(Error::SessionLost),
        }
    }
}

/// Copies stdin to the session, watching for the detach keys; at its end, stops (the
/// terminal stays open, as under podman).
fn pass_input(socket: &OwnedFd, mut matcher: Option<DetachMatcher>, detached: &AtomicBool) {
    let stdin = rustix::stdio::stdin();
    let mut buffer = vec![0u8; MAX_PAYLOAD];
    loop {
        let n = match rustix::io::read(stdin, &mut buffer) {
            Ok(0) => {
                // What was held back as a possible detach sequence was typed after all.
                if let Some(held) = matcher.as_mut().map(DetachMatcher::flush) {
                    let _ = wire::send_to_host(socket, &ToHost::Input(held));
                }
                return;
            }
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            // A read from the caller's terminal while hoist is in the background fails (its
            // SIGTTIN is blocked): wait to be brought back.
            Err(rustix::io::Errno::IO) if in_background(stdin) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
            Err(_) => return,
        };
        let (forward, detach) = match matcher.as_mut().map(|m| m.scan(&buffer[..n])) {
            None => (buffer[..n].to_vec(), false),
            Some(Scanned::Forward(bytes)) => (bytes, false),
            Some(Scanned::Detach(bytes)) => (bytes, true),
        };
        if !forward.is_empty() && wire::send_to_host(socket, &ToHost::Input(forward)).is_err() {
            return;
        }
        if detach {
            detached.store(true, Ordering::SeqCst);
            // Ends the output side's wait.
            let _ =
                nix::sys::socket::shutdown(socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
            return;
        }
    }
}

fn in_background(stdin: BorrowedFd<'_>) -> bool {
    termios::tcgetpgrp(stdin).is_ok_and(|group| group != rustix::process::getpgrp())
}

fn handle_signals(socket: &OwnedFd, terminal: &CallerTerminal) {
    let set = handled_signals();
    loop {
        let Ok(signal) = set.wait() else { return };
        match signal {
            Signal::SIGWINCH => send_size(socket),
            Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU => {
                terminal.give_back();
                let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGSTOP);
            }
            Signal::SIGCONT => {
                terminal.make_raw();
                send_size(socket);
            }
            other => {
                let _ = wire::send_to_host(socket, &ToHost::Signal(other as i32));
            }
        }
    }
}

/// Sends the caller's window size (from stdin, else stdout), if either is a terminal.
fn send_size(socket: &OwnedFd) {
    let size = termios::tcgetwinsize(rustix::stdio::stdin())
        .or_else(|_| termios::tcgetwinsize(rustix::stdio::stdout()));
    if let Ok(size) = size {
        let _ = wire::send_to_host(
            socket,
            &ToHost::Resize {
                rows: size.ws_row,
                cols: size.ws_col,
            },
        );
    }
}

/// The caller's terminal, when stdin is a terminal that is typed into the session: raw while
/// hoist relays it in the foreground, its own settings otherwise.
struct CallerTerminal {
    /// Whether stdin is such a terminal.
    relayed: bool,
    state: Mutex<TerminalState>,
}

#[derive(Default)]
struct TerminalState {
    /// The caller's settings, read when hoist first takes the terminal in the foreground (if it
    /// starts in the background, the shell's own settings are in force until then).
    saved: Option<Termios>,
    raw: bool,
    /// The session is over: the terminal is the caller's again, whatever signal comes.
    over: bool,
}

impl CallerTerminal {
    fn take(input: bool) -> CallerTerminal {
        let terminal = CallerTerminal {
            relayed: input && termios::isatty(rustix::stdio::stdin()),
            state: Mutex::default(),
        };
        terminal.make_raw();
        terminal
    }

    /// Raw for the relay; not while hoist is in the background (after `bg`), where it would
    /// be the caller's shell that got a raw terminal.
    fn make_raw(&self) {
        let stdin = rustix::stdio::stdin();
        if !self.relayed || in_background(stdin) {
            return;
        }
        let mut state = self.state.lock().expect("not poisoned");
        if state.over || state.raw {
            return;
        }
        if state.saved.is_none() {
            state.saved = termios::tcgetattr(stdin).ok();
        }
        let Some(saved) = &state.saved else { return };
        let mut raw = saved.clone();
        raw.make_raw();
        state.raw = termios::tcsetattr(stdin, OptionalActions::Now, &raw).is_ok();
    }

    fn give_back(&self) {
        give_back(&mut self.state.lock().expect("not poisoned"));
    }

    /// Gives the settings back and keeps them (in one step: a SIGCONT handled in between would
    /// make the terminal raw again).
    fn give_back_for_good(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        give_back(&mut state);
        state.over = true;
    }
}

fn give_back(state: &mut TerminalState) {
    if let (true, Some(saved)) = (state.raw, &state.saved) {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, saved);
    }
    state.raw = false;
}

struct GiveBack(Arc<CallerTerminal>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        self.0.give_back_for_good();
    }
}
