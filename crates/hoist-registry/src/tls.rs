//! The transport's safety rules: TLS trust (`--cert-dir`, containers' and docker's per-host
//! certificate directories) and a redirect policy that never downgrades HTTPS to HTTP, with
//! the errors that report either.

use std::path::Path;

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

/// The `*.crt` files of `--cert-dir`, or else of containers' and docker's per-host directories.
pub(crate) fn ca_certificates(
    host: &str,
    cert_dir: Option<&Path>,
) -> Result<Vec<reqwest::Certificate>> {
    let dirs: Vec<std::path::PathBuf> = match cert_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => vec![
            Path::new("/etc/containers/certs.d").join(host),
            Path::new("/etc/docker/certs.d").join(host),
        ],
    };
    let mut certificates = Vec::new();
    for dir in dirs {
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
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("crt") {
                continue;
            }
            let bad = |reason: String| Error::Certificates {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
            certificates.extend(
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?,
            );
        }
    }
    Ok(certificates)
}
