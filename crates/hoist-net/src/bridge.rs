use std::fs::{self, File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Subnet};

/// Which bridge, which subnet, and where the address leases are kept.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub bridge: String,
    pub subnet: Subnet,
    /// One file per leased address (`leases/<address>`, holding the container id).
    pub state_dir: PathBuf,
}

/// A container's place on the bridge; kept in the container's record to undo it later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    /// The bind-mounted network namespace the container joins.
    pub netns: PathBuf,
    pub address: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    /// The host end of the veth pair, on the bridge.
    pub host_veth: String,
}

/// `ip ARGS...`, failing with what it printed.
fn ip(args: &[&str]) -> Result<()> {
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

fn netns_name(id: &str) -> String {
    format!("hoist-{id}")
}

/// A veth name fits in 15 bytes: `vh` and a hash of the id.
fn host_veth_name(id: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    format!("vh{:011x}", hasher.finish() & 0xfff_ffff_ffff)
}

/// Held while the bridge is set up and addresses are leased.
fn lock(state_dir: &Path) -> Result<File> {
    fs::create_dir_all(state_dir.join("leases")).map_err(Error::io(state_dir))?;
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

/// Whether this network namespace has the link. (Not /sys/class/net: that shows the namespace
/// of whoever mounted /sys, which need not be ours.)
fn link_exists(name: &str) -> bool {
    ip(&["link", "show", "dev", name]).is_ok()
}

/// Makes the bridge if this network namespace has none, with the gateway address, up.
fn ensure_bridge(config: &BridgeConfig) -> Result<()> {
    if link_exists(&config.bridge) {
        return Ok(());
    }
    let gateway = format!("{}/{}", config.subnet.gateway(), config.subnet.prefix);
    ip(&["link", "add", &config.bridge, "type", "bridge"])?;
    ip(&["addr", "add", &gateway, "dev", &config.bridge])?;
    ip(&["link", "set", &config.bridge, "up"])
}

/// Takes the first free address. A lease whose container's namespace is gone is free again.
fn lease(config: &BridgeConfig, id: &str) -> Result<Ipv4Addr> {
    let leases = config.state_dir.join("leases");
    for address in config.subnet.container_hosts() {
        let path = leases.join(address.to_string());
        if let Ok(holder) = fs::read_to_string(&path) {
            let alive = Path::new("/run/netns")
                .join(netns_name(holder.trim()))
                .exists();
            if alive {
                continue;
            }
            let _ = fs::remove_file(&path);
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => {
                fs::write(&path, id).map_err(Error::io(&path))?;
                return Ok(address);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    Err(Error::SubnetFull {
        subnet: config.subnet.to_string(),
    })
}

/// Gives container `id` a network namespace on the bridge. On failure, whatever was made is
/// undone.
pub fn attach(config: &BridgeConfig, id: &str) -> Result<Attachment> {
    let _lock = lock(&config.state_dir)?;
    ensure_bridge(config)?;
    let address = lease(config, id)?;
    let attachment = Attachment {
        netns: Path::new("/run/netns").join(netns_name(id)),
        address,
        gateway: config.subnet.gateway(),
        prefix: config.subnet.prefix,
        host_veth: host_veth_name(id),
    };
    let made = ip(&["netns", "add", &netns_name(id)]).and_then(|()| plug(config, id, &attachment));
    if let Err(error) = made {
        release(config, id);
        return Err(error);
    }
    Ok(attachment)
}

/// Moves container `id`'s place on the bridge (its address and veth) into the network
/// namespace of process `pid` (the init of a container in a user namespace of its own, whose
/// network namespace must be that user namespace's to be the container's), in place of the one
/// `attach` made: the same name then pins it.
pub fn reattach(config: &BridgeConfig, id: &str, attachment: &Attachment, pid: i32) -> Result<()> {
    let _lock = lock(&config.state_dir)?;
    ensure_bridge(config)?;
    // The veth first: deleting the namespace takes it too, but only once the kernel gets to
    // it, and a veth still there would keep the new one from being made.
    let host_veth = host_veth_name(id);
    if link_exists(&host_veth) {
        let _ = ip(&["link", "delete", &host_veth]);
    }
    let ns = netns_name(id);
    if Path::new("/run/netns").join(&ns).exists() {
        ip(&["netns", "delete", &ns])?;
    }
    ip(&["netns", "attach", &ns, &pid.to_string()])?;
    plug(config, id, attachment)
}

/// A veth pair from the bridge into the container's namespace, with its address and route.
fn plug(config: &BridgeConfig, id: &str, attachment: &Attachment) -> Result<()> {
    let ns = netns_name(id);
    ip(&[
        "link",
        "add",
        &attachment.host_veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &ns,
    ])?;
    ip(&[
        "link",
        "set",
        &attachment.host_veth,
        "master",
        &config.bridge,
        "up",
    ])?;
    let cidr = format!("{}/{}", attachment.address, attachment.prefix);
    ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
    ip(&[
        "-n",
        &ns,
        "route",
        "add",
        "default",
        "via",
        &attachment.gateway.to_string(),
    ])
}

/// Removes the container's namespace (which takes its veth pair with it) and frees its address:
/// whatever of them exists, found by the container's id alone, so that what a process killed
/// halfway through `attach` made is undone as well.
pub fn detach(config: &BridgeConfig, id: &str) -> Result<()> {
    let _lock = lock(&config.state_dir)?;
    release(config, id);
    Ok(())
}

/// The containers holding an address on the bridge, by their leases.
pub fn leaseholders(config: &BridgeConfig) -> Vec<String> {
    let Ok(leases) = fs::read_dir(config.state_dir.join("leases")) else {
        return Vec::new();
    };
    let mut holders: Vec<String> = leases
        .flatten()
        .filter_map(|lease| fs::read_to_string(lease.path()).ok())
        .map(|holder| holder.trim().to_string())
        .filter(|holder| !holder.is_empty())
        .collect();
    holders.sort();
    holders.dedup();
    holders
}

fn release(config: &BridgeConfig, id: &str) {
    let ns = netns_name(id);
    if Path::new("/run/netns").join(&ns).exists() {
        if let Err(error) = ip(&["netns", "delete", &ns]) {
            tracing::warn!(%error, "removing the container's network namespace");
        }
    }
    // A veth whose peer never reached the namespace would stay on the bridge.
    let host_veth = host_veth_name(id);
    if link_exists(&host_veth) {
        let _ = ip(&["link", "delete", &host_veth]);
    }
    let Ok(leases) = fs::read_dir(config.state_dir.join("leases")) else {
        return;
    };
    for lease in leases.flatten() {
        if fs::read_to_string(lease.path()).is_ok_and(|holder| holder.trim() == id) {
            let _ = fs::remove_file(lease.path());
        }
    }
}
