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
    /// Worded as runc words it: containerd's shim recognises "container not running" (and
    /// only that) as "already finished" when a kill comes after the exit.
    #[error("container not running: {0} has stopped")]
    NotRunning(String),
    #[error("reading the bundle's config.json at {path}", path = .path.display())]
    BadSpec {
        path: PathBuf,
        #[source]
        source: oci_spec::OciSpecError,
    },
    #[error("the bundle's config.json is not usable: {0}")]
    InvalidSpec(String),
    #[error("{what} {path}", path = .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("unknown signal {0:?}: give a name like TERM or SIGKILL, or a number")]
    BadSignal(String),
    /// The init (or the exec helper, or the exec'd process) ended without saying why.
    #[error("{who} exited {when} without reporting why")]
    Vanished {
        who: &'static str,
        when: &'static str,
    },
    #[error("the runtime went away during setup")]
    RuntimeVanished,
    #[error("a garbled message on the init's channel")]
    Garbled(#[source] serde_json::Error),
    #[error("unexpected message from the exec'd process: {0}")]
    UnexpectedMessage(String),
    #[error("the seccomp notifier's fd did not arrive")]
    NotifierMissing,
    #[error("the state document did not arrive with the runtime's go-ahead")]
    StateMissing,
    #[error("the init of container {0} exited before it could start")]
    ExitedBeforeStart(String),
    #[error("container {id} did not exit within {secs}s of SIGKILL")]
    WouldNotDie { id: String, secs: u64 },
    #[error("{0} is not the kernel's (procfs is not there, or something is mounted over it); refusing to write to it")]
    NotProcfs(String),
    #[error("setting sysctl {key}={value}")]
    Sysctl {
        key: String,
        value: String,
        #[source]
        source: Box<Error>,
    },
    #[error("hoist has {0} threads, and a container's init can only be cloned from a single-threaded process (this is a bug in hoist)")]
    TooManyThreads(usize),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    IdMap(#[from] IdMapError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A failure the init or the exec helper reported across the fork, with the system error
    /// under it kept as the cause.
    #[error("{message}")]
    Reported {
        message: String,
        #[source]
        cause: Option<io::Error>,
        program: Option<ProgramFailure>,
    },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("the container's state file {path} is damaged", path = .path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// How the container's program failed to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProgramFailure {
    /// Not there, or not on `PATH` (podman's exit code 127).
    NotFound,
    /// There, but it cannot be run: not executable, not a regular file, a bad format (126).
    NotInvocable,
}

impl ProgramFailure {
    /// The exit code podman gives for it.
    pub fn exit_code(self) -> u8 {
        match self {
            ProgramFailure::NotFound => 127,
            ProgramFailure::NotInvocable => 126,
        }
    }
}

/// What went wrong making the container's process: its limits, program, identity or labels.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("setting {name} to soft {soft} hard {hard}{hint}")]
    Rlimit {
        name: &'static str,
        soft: u64,
        hard: u64,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("exec: {program:?}: stat {}: {reason}", path.display())]
    NotExecutable {
        program: String,
        path: PathBuf,
        reason: String,
        failure: ProgramFailure,
    },
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("setting the {set} capabilities")]
    Capabilities {
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("raising ambient capability {cap}")]
    Ambient {
        cap: caps::Capability,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("{0:?} contains a NUL byte")]
    NulByte(String),
    #[error("exec {}", program.display())]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting {kind} {label:?}")]
    Label {
        kind: &'static str,
        label: String,
        #[source]
        source: Box<Error>,
    },
}

/// A hook that failed: which, and how.
#[derive(Debug, thiserror::Error)]
#[error("{kind} hook {}", path.display())]
pub struct HookError {
    pub kind: String,
    pub path: std::path::PathBuf,
    #[source]
    pub failure: HookFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum HookFailure {
    #[error("it cannot be started")]
    Start(#[source] std::io::Error),
    #[error("waiting for it")]
    Wait(#[source] std::io::Error),
    #[error("it exited with {status}{}", .last_words.as_ref().map(|w| format!(", saying {w:?}")).unwrap_or_default())]
    Exit {
        status: std::process::ExitStatus,
        /// The last line it wrote to stderr, if any (runc's errors show a hook's output too).
        last_words: Option<String>,
    },
    #[error("it did not finish within its {0}s timeout")]
    Timeout(u64),
}

/// Why the setuid map helpers could not write a map.
#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    #[error("running {helper}, which an unprivileged user needs to map more than its own id (install the uidmap package, or map only your own id)")]
    HelperMissing {
        helper: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{helper} refused the config's mappings: {stderr} (the ranges must be yours in /etc/sub{kind}id)")]
    Refused {
        helper: &'static str,
        stderr: String,
        kind: &'static str,
    },
}

/// Why hoist could not run from a sealed binary.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("hoist is not running from a sealed copy of its binary, so a container could overwrite it (CVE-2019-5736)")]
    Unsealed,
    #[error("hoist is still not sealed after re-executing from {marker}")]
    StillUnsealed {
        marker: String,
        #[source]
        source: Box<Error>,
    },
    #[error("{} has no directory", .0.display())]
    NoDirectory(std::path::PathBuf),
    #[error("an argument or variable holds a NUL byte")]
    NulByte,
}

/// A seccomp filter that could not be made or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("loading the seccomp filter")]
    Load(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("getting the seccomp notifier's fd")]
    NotifierFd(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("exporting the seccomp filter")]
    Export(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An error's chain of messages, joined by ": ", up to the first system error (errno), which
/// is returned apart: it crosses the fork as a number and becomes the cause again there.
pub(crate) fn split_errno(error: &(dyn std::error::Error + 'static)) -> (String, Option<i32>) {
    let mut message = String::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(errno) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return (message, Some(errno));
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&e.to_string());
        cause = e.source();
    }
    (message, None)
}

impl Error {
    pub(crate) fn reported(
        message: String,
        errno: Option<i32>,
        program: Option<ProgramFailure>,
    ) -> Error {
        Error::Reported {
            message,
            cause: errno.map(io::Error::from_raw_os_error),
            program,
        }
    }

    /// Whether this is the container's program failing to run (podman's exit codes 127 and
    /// 126 tell these apart from the runtime's own failures), wherever it was found out.
    pub fn program_failure(&self) -> Option<ProgramFailure> {
        match self {
            Error::Process(ProcessError::NotInPath(_)) => Some(ProgramFailure::NotFound),
            Error::Process(ProcessError::NotExecutable { failure, .. }) => Some(*failure),
            Error::Process(ProcessError::Exec { source, .. }) => {
                Some(if source.kind() == io::ErrorKind::NotFound {
                    ProgramFailure::NotFound
                } else {
                    ProgramFailure::NotInvocable
                })
            }
            Error::Reported { program, .. } => *program,
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_init_failure_crosses_the_fork_as_its_steps_and_its_errno() {
        let error = Error::Sysctl {
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
            source: Box::new(Error::Io {
                what: "writing",
                path: "/proc/sys/net/ipv4/ip_forward".into(),
                source: io::Error::from_raw_os_error(libc::EROFS),
            }),
        };
        assert_eq!(
            split_errno(&error),
            (
                "setting sysctl net.ipv4.ip_forward=1: writing /proc/sys/net/ipv4/ip_forward"
                    .to_string(),
                Some(libc::EROFS)
            )
        );
        let without = Error::NotProcfs("/proc/sys/x".into());
        assert_eq!(split_errno(&without).1, None);
    }
}
