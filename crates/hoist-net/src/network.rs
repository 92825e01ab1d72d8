//! Networks as objects (podman's `network create|ls|inspect|rm`): each a bridge and a subnet,
//! kept as `networks/NAME.json` in the state directory. The default network is not a file: it
//! is made from the environment each time, so `$HOIST_BRIDGE_SUBNET` always holds.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{links, Error, Result, Subnet};

/// The names `--network` gives other meanings to, which no network may take.
const RESERVED: &[&str] = &[
    "bridge",
    "host",
    "none",
    "private",
    "container",
    "slirp4netns",
    "pasta",
    "ns",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// The bridge's link name on the host.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// No traffic leaves the subnet (podman's `--internal`).
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch; 0 for the default network.
    #[serde(default)]
    pub created: u64,
}

impl Network {
    /// Addresses containers may lease: the subnet's hosts but the gateway.
    pub fn container_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.subnet.hosts().filter(|a| *a != self.gateway)
    }
}

/// What `network create` asks for; what it leaves out is chosen.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: Option<String>,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// Where networks, leases and the lock are kept, and which network is the default.
#[derive(Debug, Clone)]
pub struct Networks {
    pub state_dir: PathBuf,
    pub default: Network,
    /// Each container's `/etc/hosts` is `ID/hosts` here, kept listing its neighbours.
    pub containers_dir: PathBuf,
}

impl Networks {
    fn file(&self, name: &str) -> PathBuf {
        self.state_dir.join("networks").join(format!("{name}.json"))
    }

    /// The network `--network NAME` means: `bridge` is the default one.
    pub fn get(&self, name: &str) -> Result<Network> {
        if name == "bridge" || name == self.default.name {
            return Ok(self.default.clone());
        }
        if !valid_name(name) {
            return Err(Error::NoSuchNetwork(name.to_string()));
        }
        let path = self.file(name);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NoSuchNetwork(name.to_string()))
            }
            Err(e) => Err(Error::io(path)(e)),
        }
    }

    /// The default network first, then the others by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut networks = vec![self.default.clone()];
        let dir = self.state_dir.join("networks");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(networks),
            Err(e) => return Err(Error::io(dir)(e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(String::from)
            })
            .collect();
        names.sort();
        for name in names {
            networks.push(self.get(&name)?);
        }
        Ok(networks)
    }

    /// Makes a network: a free subnet (one no network and no host route has) and bridge name
    /// where none is given.
    pub fn create(&self, request: NewNetwork) -> Result<Network> {
        let _lock = crate::lock(&self.state_dir)?;
        let existing = self.list()?;
        let name = match request.name {
            Some(name) => name,
            None => (1..)
                .map(|n| format!("hoist{n}"))
                .find(|n| existing.iter().all(|e| e.name != *n))
                .expect("a free name"),
        };
        if !valid_name(&name) || RESERVED.contains(&name.as_str()) {
            return Err(Error::BadNetworkName(name));
        }
        if existing.iter().any(|e| e.name == name) {
            return Err(Error::NetworkExists(name));
        }
        let taken: Vec<Subnet> = existing.iter().map(|e| e.subnet).collect();
        let subnet = match request.subnet {
            Some(subnet) => {
                if let Some(other) = existing.iter().find(|e| e.subnet.overlaps(&subnet)) {
                    return Err(Error::SubnetTaken {
                        subnet: subnet.to_string(),
                        by: format!("network {:?}", other.name),
                    });
                }
                let routes = links::routed_subnets();
                if let Some(route) = routes.iter().find(|r| r.overlaps(&subnet)) {
                    return Err(Error::SubnetTaken {
                        subnet: subnet.to_string(),
                        by: format!("this host's route to {route}"),
                    });
                }
                subnet
            }
            None => free_subnet(&taken, &links::routed_subnets())?,
        };
        let gateway = request.gateway.unwrap_or_else(|| subnet.gateway());
        if !subnet.is_host(gateway) {
            return Err(Error::BadGateway {
                gateway,
                subnet: subnet.to_string(),
            });
        }
        let bridge = (1..)
            .map(|n| format!("hoist{n}"))
            .find(|b| existing.iter().all(|e| e.bridge != *b) && !links::exists(b))
            .expect("a free bridge name");
        let network = Network {
            name,
            bridge,
            subnet,
            gateway,
            internal: request.internal,
            labels: request.labels,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        write_atomically(
            &self.file(&network.name),
            &serde_json::to_vec_pretty(&network).expect("a network serializes"),
        )?;
        Ok(network)
    }

    /// Removes a network no container is on (the default one stays).
    pub fn remove(&self, name: &str) -> Result<()> {
        let network = self.get(name)?;
        if network == self.default {
            return Err(Error::DefaultNetwork(network.name));
        }
        let _lock = crate::lock(&self.state_dir)?;
        let members = crate::leases::Leases::read(self)?;
        let users: Vec<String> = members
            .on(&network.name)
            .map(|m| m.container.clone())
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse {
                network: network.name,
                containers: users.join(", "),
            });
        }
        let path = self.file(&network.name);
        fs::remove_file(&path).map_err(Error::io(&path))?;
        let _ = fs::remove_dir_all(self.state_dir.join("leases").join(&network.name));
        links::remove_bridge(&network.bridge);
        Ok(())
    }
}

/// podman's rule for network names and aliases: a letter or digit, then letters, digits, `_`,
/// `.`, `-` (nothing that could end a line of /etc/hosts or split a name in it).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 64
}

/// The first 10.89.N.0/24 that overlaps neither a network's subnet nor a route of the host.
fn free_subnet(networks: &[Subnet], routes: &[Subnet]) -> Result<Subnet> {
    (1..=255u8)
        .map(|n| Subnet {
            network: Ipv4Addr::new(10, 89, n, 0),
            prefix: 24,
        })
        .find(|candidate| {
            networks
                .iter()
                .chain(routes)
                .all(|used| !used.overlaps(candidate))
        })
        .ok_or(Error::NoFreeSubnet)
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("a file in a directory");
    fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let temp = dir.join(format!(
        ".{}.tmp",
        path.file_name().expect("a file").to_string_lossy()
    ));
    fs::write(&temp, bytes).map_err(Error::io(&temp))?;
    fs::rename(&temp, path).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_subnet_avoids_networks_and_routes() {
        let taken = [
            "10.89.0.0/24".parse().unwrap(),
            "10.89.1.0/24".parse().unwrap(),
        ];
        let routes = ["10.89.2.0/23".parse().unwrap()];
        assert_eq!(
            free_subnet(&taken, &routes).unwrap().to_string(),
            "10.89.4.0/24"
        );
        assert!(free_subnet(&["10.0.0.0/8".parse().unwrap()], &[]).is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("web-2.backend_net"));
        for bad in ["", "-x", "a/b", "../x", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
