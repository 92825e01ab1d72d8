//! One registry, spoken to over HTTP: scheme choice, auth, retries, bounded reads.
//!
//! Written on reqwest rather than on oci-client: hoist needs what oci-client keeps inside —
//! the manifest's `Content-Type`, size caps on manifests, tokens and error bodies, `Retry-After`,
//! retries, and `Range` requests to resume a blob — and the protocol surface it uses is small.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Client, Request, RequestBuilder, Response, StatusCode, Url};
use tokio::sync::Mutex;

use crate::auth::{basic_header, check_realm, AuthState, Challenge, TokenResponse};
use crate::client::install_crypto_provider;
use crate::error::is_transient_status;
use crate::response::{content_length, retry_after, status_error};
use crate::tls::{certificate_problem, redirect_policy, refused_downgrade, tls_material};
use crate::{authfile, Credentials, Error, RegistryOptions, Result, RetryPolicy};

/// Tokens and manifests are read whole into memory, so each has a cap.
const TOKEN_LIMIT: usize = 1 << 20;
pub(crate) const MANIFEST_LIMIT: usize = 4 << 20;

pub struct Session {
    http: Client,
    base: String,
    registry: String,
    credentials: Option<Credentials>,
    auth: Mutex<AuthState>,
    retry: RetryPolicy,
    stall_timeout: Duration,
    /// Plain HTTP may be spoken to this registry, and so to a token service it names.
    allow_http: bool,
    reporter: Option<crate::events::Reporter>,
}

