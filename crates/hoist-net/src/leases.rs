//! Address leases: one file per leased address, `leases/NETWORK/ADDRESS`, holding who has it
//! (the container, the names it answers to, the ports published to it). Taken with
//! `create_new`, so two containers never get one address; read only under the state lock. A
//! lease whose container's network namespace is gone (a process killed between `attach` and
//! `detach`) is free again, and is removed the next time leases are read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{links, Error, Network, Networks, PortMapping, Result};

/// A container's place on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub container: String,
    pub network: String,
    pub address: Ipv4Addr,
    /// The names other containers on the network find it by: its own, then its aliases.
    pub names: Vec<String>,
    /// Published to this address (only on the container's first network).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
}

/// Every live lease, read under the state lock.
pub struct Leases {
    pub members: Vec<Member>,
}

impl Leases {
    /// Reads every network's leases, removing those of containers whose namespace is gone.
    pub fn read(networks: &Networks) -> Result<Leases> {
        let mut members = Vec::new();
        for (path, member) in lease_files(networks) {
            match member {
                Some(member) if links::netns_path(&member.container).exists() => {
                    members.push(member)
                }
                // Stale, or torn by a crash while it was written (the lease is taken before
                // its content is written, both under the lock).
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        members.sort_by(|a, b| (&a.network, a.address).cmp(&(&b.network, b.address)));
        Ok(Leases { members })
    }

    pub fn on<'a>(&'a self, network: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.iter().filter(move |m| m.network == network)
    }

    pub fn of<'a>(&'a self, container: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members
            .iter()
            .filter(move |m| m.container == container)
    }

    /// Refuses a port another container publishes already (two DNAT rules for one port would
    /// send its traffic to whichever came first), one given twice, and one something on the
    /// host listens on (whose traffic the rules would take).
    pub fn check_ports_free(&self, id: &str, ports: &[PortMapping]) -> Result<()> {
        for (index, wanted) in ports.iter().enumerate() {
            let holder = self
                .members
                .iter()
                .find(|m| m.ports.iter().any(|held| clash(held, wanted)))
                .map(|m| m.container.clone())
                .or_else(|| {
                    let twice = ports[..index].iter().any(|earlier| clash(earlier, wanted));
                    twice.then(|| id.to_string())
                });
            if let Some(container) = holder {
                return Err(Error::PortTaken {
                    port: wanted.to_string(),
                    container,
                });
            }
            crate::proxy::bind(std::slice::from_ref(wanted)).map_err(|e| match e {
                Error::Io { source, .. } => Error::PortInUse {
                    port: wanted.to_string(),
                    source,
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Leases an address on `network` for `member` (its `address` field is filled in): the one
/// asked for, or the first free one.
pub fn take(
    networks: &Networks,
    network: &Network,
    wanted: Option<Ipv4Addr>,
    mut member: Member,
) -> Result<Member> {
    let dir = lease_dir(networks, &network.name);
    fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    if let Some(address) = wanted {
        if !network.subnet.is_host(address) || address == network.gateway {
            return Err(Error::AddressOutside {
                address,
                network: network.name.clone(),
                subnet: network.subnet.to_string(),
            });
        }
    }
    let candidates: Box<dyn Iterator<Item = Ipv4Addr>> = match wanted {
        Some(address) => Box::new(std::iter::once(address)),
        None => Box::new(network.container_addresses()),
    };
    for address in candidates {
        let path = dir.join(address.to_string());
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                member.address = address;
                let bytes = serde_json::to_vec(&member).expect("a lease serializes");
                file.write_all(&bytes).map_err(Error::io(&path))?;
                return Ok(member);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if wanted.is_some() {
                    return Err(Error::AddressInUse {
                        address,
                        network: network.name.clone(),
                    });
                }
            }
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    Err(Error::SubnetFull {
        subnet: network.subnet.to_string(),
    })
}

/// Gives back every address container `id` holds.
pub fn release(networks: &Networks, id: &str) {
    for (path, member) in lease_files(networks) {
        if member.is_some_and(|m| m.container == id) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Whether two mappings want the same port of the same protocol on a common address.
fn clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.protocol == b.protocol
        && a.host.port() == b.host.port()
        && (a.host_ip().is_unspecified()
            || b.host_ip().is_unspecified()
            || a.host_ip() == b.host_ip())
}

/// Every lease file with what it holds (`None`: unreadable or torn).
fn lease_files(networks: &Networks) -> Vec<(PathBuf, Option<Member>)> {
    let mut files = Vec::new();
    let Ok(network_dirs) = fs::read_dir(networks.state_dir.join("leases")) else {
        return files;
    };
    for network_dir in network_dirs.flatten() {
        let Ok(entries) = fs::read_dir(network_dir.path()) else {
            continue; // an address file of an older layout
        };
        for entry in entries.flatten() {
            let member = fs::read(entry.path())
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Member>(&bytes).ok());
            files.push((entry.path(), member));
        }
    }
    files
}

fn lease_dir(networks: &Networks, network: &str) -> PathBuf {
    networks.state_dir.join("leases").join(network)
}
