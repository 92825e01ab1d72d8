use std::sync::Once;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

/// A user name and password (or token) for a registry.
#[derive(Clone)]
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

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Require HTTPS with a verified certificate. When false, plain HTTP is used.
    pub tls_verify: bool,
    pub credentials: Option<Credentials>,
    /// Blobs fetched at once.
    pub jobs: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            credentials: None,
            jobs: 6,
        }
    }
}

impl RegistryOptions {
    pub(crate) fn client(&self) -> Client {
        install_crypto_provider();
        let config = ClientConfig {
            protocol: if self.tls_verify {
                ClientProtocol::Https
            } else {
                ClientProtocol::Http
            },
            accept_invalid_certificates: !self.tls_verify,
            // Index entries are chosen here, with variants, not by oci-client's resolver.
            platform_resolver: None,
            max_concurrent_download: self.jobs.max(1),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("hoist/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Client::new(config)
    }

    pub(crate) fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

/// rustls needs one process-wide crypto provider; ring builds fast and has no C toolchain needs
/// beyond what the machine has.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
