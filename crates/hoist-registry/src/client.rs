use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a secret, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How often, and how patiently, to try again after a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub times: u32,
    /// The first wait; each later one doubles, up to [`RetryPolicy::MAX_DELAY`].
    pub delay: Duration,
}

impl RetryPolicy {
    pub const MAX_DELAY: Duration = Duration::from_secs(30);
    /// A server's `Retry-After` is honoured up to this long; beyond it hoist gives up instead.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.delay.saturating_mul(factor).min(Self::MAX_DELAY)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            times: 3,
            delay: Duration::from_secs(1),
        }
    }
}

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Require HTTPS with a verified certificate. When false, an unverified HTTPS connection is
    /// tried first and plain HTTP after it. Loopback registries may always fall back to HTTP.
    pub tls_verify: bool,
    /// Extra CA certificates (`*.crt`), instead of `/etc/containers/certs.d/HOST/`.
    pub cert_dir: Option<PathBuf>,
    /// Given explicitly; otherwise looked up for each registry in the auth files.
    pub credentials: Option<Credentials>,
    /// The auth file to read instead of the default search (`--authfile`).
    pub authfile: Option<PathBuf>,
    /// Blobs fetched at once.
    pub jobs: usize,
    pub retry: RetryPolicy,
    /// A transfer that delivers nothing for this long is cut and retried.
    pub stall_timeout: Duration,
    /// A non-distributable layer the registry does not hold may be fetched from the `urls` of
    /// its descriptor (other hosts, which get no credentials).
    pub allow_layer_urls: bool,
    /// Where retries and resumes are reported, if anywhere.
    pub reporter: Option<crate::events::Reporter>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            cert_dir: None,
            credentials: None,
            authfile: None,
            jobs: 6,
            retry: RetryPolicy::default(),
            stall_timeout: Duration::from_secs(30),
            allow_layer_urls: false,
            reporter: None,
        }
    }
}

/// rustls needs one process-wide crypto provider; ring builds fast and has no C toolchain needs
/// beyond what the machine has.
pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
