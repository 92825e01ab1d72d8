//! Pulling into a layout, for `hoist pull`, `hoist copy` and `hoist run IMAGE`: the registry
//! client is async, the rest of hoist is not.

use hoist_oci::{Layout, Reference};
use hoist_registry::{EventSink, PlatformChoice, PullRequest, Pulled, RegistryOptions};

use crate::async_runtime::block_on;
use crate::{split_layout_arg, Error, Result, Store};

/// Pulls `reference` into `layout` under `ref_name`, reporting progress to `events`.
pub(crate) fn pull_into(
    vetted: &crate::policy::Vetted,
    layout: &Layout,
    ref_name: &str,
    platforms: &PlatformChoice,
    options: &RegistryOptions,
    events: EventSink,
) -> Result<Pulled> {
    // Each place registries.conf gives, mirrors first; the last one's failure is the answer.
    let mut failure = None;
    let last = vetted.endpoints.len() - 1;
    for (at, endpoint) in vetted.endpoints.iter().enumerate() {
        let mut endpoint_options = options.clone();
        endpoint_options.tls_verify &= !endpoint.insecure;
        endpoint_options.reporter = Some(hoist_registry::Reporter(events.clone()));
        let request = PullRequest {
            reference: &endpoint.reference,
            layout,
            ref_name,
            platforms,
            options: &endpoint_options,
        };
        match block_on(hoist_registry::pull(request, events.clone()))? {
            Ok(pulled) => return Ok(pulled),
            Err(source) => {
                if at < last {
                    tracing::warn!(
                        "pulling {} failed, trying the next place: {source}",
                        endpoint.reference
                    );
                }
                failure = Some(Error::Pull {
                    reference: endpoint.reference.to_string(),
                    source,
                });
            }
        }
    }
    Err(failure.expect("registries.conf gives every image at least one place"))
}

/// What `hoist pull` did: what was pulled, and where to (`oci:DIR:TAG`, or "hoist's store").
pub struct PulledTo {
    pub pulled: Pulled,
    pub destination: String,
}

/// Pulls into hoist's store (under its full reference), or with `dest` (`oci:DIR[:TAG]`) into
/// that layout, tagged with `TAG` or else the reference's own tag.
pub fn pull_image(
    store: &Store,
    reference: &Reference,
    dest: Option<&str>,
    platforms: &PlatformChoice,
    options: &RegistryOptions,
    events: EventSink,
) -> Result<PulledTo> {
    let vetted = crate::policy::vet(reference, options)?;
    let mut _store_lock = None;
    let (layout, ref_name, destination) = match dest {
        Some(dest) => {
            let rest = dest
                .strip_prefix("oci:")
                .ok_or_else(|| Error::UnsupportedDestination(dest.to_string()))?;
            let (dir, tag) = split_layout_arg(rest);
            let tag = tag
                .or_else(|| reference.tag().map(str::to_string))
                .ok_or_else(|| Error::NoTag {
                    reference: reference.to_string(),
                    dir: dir.clone(),
                })?;
            let layout = Layout::create(&dir)?;
            let destination = format!("oci:{}:{tag}", dir.display());
            (layout, tag, destination)
        }
        None => {
            _store_lock = Some(store.lock(false)?);
            (
                store.images()?,
                reference.to_string(),
                "hoist's store".to_string(),
            )
        }
    };
    let pulled = pull_into(&vetted, &layout, &ref_name, platforms, options, events)?;
    Ok(PulledTo {
        pulled,
        destination,
    })
}
