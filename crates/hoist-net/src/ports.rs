//! Published ports as podman's `-p` spells them, expanded to one mapping per port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port: `host` (port 0 until [`PortMapping::choose_free_port`]) to the
/// container's `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host: SocketAddr,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// `[[IP:][HOSTPORT[-END]]:]CONTAINERPORT[-END][/tcp|/udp]`, podman's `-p`: a range on both
    /// sides of the same length; no host port (or `IP::PORT`) leaves it to be chosen.
    pub fn parse_all(text: &str) -> Result<Vec<PortMapping>> {
        let bad = || Error::BadPort(text.to_string());
        let (spec, protocol) = match text.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Protocol::Tcp),
            Some((spec, "udp")) => (spec, Protocol::Udp),
            Some(_) => return Err(bad()),
            None => (text, Protocol::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [container] => (Ipv4Addr::UNSPECIFIED, "", *container),
            [host, container] => (Ipv4Addr::UNSPECIFIED, *host, *container),
            [ip, host, container] => (ip.parse().map_err(|_| bad())?, *host, *container),
            _ => return Err(bad()),
        };
        let containers = port_range(container).ok_or_else(bad)?;
        let hosts = match host {
            "" => vec![0; containers.len()],
            host => port_range(host).ok_or_else(bad)?,
        };
        if hosts.len() != containers.len() {
            return Err(bad());
        }
        Ok(hosts
            .into_iter()
            .zip(containers)
            .map(|(host, container_port)| PortMapping {
                host: SocketAddr::from((ip, host)),
                container_port,
                protocol,
            })
            .collect())
    }

    /// Gives a mapping without a host port a free one, as podman does: one the kernel hands
    /// out for the address, free when asked.
    pub fn choose_free_port(&mut self) -> Result<()> {
        if self.host.port() != 0 {
            return Ok(());
        }
        let bound = match self.protocol {
            Protocol::Tcp => TcpListener::bind(self.host).and_then(|l| l.local_addr()),
            Protocol::Udp => UdpSocket::bind(self.host).and_then(|s| s.local_addr()),
        };
        self.host = bound.map_err(|e| Error::io(format!("choosing a port for {self}"))(e))?;
        Ok(())
    }

    pub fn host_ip(&self) -> Ipv4Addr {
        match self.host {
            SocketAddr::V4(v4) => *v4.ip(),
            SocketAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// Traffic to this port that only the user-space proxy can carry: to a loopback address,
    /// which never passes the nat hooks' routing to another namespace.
    pub fn loopback_only(&self) -> bool {
        self.host_ip().is_loopback()
    }
}

/// `N` or `N-M` (1..=65535), as the ports it names.
fn port_range(text: &str) -> Option<Vec<u16>> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    let (start, end) = match text.split_once('-') {
        Some((start, end)) => (port(start)?, port(end)?),
        None => (port(text)?, port(text)?),
    };
    (start <= end).then(|| (start..=end).collect())
}

impl std::str::FromStr for PortMapping {
    type Err = Error;

    /// Exactly one mapping (as [`PortMapping`]'s `Display` writes it, or any single-port `-p`).
    fn from_str(text: &str) -> Result<PortMapping> {
        match PortMapping::parse_all(text)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(Error::BadPort(text.to_string())),
        }
    }
}

impl std::fmt::Display for PortMapping {
    /// `IP:HOSTPORT:CONTAINERPORT/PROTOCOL`, which parses back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}/{}",
            self.host_ip(),
            self.host.port(),
            self.container_port,
            self.protocol.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> PortMapping {
        text.parse().unwrap()
    }

    #[test]
    fn mappings_parse_as_podman_spells_them() {
        let m = one("8080:80");
        assert_eq!(m.host, "0.0.0.0:8080".parse().unwrap());
        assert_eq!((m.container_port, m.protocol), (80, Protocol::Tcp));
        let m = one("127.0.0.1:9000:9000/tcp");
        assert_eq!(m.host, "127.0.0.1:9000".parse().unwrap());
        assert!(m.loopback_only());
        assert_eq!(one("53:53/udp").protocol, Protocol::Udp);
        assert_eq!(one("80").host.port(), 0);
        assert_eq!(one("192.0.2.1::80").host, "192.0.2.1:0".parse().unwrap());
        let range = PortMapping::parse_all("8000-8002:80-82/udp").unwrap();
        assert_eq!(range.len(), 3);
        assert_eq!((range[2].host.port(), range[2].container_port), (8002, 82));
        assert_eq!(
            one(&one("192.0.2.1:53:5353/udp").to_string()),
            one("192.0.2.1:53:5353/udp")
        );
        for bad in [
            "0:80",
            "80/sctp",
            "8000-8001:80",
            "82-80:80-82",
            "a:b:c:d",
            "x:80:80",
            "",
        ] {
            assert!(PortMapping::parse_all(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn a_mapping_without_a_host_port_gets_a_free_one() {
        let mut m = one("127.0.0.1::80/udp");
        m.choose_free_port().unwrap();
        assert_ne!(m.host.port(), 0);
        UdpSocket::bind(m.host).expect("the port chosen is free");
    }
}
