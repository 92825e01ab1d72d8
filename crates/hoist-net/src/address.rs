use std::net::Ipv4Addr;

use crate::{Error, Result};

/// An IPv4 subnet: the bridge takes its gateway address, containers the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = Error;

    fn from_str(text: &str) -> Result<Subnet> {
        let bad = || Error::BadSubnet(text.to_string());
        let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask),
            prefix,
        })
    }
}

impl TryFrom<String> for Subnet {
    type Error = Error;

    fn try_from(text: String) -> Result<Subnet> {
        text.parse()
    }
}

impl From<Subnet> for String {
    fn from(subnet: Subnet) -> String {
        subnet.to_string()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    /// The default gateway: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `n`th address of the subnet.
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(address) & mask == u32::from(self.network)
    }

    /// Host addresses: neither the network's nor the broadcast address.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let size = 1u32 << (32 - self.prefix);
        (1..size - 1).map(|n| self.host(n))
    }

    pub fn is_host(&self, address: Ipv4Addr) -> bool {
        let broadcast = u32::from(self.network) | (u32::MAX >> self.prefix);
        self.contains(address) && address != self.network && u32::from(address) != broadcast
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_enumerate() {
        let subnet: Subnet = "10.89.0.7/24".parse().unwrap();
        assert_eq!(subnet.to_string(), "10.89.0.0/24");
        assert_eq!(subnet.gateway(), Ipv4Addr::new(10, 89, 0, 1));
        let hosts: Vec<_> = subnet.hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 89, 0, 1)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 89, 0, 254)));
        assert!(subnet.contains(Ipv4Addr::new(10, 89, 0, 255)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 89, 1, 1)));
        assert!(!subnet.is_host(Ipv4Addr::new(10, 89, 0, 255)));
        assert!(subnet.overlaps(&"10.89.0.128/25".parse().unwrap()));
        assert!(!subnet.overlaps(&"10.89.1.0/24".parse().unwrap()));
        assert!("10.0.0.0/31".parse::<Subnet>().is_err());
        assert!("nonsense".parse::<Subnet>().is_err());
    }
}
