//! A docker-registry process of a test's own, serving the storage of the suite's plain registry
//! read-only, configured in ways the shared ones are not: bearer tokens from a token service
//! this module runs (ES256 JWTs, as the distribution spec's token auth wants), or TLS with a
//! certificate of its own.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;

/// The `service` the registry names in its bearer challenges.
pub const SERVICE: &str = "hoist-test-registry";
const ISSUER: &str = "hoist-test-issuer";

/// One request to the token service.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub scope: Option<String>,
    /// The user name sent with basic auth, if any.
    pub user: Option<String>,
}

pub struct RegistryProcess {
    pub address: String,
    /// The CA directory (holding the server's certificate as `ca.crt`) when serving TLS.
    pub cert_dir: Option<PathBuf>,
    /// A client certificate and its key (PEM) the registry accepts, when it demands one.
    pub client_certificate: Option<(String, String)>,
    token_requests: Arc<Mutex<Vec<TokenRequest>>>,
    child: Child,
    stop: Arc<AtomicBool>,
    token_address: Option<String>,
    _dir: tempfile::TempDir,
}

impl RegistryProcess {
    /// A registry that wants bearer tokens; the token service grants `user`:`password` pull
    /// access, anyone else nothing.
    pub fn with_tokens(storage: &Path, user: &str, password: &str) -> RegistryProcess {
        RegistryProcess::start(
            storage,
            Some((user.to_string(), password.to_string())),
            false,
            false,
        )
    }

    /// An anonymous registry speaking only HTTPS, with a self-signed certificate for 127.0.0.1.
    pub fn with_tls(storage: &Path) -> RegistryProcess {
        RegistryProcess::start(storage, None, true, false)
    }

    /// As `with_tls`, and a client must present a certificate of the registry's own client CA
    /// (`client_certificate` is one).
    pub fn with_client_certificates(storage: &Path) -> RegistryProcess {
        RegistryProcess::start(storage, None, true, true)
    }

    /// Where the token service listens (HOST:PORT), for a registry made `with_tokens`.
    pub fn token_service(&self) -> Option<&str> {
        self.token_address.as_deref()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_requests.lock().unwrap().clone()
    }

    fn start(
        storage: &Path,
        tokens: Option<(String, String)>,
        tls: bool,
        client_auth: bool,
    ) -> RegistryProcess {
        let dir = tempfile::Builder::new()
            .prefix("hoist-registry-")
            .tempdir()
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: {address}\n",
            storage.display()
        );
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut cert_dir = None;
        let mut client_certificate = None;
        let mut token_address = None;
        if tls {
            let certified =
                rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
            let cert = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            std::fs::write(&cert, certified.cert.pem()).unwrap();
            std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
            let cas = dir.path().join("certs.d");
            std::fs::create_dir(&cas).unwrap();
            std::fs::write(cas.join("ca.crt"), certified.cert.pem()).unwrap();
            cert_dir = Some(cas);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if client_auth {
                let (ca_pem, certificate) = client_certificates();
                let client_ca = dir.path().join("client-ca.pem");
                std::fs::write(&client_ca, ca_pem).unwrap();
                config.push_str(&format!(
                    "    clientcas:\n      - {}\n",
                    client_ca.display()
                ));
                client_certificate = Some(certificate);
            }
        }
        if let Some((user, password)) = tokens {
            let signer = TokenSigner::new();
            let bundle = dir.path().join("token-ca.pem");
            std::fs::write(&bundle, signer.cert_pem.clone()).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let realm_address = listener.local_addr().unwrap().to_string();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{realm_address}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                bundle.display()
            ));
            let service = TokenService {
                signer,
                user,
                password,
                requests: Arc::clone(&token_requests),
            };
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = service.answer(stream);
                    }
                }
            });
            token_address = Some(realm_address);
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (cargo xtask setup installs it)");
        let registry = RegistryProcess {
            address,
            cert_dir,
            client_certificate,
            token_requests,
            child,
            stop,
            token_address,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.address).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(address) = &self.token_address {
            let _ = TcpStream::connect(address);
        }
    }
}

/// A client CA (its certificate in PEM) and a client certificate it issued, with its key.
fn client_certificates() -> (String, (String, String)) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params =
        rcgen::CertificateParams::new(vec!["hoist-client".to_string()]).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    (ca.pem(), (client.pem(), client_key.serialize_pem()))
}

/// Signs tokens with a P-256 key whose self-signed certificate the registry trusts; the
/// certificate travels in the token's `x5c` header.
struct TokenSigner {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl TokenSigner {
    fn new() -> TokenSigner {
        let certified = rcgen::generate_simple_self_signed(vec![ISSUER.to_string()]).unwrap();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &certified.signing_key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        TokenSigner {
            key,
            cert_der: certified.cert.der().to_vec(),
            cert_pem: certified.cert.pem(),
        }
    }

    fn sign(&self, subject: &str, access: serde_json::Value) -> String {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({
            "alg": "ES256", "typ": "JWT",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("{now}-{}", rand_suffix()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            url.encode(header.to_string()),
            url.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!("{signing_input}.{}", url.encode(signature.as_ref()))
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

struct TokenService {
    signer: TokenSigner,
    user: String,
    password: String,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TokenService {
    fn answer(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut authorization = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(value.trim().to_string());
                }
            }
        }
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let scope = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("scope="))
            .map(|s| {
                s.replace("%3A", ":")
                    .replace("%2F", "/")
                    .replace("%2C", ",")
            });
        let credentials = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let user = credentials
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .map(|(u, _)| u.to_string());
        self.requests.lock().unwrap().push(TokenRequest {
            scope: scope.clone(),
            user: user.clone(),
        });
        let mut out = &stream;
        let granted = match credentials {
            Some(c) if c == format!("{}:{}", self.user, self.password) => true,
            Some(_) => {
                let body = r#"{"details":"wrong user name or password"}"#;
                write!(
                    out,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return Ok(());
            }
            None => false,
        };
        let access = match (&scope, granted) {
            (Some(scope), true) => {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                let actions: Vec<&str> = actions.split(',').filter(|a| *a == "pull").collect();
                serde_json::json!([{ "type": kind, "name": name, "actions": actions }])
            }
            _ => serde_json::json!([]),
        };
        let token = self.signer.sign(user.as_deref().unwrap_or(""), access);
        let body = serde_json::json!({ "token": token, "expires_in": 300 }).to_string();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        // Closed on return: a client that reads to the end (a proxy) sees it there.
        Ok(())
    }
}
