//! The distribution spec's auth dance: a 401 names a scheme in `WWW-Authenticate`; `Basic` wants
//! the credentials on every request, `Bearer` wants a token from the named realm, scoped to a
//! repository and action, reused until it expires.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::{Credentials, Error, Result};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the first challenge we can answer; `None` for schemes hoist does not speak.
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let params = parse_params(params);
                Some(Challenge::Bearer {
                    realm: params.get("realm")?.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// Accepts a Bearer challenge's realm only as a URL the credentials may travel to: they go to it
/// with every token request, so it must be HTTPS, unless the registry itself may be spoken to
/// over plain HTTP (`allow_http`: a loopback registry, or `--tls-verify=false`).
pub(crate) fn check_realm(registry: &str, realm: &str, allow_http: bool) -> Result<()> {
    let bad_realm = |reason: String| Error::BadRealm {
        registry: registry.to_string(),
        realm: realm.to_string(),
        reason,
    };
    let url = reqwest::Url::parse(realm).map_err(|e| bad_realm(e.to_string()))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(Error::InsecureRealm {
            registry: registry.to_string(),
            realm: realm.to_string(),
        }),
        other => Err(bad_realm(format!("the scheme {other:?} is not HTTP(S)"))),
    }
}

/// `key="value", key=value` pairs; values may hold commas inside quotes (scopes do).
fn parse_params(input: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// The `Authorization` value for basic auth.
pub(crate) fn basic_header(credentials: &Credentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// What a token endpoint answers (docker's `token`, OAuth's `access_token`).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenResponse {
    pub(crate) fn into_token(self) -> Option<Token> {
        // The spec's default lifetime when the server does not say.
        let lifetime = Duration::from_secs(self.expires_in.unwrap_or(60).max(1));
        let value = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        Some(Token {
            value,
            // Renewed a little early, so a token does not expire between check and use.
            expires: Instant::now() + lifetime.saturating_sub(Duration::from_secs(5)),
        })
    }
}

#[derive(Clone)]
pub(crate) struct Token {
    value: String,
    expires: Instant,
}

impl Token {
    pub(crate) fn header(&self) -> Option<String> {
        (Instant::now() < self.expires).then(|| format!("Bearer {}", self.value))
    }
}

/// What a session knows about a registry's auth: the scheme it asked for, and tokens per scope.
#[derive(Default)]
pub(crate) struct AuthState {
    pub(crate) challenge: Option<Challenge>,
    pub(crate) tokens: HashMap<String, Token>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_with_quoted_commas_parse() {
        let challenge = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            challenge,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None, "no realm");
    }

    #[test]
    fn realms_must_be_https_unless_the_registry_may_use_http() {
        let check =
            |realm: &str, allow_http: bool| check_realm("registry.example", realm, allow_http);
        assert!(check("https://auth.example/token", false).is_ok());
        assert!(check("https://auth.example/token", true).is_ok());
        assert!(matches!(
            check("http://auth.example/token", false),
            Err(Error::InsecureRealm { realm, .. }) if realm == "http://auth.example/token"
        ));
        assert!(check("http://127.0.0.1:5001/token", true).is_ok());
        for garbage in [
            "",
            "auth.example/token",
            "not a url",
            "ftp://auth.example/token",
        ] {
            assert!(
                matches!(check(garbage, true), Err(Error::BadRealm { .. })),
                "{garbage:?} was accepted as a realm"
            );
        }
    }

    #[test]
    fn tokens_expire() {
        let response: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":1}"#).unwrap();
        let token = response.into_token().unwrap();
        assert_eq!(
            token.header(),
            None,
            "a 1 s token is renewed early, at once"
        );
        let response: TokenResponse = serde_json::from_str(r#"{"token":"abc"}"#).unwrap();
        assert_eq!(
            response.into_token().unwrap().header().as_deref(),
            Some("Bearer abc")
        );
        let empty: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(empty.into_token().is_none());
    }
}
