//! The host of a terminal (conmon's part): it holds the pty master for as long as the process
//! runs, keeps what the terminal shows (in the container's log, through its own stdout) and
//! passes it to every attached client, and gives the terminal what clients type, their window
//! sizes and the signals they receive. Clients come and go; the process runs on without them.
//!
//! Nothing a client or the process does can stall the host: each client's output waits in an
//! outbox of its own, sent by a thread of its own (a client that stops reading — stopped, say —
//! misses what comes past `OUTBOX_BYTES`, as with conmon), what clients type is written by a
//! thread of its own, and signals go to the process through a pidfd, never through this
//! process.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hoist_runtime::MasterHandler;

use super::wire::{self, ToClient, ToHost, MAX_PAYLOAD};
use super::write_all;

/// The name of a container's attach socket, in its directory.
pub(crate) const ATTACH_SOCKET: &str = "attach.sock";

/// Chunks of typed input (16 KiB at most each) waiting for a process that does not read them,
/// per session, before the clients typing more wait too.
const INPUT_QUEUE: usize = 512;

/// Output waiting for one client, beyond which it misses output.
const OUTBOX_BYTES: usize = 4 << 20;

/// How long the end of a session waits for a client with no room for it (a stopped one).
const LAST_WORD_WAIT: Duration = Duration::from_secs(2);

/// A client message, received whole: a chunk of input is at most `MAX_PAYLOAD` bytes plus a
/// detach sequence the client held back.
const RECEIVE_BUFFER: usize = 2 * MAX_PAYLOAD;

/// A terminal session being set up: its clients wait here until the process has a terminal.
pub(crate) struct Session {
    /// Where later clients connect (`hoist attach`); none for an exec session.
    listener: Option<OwnedFd>,
    /// The client that started the process, connected from the start so it misses nothing.
    first: Option<Arc<OwnedFd>>,
    clients: Arc<Mutex<Clients>>,
    output: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// Who is attached, and once the session is over, what each is told.
#[derive(Default)]
struct Clients {
    attached: Vec<Attached>,
    end: Option<ToClient>,
}

/// A client, and the output on its way to it.
struct Attached {
    socket: Arc<OwnedFd>,
    outbox: Sender<ToClient>,
    /// Bytes of output in the outbox.
    waiting: Arc<AtomicUsize>,
    sender: JoinHandle<()>,
}

impl Attached {
    fn new(socket: Arc<OwnedFd>) -> Attached {
        let (outbox, messages) = channel::<ToClient>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (socket, waiting) = (Arc::clone(&socket), Arc::clone(&waiting));
            std::thread::spawn(move || {
                for message in messages {
                    let sent = wire::send_to_client(&*socket, &message);
                    if let ToClient::Output(bytes) = &message {
                        waiting.fetch_sub(bytes.len(), Ordering::SeqCst);
                    }
                    if sent.is_err() {
                        return;
                    }
                }
            })
        };
        Attached {
            socket,
            outbox,
            waiting,
            sender,
        }
    }

    /// Queues output for the client, unless its outbox is full; false once it has gone.
    fn offer(&self, output: &[u8]) -> bool {
        if self.sender.is_finished() {
            return false;
        }
        if self.waiting.load(Ordering::SeqCst) + output.len() > OUTBOX_BYTES {
            return true;
        }
        self.waiting.fetch_add(output.len(), Ordering::SeqCst);
        self.outbox.send(ToClient::Output(output.to_vec())).is_ok()
    }

