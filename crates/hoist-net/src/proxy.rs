//! Published ports' sockets on the host, held by the container's monitor: they keep the ports
//! taken and carry what the firewall's DNAT rules cannot, connections and datagrams to a
//! loopback address (copied both ways to the container's address, as podman's rootlessport
//! does). Everything else reaches the container through the rules, with its real source.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Error, PortMapping, Protocol};

/// A published port's socket on the host: it holds the port (so nothing else takes it while
/// the container runs, and a port in use fails before the container starts) and carries the
/// traffic the firewall's rules cannot (to loopback addresses).
pub enum Listener {
    Tcp(TcpListener, u16),
    Udp(UdpSocket, u16),
}

/// Binds every mapping's host address; a port in use is an error naming it.
pub fn bind(mappings: &[PortMapping]) -> crate::Result<Vec<Listener>> {
    mappings
        .iter()
        .map(|m| {
            let bound = match m.protocol {
                Protocol::Tcp => {
                    TcpListener::bind(m.host).map(|l| Listener::Tcp(l, m.container_port))
                }
                Protocol::Udp => {
                    UdpSocket::bind(m.host).map(|s| Listener::Udp(s, m.container_port))
                }
            };
            bound.map_err(|e| Error::io(format!("publishing {m}"))(e))
        })
        .collect()
}

/// Connections forwarded at once by one proxy; a client opening more gets them closed, so it
/// cannot make the proxy start threads without end.
const MAX_CONNECTIONS: usize = 1024;
/// How long the container may take to accept a forwarded connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Forwards connections from the listeners to `container` until the process ends. A failure to
/// serve one connection (no thread to be had, the container not answering) closes that one
/// connection and nothing else: the listeners keep going.
pub fn serve(listeners: Vec<Listener>, container: Ipv4Addr) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for listener in listeners {
        let active = Arc::clone(&active);
        let (port, serve): (u16, Box<dyn FnOnce() + Send>) = match listener {
            Listener::Tcp(listener, port) => {
                let target = SocketAddr::from((container, port));
                (port, Box::new(move || accept(listener, target, &active)))
            }
            Listener::Udp(socket, port) => {
                let target = SocketAddr::from((container, port));
                (port, Box::new(move || relay(socket, target, &active)))
            }
        };
        match std::thread::Builder::new().spawn(serve) {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                eprintln!("hoist: cannot start the listener for port {port}: {error}");
                std::process::exit(1);
            }
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
    std::process::exit(0)
}

fn accept(listener: TcpListener, target: SocketAddr, active: &Arc<AtomicUsize>) {
    for client in listener.incoming() {
        let client = match client {
            Ok(client) => client,
            // Out of fds, or a connection reset before it was accepted: the next may do.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(slot) = Slot::take(active) else {
            continue; // over the bound: `client` is closed here
        };
        // A thread that cannot be started drops the closure, and with it the connection and
        // its slot.
        let _ = std::thread::Builder::new().spawn(move || {
            let _slot = slot;
            let _ = forward(client, target);
        });
    }
}

/// One of the `MAX_CONNECTIONS`, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Option<Slot> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONNECTIONS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(active)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn forward(client: TcpStream, target: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = std::thread::Builder::new().spawn(move || {
        let _ = io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    })?;
    let (mut server_read, mut client_write) = (server, client);
    let _ = io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}

/// How long a UDP client's flow is kept without an answer from the container (a client that
/// goes on sending to a silent server gets a new flow, from a new source port, after it).
const UDP_FLOW_IDLE: Duration = Duration::from_secs(60);

/// UDP from loopback clients: per client a socket connected to the container, whose answers go
/// back from the published port. Each flow holds one of the `MAX_CONNECTIONS` slots until the
/// container has not answered on it for `UDP_FLOW_IDLE`.
fn relay(socket: UdpSocket, target: SocketAddr, active: &Arc<AtomicUsize>) {
    let socket = Arc::new(socket);
    let flows: Arc<Mutex<HashMap<SocketAddr, UdpSocket>>> = Arc::default();
    let mut buffer = vec![0u8; 65536];
    loop {
        let Ok((length, client)) = socket.recv_from(&mut buffer) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let datagram = &buffer[..length];
        if let Some(flow) = flows.lock().expect("no panics under the lock").get(&client) {
            let _ = flow.send(datagram);
            continue;
        }
        let Some(slot) = Slot::take(active) else {
            continue;
        };
        let Ok(flow) = open_flow(target) else {
            continue;
        };
        let _ = flow.send(datagram);
        let (Ok(answers), Ok(kept)) = (flow.try_clone(), flow.try_clone()) else {
            continue;
        };
        flows
            .lock()
            .expect("no panics under the lock")
            .insert(client, kept);
        let (socket, flows) = (Arc::clone(&socket), Arc::clone(&flows));
        let _ = std::thread::Builder::new().spawn(move || {
            let _slot = slot;
            let mut buffer = vec![0u8; 65536];
            while let Ok(length) = answers.recv(&mut buffer) {
                let _ = socket.send_to(&buffer[..length], client);
            }
            flows
                .lock()
                .expect("no panics under the lock")
                .remove(&client);
        });
    }
}

fn open_flow(target: SocketAddr) -> io::Result<UdpSocket> {
    let flow = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    flow.connect(target)?;
    flow.set_read_timeout(Some(UDP_FLOW_IDLE))?;
    Ok(flow)
}
