use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container id {0:?} is invalid: use letters, digits, and _ + - . (not starting with . or -), at most 1024 characters")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists; delete it first or choose another id")]
    AlreadyExists(String),
    #[error(transparent)]
    WrongState(#[from] crate::status::WrongState),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("reading the bundle's config.json at {path}: {source}", path = .path.display())]
    BadSpec {
        path: PathBuf,
        #[source]
        source: oci_spec::OciSpecError,
    },
    #[error("the bundle's config.json is not usable: {0}")]
    InvalidSpec(String),
    #[error("{what} {path}: {source}", path = .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("unknown signal {0:?}: give a name like TERM or SIGKILL, or a number")]
    BadSignal(String),
    /// An error the container's init reported before it was ready.
    #[error("{0}")]
    Init(String),
    /// A failure the init or the exec helper reported across the fork, with the system error
    /// under it kept as the cause.
    #[error("{message}")]
    Reported {
        message: String,
        #[source]
        cause: Option<io::Error>,
    },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("the container's state file {path} is damaged: {source}", path = .path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn reported(message: String, errno: Option<i32>) -> Error {
        Error::Reported {
            message,
            cause: errno.map(io::Error::from_raw_os_error),
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }

    pub(crate) fn sys<E: Into<io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
        let what = what.into();
        move |source| Error::Sys {
            what,
            source: source.into(),
        }
    }
}
