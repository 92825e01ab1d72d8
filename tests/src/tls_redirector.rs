//! An HTTPS server that answers `/v2/` as a registry does and every other request with a
//! redirect to plain HTTP: a registry (or whatever sits in front of one) moving a client off
//! TLS. Its certificate is its own, for 127.0.0.1; `cert_dir` holds it as `ca.crt`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct TlsRedirector {
    pub address: String,
    pub cert_dir: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TlsRedirector {
    /// Redirects every request but `/v2/` to the same path at `to` (`http://HOST:PORT`).
    pub fn start(to: &str) -> TlsRedirector {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), certified.cert.pem()).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let to = to.to_string();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let (config, to) = (Arc::clone(&config), to.clone());
                    std::thread::spawn(move || {
                        let _ = serve(stream, config, &to);
                    });
                }
            }
        });
        TlsRedirector {
            address,
            cert_dir: dir.path().to_path_buf(),
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for TlsRedirector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, to: &str) -> std::io::Result<()> {
    let connection = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    loop {
        let Some(path) = read_request_path(&mut tls)? else {
            return Ok(());
        };
        let answer = if path == "/v2/" {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                .to_string()
        } else {
            format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}{path}\r\nContent-Length: 0\r\n\r\n")
        };
        tls.write_all(answer.as_bytes())?;
        tls.flush()?;
    }
}

/// The path of the next request (its head read to the blank line; requests here have no body).
fn read_request_path(tls: &mut impl Read) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tls.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .map(str::to_string))
}
