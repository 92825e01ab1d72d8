//! What a terminal's host and its clients say to each other: one message per packet of a
//! `SOCK_SEQPACKET` Unix socket (the kernel keeps the boundaries, so a message is a tag byte and
//! its payload, with no length to trust), sent with `MSG_NOSIGNAL` so a client that went away
//! is an error, never a SIGPIPE.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{self, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr};

/// The largest payload of one message; bigger output goes in several.
pub(crate) const MAX_PAYLOAD: usize = 16 * 1024;

/// A client's word to the host.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToHost {
    /// What was typed, for the terminal.
    Input(Vec<u8>),
    /// The client's window size.
    Resize { rows: u16, cols: u16 },
    /// A signal the client received, for the process (podman's `--sig-proxy`).
    Signal(i32),
    /// The process to start (`exec -it`'s first message): runtime-spec JSON.
    Start(Vec<u8>),
}

/// The host's word to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToClient {
    /// What the terminal showed.
    Output(Vec<u8>),
    /// The process ended with this code (128+N for signal N), and everything is cleaned up.
    Exited(i32),
    /// The process could not be run, or the host failed: why.
    Failed(String),
}

const INPUT: u8 = 0;
const RESIZE: u8 = 1;
const SIGNAL: u8 = 2;
const START: u8 = 3;
const OUTPUT: u8 = 0;
const EXITED: u8 = 1;
const FAILED: u8 = 2;

impl ToHost {
    fn encode(&self) -> Vec<u8> {
        match self {
            ToHost::Input(bytes) => tagged(INPUT, bytes),
            ToHost::Resize { rows, cols } => {
                let mut packet = vec![RESIZE];
                packet.extend_from_slice(&rows.to_le_bytes());
                packet.extend_from_slice(&cols.to_le_bytes());
                packet
            }
            ToHost::Signal(signal) => tagged(SIGNAL, &signal.to_le_bytes()),
            ToHost::Start(json) => tagged(START, json),
        }
    }

    fn decode(packet: &[u8]) -> Option<ToHost> {
        let (&tag, rest) = packet.split_first()?;
        Some(match tag {
            INPUT => ToHost::Input(rest.to_vec()),
            RESIZE => {
                let [r0, r1, c0, c1] = rest.try_into().ok()?;
                ToHost::Resize {
                    rows: u16::from_le_bytes([r0, r1]),
                    cols: u16::from_le_bytes([c0, c1]),
                }
            }
            SIGNAL => ToHost::Signal(i32::from_le_bytes(rest.try_into().ok()?)),
            START => ToHost::Start(rest.to_vec()),
            _ => return None,
        })
    }
}

impl ToClient {
    fn encode(&self) -> Vec<u8> {
        match self {
            ToClient::Output(bytes) => tagged(OUTPUT, bytes),
            ToClient::Exited(code) => tagged(EXITED, &code.to_le_bytes()),
            ToClient::Failed(why) => tagged(FAILED, why.as_bytes()),
        }
    }

    fn decode(packet: &[u8]) -> Option<ToClient> {
        let (&tag, rest) = packet.split_first()?;
        Some(match tag {
            OUTPUT => ToClient::Output(rest.to_vec()),
            EXITED => ToClient::Exited(i32::from_le_bytes(rest.try_into().ok()?)),
            FAILED => ToClient::Failed(String::from_utf8_lossy(rest).into_owned()),
            _ => return None,
        })
    }
}

fn tagged(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(1 + payload.len());
    packet.push(tag);
    packet.extend_from_slice(payload);
    packet
}

pub(crate) fn send_to_host(socket: impl AsFd, message: &ToHost) -> std::io::Result<()> {
    send(socket, &message.encode())
}

pub(crate) fn send_to_client(socket: impl AsFd, message: &ToClient) -> std::io::Result<()> {
    send(socket, &message.encode())
}

/// Sends a session's last word, waiting at most `limit` for room (a stopped client must not
/// keep its host from ending).
pub(crate) fn send_last_to_client(
    socket: impl AsFd,
    message: &ToClient,
    limit: std::time::Duration,
) -> std::io::Result<()> {
    let limit = nix::sys::time::TimeVal::new(limit.as_secs() as i64, limit.subsec_micros().into());
    socket::setsockopt(&socket, socket::sockopt::SendTimeout, &limit)?;
    send_to_client(socket, message)
}

