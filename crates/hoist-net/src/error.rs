pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`ip {args}` failed: {message}")]
    Ip { args: String, message: String },
    #[error("running `ip` (install iproute2)")]
    NoIp(#[source] std::io::Error),
    #[error("{path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the subnet {subnet} has no free address left")]
    SubnetFull { subnet: String },
    #[error("{0:?} is not an IPv4 subnet like 10.89.0.0/24 (prefix 8 to 30)")]
    BadSubnet(String),
    #[error("{0:?} is not a port mapping: use [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp], with ranges as N-M of the same length on both sides")]
    BadPort(String),
    #[error("running `nft` (install nftables; or use --network none or host)")]
    NoNft(#[source] std::io::Error),
    #[error("{what}")]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing hoist's firewall table with nft failed: {message}")]
    Nft { message: String },
    #[error("{path} is damaged: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("no network named {0:?}: --network takes bridge, none, host, private, container:NAME or a network's name (see `hoist network ls`; `hoist network create {0}` makes it)")]
    NoSuchNetwork(String),
    #[error("{0:?} cannot name a network: use letters, digits, '_', '.' and '-', starting with a letter or digit, and none of bridge, host, none, private, container, slirp4netns, pasta, ns")]
    BadNetworkName(String),
    #[error("a network named {0:?} exists already")]
    NetworkExists(String),
    #[error("the subnet {subnet} overlaps {by}")]
    SubnetTaken { subnet: String, by: String },
    #[error("no free subnet is left in 10.89.0.0/16: give one with --subnet")]
    NoFreeSubnet,
    #[error("the gateway {gateway} is no host address of {subnet}")]
    BadGateway {
        gateway: std::net::Ipv4Addr,
        subnet: String,
    },
    #[error("{0:?} is the default network, which stays")]
    DefaultNetwork(String),
    #[error("network {network:?} is in use by {containers}: remove them first (or use --force)")]
    NetworkInUse { network: String, containers: String },
    #[error("{address} is not an address a container may have on network {network:?} ({subnet}, without its gateway)")]
    AddressOutside {
        address: std::net::Ipv4Addr,
        network: String,
        subnet: String,
    },
    #[error("{address} is in use on network {network:?}")]
    AddressInUse {
        address: std::net::Ipv4Addr,
        network: String,
    },
    #[error("port {port} is published by container {container:?} already")]
    PortTaken { port: String, container: String },
    #[error("port {port} is in use on this host")]
    PortInUse {
        port: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0:?} cannot name a container on a network: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadAlias(String),
    #[error("network {0:?} is given twice")]
    NetworkTwice(String),
    #[error("network {0:?} is internal: ports published to it would reach nobody outside; publish them on another network, given first")]
    PublishedOnInternal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
