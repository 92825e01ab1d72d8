//! A fault-injecting proxy in front of a real registry: requests are forwarded to it unchanged,
//! except those a rule matches, which fail the way networks and registries fail (an error
//! status, a cut connection, a stall, a redirect) or get an answer of the test's making. Every
//! request is recorded. With no upstream, it is a server that answers everything alike and
//! records who asked ([`FaultProxy::answering`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After`, if given) instead of forwarding.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Forward, but close the connection after this many bytes of the body.
    CutAfter(usize),
    /// Forward this many bytes of the body, then send nothing more, keeping the connection open.
    StallAfter(usize),
    /// Answer `307 Temporary Redirect` to the same path on another server (`http://ADDRESS`).
    RedirectTo(String),
    /// Answer with this status and these headers, and no body.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Forward, with this header of the answer set to this value (a registry, or a proxy, that
    /// lies in it).
    Header { name: String, value: String },
    /// Reset the connection (a TCP RST) instead of answering: what a crashing server, a
    /// restarted load balancer or a plain-HTTP server hanging up on a TLS handshake does.
    Reset,
    /// A network that fails at random: one request in `one_in` gets a reset, a cut or a stall
    /// at a random byte, or a 503, chosen by a generator seeded with `seed` (the same seed
    /// gives the same sequence of choices).
    Chaos { one_in: u32, seed: u64 },
}

/// The path a TLS handshake is recorded under (a client trying HTTPS on this plain port), for
/// rules about it.
pub const TLS_HANDSHAKE: &str = "<tls handshake>";

/// A fault for the next `times` requests whose path contains `path_contains`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub path_contains: String,
    pub times: usize,
    pub fault: Fault,
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
    pub at: Instant,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

pub struct FaultProxy {
    pub address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    /// The generator of `Fault::Chaos`, seeded by the first such rule used.
    chaos: Mutex<Option<fastrand::Rng>>,
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    /// Sent upstream in place of the client's own (a storage backend's own access).
    upstream_authorization: Option<String>,
}

impl FaultProxy {
    /// Proxies to `upstream` (HOST:PORT of a plain-HTTP registry) on an ephemeral 127.0.0.1 port.
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        FaultProxy::start_with(upstream, rules, None)
    }

    /// Like [`FaultProxy::start`], but authenticating upstream itself with `authorization`.
    pub fn start_with(
        upstream: &str,
        rules: Vec<Rule>,
        upstream_authorization: Option<String>,
    ) -> FaultProxy {
        FaultProxy::listen("127.0.0.1", upstream, rules, upstream_authorization)
    }

    /// A server on an ephemeral port of `ip` that forwards nothing: it answers every request
    /// with `status` and `headers`, and records it. Another loopback address than the
    /// registry's (`127.0.0.2`) is another host to a client: a redirect target or a token
    /// service elsewhere.
    pub fn answering(ip: &str, status: u16, headers: &[(&str, &str)]) -> FaultProxy {
        let every_request = Rule {
            path_contains: String::new(),
            times: usize::MAX,
            fault: Fault::Answer {
                status,
                headers: headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
            },
        };
        FaultProxy::listen(ip, "", vec![every_request], None)
    }

    fn listen(
        ip: &str,
        upstream: &str,
        rules: Vec<Rule>,
        upstream_authorization: Option<String>,
    ) -> FaultProxy {
        let listener =
            TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip} (port 0): {e}"));
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            chaos: Mutex::new(None),
            upstream: upstream.to_string(),
            rules: Mutex::new(rules),
            seen: Arc::clone(&seen),
            stop: Arc::clone(&stop),
            upstream_authorization,
        });
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || {
                        let _ = serve(stream, &shared);
                    });
                }
            }
        });
        FaultProxy {
            address,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests whose path contains `part`.
    pub fn seen_for(&self, part: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.contains(part))
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let first = reader.fill_buf()?;
    if first.is_empty() {
        return Ok(None);
    }
    // A TLS handshake (the client trying HTTPS first) is not HTTP: recorded, then closed.
    if first[0] == 0x16 {
        return Ok(Some(Request {
            method: "TLS".to_string(),
            path: TLS_HANDSHAKE.to_string(),
            headers: Vec::new(),
        }));
    }
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(Some(Request {
        method,
        path,
        headers,
    }))
}

