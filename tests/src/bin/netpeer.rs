//! The other end of the networking tests: servers that tell each caller the address they see
//! it from (so a test can tell a masqueraded or proxied caller from the real one), their
//! clients, and a DNS server answering A queries for the names it is given. Run in the test's
//! stand-in for "the internet" (a network namespace of its own) or inside a container.
//!
//! netpeer tcp-hello ADDR          each connection gets "you are PEER\n"
//! netpeer udp-hello ADDR          each datagram gets "you are PEER\n"
//! netpeer tcp-ask ADDR            prints what the server says
//! netpeer udp-ask ADDR            sends one datagram, prints the answer
//! netpeer dns ADDR NAME=IP...     answers A queries for NAME, NXDOMAIN for anything else

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = |i: usize| -> SocketAddr { args[i].parse().expect("an IP:PORT") };
    match args.first().map(String::as_str) {
        Some("tcp-hello") => {
            let listener = TcpListener::bind(address(1)).expect("binding");
            ready();
            for stream in listener.incoming().flatten() {
                let peer = stream.peer_addr().expect("a peer");
                let _ = (&stream).write_all(format!("you are {peer}\n").as_bytes());
            }
        }
        Some("udp-hello") => {
            let socket = UdpSocket::bind(address(1)).expect("binding");
            ready();
            let mut buffer = [0u8; 512];
            while let Ok((_, peer)) = socket.recv_from(&mut buffer) {
                let _ = socket.send_to(format!("you are {peer}\n").as_bytes(), peer);
            }
        }
        Some("tcp-ask") => {
            let mut stream = TcpStream::connect_timeout(&address(1), Duration::from_secs(5))
                .expect("connecting");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("an answer");
            print!("{answer}");
        }
        Some("udp-ask") => {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut buffer = [0u8; 512];
            // UDP may be lost while a path is set up: ask a few times.
            for _ in 0..5 {
                socket.send_to(b"hello", address(1)).expect("sending");
                if let Ok((length, _)) = socket.recv_from(&mut buffer) {
                    print!("{}", String::from_utf8_lossy(&buffer[..length]));
                    return;
                }
            }
            eprintln!("netpeer: no answer from {}", args[1]);
            std::process::exit(1);
        }
        Some("dns") => {
            let names: Vec<(String, Ipv4Addr)> = args[2..]
                .iter()
                .map(|pair| {
                    let (name, ip) = pair.split_once('=').expect("NAME=IP");
                    (
                        name.to_ascii_lowercase(),
                        ip.parse().expect("an IPv4 address"),
                    )
                })
                .collect();
            let socket = UdpSocket::bind(address(1)).expect("binding");
            ready();
            let mut buffer = [0u8; 512];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer) {
                if let Some(answer) = answer(&buffer[..length], &names) {
                    let _ = socket.send_to(&answer, peer);
                }
            }
        }
        _ => {
            eprintln!(
                "usage: netpeer tcp-hello|udp-hello|tcp-ask|udp-ask ADDR | dns ADDR NAME=IP..."
            );
            std::process::exit(2);
        }
    }
}

/// Tells the starter the socket is bound.
fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

/// The answer to a DNS query (RFC 1035 §4): the question echoed, and an A record for a name
/// it knows (for an AAAA or other question about a known name: no records; unknown: NXDOMAIN).
fn answer(query: &[u8], names: &[(String, Ipv4Addr)]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let length = *query.get(at)? as usize;
        at += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + length)?).to_ascii_lowercase());
        at += length;
    }
    let question_end = at + 4;
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let name = labels.join(".");
    let found = names.iter().find(|(n, _)| *n == name).map(|(_, ip)| *ip);
    let mut reply = Vec::from(query.get(..question_end)?);
    reply[2] = 0x84 | (query[2] & 0x01); // a response, authoritative, RD copied
    reply[3] = if found.is_some() { 0x00 } else { 0x03 }; // NOERROR or NXDOMAIN
    reply[4..6].copy_from_slice(&1u16.to_be_bytes()); // one question
    let answers: u16 = u16::from(found.is_some() && qtype == 1);
    reply[6..8].copy_from_slice(&answers.to_be_bytes());
    reply[8..12].fill(0);
    if let (Some(ip), 1) = (found, answers) {
        reply.extend_from_slice(&[0xc0, 12]); // the name: a pointer to the question's
        reply.extend_from_slice(&[0, 1, 0, 1]); // A, IN
        reply.extend_from_slice(&60u32.to_be_bytes()); // TTL
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&ip.octets());
    }
    Some(reply)
}
