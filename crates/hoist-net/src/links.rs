//! The links and namespaces `ip` makes: bridges, veth pairs, named network namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result, Subnet};

/// `ip ARGS...`, failing with what it printed.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(Error::NoIp)?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Ip {
        args: args.join(" "),
        message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// The named network namespace of container `id`.
pub(crate) fn netns_name(id: &str) -> String {
    format!("hoist-{id}")
}

pub(crate) fn netns_path(id: &str) -> PathBuf {
    Path::new("/run/netns").join(netns_name(id))
}

/// The host end of container `id`'s veth on `network`, in the 15 bytes a link name has: `vh`
/// and a hash of both. FNV-1a by hand, since the name must be the same for every hoist that
/// cleans up after another (std's hasher may change between Rust releases), and 44 bits of a
/// fast non-cryptographic hash are plenty for names that only need to differ.
pub(crate) fn host_veth_name(id: &str, network: &str) -> String {
    let hash = [id.as_bytes(), b"\0", network.as_bytes()]
        .concat()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("vh{:011x}", hash & 0xfff_ffff_ffff)
}

/// Whether this network namespace has the link. (Not /sys/class/net: that shows the namespace
/// of whoever mounted /sys, which need not be ours.)
pub(crate) fn exists(name: &str) -> bool {
    ip(&["link", "show", "dev", name]).is_ok()
}

/// Makes the bridge if this network namespace has none, with the gateway address, up.
pub(crate) fn ensure_bridge(network: &crate::Network) -> Result<()> {
    if exists(&network.bridge) {
        return Ok(());
    }
    let gateway = format!("{}/{}", network.gateway, network.subnet.prefix);
    ip(&["link", "add", &network.bridge, "type", "bridge"])?;
    ip(&["addr", "add", &gateway, "dev", &network.bridge])?;
    ip(&["link", "set", &network.bridge, "up"])
}

pub(crate) fn remove_bridge(bridge: &str) {
    if exists(bridge) {
        if let Err(error) = ip(&["link", "delete", bridge, "type", "bridge"]) {
            tracing::warn!(%error, "removing an unused bridge");
        }
    }
}

pub(crate) fn remove_link(name: &str) {
    if exists(name) {
        let _ = ip(&["link", "delete", name]);
    }
}

/// The subnets the host has routes to, which a new network must not overlap.
pub(crate) fn routed_subnets() -> Vec<Subnet> {
    let Ok(output) = Command::new("ip")
        .args(["-4", "-o", "route", "show"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|destination| match destination.contains('/') {
            true => destination.parse().ok(),
            false => format!("{destination}/32").parse().ok(),
        })
        .collect()
}
