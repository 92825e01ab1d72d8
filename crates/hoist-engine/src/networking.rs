//! What `--network`, `--ip`, `--network-alias`, `-p` and `-P` ask for, and a container's
//! joining of its networks at each start.

use std::net::Ipv4Addr;

use hoist_net::{Attachment, Networks, PortMapping};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Store};

/// podman's `--network` modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A network namespace with only `lo` (`none`, `private`).
    Own,
    Host,
    /// Another container's (`container:NAME`).
    Container(String),
    /// Hoist networks: `bridge` (the default one) or names.
    Networks(Vec<JoinedNetwork>),
    /// A network namespace of its own connected by pasta (an unprivileged user's default).
    Pasta,
}

/// A network a container is on, as its record keeps it to join it again at each start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinedNetwork {
    pub name: String,
    /// `--ip` (or `NAME:ip=…`): this address rather than any free one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
    /// `--network-alias` (or `NAME:alias=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl JoinedNetwork {
    pub(crate) fn default_network() -> JoinedNetwork {
        JoinedNetwork {
            name: "bridge".to_string(),
            address: None,
            aliases: Vec::new(),
        }
    }
}

impl NetworkMode {
    /// `--network` (each given: several networks, or one mode), with `--ip` for the first
    /// network and `--network-alias` for all, as podman takes them.
    pub fn parse(given: &[String], ip: Option<&str>, aliases: &[String]) -> Result<NetworkMode> {
        let given: Vec<&str> = match given {
            [] => vec!["bridge"],
            given => given.iter().map(String::as_str).collect(),
        };
        let mode = match given.as_slice() {
            ["none" | "private"] => NetworkMode::Own,
            ["host"] => NetworkMode::Host,
            ["pasta"] => NetworkMode::Pasta,
            [other] if other.starts_with("container:") => {
                NetworkMode::Container(other["container:".len()..].to_string())
            }
            several => NetworkMode::Networks(
                several
                    .iter()
                    .map(|n| joined(n))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let NetworkMode::Networks(mut networks) = mode else {
            if ip.is_some() || !aliases.is_empty() {
                return Err(Error::bad_option(
                    "--ip/--network-alias",
                    "need a network: bridge or one made with `hoist network create`",
                ));
            }
            return Ok(mode);
        };
        if let Some(ip) = ip {
            if networks.len() > 1 {
                return Err(Error::bad_option(
                    "--ip",
                    "is for one network: give NAME:ip=ADDRESS to each of several",
                ));
            }
            networks[0].address = Some(address(ip)?);
        }
        for network in &mut networks {
            network.aliases.extend(aliases.iter().cloned());
            if let Some(bad) = network.aliases.iter().find(|a| !hoist_net::valid_name(a)) {
                return Err(Error::bad_option(
                    format!("--network-alias {bad:?}"),
                    "is not a name: use letters, digits, '_', '.' and '-', starting with a letter or digit",
                ));
            }
        }
        Ok(NetworkMode::Networks(networks))
    }

    pub fn networks(&self) -> &[JoinedNetwork] {
        match self {
            NetworkMode::Networks(networks) => networks,
            _ => &[],
        }
    }
}

/// `NAME[:ip=ADDRESS,alias=NAME,...]`.
fn joined(text: &str) -> Result<JoinedNetwork> {
    let (name, options) = text.split_once(':').unwrap_or((text, ""));
    if ["none", "private", "host", "container"].contains(&name) || name.is_empty() {
        return Err(Error::bad_option(
            format!("--network {text:?}"),
            "cannot be combined with other networks",
        ));
    }
    let mut network = JoinedNetwork {
        name: name.to_string(),
        address: None,
        aliases: Vec::new(),
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("ip", ip)) => network.address = Some(address(ip)?),
            Some(("alias", alias)) => network.aliases.push(alias.to_string()),
            _ => {
                return Err(Error::bad_option(
                    format!("--network {text:?}"),
                    format!("has an option hoist does not know, {option:?}: use ip= or alias="),
                ))
            }
        }
    }
    Ok(network)
}

fn address(text: &str) -> Result<Ipv4Addr> {
    text.parse()
        .map_err(|_| Error::bad_option(format!("--ip {text}"), "is not an IPv4 address"))
}

