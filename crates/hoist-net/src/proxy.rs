//! Published ports: a listener on the host side per mapping, each connection copied both ways
//! to the container's address. User space, like podman's rootlessport: no firewall rules to
//! add or forget.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Error, Result};

/// `[IP:]HOSTPORT:CONTAINERPORT[/tcp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host: SocketAddr,
    pub container_port: u16,
}

impl std::str::FromStr for PortMapping {
    type Err = Error;

    fn from_str(text: &str) -> Result<PortMapping> {
        let bad = || Error::BadPort(text.to_string());
        let spec = text.strip_suffix("/tcp").unwrap_or(text);
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host_port, container_port) = match parts.as_slice() {
            [host, container] => (Ipv4Addr::UNSPECIFIED, *host, *container),
            [ip, host, container] => (ip.parse().map_err(|_| bad())?, *host, *container),
            _ => return Err(bad()),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
        Ok(PortMapping {
            host: SocketAddr::from((ip, port(host_port)?)),
            container_port: port(container_port)?,
        })
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}->{}", self.host, self.container_port)
    }
}

/// Listens on every mapping's host address; returns the listeners, so that binding errors (a
/// port in use) are reported before the container starts.
pub fn bind(mappings: &[PortMapping]) -> Result<Vec<(TcpListener, u16)>> {
    mappings
        .iter()
        .map(|m| {
            TcpListener::bind(m.host)
                .map(|listener| (listener, m.container_port))
                .map_err(|e| Error::io(format!("publishing {m}"))(e))
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
pub fn serve(listeners: Vec<(TcpListener, u16)>, container: Ipv4Addr) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (listener, port) in listeners {
        let active = Arc::clone(&active);
        let target = SocketAddr::from((container, port));
        match std::thread::Builder::new().spawn(move || accept(listener, target, &active)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse() {
        let m: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(m.host, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(m.container_port, 80);
        let m: PortMapping = "127.0.0.1:9000:9000/tcp".parse().unwrap();
        assert_eq!(m.host, "127.0.0.1:9000".parse().unwrap());
        assert!("80".parse::<PortMapping>().is_err());
        assert!("0:80".parse::<PortMapping>().is_err());
        assert!("53:53/udp".parse::<PortMapping>().is_err());
    }
}