/// The host the API lives on: Docker Hub's references say `docker.io`, its API does not.
fn api_host(registry: &str) -> &str {
    if registry == hoist_oci::DEFAULT_REGISTRY {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Session {
    /// Opens a session: finds the credentials for `registry`, picks HTTPS (or HTTP where that is
    /// allowed and HTTPS is not spoken) and learns the auth scheme from `GET /v2/`.
    pub async fn connect(registry: &str, options: &RegistryOptions) -> Result<Session> {
        Session::connect_for(registry, registry, options).await
    }

    /// A session for the repository `reference` names: its namespace's stored credentials
    /// (`HOST/ORG`) answer before the registry's own.
    pub async fn for_repository(
        reference: &hoist_oci::Reference,
        options: &RegistryOptions,
    ) -> Result<Session> {
        Session::connect_for(reference.registry(), &reference.name(), options).await
    }

    async fn connect_for(
        registry: &str,
        credential_scope: &str,
        options: &RegistryOptions,
    ) -> Result<Session> {
        install_crypto_provider();
        let credentials = match &options.credentials {
            Some(credentials) => Some(credentials.clone()),
            None => authfile::lookup(credential_scope, options.authfile.as_deref())?,
        };
        let host = api_host(registry);
        let mut builder = Client::builder()
            .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(options.stall_timeout)
            .tls_danger_accept_invalid_certs(!options.tls_verify)
            .redirect(redirect_policy());
        let material = tls_material(host, options.cert_dir.as_deref())?;
        for certificate in material.certificates {
            builder = builder.add_root_certificate(certificate);
        }
        if let Some(identity) = material.identity {
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(|source| Error::Connect {
            registry: registry.to_string(),
            source,
        })?;
        let allow_http = !options.tls_verify || is_loopback(host);
        let mut session = Session {
            http,
            base: format!("https://{host}"),
            registry: registry.to_string(),
            credentials,
            auth: Mutex::new(AuthState::default()),
            retry: options.retry,
            stall_timeout: options.stall_timeout,
            allow_http,
            reporter: options.reporter.clone(),
        };
        let once = RetryPolicy {
            times: 0,
            ..options.retry
        };
        let http_base = format!("http://{host}");
        // Where HTTP is allowed, its ping goes out beside the HTTPS one (both anonymous), so a
        // plain-HTTP registry costs no extra round trip; HTTPS is still preferred whenever it
        // answers.
        let (https, http) = if allow_http {
            let (https, http) = tokio::join!(
                session.ping_at(&session.base, once),
                session.ping_at(&http_base, once)
            );
            (https, Some(http))
        } else {
            (session.ping_at(&session.base, once).await, None)
        };
        let ping = match https {
            // The server speaks TLS but its certificate is not trusted: not a case for HTTP.
            Err(Error::Transport { source, .. }) if certificate_problem(&source).is_some() => {
                return Err(Error::Certificate {
                    registry: registry.to_string(),
                    detail: certificate_problem(&source).unwrap_or_default(),
                })
            }
            Err(Error::Connect { .. } | Error::Transport { .. }) if allow_http => {
                session.base = http_base;
                match http {
                    Some(Ok(response)) => Ok(response),
                    // Not answered the first time: now with the retry policy.
                    _ => session.ping(options.retry).await,
                }
            }
            other => other,
        };
        let response = ping.map_err(|e| match e {
            Error::Transport { source, .. } => Error::Connect {
                registry: registry.to_string(),
                source,
            },
            e => e,
        })?;
        if response.status() == StatusCode::UNAUTHORIZED {
            session.refuse_foreign_challenge(response.url())?;
            session.learn_challenge(response.headers()).await?;
        }
        Ok(session)
    }

    /// Checks that the session's credentials are accepted (`hoist login`): an authenticated
    /// `GET /v2/`, with a token of no particular scope where the registry wants tokens.
    pub async fn check_credentials(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let what = format!("logging in to {}", self.registry);
        let response = self.send(&what, "", |http| http.get(&url)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.failure(&what, &self.registry, response).await)
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// The URL of an absolute path (with its query) on the registry.
    pub(crate) fn url_of_path(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub(crate) fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// Tells whoever watches this session's work about a retry.
    pub(crate) fn report(&self, event: crate::Event) {
        if let Some(reporter) = &self.reporter {
            (reporter.0)(event);
        }
    }

    async fn ping(&self, retry: RetryPolicy) -> Result<Response> {
        self.ping_at(&self.base, retry).await
    }

    /// An anonymous `GET /v2/` at `base` (`https://HOST` or `http://HOST`).
    async fn ping_at(&self, base: &str, retry: RetryPolicy) -> Result<Response> {
        let url = format!("{base}/v2/");
        self.send_with_retries(&format!("contacting {}", self.registry), retry, || {
            self.http.get(&url).build()
        })
        .await
    }

    /// Sends a request for `scope` (`repository:NAME:pull`), with the authorization the
    /// registry asked for, retrying transient failures; answers a 401 by authenticating once.
    /// Only the registry's own origin gets its authorization, and only its own 401 is answered.
    pub(crate) async fn send(
        &self,
        what: &str,
        scope: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response> {
        let mut authenticated_after_challenge = false;
        loop {
            let authorization = self.authorization(scope).await?;
            let response = self
                .send_with_retries(what, self.retry, || {
                    let request = build(&self.http).build()?;
                    Ok(self.authorize(request, authorization.as_ref()))
                })
                .await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                self.refuse_foreign_challenge(response.url())?;
                // A 401 names the scheme (or says a token expired or lacks the scope): learn
                // it, forget the token, and try once more.
                if !authenticated_after_challenge {
                    authenticated_after_challenge = true;
                    self.learn_challenge(response.headers()).await?;
                    self.auth.lock().await.tokens.remove(scope);
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// `request` with the registry's authorization if it goes to the registry's own origin. A
    /// URL the registry hands out (an upload's `Location`) may name another host; that host
    /// gets no credentials, as docker and containerd send it none.
    fn authorize(&self, mut request: Request, authorization: Option<&HeaderValue>) -> Request {
        if let Some(value) = authorization {
            if self.is_registry_origin(request.url()) {
                request.headers_mut().insert(AUTHORIZATION, value.clone());
            }
        }
        request
    }

    /// Whether `url` has the registry's own scheme, host and port.
    fn is_registry_origin(&self, url: &Url) -> bool {
        Url::parse(&self.base).is_ok_and(|base| base.origin() == url.origin())
    }

    /// A 401 from anywhere but the registry itself (a redirect target, such as blob storage)
    /// is not a challenge to answer: answering it would send the registry's credentials, or a
    /// token bought with them, to a host they were never meant for.
    fn refuse_foreign_challenge(&self, answered_from: &Url) -> Result<()> {
        if self.is_registry_origin(answered_from) {
            return Ok(());
        }
        Err(Error::ForeignChallenge {
            registry: self.registry.clone(),
            host: answered_from.origin().ascii_serialization(),
        })
    }

    /// A GET of a URL outside the registry (a non-distributable layer's), with the session's
    /// TLS settings, redirect policy and retries, and no credentials: those go to the registry
    /// alone.
    /// An answer other than 200 is only its status: the host is not the registry, and may be
    /// anything the manifest named (an address inside the network, say), so its body is not
    /// shown.
    pub(crate) async fn get_anonymous(&self, what: &str, url: &reqwest::Url) -> Result<Response> {
        let sent = self
            .send_with_retries(what, self.retry, || self.http.get(url.clone()).build())
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::OK => Ok(response),
            Ok(response) => Err(Error::LayerUrlStatus {
                what: what.to_string(),
                status: response.status().as_u16(),
            }),
            Err(Error::Status { what, status, .. }) => Err(Error::LayerUrlStatus { what, status }),
            Err(error) => Err(error),
        }
    }

    /// Sends until an answer that is not transient, or the retries run out. `build` makes each
    /// attempt's request afresh (sending one consumes its body).
    async fn send_with_retries(
        &self,
        what: &str,
        retry: RetryPolicy,
        build: impl Fn() -> reqwest::Result<Request>,
    ) -> Result<Response> {
        let mut failures = 0;
        loop {
            let sent = match build() {
                Ok(request) => self.http.execute(request).await,
                Err(error) => Err(error),
            };
            let error = match sent {
                Ok(response) if !is_transient_status(response.status().as_u16()) => {
                    return Ok(response)
                }
                Ok(response) => {
                    let wait = retry_after(response.headers());
                    let error = status_error(what, response).await;
                    match wait {
                        Some(wait) if wait > RetryPolicy::MAX_RETRY_AFTER => return Err(error),
                        Some(wait) if failures < retry.times => {
                            failures += 1;
                            tracing::debug!(%error, ?wait, "retrying when the registry asked");
                            self.report_retry(what, &error, wait, failures, retry.times);
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        _ => error,
                    }
                }
                Err(source) => match refused_downgrade(&source) {
                    // Refused on purpose: another try would be refused again.
                    Some(to) => {
                        return Err(Error::HttpsDowngrade {
                            what: what.to_string(),
                            to,
                        })
                    }
                    None => Error::Transport {
                        what: what.to_string(),
                        source: source.without_url(),
                    },
                },
            };
            if failures >= retry.times {
                return Err(error);
            }
            failures += 1;
            let wait = retry.backoff(failures);
            tracing::debug!(%error, ?wait, "retrying");
            self.report_retry(what, &error, wait, failures, retry.times);
            tokio::time::sleep(wait).await;
        }
    }

    fn report_retry(&self, what: &str, error: &Error, wait: Duration, attempt: u32, of: u32) {
        self.report(crate::Event::Retrying {
            what: what.to_string(),
            reason: crate::error::chain(error),
            wait,
            attempt,
            of,
        });
    }

    /// Records the scheme a 401 from the registry asked for; a token service it names must be
    /// one the credentials may go to, checked before any token request.
    async fn learn_challenge(&self, headers: &HeaderMap) -> Result<()> {
        let offered: Vec<&str> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let Some(challenge) = offered.iter().find_map(|v| Challenge::parse(v)) else {
            if offered.is_empty() {
                return Ok(());
            }
            return Err(Error::UnsupportedAuth {
                registry: self.registry.clone(),
                header: offered.join(", "),
            });
        };
        if let Challenge::Bearer { realm, .. } = &challenge {
            check_realm(&self.registry, realm, self.allow_http)?;
        }
        self.auth.lock().await.challenge = Some(challenge);
        Ok(())
    }

    /// The `Authorization` value for `scope`, in the scheme the registry asked for.
    async fn authorization(&self, scope: &str) -> Result<Option<HeaderValue>> {
        let mut state = self.auth.lock().await;
        let value = match state.challenge.clone() {
            None => None,
            Some(Challenge::Basic) => self.credentials.as_ref().map(basic_header),
            Some(Challenge::Bearer { realm, service, .. }) => {
                match state.tokens.get(scope).and_then(|t| t.header()) {
                    Some(header) => Some(header),
                    None => {
                        // Fetched under the lock: concurrent blob downloads share one token
                        // request.
                        let token = self.fetch_token(&realm, service.as_deref(), scope).await?;
                        let header = token.header();
                        state.tokens.insert(scope.to_string(), token);
                        header
                    }
                }
            }
        };
        value.map(|value| self.secret_header(&value)).transpose()
    }

    /// A secret as a header value, marked sensitive so that it is left out of debug output;
    /// only a token can hold characters a header cannot carry.
    fn secret_header(&self, value: &str) -> Result<HeaderValue> {
        let mut header = HeaderValue::from_str(value).map_err(|_| Error::BadToken {
            registry: self.registry.clone(),
            reason: "it holds characters an HTTP header cannot carry".into(),
        })?;
        header.set_sensitive(true);
        Ok(header)
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<crate::auth::Token> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if !scope.is_empty() {
            query.push(("scope", scope));
        }
        if let Some(service) = service {
            query.push(("service", service));
        }
        let what = format!("getting a token for {} from {realm}", self.registry);
        // The credentials go to the realm, as the protocol has it: learn_challenge accepted it
        // as a place they may go.
        let response = self
            .send_with_retries(&what, self.retry, || {
                let request = self.http.get(realm).query(&query);
                let request = match &self.credentials {
                    Some(c) => request.header(AUTHORIZATION, basic_header(c)),
                    None => request,
                };
                request.build()
            })
            .await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(Error::Unauthorized {
                    reference: scope.to_string(),
                    registry: self.registry.clone(),
                    status: response.status().as_u16(),
                })
            }
            _ => return Err(status_error(&what, response).await),
        }
        let body = self.read_bounded(response, TOKEN_LIMIT, &what).await?;
        let bad_token = |reason: String| Error::BadToken {
            registry: self.registry.clone(),
            reason,
        };
        serde_json::from_slice::<TokenResponse>(&body)
            .map_err(|e| bad_token(e.to_string()))?
            .into_token()
            .ok_or_else(|| bad_token("the answer holds no token".into()))
    }

    /// Reads a whole body of at most `limit` bytes, cut off at once beyond it.
    pub(crate) async fn read_bounded(
        &self,
        response: Response,
        limit: usize,
        what: &str,
    ) -> Result<Vec<u8>> {
        let too_large = || Error::TooLarge {
            what: what.to_string(),
            limit,
        };
        if content_length(response.headers()).is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = self.next_chunk(&mut stream, what).await? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The next piece of a body, or a [`Error::Stalled`] if none comes in time.
    pub(crate) async fn next_chunk(
        &self,
        stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
        what: &str,
    ) -> Result<Option<bytes::Bytes>> {
        match tokio::time::timeout(self.stall_timeout, stream.next()).await {
            Err(_) => Err(Error::Stalled {
                what: what.to_string(),
                after: self.stall_timeout,
            }),
            Ok(None) => Ok(None),
            Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            Ok(Some(Err(source))) if source.is_timeout() => Err(Error::Stalled {
                what: what.to_string(),
                after: self.stall_timeout,
            }),
            Ok(Some(Err(source))) => Err(Error::Transport {
                what: what.to_string(),
                source: source.without_url(),
            }),
        }
    }

    /// Turns a final non-success answer into an error that names the registry's reason.
    pub(crate) async fn failure(&self, what: &str, reference: &str, response: Response) -> Error {
        match response.status().as_u16() {
            status @ (401 | 403) => Error::Unauthorized {
                reference: reference.to_string(),
                registry: self.registry.clone(),
                status,
            },
            _ => status_error(what, response).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1"));
    }

    fn session_at(base: &str) -> Session {
        install_crypto_provider();
        Session {
            http: Client::new(),
            base: base.to_string(),
            registry: "registry.example".into(),
            credentials: None,
            auth: Mutex::new(AuthState::default()),
            retry: RetryPolicy::default(),
            stall_timeout: Duration::from_secs(1),
            allow_http: false,
            reporter: None,
        }
    }

    #[test]
    fn authorization_goes_only_to_the_registry_origin() {
        let session = session_at("https://registry.example");
        let secret = HeaderValue::from_static("Basic dXNlcjpzZWNyZXQ=");
        let sent_to = |url: &str| {
            let request = Request::new(reqwest::Method::PUT, Url::parse(url).unwrap());
            session
                .authorize(request, Some(&secret))
                .headers()
                .get(AUTHORIZATION)
                .cloned()
        };
        for own in [
            "https://registry.example/v2/a/blobs/uploads/1",
            "https://registry.example:443/v2/",
        ] {
            assert_eq!(sent_to(own), Some(secret.clone()), "{own}");
        }
        for foreign in [
            "https://storage.example/upload/1",
            "http://registry.example/v2/",
            "https://registry.example:5000/v2/",
        ] {
            assert_eq!(sent_to(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn only_the_registry_origin_may_challenge() {
        let session = session_at("http://127.0.0.1:5000");
        let from = |url: &str| session.refuse_foreign_challenge(&Url::parse(url).unwrap());
        assert!(from("http://127.0.0.1:5000/v2/a/blobs/sha256:00").is_ok());
        assert!(matches!(
            from("http://127.0.0.2:5000/v2/a/blobs/sha256:00"),
            Err(Error::ForeignChallenge { host, .. }) if host == "http://127.0.0.2:5000"
        ));
        assert!(matches!(
            from("https://127.0.0.1:5000/v2/"),
            Err(Error::ForeignChallenge { .. })
        ));
    }
}
