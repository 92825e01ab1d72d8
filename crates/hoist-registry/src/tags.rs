//! A repository's tags (`skopeo list-tags`): every page the registry serves, following its
//! `Link` headers as the distribution spec has them.

use std::collections::HashSet;

use hoist_oci::Reference;
use reqwest::header::LINK;
use reqwest::StatusCode;

use crate::session::Session;
use crate::{Error, RegistryOptions, Result};

/// Each page is read whole into memory, and all of them together: caps on both.
const PAGE_LIMIT: usize = 4 << 20;
const TOTAL_LIMIT: usize = 64 << 20;

/// The tags of the repository `reference` names (its own tag is not looked at).
pub async fn list_tags(reference: &Reference, options: &RegistryOptions) -> Result<Vec<String>> {
    let session = Session::for_repository(reference, options).await?;
    repository_tags(&session, reference.repository()).await
}

/// Every page of `GET /v2/REPO/tags/list`. A `Link` names the next page by its path and query
/// only: it is always asked of this registry (as containers/image does), so a registry cannot
/// send the request, or its credentials, elsewhere. A page seen before ends the walk with an
/// error rather than a loop.
pub(crate) async fn repository_tags(session: &Session, repository: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let what = format!("listing the tags of {repository}");
    let scope = format!("repository:{repository}:pull");
    let mut next = Some(format!("/v2/{repository}/tags/list"));
    let mut asked = HashSet::new();
    let (mut tags, mut total) = (Vec::new(), 0);
    while let Some(page) = next.take() {
        if !asked.insert(page.clone()) {
            return Err(Error::Status {
                what,
                status: 200,
                message: format!("its pages loop back to {page}"),
            });
        }
        let url = session.url_of_path(&page);
        let response = session.send(&what, &scope, |http| http.get(&url)).await?;
        if response.status() != StatusCode::OK {
            return Err(session.failure(&what, repository, response).await);
        }
        next = response
            .headers()
            .get(LINK)
            .and_then(|value| value.to_str().ok())
            .and_then(next_page);
        let body = session.read_bounded(response, PAGE_LIMIT, &what).await?;
        total += body.len();
        if total > TOTAL_LIMIT {
            return Err(Error::TooLarge {
                what,
                limit: TOTAL_LIMIT,
            });
        }
        let list: TagList = serde_json::from_slice(&body).map_err(|e| Error::Status {
            what: what.clone(),
            status: 200,
            message: format!("the tag list is not JSON: {e}"),
        })?;
        tags.extend(
            list.tags
                .unwrap_or_default()
                .into_iter()
                .filter(|t| !t.is_empty()),
        );
    }
    Ok(tags)
}

/// The path and query of the URL in `<URL>; rel="next"`, which may be relative or absolute.
fn next_page(link: &str) -> Option<String> {
    let target = link
        .split(';')
        .next()?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let base = reqwest::Url::parse("http://registry.invalid/").expect("a valid URL");
    let url = base.join(target).ok()?;
    let path = url.path();
    if !path.starts_with("/v2/") {
        return None;
    }
    Some(match url.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_only_ever_a_path_on_the_same_registry() {
        assert_eq!(
            next_page(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_page(r#"<https://elsewhere.example/v2/app/tags/list?last=c>; rel="next""#)
                .as_deref(),
            Some("/v2/app/tags/list?last=c")
        );
        assert_eq!(next_page("</token?steal=1>; rel=next"), None);
        assert_eq!(next_page("garbage"), None);
    }
}
