//! One blob from the registry into the layout, resumed with `Range` after a cut or a stall.

use std::sync::atomic::{AtomicBool, Ordering};

use hoist_oci::{BlobWriter, Digest};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use crate::session::Session;
use crate::{Error, Result};

/// Streams blob `digest` of `repository` into `writer`, continuing from what it already holds
/// (a resumed partial file). A transfer that breaks off is resumed where it stopped, as long as
/// each attempt brings new bytes or the retries last; the writer's own size check cuts off a
/// body longer than the descriptor.
pub(crate) async fn download(
    session: &Session,
    repository: &str,
    digest: &Digest,
    writer: &mut BlobWriter,
    progress: &(dyn Fn(u64) + Send + Sync),
    abort: &AtomicBool,
) -> Result<()> {
    let mut failures = 0;
    loop {
        let offset = writer.bytes_written();
        if offset == writer.expected_size() {
            return Ok(());
        }
        match attempt(session, repository, digest, writer, offset, progress, abort).await {
            Ok(()) => return Ok(()),
            Err(Attempt::Final(error)) => return Err(error),
            Err(Attempt::BrokenOff(error)) => {
                if writer.bytes_written() > offset {
                    failures = 0;
                }
                if failures >= session.retry().times {
                    return Err(error);
                }
                failures += 1;
                let wait = session.retry().backoff(failures);
                tracing::debug!(%error, resume_at = writer.bytes_written(), ?wait, "resuming blob");
                session.report(crate::Event::Resuming {
                    digest: digest.clone(),
                    at: writer.bytes_written(),
                    reason: crate::error::chain(&error),
                    wait,
                    attempt: failures,
                    of: session.retry().times,
                });
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Streams a non-distributable layer from the first of `urls` that gives it whole into
/// `writer` (checked for size and digest before the next URL is tried). Only `http` and
/// `https` URLs are asked, each from the start, without credentials.
pub(crate) async fn download_from_urls(
    session: &Session,
    urls: &[String],
    writer: &mut BlobWriter,
    progress: &(dyn Fn(u64) + Send + Sync),
    abort: &AtomicBool,
) -> Result<()> {
    let mut failures = Vec::new();
    for url in urls {
        let reason = match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                match from_url(session, &parsed, writer, progress, abort).await {
                    Ok(()) => return Ok(()),
                    Err(Error::Aborted) => return Err(Error::Aborted),
                    Err(error) => error.to_string(),
                }
            }
            _ => "not an http(s) URL".to_string(),
        };
        failures.push(format!("{}: {reason}", crate::response::shown_url(url)));
    }
    Err(Error::LayerUrlsFailed { failures })
}

async fn from_url(
    session: &Session,
    url: &reqwest::Url,
    writer: &mut BlobWriter,
    progress: &(dyn Fn(u64) + Send + Sync),
    abort: &AtomicBool,
) -> Result<()> {
    let what = format!("downloading from {}", url.host_str().unwrap_or("the URL"));
    let response = session.get_anonymous(&what, url).await?;
    writer.restart()?;
    stream_body(session, response, writer, progress, abort, &what)
        .await
        .map_err(|(Attempt::Final(e) | Attempt::BrokenOff(e))| e)?;
    // Checked here, not only at commit, so that the next URL is tried after one that lies.
    Ok(writer.verify()?)
}

enum Attempt {
    /// Retried already, or not worth retrying.
    Final(Error),
    /// The body broke off: worth resuming.
    BrokenOff(Error),
}

async fn attempt(
    session: &Session,
    repository: &str,
    digest: &Digest,
    writer: &mut BlobWriter,
    offset: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
    abort: &AtomicBool,
) -> Result<(), Attempt> {
    let url = session.url(&format!("{repository}/blobs/{digest}"));
    let what = format!("downloading from {}", session.registry());
    let scope = format!("repository:{repository}:pull");
    let response = session
        .send(&what, &scope, |http| {
            let request = http.get(&url);
            if offset > 0 {
                request.header(RANGE, format!("bytes={offset}-"))
            } else {
                request
            }
        })
        .await
        .map_err(Attempt::Final)?;
    let store_error = |e: hoist_oci::Error| Attempt::Final(e.into());
    match response.status() {
        StatusCode::OK => writer.restart().map_err(store_error)?,
        StatusCode::PARTIAL_CONTENT if range_start(response.headers()) == Some(offset) => {}
        StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE => {
            // The registry cannot continue where we stopped: start over without a range.
            writer.restart().map_err(store_error)?;
            return Err(Attempt::BrokenOff(Error::Status {
                what,
                status: response.status().as_u16(),
                message: "the registry did not resume at the offset asked for".into(),
            }));
        }
        _ => {
            let reference = format!("{}/{repository}@{digest}", session.registry());
            return Err(Attempt::Final(
                session.failure(&what, &reference, response).await,
            ));
        }
    }
    stream_body(session, response, writer, progress, abort, &what).await
}

/// Appends a response's body to `writer` as it arrives.
async fn stream_body(
    session: &Session,
    response: reqwest::Response,
    writer: &mut BlobWriter,
    progress: &(dyn Fn(u64) + Send + Sync),
    abort: &AtomicBool,
    what: &str,
) -> Result<(), Attempt> {
    let mut stream = response.bytes_stream();
    loop {
        match session.next_chunk(&mut stream, what).await {
            Ok(Some(_)) if abort.load(Ordering::Relaxed) => {
                return Err(Attempt::Final(Error::Aborted))
            }
            Ok(Some(chunk)) => {
                writer
                    .append(&chunk)
                    .map_err(|e| Attempt::Final(e.into()))?;
                progress(writer.bytes_written());
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(Attempt::BrokenOff(error)),
        }
    }
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` answer.
fn range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}
