//! The async runtime registry work runs on, made per call and gone when it returns.

use crate::{Error, Result};

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
