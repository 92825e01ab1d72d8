use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the engine. A message never repeats its cause: the cause is the error's
/// `source`, and the CLI prints the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system step: "creating /var/lib/hoist", with the system's error as the cause.
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0:?} is not a valid container name: names are letters, digits, '_', '.' and '-', starting with a letter or digit")]
    InvalidName(String),
    #[error("the name {0:?} is already in use by a container; choose another --name, or remove it with `hoist rm {0}`")]
    NameInUse(String),
    #[error("no container {name:?} (see `hoist ps -a`)")]
    NoContainer {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("the record {} is damaged", path.display())]
    DamagedRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not an OCI image layout (it has no oci-layout file)", .0.display())]
    NotALayout(PathBuf),
    #[error(
        "{arg:?} is neither an image reference nor a transport (docker://, oci:, oci-archive:)"
    )]
    NotAnImage {
        arg: String,
        #[source]
        source: hoist_oci::ReferenceError,
    },
    #[error("no image {reference} in hoist's store; pull it first with `hoist pull {reference}`")]
    NotInStore {
        reference: String,
        #[source]
        source: hoist_oci::Error,
    },
    #[error("docker://{0} is in a registry; pull it first, or use `hoist copy`")]
    InRegistry(String),
    #[error(transparent)]
    Reference(#[from] hoist_oci::ReferenceError),
    #[error(transparent)]
    Image(#[from] hoist_oci::Error),
    #[error(transparent)]
    Unpack(#[from] hoist_unpack::Error),
    #[error("writing {}", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: oci_spec::OciSpecError,
    },
}

impl Error {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