/// The networks of this store: the default one (`$HOIST_BRIDGE`, default hoist0, with
/// `$HOIST_BRIDGE_SUBNET`, default 10.89.0.0/24) and those `network create` made.
pub fn networks(store: &Store) -> Networks {
    let subnet = std::env::var("HOIST_BRIDGE_SUBNET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "10.89.0.0/24".parse().expect("a valid default subnet"));
    let subnet: hoist_net::Subnet = subnet;
    Networks {
        state_dir: store.root().join("network"),
        default: hoist_net::Network {
            name: "hoist".to_string(),
            bridge: std::env::var("HOIST_BRIDGE").unwrap_or_else(|_| "hoist0".to_string()),
            subnet,
            gateway: subnet.gateway(),
            internal: false,
            labels: Default::default(),
            created: 0,
        },
        containers_dir: store.containers(),
    }
}

/// Puts container `name` on its networks, `ports` published to its first address.
pub(crate) fn join(
    store: &Store,
    name: &str,
    joined: &[JoinedNetwork],
    ports: &[String],
) -> Result<Vec<Attachment>> {
    let networks = networks(store);
    let requests = joined
        .iter()
        .map(|j| {
            Ok(hoist_net::Request {
                network: networks.get(&j.name)?,
                address: j.address,
                aliases: j.aliases.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ports = ports
        .iter()
        .map(|p| p.parse())
        .collect::<std::result::Result<Vec<PortMapping>, _>>()?;
    hoist_net::attach(&networks, name, &requests, &ports).map_err(Error::JoiningBridge)
}

/// Writes container `name`'s hosts and resolv.conf (see [`crate::name_files`]) for its places
/// on `attachments`, with its neighbours there in its hosts; returns their bind mounts.
pub(crate) fn name_files_on_networks(
    store: &Store,
    dir: &std::path::Path,
    name: &str,
    hostname: &str,
    attachments: &[Attachment],
    settings: &crate::NameSettings,
) -> Result<Vec<oci_spec::runtime::Mount>> {
    let address = attachments.first().map(|a| a.address);
    let mounts = crate::name_files(dir, hostname, address, settings)?;
    if !attachments.is_empty() {
        hoist_net::refresh_hosts(&networks(store), name)?;
    }
    Ok(mounts)
}

/// `-p` and `-P` as the mappings they make, host ports chosen where none was given: `-P`
/// publishes each port the image exposes (`80/tcp`, `53/udp`) on a free one.
pub(crate) fn published_ports(
    publish: &[String],
    publish_all: bool,
    exposed: &[String],
) -> Result<Vec<String>> {
    let mut mappings = Vec::new();
    for text in publish {
        mappings.extend(PortMapping::parse_all(text)?);
    }
    if publish_all {
        for port in exposed {
            let mapped = mappings.iter().any(|m| {
                format!("{}/{}", m.container_port, m.protocol.name()) == *port
                    || m.container_port.to_string() == *port
            });
            if !mapped {
                mappings.extend(PortMapping::parse_all(port)?);
            }
        }
    }
    for mapping in &mut mappings {
        mapping.choose_free_port()?;
    }
    Ok(mappings.iter().map(PortMapping::to_string).collect())
}

/// The containers (by name) whose record says they join `network`, running or not.
pub fn containers_on(store: &Store, network: &hoist_net::Network) -> Result<Vec<String>> {
    let default = networks(store).default.name;
    let joins = |joined: &JoinedNetwork| {
        joined.name == network.name || (joined.name == "bridge" && network.name == default)
    };
    Ok(crate::Container::all(store)?
        .into_iter()
        .filter(|c| c.record.joins.iter().any(joins))
        .map(|c| c.record.name)
        .collect())
}

/// `network rm`: refused while a container is configured to join it, unless `force`, which
/// removes those containers first (podman's rule).
pub fn remove_network(
    runtime: &hoist_runtime::Runtime,
    store: &Store,
    name: &str,
    force: bool,
) -> Result<()> {
    let networks = networks(store);
    let network = networks.get(name)?;
    let users = containers_on(store, &network)?;
    if !users.is_empty() && !force {
        return Err(hoist_net::Error::NetworkInUse {
            network: network.name,
            containers: users.join(", "),
        }
        .into());
    }
    for user in users {
        crate::remove(runtime, store, &user, true)?;
    }
    Ok(networks.remove(&network.name)?)
}

/// `network prune`: removes every network (but the default) no container joins.
pub fn prune_networks(store: &Store) -> Result<Vec<String>> {
    let networks = networks(store);
    let mut removed = Vec::new();
    for network in networks.list()?.into_iter().skip(1) {
        if containers_on(store, &network)?.is_empty() {
            networks.remove(&network.name)?;
            removed.push(network.name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(given: &[&str], ip: Option<&str>, aliases: &[&str]) -> Result<NetworkMode> {
        let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
        NetworkMode::parse(&given, ip, &aliases)
    }

    #[test]
    fn network_flags_parse_as_podman_takes_them() {
        assert_eq!(parse(&["none"], None, &[]).unwrap(), NetworkMode::Own);
        assert_eq!(
            parse(&["container:db"], None, &[]).unwrap(),
            NetworkMode::Container("db".into())
        );
        let mode = parse(&["front", "back:ip=10.89.3.7,alias=api"], None, &["svc"]).unwrap();
        let networks = mode.networks();
        assert_eq!(networks[0].name, "front");
        assert_eq!(networks[0].aliases, ["svc"]);
        assert_eq!(networks[1].address, Some(Ipv4Addr::new(10, 89, 3, 7)));
        assert_eq!(networks[1].aliases, ["api", "svc"]);
        let mode = parse(&[], Some("10.89.0.9"), &[]).unwrap();
        assert_eq!(mode.networks()[0].name, "bridge");
        assert!(parse(&["host"], Some("10.89.0.9"), &[]).is_err());
        assert!(parse(&["a", "b"], Some("10.89.0.9"), &[]).is_err());
        assert!(parse(&["bridge", "none"], None, &[]).is_err());
        assert!(parse(&["n:mac=x"], None, &[]).is_err());
        assert!(parse(&["n:ip=300.1.1.1"], None, &[]).is_err());
    }

    #[test]
    fn publish_all_maps_what_the_image_exposes_and_is_not_mapped_yet() {
        let exposed = ["80/tcp".to_string(), "53/udp".to_string()];
        let ports = published_ports(&["127.0.0.1:18080:80".into()], true, &exposed).unwrap();
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert_eq!(ports[0], "127.0.0.1:18080:80/tcp");
        let udp: PortMapping = ports[1].parse().unwrap();
        assert_eq!(
            (udp.container_port, udp.protocol),
            (53, hoist_net::Protocol::Udp)
        );
        assert_ne!(udp.host.port(), 0);
    }
}