    /// Queues the last word, and waits until `deadline` for it to be sent.
    fn close_with(self, end: &ToClient, deadline: Instant) {
        let _ = self.outbox.send(end.clone());
        drop(self.outbox);
        while !self.sender.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
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
            clients: Arc::default(),
            output: Arc::default(),
        }
    }

    /// A session with one client only.
    pub(crate) fn with_client(client: OwnedFd) -> Session {
        Session {
            listener: None,
            first: Some(Arc::new(client)),
            clients: Arc::default(),
            output: Arc::default(),
        }
    }

    /// What the runtime calls with the pty master: the host starts serving it.
    pub(crate) fn handler(&mut self) -> MasterHandler {
        let listener = self.listener.take();
        let first = self.first.clone();
        let clients = Arc::clone(&self.clients);
        let output = Arc::clone(&self.output);
        Box::new(move |master, pid| {
            let host = Host::new(master, pid, clients);
            if let Some(first) = first {
                host.take_first(first);
            }
            if let Some(listener) = listener {
                let host = host.clone();
                let _ = std::thread::Builder::new().spawn(move || {
                    while let Ok(client) = wire::accept(&listener) {
                        host.serve(Arc::new(client), None);
                    }
                });
            }
            let thread = std::thread::Builder::new()
                .spawn(move || host.pass_output())
                .ok();
            *output.lock().expect("not poisoned") = thread;
        })
    }

    /// Waits (up to 2 s) until the terminal's last output is out: the process has ended, and
    /// its terminal closes once nothing else in the container holds it.
    pub(crate) fn drain(&self) {
        let Some(output) = self.output.lock().expect("not poisoned").take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !output.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Tells every client how it ended, after the output on its way to it (and any client that
    /// attaches from now on), and lets them go.
    pub(crate) fn finish(self, end: std::result::Result<i32, String>) {
        let message = match end {
            Ok(code) => ToClient::Exited(code),
            Err(why) => ToClient::Failed(why),
        };
        let attached = {
            let mut clients = self.clients.lock().expect("not poisoned");
            clients.end = Some(message.clone());
            std::mem::take(&mut clients.attached)
        };
        // Without a terminal (the process never started) only the first client is there.
        if let (true, Some(first)) = (attached.is_empty(), &self.first) {
            let _ = wire::send_last_to_client(&**first, &message, LAST_WORD_WAIT);
        }
        let deadline = Instant::now() + LAST_WORD_WAIT;
        for client in attached {
            client.close_with(&message, deadline);
        }
    }
}

/// A terminal being served; clones share it.
#[derive(Clone)]
struct Host {
    master: Arc<OwnedFd>,
    /// The process, for the signals clients pass on; none if it could not be opened (it has
    /// ended already).
    process: Option<Arc<OwnedFd>>,
    clients: Arc<Mutex<Clients>>,
    input: SyncSender<Vec<u8>>,
}

impl Host {
    fn new(master: OwnedFd, pid: i32, clients: Arc<Mutex<Clients>>) -> Host {
        let master = Arc::new(master);
        let process = rustix::process::Pid::from_raw(pid)
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
                    .inspect_err(|error| {
                        tracing::warn!(%error, pid = pid.as_raw_nonzero().get(), "no pidfd for the process: the signals clients pass on will not reach it");
                    })
                    .ok()
            })
            .map(Arc::new);
        let (input, typed) = sync_channel(INPUT_QUEUE);
        let writer = Arc::clone(&master);
        let _ = std::thread::Builder::new().spawn(move || write_input(&writer, &typed));
        Host {
            master,
            process,
            clients,
            input,
        }
    }

    /// Serves the first client, applying the window size it sent before the process had a
    /// terminal at once (a container's process has not started yet; see `MasterHandler`).
    fn take_first(&self, first: Arc<OwnedFd>) {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        let mut pending = None;
        while let Some(message) = wire::waiting_for_host(&*first, &mut buffer) {
            if let ToHost::Resize { .. } = message {
                self.obey(message);
            } else {
                pending = Some(message);
                break;
            }
        }
        self.serve(first, pending);
    }

    /// Adds a client, and reads what it sends (after `pending`) until it goes. A client that
    /// comes once the session is over is told how it ended.
    fn serve(&self, client: Arc<OwnedFd>, pending: Option<ToHost>) {
        {
            let mut clients = self.clients.lock().expect("not poisoned");
            if let Some(end) = &clients.end {
                let _ = wire::send_last_to_client(&*client, end, LAST_WORD_WAIT);
                return;
            }
            clients.attached.push(Attached::new(Arc::clone(&client)));
        }
        let host = self.clone();
        let _ = std::thread::Builder::new().spawn(move || {
            if let Some(message) = pending {
                host.obey(message);
            }
            let mut buffer = vec![0u8; RECEIVE_BUFFER];
            while let Some(message) = wire::receive_for_host(&*client, &mut buffer) {
                host.obey(message);
            }
            let mut clients = host.clients.lock().expect("not poisoned");
            clients
                .attached
                .retain(|c| !Arc::ptr_eq(&c.socket, &client));
        });
    }

    fn obey(&self, message: ToHost) {
        match message {
            ToHost::Input(bytes) => {
                let _ = self.input.send(bytes);
            }
            ToHost::Resize { rows, cols } => {
                let size = rustix::termios::Winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                let _ = rustix::termios::tcsetwinsize(&*self.master, size);
            }
            ToHost::Signal(number) => {
                let signal = rustix::process::Signal::from_named_raw(number);
                if let (Some(process), Some(signal)) = (&self.process, signal) {
                    let _ = rustix::process::pidfd_send_signal(&**process, signal);
                }
            }
            ToHost::Start(_) => {}
        }
    }

    /// Copies the terminal's output to this process's stdout (the log) and every client, until
    /// the terminal closes (a pty master reads EIO once nothing holds its slave).
    fn pass_output(&self) {
        let mut buffer = vec![0u8; MAX_PAYLOAD];
        loop {
            let n = match rustix::io::read(&*self.master, &mut buffer) {
                Ok(0) => return,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            };
            let output = &buffer[..n];
            let _ = write_all(rustix::stdio::stdout(), output);
            let mut clients = self.clients.lock().expect("not poisoned");
            clients.attached.retain(|client| client.offer(output));
        }
    }
}

/// Writes what clients type to the terminal, in order, for as long as the session lasts.
fn write_input(master: &OwnedFd, typed: &Receiver<Vec<u8>>) {
    while let Ok(bytes) = typed.recv() {
        let _ = write_all(master.as_fd(), &bytes);
    }
}
