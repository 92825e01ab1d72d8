//! A registry that lies: it speaks just enough of the distribution protocol over plain HTTP to
//! serve fixed documents and blobs, whatever their digests say. For tests of what hoist must
//! refuse.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One canned answer.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Other headers to send (`Link`, say).
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn ok(content_type: &str, body: Vec<u8>) -> Response {
        Response::with_status(200, content_type, body)
    }

    pub fn with_status(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: content_type.to_string(),
            body,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub struct HostileRegistry {
    pub address: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostileRegistry {
    /// Serves `routes` (request path → response; a route with a query matches that query
    /// only) on an ephemeral 127.0.0.1 port; everything else is 404, and `/v2/` is 200.
    pub fn serve(routes: HashMap<String, Response>) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let routes = routes.clone();
                    // A thread per connection: clients keep connections alive and open several.
                    std::thread::spawn(move || answer(stream, &routes));
                }
            }
        });
        HostileRegistry {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(stream: TcpStream, routes: &HashMap<String, Response>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        // A TLS handshake (the client trying HTTPS first) is not HTTP: close at once.
        if reader.fill_buf()?.first().is_none_or(|b| *b == 0x16) {
            return Ok(());
        }
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("");
        let path = target.split('?').next().unwrap_or("");
        let response = if path == "/v2/" {
            Response::ok("application/json", b"{}".to_vec())
        } else {
            let found = routes.get(target).or_else(|| routes.get(path)).cloned();
            found.unwrap_or_else(|| {
                Response::with_status(
                    404,
                    "application/json",
                    br#"{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}"#.to_vec(),
                )
            })
        };
        let extra: String = response
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let mut out = &stream;
        write!(
            out,
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}\r\n",
            response.status,
            response.content_type,
            response.body.len()
        )?;
        if method != "HEAD" {
            out.write_all(&response.body)?;
        }
        out.flush()?;
    }
}
