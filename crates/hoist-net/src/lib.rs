//! Container networking, as podman's netavark does it with the kernel's own tools: networks
//! as objects (a bridge and a subnet each, [`Networks`]), and per container a network
//! namespace of its own (`/run/netns/hoist-ID`) with a veth pair to each network's bridge, a
//! leased address, and a default route; masquerading out and DNAT for published ports in an
//! nftables table of hoist's own ([`firewall`]); neighbours' names in each container's
//! `/etc/hosts` ([`hosts`]); a user-space proxy for published ports reached over loopback
//! ([`proxy`]).
//!
//! The links are made with iproute2's `ip` rather than hand-written netlink: it is on every
//! machine that runs containers, its commands are the documentation, and the handful of calls
//! per container cost a few milliseconds, which only containers on a network pay.
//!
//! IPv4 only: a network has no IPv6 subnet yet (podman's `--ipv6`).

mod address;
mod bridge;
mod error;
pub mod firewall;
mod hosts;
mod leases;
mod links;
mod network;
mod ports;
pub mod proxy;
mod rtnl;

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use rustix::fs::FlockOperation;

pub use address::Subnet;
pub use bridge::{attach, detach, leaseholders, reattach, refresh_hosts, Attachment, Request};
pub use error::{Error, Result};
pub use leases::{Leases, Member};
pub use network::{valid_name, Network, Networks, NewNetwork};
pub use ports::{PortMapping, Protocol};

/// Held while networks are changed or addresses leased: one lock for all of them.
fn lock(state_dir: &Path) -> Result<File> {
    fs::create_dir_all(state_dir).map_err(Error::io(state_dir))?;
    let path = state_dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    rustix::fs::flock(&file, FlockOperation::LockExclusive)
        .map_err(|e| Error::io(&path)(e.into()))?;
    Ok(file)
}
