//! A container's places on networks: its network namespace, per network a veth pair from the
//! bridge into it (`eth0`, `eth1`, … in the order asked) with a leased address, the default
//! route through the first network's gateway. Every change is made under the state lock and
//! ends with [`settle`], which makes the firewall, the bridges and the hosts files agree with
//! the leases again.

use std::fs::File;
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
    let lock = crate::lock(&networks.state_dir)?;
    // What a process killed halfway through an earlier attach of this id left.
    unplug_fully(networks, id);
    let changed: Vec<String> = requests.iter().map(|r| r.network.name.clone()).collect();
    let made = (|| {
        let requests = checked(networks, requests, ports)?;
        Leases::read(networks)?.check_ports_free(id, ports)?;
        links::add_netns(id)?;
        let mut attachments = Vec::new();
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
            attachments.push(attachment);
        }
        let plan: Vec<(&str, &Attachment)> = requests
            .iter()
            .map(|r| r.network.bridge.as_str())
            .zip(&attachments)
            .collect();
        let routed = requests.iter().position(|r| !r.network.internal);
        // The links and the firewall's rules do not depend on each other: made side by side.
        let (plugged, settled) = std::thread::scope(|scope| {
            let settling = scope.spawn(|| settle(networks, &changed, &lock));
            let plugged = links::plug(id, &plan, routed);
            (plugged, settling.join().expect("settling does not panic"))
        });
        plugged?;
        Ok((attachments, settled?))
    })();
    match made {
        Ok((attachments, dropping)) => {
            warn_of_dropping_firewalls(requests, &dropping);
            Ok(attachments)
        }
        Err(error) => {
            unplug_fully(networks, id);
            let _ = settle(networks, &changed, &lock);
            Err(error)
        }
    }
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
    links::delete_netns(id)?;
    ip(&["netns", "attach", &netns_name(id), &pid.to_string()])?;
    let on: Vec<Network> = attachments
        .iter()
        .map(|a| networks.get(&a.network))
        .collect::<Result<_>>()?;
    for network in &on {
        links::ensure_bridge(network)?;
    }
    let plan: Vec<(&str, &Attachment)> = on
        .iter()
        .map(|n| n.bridge.as_str())
        .zip(attachments)
        .collect();
    links::plug(id, &plan, on.iter().position(|n| !n.internal))
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
///
/// Neither the veths nor the table (with the last container) are waited for: the kernel takes
/// the veths with the namespace a moment later, after an RCU grace period, and the table goes
/// under the lock (see `firewall::apply`). An `attach` of the same id waits for its veths.
pub fn detach(networks: &Networks, id: &str) -> Result<()> {
    let lock = crate::lock(&networks.state_dir)?;
    let changed: Vec<String> = Leases::read(networks)?
        .of(id)
        .map(|m| m.network.clone())
        .collect();
    unplug(networks, id);
    settle(networks, &changed, &lock).map(drop)
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

/// Brings the firewall and the `changed` networks' hosts files in line with the leases
/// (stale ones dropped): the last container gone takes hoist's table. A bridge stays with its
/// network (as docker0 does): removing a link costs the kernel an RCU grace period, tens of
/// milliseconds, which each `run --rm` would pay; `network rm` removes it.
fn settle(networks: &Networks, changed: &[String], lock: &File) -> Result<Vec<String>> {
    let leases = Leases::read(networks)?;
    let all = networks.list()?;
    let dropping = firewall::apply(&networks.state_dir, &all, &leases, lock)?;
    for network in &all {
        if leases.on(&network.name).next().is_none() {
            let _ = std::fs::remove_dir(networks.state_dir.join("leases").join(&network.name));
        }
    }
    hosts::refresh(networks, &leases, changed, None);
    Ok(dropping)
}

/// Removes container `id`'s namespace (a veth's two ends are made together, the inner one in
/// it, so its veths go with it, a moment later) and its leases.
fn unplug(networks: &Networks, id: &str) {
    if let Err(error) = links::delete_netns(id) {
        tracing::warn!(%error, "removing the container's network namespace");
    }
    leases::release(networks, id);
}

/// `unplug`, and until its veths are gone: before the same id is attached again.
fn unplug_fully(networks: &Networks, id: &str) {
    unplug(networks, id);
    for network in networks.list().unwrap_or_default() {
        links::wait_gone(&links::host_veth_name(id, &network.name));
    }
}

/// Says so when another table's forward chain drops by default: hoist's accept cannot
/// overrule it, and the container would not reach beyond the host.
fn warn_of_dropping_firewalls(requests: &[Request], dropping: &[String]) {
    let Some(request) = requests.iter().find(|r| !r.network.internal) else {
        return;
    };
    for chain in dropping {
        let subnet = request.network.subnet;
        tracing::warn!(
            "the firewall's forward chain `{chain}` drops forwarded packets it does not accept: \
             containers on {subnet} may not reach beyond this host until it accepts them \
             (e.g. `nft insert rule {chain} ip saddr {subnet} accept` and \
             `nft insert rule {chain} ip daddr {subnet} ct state established,related accept`)"
        );
    }
}
