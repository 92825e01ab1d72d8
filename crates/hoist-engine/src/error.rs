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
    #[error("no container with name or ID {0:?} found: no such container (see `hoist ps -a`)")]
    NoSuchContainer(String),
    #[error("more than one container's ID starts with {0:?}: give more of it, or the name")]
    AmbiguousId(String),
    #[error("the record {} is damaged", path.display())]
    DamagedRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not an OCI image layout (it has no oci-layout file)", .0.display())]
    NotALayout(PathBuf),
    #[error(
        "{arg:?} is neither an image reference nor a transport ({})",
        crate::transport::KNOWN_TRANSPORTS
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
    #[error("{0} names no tag for the new image: give one, as DIR:TAG (or --tag NEW)")]
    NoNewTag(String),
    #[error("repacking {}", bundle.display())]
    Repacking {
        bundle: PathBuf,
        #[source]
        source: Box<hoist_unpack::Error>,
    },
    #[error("--clear={field}: not a field that can be cleared; these can: {known}")]
    UnknownConfigField { field: String, known: String },
    #[error("{0:?} is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("{file}: not a trust policy hoist can read: {reason}", file = .file.display())]
    BadPolicy { file: PathBuf, reason: String },
    #[error("{image} is refused by the trust policy {file}: {reason}", file = .file.display())]
    PolicyRefused {
        image: String,
        file: PathBuf,
        reason: String,
    },
    #[error("{file}: not a registries.conf hoist can read: {reason}", file = .file.display())]
    BadRegistriesConf { file: PathBuf, reason: String },
    #[error("{0} is in a registry that registries.conf blocks")]
    RegistryBlocked(String),
    #[error("the short name {name:?} could mean an image of any of {registries} (registries.conf's unqualified-search-registries), and the short-name mode is enforcing: name the registry, or add an alias")]
    AmbiguousShortName { name: String, registries: String },
    #[error("{image} is no longer the image container {container} was made from (pulled again since?): its changes would land on other layers")]
    CommitBaseMoved { container: String, image: String },
    #[error("container {0} keeps no overlay upper directory to commit (its rootfs is a copy of its own: hoist commits containers whose rootfs is an overlay)")]
    CommitNeedsOverlay(String),
    #[error("--change {0:?}: not an instruction commit takes (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL, as `KEY VALUE` or `KEY=VALUE`)")]
    BadChange(String),
    #[error("sync's YAML file {path}: {reason}")]
    BadSyncFile { path: PathBuf, reason: String },
    #[error("no images to sync found in {0}")]
    NothingToSync(String),
    #[error("{verb} works on images in a registry (docker://REF), not on {given}")]
    NeedsRegistry { verb: &'static str, given: String },
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
    #[error(transparent)]
    Runtime(#[from] hoist_runtime::Error),
    #[error(transparent)]
    Net(#[from] hoist_net::Error),

    // Talking to registries.
    #[error("starting the async runtime for the download")]
    AsyncRuntime(#[source] io::Error),
    #[error("pulling {reference}")]
    Pull {
        reference: String,
        #[source]
        source: hoist_registry::Error,
    },
    #[error("pushing to {reference}")]
    Push {
        reference: String,
        #[source]
        source: hoist_registry::Error,
    },
    #[error("{what}")]
    Registry {
        what: String,
        #[source]
        source: hoist_registry::Error,
    },
    #[error("inspecting {reference}")]
    Inspect {
        reference: String,
        #[source]
        source: hoist_registry::Error,
    },
    #[error(
        "--dest {0:?} is not supported: use oci:DIR[:TAG], or `hoist copy` for other destinations"
    )]
    UnsupportedDestination(String),
    #[error(
        "{transport}: is a transport hoist does not serve; it knows {}",
        crate::transport::KNOWN_TRANSPORTS
    )]
    UnknownTransport { transport: String },
    #[error("{reference} has no tag to name it by in the layout: give one, as --dest oci:{}:TAG", dir.display())]
    NoTag { reference: String, dir: PathBuf },
    #[error("unpacking {image} into {}", bundle.display())]
    Unpacking {
        image: String,
        bundle: PathBuf,
        #[source]
        source: Box<hoist_unpack::Error>,
    },
    #[error("{0} is not in hoist's store, and --pull=never forbids pulling it")]
    PullForbidden(String),

    // Images on disk.
    #[error("writing {}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: hoist_oci::Error,
    },
    #[error("{} names no images (they were saved by id, or its index.json has no ref names): give one a name as you copy it in, with `hoist copy oci-archive:FILE NAME` (or docker-archive:FILE NAME)", .0.display())]
    NoImagesInArchive(PathBuf),
    #[error("the {what} is not valid JSON")]
    BadDocument {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("copying {source_image} to {destination}")]
    Copying {
        source_image: String,
        destination: String,
        #[source]
        cause: Box<Error>,
    },

    // podman's `run` options.
    #[error("{option} {reason}")]
    BadOption { option: String, reason: String },
    #[error("{flag}")]
    BadSize {
        flag: &'static str,
        #[source]
        source: crate::SizeError,
    },
    #[error("--user {user:?}")]
    User {
        user: String,
        #[source]
        source: hoist_unpack::Error,
    },
    #[error("--entrypoint {entrypoint:?} is not a JSON array")]
    BadEntrypoint {
        entrypoint: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the image names no command: give one after the image name")]
    NoCommand,
    #[error("-v {volume:?}: the host path does not exist")]
    VolumeSource {
        volume: String,
        #[source]
        source: io::Error,
    },
    #[error("{0:?} is not a capability")]
    UnknownCapability(String),
    #[error("the seccomp profile {profile}")]
    SeccompProfile {
        profile: String,
        #[source]
        source: hoist_runtime::Error,
    },
    #[error("reading {}", path.display())]
    ContainersConf {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("--network container:{id}: no such container")]
    NoContainerToJoin {
        id: String,
        #[source]
        source: hoist_runtime::Error,
    },
    #[error("--network container:{0}: the container is not running")]
    NotRunningToJoin(String),
    #[error("joining the bridge network (or use --network none)")]
    JoiningBridge(#[source] hoist_net::Error),

    // Containers' lives.
    #[error("preparing {image}")]
    Preparing {
        image: String,
        #[source]
        source: Box<Error>,
    },
    #[error("the storage helper (hoist in your user namespace): {0}")]
    StorageHelper(String),
    #[error("starting {what}")]
    Spawn {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Process {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the container did not start: {last_words}")]
    DidNotStart {
        last_words: String,
        /// podman's exit code for it: 127 or 126 when the program could not be run.
        exit_code: Option<u8>,
    },
    #[error("the container did not start within 60 s; see {}", log.display())]
    StartTimedOut { log: PathBuf },
    #[error("no volume {0:?} (see `hoist volume ls`)")]
    NoVolume(String),
    #[error("volume {volume} is in use by {containers}: remove them first, or use -f")]
    VolumeInUse { volume: String, containers: String },
    #[error("copying files of container {container}")]
    Copy {
        container: String,
        #[source]
        source: io::Error,
    },
    #[error("publishing ports: {0}")]
    Publishing(String),
    #[error("{0} has no log (it ran in the foreground under an older hoist, which kept none)")]
    NoLog(String),
    #[error("{0} did not end after SIGKILL")]
    WouldNotDie(String),
    #[error("{0} is running: stop it first (`hoist stop {0}`), or remove it with -f")]
    Running(String),

    // Terminal sessions.
    #[error("{0} is not running (`hoist logs {0}` shows what it wrote, `hoist start {0}` runs it again)")]
    NotRunning(String),
    #[error("{0} was started without a terminal (-t): follow its output with `hoist logs -f {0}`")]
    NoTerminal(String),
    #[error("attaching to {id}")]
    Attaching {
        id: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    SessionFailed(String),
    #[error(
        "the connection to the process's terminal host ended before it said how the process ended"
    )]
    SessionLost,
    #[error("hoist's output was closed, so it left the session; the process runs on (`hoist attach` joins a container again)")]
    OutputClosed(#[source] io::Error),
    #[error("the terminal session's first message is not a process to run")]
    NoProcessToStart,
}

impl Error {
    /// The exit code podman gives for this failure where it is not its own 125: 127 for a
    /// program that is not there, 126 for one that cannot be run, 1 for `rm` of a container
    /// that does not exist.
    pub fn exit_code(&self) -> Option<u8> {
        match self {
            Error::Runtime(error) => error.program_failure().map(|f| f.exit_code()),
            Error::DidNotStart { exit_code, .. } => *exit_code,
            Error::Preparing { source, .. } => source.exit_code(),
            _ => None,
        }
    }

    /// A `run` option refused: `--cpus 0` "must be more than 0".
    pub(crate) fn bad_option(option: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::BadOption {
            option: option.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