/// Reads and drops a request's body (never forwarded): the next request starts after it.
fn skip_body(reader: &mut BufReader<TcpStream>, request: &Request) -> std::io::Result<()> {
    let length = request
        .header("Content-Length")
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = length {
        std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
    }
    Ok(())
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    while let Some(request) = read_request(&mut reader)? {
        let fault = {
            let mut rules = shared.rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| r.times > 0 && request.path.contains(&r.path_contains))
                .map(|rule| {
                    rule.times -= 1;
                    rule.fault.clone()
                })
        };
        let fault = match fault {
            Some(Fault::Chaos { one_in, seed }) => chaos(shared, one_in, seed),
            other => other,
        };
        shared.seen.lock().unwrap().push(Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            range: request.header("Range"),
            authorization: request.header("Authorization"),
            at: Instant::now(),
            fault: fault.clone(),
        });
        // Before the body: a client sending one is cut off in the middle of it.
        if let Some(Fault::Reset) = fault {
            reset(stream);
            return Ok(());
        }
        skip_body(&mut reader, &request)?;
        if request.path == TLS_HANDSHAKE {
            return Ok(());
        }
        let mut out = &stream;
        match &fault {
            Some(Fault::Status {
                status,
                retry_after,
            }) => {
                let retry = retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                let body = format!(
                    r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {status}"}}]}}"#
                );
                write!(
                    out,
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
                continue;
            }
            Some(Fault::RedirectTo(address)) => {
                write!(
                    out,
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{address}{}\r\nContent-Length: 0\r\n\r\n",
                    request.path
                )?;
                continue;
            }
            Some(Fault::Answer { status, headers }) => {
                let mut head = format!("HTTP/1.1 {status} Injected\r\n");
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("Content-Length: 0\r\n\r\n");
                out.write_all(head.as_bytes())?;
                continue;
            }
            _ => {}
        }
        let (mut head, body) = forward(&request, shared)?;
        if let Some(Fault::Header { name, value }) = &fault {
            head = with_header(&head, name, value);
        }
        out.write_all(head.as_bytes())?;
        if request.method == "HEAD" {
            continue;
        }
        match fault {
            Some(Fault::CutAfter(n)) => {
                out.write_all(&body[..n.min(body.len())])?;
                out.flush()?;
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::StallAfter(n)) => {
                out.write_all(&body[..n.min(body.len())])?;
                out.flush()?;
                // Hold the connection silently until the client gives up (or the test ends).
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut probe = [0u8; 1];
                stream.set_read_timeout(Some(Duration::from_millis(100)))?;
                while Instant::now() < deadline && !shared.stop.load(Ordering::SeqCst) {
                    match (&stream).read(&mut probe) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
                return Ok(());
            }
            _ => out.write_all(&body)?,
        }
    }
    Ok(())
}

/// The fault a chaos rule gives this request, if any.
fn chaos(shared: &Shared, one_in: u32, seed: u64) -> Option<Fault> {
    let mut rng = shared.chaos.lock().unwrap();
    let rng = rng.get_or_insert_with(|| fastrand::Rng::with_seed(seed));
    if rng.u32(..one_in) != 0 {
        return None;
    }
    Some(match rng.u8(..4) {
        0 => Fault::Reset,
        1 => Fault::CutAfter(rng.usize(..4096)),
        2 => Fault::StallAfter(rng.usize(..4096)),
        _ => Fault::Status {
            status: 503,
            retry_after: None,
        },
    })
}

/// `head` (an answer's status line and headers, ending in an empty line) with `name` set to
/// `value`.
fn with_header(head: &str, name: &str, value: &str) -> String {
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|line| {
            !line
                .split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .collect();
    let set = format!("{name}: {value}");
    // Before the empty line that ends the head (and the empty string after it).
    let at = lines.len().saturating_sub(2);
    lines.insert(at, &set);
    lines.join("\r\n")
}

/// Closes with a TCP RST: no lingering, so unsent data is dropped and the peer reads
/// ECONNRESET (and a write of its gets EPIPE).
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::Linger, &linger);
    drop(stream);
}

/// Sends the request upstream over HTTP/1.0 (so the answer is never chunked) and returns the
/// answer's head, rewritten for a keep-alive HTTP/1.1 client, and its body.
fn forward(request: &Request, shared: &Shared) -> std::io::Result<(String, Vec<u8>)> {
    let mut upstream = TcpStream::connect(&shared.upstream)?;
    // The client's Host, as a reverse proxy keeps it: the registry's upload locations then
    // point back here.
    let host = request
        .header("Host")
        .unwrap_or_else(|| shared.upstream.clone());
    let mut head = format!(
        "{} {} HTTP/1.0\r\nHost: {host}\r\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        let passed = match lower.as_str() {
            "authorization" => shared.upstream_authorization.is_none(),
            "accept" | "range" | "user-agent" => true,
            _ => false,
        };
        if passed {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Some(authorization) = &shared.upstream_authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    upstream.write_all(head.as_bytes())?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("upstream sent no complete head"))?;
    let body = answer[split + 4..].to_vec();
    let upstream_head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = upstream_head.split("\r\n");
    let status_line = lines.next().unwrap_or("HTTP/1.0 502 Bad Gateway");
    let status = status_line
        .split_once(' ')
        .map_or("502 Bad Gateway", |(_, s)| s);
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:")
            || lower.starts_with("content-length:")
            || lower.starts_with("transfer-encoding:")
        {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    Ok((head, body))
}
