//! Pulling images from an OCI distribution registry into an image layout.
//!
//! The protocol, auth and TLS are `oci-client`'s; this crate decides what to fetch (manifest
//! negotiation, platform choice), fetches blobs concurrently, and streams each one through the
//! store's verifying writer so nothing unverified becomes visible. Progress is reported as
//! [`Event`]s; drawing them is the caller's business.

mod client;
mod error;
mod events;
mod manifest;
mod pull;

pub use client::{Credentials, RegistryOptions};
pub use error::{Error, Result};
pub use events::Event;
pub use pull::{pull, PullRequest, Pulled};
