//! The transport's safety rules: TLS trust (`--cert-dir`, containers' and docker's per-host
//! certificate directories) and a redirect policy that never downgrades HTTPS to HTTP, with
//! the errors that report either.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// reqwest's own limit of 10 redirects, and no redirect from HTTPS to plain HTTP: what was asked
/// for over TLS is not fetched in the clear. Credentials need no rule here: reqwest removes
/// `Authorization` (and cookies) from a redirected request whose scheme, host or port differs
/// from the previous hop's (`remove_sensitive_headers` in its redirect.rs, called for every
/// redirected request).
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|url| url.scheme() == "https");
        if downgrade {
            let refused = RefusedDowngrade {
                // A redirect target may be a signed URL: its secrets are not shown.
                to: crate::response::shown_url(attempt.url().as_str()),
            };
            attempt.error(refused)
        } else {
            reqwest::redirect::Policy::default().redirect(attempt)
        }
    })
}

/// The redirect policy's refusal; found again in reqwest's error, it becomes an
/// [`Error::HttpsDowngrade`].
#[derive(Debug, thiserror::Error)]
#[error("refused a redirect from HTTPS to plain HTTP ({to})")]
struct RefusedDowngrade {
    to: String,
}

/// Where a redirect to plain HTTP was refused to, if that is what failed the request.
pub(crate) fn refused_downgrade(error: &reqwest::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(refused) = error.downcast_ref::<RefusedDowngrade>() {
            return Some(refused.to.clone());
        }
        current = error.source();
    }
    None
}

/// What was wrong with the server's certificate, if a TLS handshake failed over one.
pub(crate) fn certificate_problem(error: &reqwest::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(mut error) = current {
        // io::Error's source() skips the error it wraps, and hyper nests rustls's error in
        // io::Errors: unwrap those by hand.
        while let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            error = inner;
        }
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
            .then(|| tls.to_string());
        }
        current = error.source();
    }
    None
}

/// What a registry's certificate directory holds: CA certificates (`*.crt`) to trust, and a
/// client certificate (`NAME.cert` with its key in `NAME.key`) to present, as
/// containers-certs.d(5) has them.
#[derive(Default)]
pub(crate) struct TlsMaterial {
    pub(crate) certificates: Vec<reqwest::Certificate>,
    pub(crate) identity: Option<reqwest::Identity>,
}

/// The directories for `host`: `--cert-dir` alone, or else the user's
/// (`~/.config/containers/certs.d/HOST`, for a user who is not root), containers' and docker's.
fn cert_dirs(host: &str, cert_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = cert_dir {
        return vec![dir.to_path_buf()];
    }
    let user = (!rustix::process::geteuid().is_root())
        .then(crate::authfile::user_config_dir)
        .flatten()
        .map(|dir| dir.join("certs.d").join(host));
    user.into_iter()
        .chain([
            Path::new("/etc/containers/certs.d").join(host),
            Path::new("/etc/docker/certs.d").join(host),
        ])
        .collect()
}

pub(crate) fn tls_material(host: &str, cert_dir: Option<&Path>) -> Result<TlsMaterial> {
    let mut material = TlsMaterial::default();
    for dir in cert_dirs(host, cert_dir) {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && cert_dir.is_none() => continue,
            Err(e) => {
                return Err(Error::Certificates {
                    path: dir.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let bad = |reason: String| Error::Certificates {
                path: path.display().to_string(),
                reason,
            };
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
                    material.certificates.extend(
                        reqwest::Certificate::from_pem_bundle(&pem)
                            .map_err(|e| bad(e.to_string()))?,
                    );
                }
                // The first pair found is presented (a directory has one, in practice).
                Some("cert") if material.identity.is_none() => {
                    let key = path.with_extension("key");
                    let mut pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
                    let key_pem = std::fs::read(&key).map_err(|e| {
                        bad(format!("its key {} cannot be read: {e}", key.display()))
                    })?;
                    pem.push(b'\n');
                    pem.extend(key_pem);
                    material.identity =
                        Some(reqwest::Identity::from_pem(&pem).map_err(|e| bad(e.to_string()))?);
                }
                _ => {}
            }
        }
    }
    Ok(material)
}
