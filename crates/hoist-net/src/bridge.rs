//! A container's places on networks: its network namespace, per network a veth pair from the
//! bridge into it (`eth0`, `eth1`, … in the order asked) with a leased address, the default
//! route through the first network's gateway. Every change is made under the state lock and
//! ends with [`settle`], which makes the firewall, the bridges and the hosts files agree with
//! the leases again.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::leases::{self, Leases, Member};
use crate::links::{self, ip, netns_name, netns_path};
use crate::{firewall, hosts, Error, Network, Networks, PortMapping, Result};

/// One network a container is to join.
#[derive(Debug, Clone)]
pub struct Request {
    pub network: Network,
    /// `--ip`: this address rather than the first free one.
    pub address: Option<std::net::Ipv4Addr>,
    /// `--network-alias`: more names it is found by there.
    pub aliases: Vec<String>,
}

/// A container's place on one network; kept in its record to undo it later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    /// The bind-mounted network namespace the container joins.
    pub netns: PathBuf,
    /// Its name inside.
    pub interface: String,
    pub address: std::net::Ipv4Addr,
    pub gateway: std::net::Ipv4Addr,
    pub prefix: u8,
    /// The host end of the veth pair, on the bridge.
    pub host_veth: String,
}

/// Gives container `id` a network namespace on each requested network, with `ports` published
/// to its address on the first. On failure, whatever was made is undone.
pub fn attach(
    networks: &Networks,
    id: &str,
    requests: &[Request],
    ports: &[PortMapping],
) -> Result<Vec<Attachment>> {
    let _lock = crate::lock(&networks.state_dir)?;
    // What a process killed halfway through an earlier attach of this id left.
    unplug(networks, id);
    let made = (|| {
        let requests = checked(networks, requests, ports)?;
        Leases::read(networks)?.check_ports_free(id, ports)?;
        ip(&["netns", "add", &netns_name(id)])?;
        let mut attachments = Vec::new();
        let routed = requests.iter().position(|r| !r.network.internal);
        for (index, request) in requests.iter().enumerate() {
            links::ensure_bridge(&request.network)?;
            let mut names = vec![id.to_string()];
            names.extend(request.aliases.iter().cloned());
            let member = Member {
                container: id.to_string(),
                network: request.network.name.clone(),
                address: std::net::Ipv4Addr::UNSPECIFIED,
                names,
                ports: if index == 0 {
                    ports.to_vec()
                } else {
                    Vec::new()
                },
            };
            let member = leases::take(networks, &request.network, request.address, member)?;
            let attachment = Attachment {
                network: request.network.name.clone(),
                netns: netns_path(id),
                interface: format!("eth{index}"),
                address: member.address,
                gateway: request.network.gateway,
                prefix: request.network.subnet.prefix,
                host_veth: links::host_veth_name(id, &request.network.name),
            };
            plug(&request.network, id, &attachment, routed == Some(index))?;
            attachments.push(attachment);
        }
        Ok(attachments)
    })();
    let changed: Vec<String> = requests.iter().map(|r| r.network.name.clone()).collect();
    if made.is_err() {
        unplug(networks, id);
    }
    let settled = settle(networks, &changed);
    if settled.is_err() && made.is_ok() {
        unplug(networks, id);
        let _ = settle(networks, &changed);
    }
    let attachments = made?;
    settled?;
    warn_of_dropping_firewalls(requests);
    Ok(attachments)
}

/// Moves container `id`'s places (addresses and veths) into the network namespace of process
/// `pid` (the init of a container in a user namespace of its own, whose network namespace
/// must be that user namespace's to be the container's), in place of the one `attach` made:
/// the same name then pins it.
pub fn reattach(networks: &Networks, id: &str, attachments: &[Attachment], pid: i32) -> Result<()> {
    let _lock = crate::lock(&networks.state_dir)?;
    // The veths first: deleting the namespace takes them too, but only once the kernel gets
    // to it, and a veth still there would keep the new one from being made.
    for attachment in attachments {
        links::remove_link(&attachment.host_veth);
    }
    if netns_path(id).exists() {
        ip(&["netns", "delete", &netns_name(id)])?;
    }
    ip(&["netns", "attach", &netns_name(id), &pid.to_string()])?;
    let mut routed = false;
    for attachment in attachments {
        let network = networks.get(&attachment.network)?;
        links::ensure_bridge(&network)?;
        plug(&network, id, attachment, !routed && !network.internal)?;
        routed |= !network.internal;
    }
    Ok(())
}

