//! Bridge networking for containers, as the namespaces chapter of the container literature
//! lays it out: a bridge (`hoist0`) with the subnet's first address, and per container a
//! network namespace of its own (`/run/netns/hoist-ID`), a veth pair with one end on the bridge
//! and the other (`eth0`) in the namespace, an address from the subnet and a default route.
//! Published ports are forwarded by a small user-space proxy ([`proxy`]).
//!
//! The links are made with iproute2's `ip` rather than hand-written netlink: it is on every
//! machine that runs containers, its commands are the documentation, and the handful of calls
//! per container cost a few milliseconds, which only `--network bridge` pays.

mod address;
mod bridge;
mod error;
pub mod proxy;

pub use address::Subnet;
pub use bridge::{attach, detach, leaseholders, reattach, Attachment, BridgeConfig};
pub use error::{Error, Result};
pub use proxy::PortMapping;
