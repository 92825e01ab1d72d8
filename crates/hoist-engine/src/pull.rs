//! Pulling into a layout, for `hoist pull`, `hoist copy` and `hoist run IMAGE`: the registry
//! client is async, the rest of hoist is not.

use hoist_oci::{Layout, Reference};
use hoist_registry::{EventSink, PlatformChoice, PullRequest, Pulled, RegistryOptions};

use crate::{Error, Result};

/// Pulls `reference` into `layout` under `ref_name`, reporting progress to `events`.
pub fn pull_into(
    reference: &Reference,
    layout: &Layout,
    ref_name: &str,
    platforms: &PlatformChoice,
    options: &RegistryOptions,
    events: EventSink,
) -> Result<Pulled> {
    let request = PullRequest {
        reference,
        layout,
        ref_name,
        platforms,
        options,
    };
    block_on(hoist_registry::pull(request, events))?.map_err(|source| Error::Pull {
        reference: reference.to_string(),
        source,
    })
}

/// Runs network work on an async runtime that is shut down before returning, so that a caller
/// about to clone a container's init is single-threaded again.
pub fn block_on<T>(work: impl std::future::Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::AsyncRuntime)?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(result)
}