/// The requests as they stand now (a network may have been removed or changed since the
/// caller read it; this runs under the lock), refused where they cannot work: a network twice,
/// an alias that is no name, ports published to an internal network.
fn checked(
    networks: &Networks,
    requests: &[Request],
    ports: &[PortMapping],
) -> Result<Vec<Request>> {
    let mut current: Vec<Request> = Vec::new();
    for request in requests {
        let network = networks.get(&request.network.name)?;
        if current.iter().any(|r| r.network.name == network.name) {
            return Err(Error::NetworkTwice(network.name));
        }
        if let Some(bad) = request.aliases.iter().find(|a| !crate::valid_name(a)) {
            return Err(Error::BadAlias(bad.clone()));
        }
        current.push(Request {
            network,
            ..request.clone()
        });
    }
    match current.first() {
        Some(first) if first.network.internal && !ports.is_empty() => {
            Err(Error::PublishedOnInternal(first.network.name.clone()))
        }
        _ => Ok(current),
    }
}

/// Takes container `id` off every network: its namespace (which takes its veths with it),
/// its leases, and its rules; found by the id alone, so that what a process killed halfway
/// through `attach` made is undone as well.
pub fn detach(networks: &Networks, id: &str) -> Result<()> {
    let _lock = crate::lock(&networks.state_dir)?;
    let changed: Vec<String> = Leases::read(networks)?
        .of(id)
        .map(|m| m.network.clone())
        .collect();
    unplug(networks, id);
    settle(networks, &changed)
}

/// Rewrites the neighbour section of container `id`'s hosts file (after its files are
/// written).
pub fn refresh_hosts(networks: &Networks, id: &str) -> Result<()> {
    let _lock = crate::lock(&networks.state_dir)?;
    hosts::refresh(networks, &Leases::read(networks)?, &[], Some(id));
    Ok(())
}

/// The containers holding an address, by their leases.
pub fn leaseholders(networks: &Networks) -> Result<Vec<String>> {
    let _lock = crate::lock(&networks.state_dir)?;
    let mut holders: Vec<String> = Leases::read(networks)?
        .members
        .into_iter()
        .map(|m| m.container)
        .collect();
    holders.sort();
    holders.dedup();
    Ok(holders)
}

/// Brings the firewall, the bridges and the `changed` networks' hosts files in line with the
/// leases (stale ones dropped): the last container gone takes its bridge and hoist's table.
fn settle(networks: &Networks, changed: &[String]) -> Result<()> {
    let leases = Leases::read(networks)?;
    let all = networks.list()?;
    firewall::apply(&all, &leases)?;
    for network in &all {
        if leases.on(&network.name).next().is_none() {
            links::remove_bridge(&network.bridge);
            let _ = std::fs::remove_dir(networks.state_dir.join("leases").join(&network.name));
        }
    }
    hosts::refresh(networks, &leases, changed, None);
    Ok(())
}

/// A veth pair from the bridge into the container's namespace, with its address (and the
/// default route, on the first network that is not internal).
fn plug(network: &Network, id: &str, attachment: &Attachment, default_route: bool) -> Result<()> {
    let ns = netns_name(id);
    let interface = attachment.interface.as_str();
    let host_veth = attachment.host_veth.as_str();
    ip(&[
        "link", "add", host_veth, "type", "veth", "peer", "name", interface, "netns", &ns,
    ])?;
    ip(&["link", "set", host_veth, "master", &network.bridge, "up"])?;
    let cidr = format!("{}/{}", attachment.address, attachment.prefix);
    ip(&["-n", &ns, "addr", "add", &cidr, "dev", interface])?;
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    ip(&["-n", &ns, "link", "set", interface, "up"])?;
    if default_route {
        let gateway = attachment.gateway.to_string();
        ip(&["-n", &ns, "route", "add", "default", "via", &gateway])?;
    }
    Ok(())
}

/// Removes container `id`'s namespace, any veth of it left on a bridge, and its leases.
fn unplug(networks: &Networks, id: &str) {
    if netns_path(id).exists() {
        if let Err(error) = ip(&["netns", "delete", &netns_name(id)]) {
            tracing::warn!(%error, "removing the container's network namespace");
        }
    }
    // A veth whose peer never reached the namespace would stay on the bridge.
    if let Ok(all) = networks.list() {
        for network in all {
            links::remove_link(&links::host_veth_name(id, &network.name));
        }
    }
    leases::release(networks, id);
}

/// Says so when another table's forward chain drops by default: hoist's accept cannot
/// overrule it, and the container would not reach beyond the host.
fn warn_of_dropping_firewalls(requests: &[Request]) {
    let Some(request) = requests.iter().find(|r| !r.network.internal) else {
        return;
    };
    for chain in firewall::dropping_forward_chains() {
        let subnet = request.network.subnet;
        tracing::warn!(
            "the firewall's forward chain `{chain}` drops forwarded packets it does not accept: \
             containers on {subnet} may not reach beyond this host until it accepts them \
             (e.g. `nft insert rule {chain} ip saddr {subnet} accept` and \
             `nft insert rule {chain} ip daddr {subnet} ct state established,related accept`)"
        );
    }
}