fn send(socket: impl AsFd, packet: &[u8]) -> std::io::Result<()> {
    loop {
        match socket::send(socket.as_fd().as_raw_fd(), packet, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The next message; `None` once the peer has gone (or sent what is not a message).
pub(crate) fn receive_for_host(socket: impl AsFd, buffer: &mut [u8]) -> Option<ToHost> {
    receive(socket, buffer, MsgFlags::empty()).and_then(ToHost::decode)
}

/// A message already waiting, if there is one.
pub(crate) fn waiting_for_host(socket: impl AsFd, buffer: &mut [u8]) -> Option<ToHost> {
    receive(socket, buffer, MsgFlags::MSG_DONTWAIT).and_then(ToHost::decode)
}

pub(crate) fn receive_for_client(socket: impl AsFd, buffer: &mut [u8]) -> Option<ToClient> {
    receive(socket, buffer, MsgFlags::empty()).and_then(ToClient::decode)
}

fn receive(socket: impl AsFd, buffer: &mut [u8], flags: MsgFlags) -> Option<&[u8]> {
    loop {
        match socket::recv(socket.as_fd().as_raw_fd(), buffer, flags) {
            Ok(0) => return None,
            Ok(n) => return Some(&buffer[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// A connected pair: the client's end, and the host's.
pub(crate) fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Listens at `dir/name`. The path goes through `/proc/self/fd`, since a socket's path may be
/// at most 107 bytes and a store's container directories can be longer.
pub(crate) fn listen(dir: &Path, name: &str) -> std::io::Result<OwnedFd> {
    let dir_fd = std::fs::File::open(dir)?;
    let short = format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd());
    let _ = std::fs::remove_file(&short);
    let listener = new_socket()?;
    socket::bind(listener.as_raw_fd(), &UnixAddr::new(short.as_str())?)?;
    socket::listen(&listener, Backlog::new(8)?)?;
    Ok(listener)
}

pub(crate) fn connect(dir: &Path, name: &str) -> std::io::Result<OwnedFd> {
    let dir_fd = std::fs::File::open(dir)?;
    let short = format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd());
    let socket = new_socket()?;
    socket::connect(socket.as_raw_fd(), &UnixAddr::new(short.as_str())?)?;
    Ok(socket)
}

pub(crate) fn accept(listener: impl AsFd) -> std::io::Result<OwnedFd> {
    Ok(rustix::net::accept_with(
        listener,
        rustix::net::SocketFlags::CLOEXEC,
    )?)
}

fn new_socket() -> std::io::Result<OwnedFd> {
    Ok(socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_a_pair_whole_and_in_order() {
        let (client, host) = pair().unwrap();
        let mut buffer = vec![0u8; MAX_PAYLOAD + 1];
        for message in [
            ToHost::Resize {
                rows: 40,
                cols: 120,
            },
            ToHost::Input(b"ls\r".to_vec()),
            ToHost::Signal(15),
            ToHost::Start(b"{}".to_vec()),
        ] {
            send_to_host(&client, &message).unwrap();
            assert_eq!(receive_for_host(&host, &mut buffer), Some(message));
        }
        for message in [
            ToClient::Output(vec![b'x'; MAX_PAYLOAD]),
            ToClient::Exited(130),
            ToClient::Failed("no such file".into()),
        ] {
            send_to_client(&host, &message).unwrap();
            assert_eq!(receive_for_client(&client, &mut buffer), Some(message));
        }
        assert_eq!(waiting_for_host(&host, &mut buffer), None);
        drop(client);
        assert_eq!(receive_for_host(&host, &mut buffer), None);
        assert!(
            send_to_client(&host, &ToClient::Exited(0)).is_err(),
            "no SIGPIPE either"
        );
    }

    #[test]
    fn a_malformed_packet_is_no_message() {
        assert_eq!(ToHost::decode(&[RESIZE, 1, 2]), None);
        assert_eq!(ToHost::decode(&[9]), None);
        assert_eq!(ToHost::decode(&[]), None);
        assert_eq!(ToClient::decode(&[EXITED, 0]), None);
    }

    #[test]
    fn a_socket_in_a_directory_with_a_long_path_is_reached() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("d".repeat(120));
        std::fs::create_dir(&dir).unwrap();
        let listener = listen(&dir, "attach.sock").unwrap();
        let client = connect(&dir, "attach.sock").unwrap();
        let host = accept(&listener).unwrap();
        send_to_host(&client, &ToHost::Signal(2)).unwrap();
        let mut buffer = [0u8; 16];
        assert_eq!(
            receive_for_host(&host, &mut buffer),
            Some(ToHost::Signal(2))
        );
    }
}
