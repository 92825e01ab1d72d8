//! The host of a terminal (conmon's part): it holds the pty master for as long as the process
//! runs, keeps what the terminal shows (in the container's log, through its own stdout) and
//! passes it to every attached client, and gives the terminal what clients type, their window
//! sizes and the signals they receive. Clients come and go; the process runs on without them.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hoist_runtime::MasterHandler;

use super::wire::{self, ToClient, ToHost, MAX_PAYLOAD};
use super::write_all;

/// The name of a container's attach socket, in its directory.
pub(crate) const ATTACH_SOCKET: &str = "attach.sock";

/// How long a client may leave a message unread before it is dropped (so that a stopped client
/// cannot stop the container's output, or its log).
const CLIENT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A terminal session being set up: its clients wait here until the process has a terminal.
pub(crate) struct Session {
    /// Where later clients connect (`hoist attach`); none for an exec session.
    listener: Option<OwnedFd>,
    /// The client that started the process, connected from the start so it misses nothing.
    first: Option<Arc<OwnedFd>>,
    host: Arc<Mutex<Option<Host>>>,
}

impl Session {
    /// A session whose clients connect at `dir`'s attach socket, and `first`. Should the
    /// socket not be made, the first client is served all the same (and told why `hoist
    /// attach` will not work).
    pub(crate) fn listening(dir: &Path, first: Option<OwnedFd>) -> Session {
        let listener = wire::listen(dir, ATTACH_SOCKET)
            .inspect_err(|error| {
                let path = dir.join(ATTACH_SOCKET);
                tracing::warn!(%error, path = %path.display(), "no attach socket: `hoist attach` will not reach this container");
            })
            .ok();
        Session {
            listener,
            first: first.map(Arc::new),
            host: Arc::default(),
        }
    }

    /// A session with one client only.
    pub(crate) fn with_client(client: OwnedFd) -> Session {
        Session {
            listener: None,
            first: Some(Arc::new(client)),
            host: Arc::default(),
        }
    }

    /// What the runtime calls with the pty master: the host starts serving it.
    pub(crate) fn handler(&mut self) -> MasterHandler {
        let listener = self.listener.take();
        let first = self.first.clone();
        let slot = Arc::clone(&self.host);
        Box::new(move |master| {
            let host = Host::start(master, first, listener);
            *slot.lock().expect("not poisoned") = Some(host);
        })
    }

    /// Waits (up to 2 s) until the terminal's last output is out: the process has ended, and
    /// its terminal closes once nothing else in the container holds it.
    pub(crate) fn drain(&self) {
        if let Some(host) = self.host.lock().expect("not poisoned").as_mut() {
            host.drain();
        }
    }

    /// Tells every client how it ended, and lets them go.
    pub(crate) fn finish(self, end: std::result::Result<i32, String>) {
        let message = match end {
            Ok(code) => ToClient::Exited(code),
            Err(why) => ToClient::Failed(why),
        };
        let host = self.host.lock().expect("not poisoned").take();
        let clients = match &host {
            Some(host) => host.clients.lock().expect("not poisoned").clone(),
            None => self.first.into_iter().collect(),
        };
        for client in clients {
            let _ = wire::send_to_client(&*client, &message);
        }
    }
}

/// A terminal being served.
struct Host {
    clients: Arc<Mutex<Vec<Arc<OwnedFd>>>>,
    output: Option<JoinHandle<()>>,
}

impl Host {
    fn start(master: OwnedFd, first: Option<Arc<OwnedFd>>, listener: Option<OwnedFd>) -> Host {
        let master = Arc::new(master);
        let clients: Arc<Mutex<Vec<Arc<OwnedFd>>>> = Arc::default();
        if let Some(first) = first {
            // What the client sent before the process had a terminal (its window size) is
            // applied before the process starts.
            let mut buffer = vec![0u8; MAX_PAYLOAD + 1];
            while let Some(message) = wire::waiting_for_host(&*first, &mut buffer) {
                obey(&master, message);
            }
            serve_client(&master, &clients, first);
        }
        if let Some(listener) = listener {
            let master = Arc::clone(&master);
            let clients = Arc::clone(&clients);
            let _ = std::thread::Builder::new().spawn(move || {
                while let Ok(client) = wire::accept(&listener) {
                    serve_client(&master, &clients, Arc::new(client));
                }
            });
        }
        let output = {
            let clients = Arc::clone(&clients);
            std::thread::Builder::new()
                .spawn(move || pass_output(&master, &clients))
                .ok()
        };
        Host { clients, output }
    }

    fn drain(&mut self) {
        let Some(output) = self.output.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !output.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Adds a client, and reads what it sends until it goes.
fn serve_client(
    master: &Arc<OwnedFd>,
    clients: &Arc<Mutex<Vec<Arc<OwnedFd>>>>,
    client: Arc<OwnedFd>,
) {
    let timeout = nix::sys::time::TimeVal::new(CLIENT_SEND_TIMEOUT.as_secs() as i64, 0);
    let _ =
        nix::sys::socket::setsockopt(&*client, nix::sys::socket::sockopt::SendTimeout, &timeout);
    clients
        .lock()
        .expect("not poisoned")
        .push(Arc::clone(&client));
    let master = Arc::clone(master);
    let clients = Arc::clone(clients);
    let _ = std::thread::Builder::new().spawn(move || {
        let mut buffer = vec![0u8; MAX_PAYLOAD + 1];
        while let Some(message) = wire::receive_for_host(&*client, &mut buffer) {
            obey(&master, message);
        }
        clients
            .lock()
            .expect("not poisoned")
            .retain(|c| !Arc::ptr_eq(c, &client));
    });
}

fn obey(master: &OwnedFd, message: ToHost) {
    match message {
        ToHost::Input(bytes) => write_all(master.as_fd(), &bytes),
        ToHost::Resize { rows, cols } => {
            let size = rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = rustix::termios::tcsetwinsize(master, size);
        }
        ToHost::Signal(number) => raise(number),
        ToHost::Start(_) => {}
    }
}

/// Passes a client's signal on: raised in this process, whose runtime call forwards what it
/// receives to the container's process. SIGKILL and SIGSTOP would end or stop this process
/// instead, so they are not passed (a client cannot catch them anyway).
fn raise(number: i32) {
    use nix::sys::signal::Signal;
    match Signal::try_from(number) {
        Ok(Signal::SIGKILL | Signal::SIGSTOP) | Err(_) => {}
        Ok(signal) => {
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), signal);
        }
    }
}

/// Copies the terminal's output to this process's stdout (the log) and every client, until the
/// terminal closes (a pty master reads EIO once nothing holds its slave).
fn pass_output(master: &OwnedFd, clients: &Mutex<Vec<Arc<OwnedFd>>>) {
    let mut buffer = vec![0u8; MAX_PAYLOAD];
    loop {
        let n = match rustix::io::read(master, &mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        };
        let output = &buffer[..n];
        write_all(rustix::stdio::stdout(), output);
        let message = ToClient::Output(output.to_vec());
        clients.lock().expect("not poisoned").retain(|client| {
            let sent = wire::send_to_client(&**client, &message).is_ok();
            if !sent {
                // Too slow, or gone: told so by the end of its connection.
                let _ = nix::sys::socket::shutdown(
                    std::os::fd::AsRawFd::as_raw_fd(&**client),
                    nix::sys::socket::Shutdown::Both,
                );
            }
            sent
        });
    }
}
