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
    #[error("{0:?} is not a port mapping: use HOSTPORT:CONTAINERPORT or IP:HOSTPORT:CONTAINERPORT (tcp)")]
    BadPort(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
