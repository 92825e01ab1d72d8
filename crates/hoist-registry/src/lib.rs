//! Pulling images from an OCI distribution registry into an image layout.
//!
//! A [`Session`] speaks to one registry (scheme choice, basic and bearer auth, retries, bounded
//! reads); pulling decides what to fetch (manifest negotiation, platform choice), fetches blobs
//! concurrently, and streams each one through the store's verifying writer so nothing
//! unverified becomes visible. Progress is reported as [`Event`]s; drawing them is the caller's
//! business.

mod auth;
pub mod authfile;
mod blob;
mod client;
mod delete;
mod error;
mod events;
mod inspect;
mod manifest;
mod pull;
mod push;
mod response;
mod session;
mod signatures;
mod tags;
mod tls;

pub use client::{Credentials, RegistryOptions, RetryPolicy};
pub use delete::delete;
pub use error::{Error, Result};
pub use events::{Event, Reporter};
pub use inspect::{inspect, manifest_digest, Inspected};
pub use pull::{pull, EventSink, PlatformChoice, PullRequest, Pulled};
pub use push::push;
pub use session::Session;
pub use signatures::{sigstore_signatures, SigstoreSignature, SIGNATURE_ANNOTATION};
pub use tags::list_tags;
