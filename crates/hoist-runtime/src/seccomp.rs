//! The config's seccomp filter, compiled with libseccomp as runc and youki do: its handling of
//! syscall names per architecture, argument comparisons and overlapping rules is what the OCI
//! profile format (and every engine's default profile) was written against.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::state::OciState;

/// Every action a profile may name; `action` turns each into libseccomp's.
pub(crate) const ACTIONS: &[LinuxSeccompAction] = &[
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];

/// Every argument comparison a profile may name.
pub(crate) const OPERATORS: &[LinuxSeccompOperator] = &[
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
    LinuxSeccompOperator::ScmpCmpNe,
];

/// The filter flags a profile may ask for (TSYNC is moot: one thread loads the filter).
pub(crate) const FILTER_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

use crate::channel::InitEnd;
use crate::error::SeccompError;
use crate::{Error, Result};

/// Compiles the filter with libseccomp (which needs no privileges); [`Filter`] installs it.
pub(crate) fn compile(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let bad = |what: String| Error::InvalidSpec(format!("linux.seccomp: {what}"));
    let notifies = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|rule| rule.action() == LinuxSeccompAction::ScmpActNotify);
    if notifies && seccomp.listener_path().is_none() {
        return Err(bad(
            "SCMP_ACT_NOTIFY needs a listenerPath: the socket of the program that answers the notified syscalls".into(),
        ));
    }
    let default = action(&seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut filter =
        ScmpFilterContext::new(default).map_err(|e| bad(format!("creating the filter: {e}")))?;
    // hoist sets no_new_privileges itself, as the config says.
    filter.set_ctl_nnp(false).map_err(|e| bad(e.to_string()))?;
    for arch in seccomp.architectures().as_deref().unwrap_or_default() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let arch =
            ScmpArch::from_str(&name).map_err(|_| bad(format!("unknown architecture {name}")))?;
        if !filter.is_arch_present(arch).unwrap_or(false) {
            filter
                .add_arch(arch)
                .map_err(|e| bad(format!("adding architecture {name}: {e}")))?;
        }
    }
    for flag in seccomp.flags().as_deref().unwrap_or_default() {
        let name = serde_json::to_value(flag)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match name.as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => {
                filter.set_ctl_log(true).map_err(|e| bad(e.to_string()))?;
            }
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => {
                filter.set_ctl_ssb(true).map_err(|e| bad(e.to_string()))?;
            }
            // The process is single-threaded when the filter is loaded.
            "SECCOMP_FILTER_FLAG_TSYNC" => {}
            other => return Err(bad(format!("unsupported flag {other}"))),
        }
    }
    for rule in seccomp.syscalls().as_deref().unwrap_or_default() {
        let rule_action = action(&rule.action(), rule.errno_ret())?;
        if rule_action == default {
            continue; // libseccomp refuses a rule that repeats the default
        }
        let comparisons: Vec<(usize, ScmpArgCompare)> = rule
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|arg| {
                let op = match arg.op() {
                    LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                    LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                    LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                    LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                    LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                    LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                    // OCI puts the mask in `value` and the datum in `valueTwo`.
                    LinuxSeccompOperator::ScmpCmpMaskedEq => {
                        ScmpCompareOp::MaskedEqual(arg.value())
                    }
                };
                let datum = match arg.op() {
                    LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
                    _ => arg.value(),
                };
                (
                    arg.index(),
                    ScmpArgCompare::new(arg.index() as u32, op, datum),
                )
            })
            .collect();
        // Conditions on distinct arguments must all hold; several on one argument are
        // alternatives (libseccomp allows one per argument in a rule), as runc reads them.
        let mut indexes: Vec<usize> = comparisons.iter().map(|(i, _)| *i).collect();
        indexes.sort();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        let rule_sets: Vec<Vec<ScmpArgCompare>> = if repeated {
            comparisons.into_iter().map(|(_, c)| vec![c]).collect()
        } else {
            vec![comparisons.into_iter().map(|(_, c)| c).collect()]
        };
        for name in rule.names() {
            // A name this kernel's libseccomp does not know is skipped, as runc does: profiles
            // list syscalls of newer kernels.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "unknown syscall in the seccomp profile skipped");
                continue;
            };
            for conditions in &rule_sets {
                let added = if conditions.is_empty() {
                    filter.add_rule(rule_action, syscall)
                } else {
                    filter.add_rule_conditional(rule_action, syscall, conditions)
                };
                added.map_err(|e| bad(format!("adding the rule for {name}: {e}")))?;
            }
        }
    }
    Ok(filter)
}

/// A seccomp filter ready to install, made before the container's process exists: in the
/// runtime, where the host's file system is in view, so that a compiled program can be kept.
pub(crate) enum Filter {
    /// A profile with a listener: installed through libseccomp, which hands back the notifier.
    Notifying(ScmpFilterContext),
    /// A BPF program, and the seccomp(2) flags to install it with.
    Program { bpf: Vec<u8>, flags: libc::c_ulong },
}

impl Filter {
    /// Compiles `seccomp`, or takes the program compiled before for the same profile from
    /// `cache` (a directory of the runtime's own). libseccomp takes some 5 ms an architecture
    /// for a profile like podman's, which would otherwise be paid at every start and exec.
    pub(crate) fn prepare(seccomp: &LinuxSeccomp, cache: &Path) -> Result<Filter> {
        if notifies(Some(seccomp)) {
            return Ok(Filter::Notifying(compile(seccomp)?));
        }
        let flags = load_flags(seccomp);
        let path = cache.join(format!("{}.bpf", cache_key(seccomp)));
        if let Ok(bpf) = std::fs::read(&path) {
            if !bpf.is_empty() && bpf.len() % std::mem::size_of::<libc::sock_filter>() == 0 {
                return Ok(Filter::Program { bpf, flags });
            }
        }
        let bpf = export(&compile(seccomp)?)?;
        keep(cache, &path, &bpf);
        Ok(Filter::Program { bpf, flags })
    }

    /// Installs the filter in this process (and so in what it execs).
    pub(crate) fn load(&self) -> Result<()> {
        match self {
            Filter::Notifying(context) => context
                .load()
                .map_err(|e| SeccompError::Load(Box::new(e)).into()),
            Filter::Program { bpf, flags } => crate::sys::seccomp_set_filter(bpf, *flags)
                .map_err(|e| SeccompError::Load(Box::new(e)).into()),
        }
    }

    /// Installs the filter in a container process; one with a listener hands its notifier's
    /// fd to the runtime over `channel`, for [`send_to_listener`].
    pub(crate) fn install(&self, channel: &InitEnd) -> Result<()> {
        self.load()?;
        let Filter::Notifying(context) = self else {
            return Ok(());
        };
        let fd = crate::sys::seccomp_notify_fd(context)
            .map_err(|e| SeccompError::NotifierFd(Box::new(e)))?;
        channel.seccomp_notify(&fd)
    }

    pub(crate) fn notifies(&self) -> bool {
        matches!(self, Filter::Notifying(_))
    }
}

/// The seccomp(2) flags the profile's `flags` ask for (TSYNC is moot: one thread loads).
fn load_flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags = 0;
    for flag in seccomp.flags().as_deref().unwrap_or_default() {
        match serde_json::to_value(flag)
            .ok()
            .as_ref()
            .and_then(|v| v.as_str())
        {
            Some("SECCOMP_FILTER_FLAG_LOG") => flags |= libc::SECCOMP_FILTER_FLAG_LOG,
            Some("SECCOMP_FILTER_FLAG_SPEC_ALLOW") => flags |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            _ => {}
        }
    }
    flags
}

/// What a compiled program depends on: the profile, this architecture and the libseccomp
/// that compiled it.
fn cache_key(seccomp: &LinuxSeccomp) -> String {
    use sha2::Digest as _;
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!(
        "hoist-seccomp-1 {} {version}\n",
        std::env::consts::ARCH
    ));
    hasher.update(serde_json::to_vec(seccomp).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// The BPF program libseccomp made (libseccomp before 2.6 exports only to an fd).
fn export(context: &ScmpFilterContext) -> Result<Vec<u8>> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| Error::from(SeccompError::Export(e));
    let memfd = rustix::fs::memfd_create("hoist-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| failed(Box::new(std::io::Error::from(e))))?;
    context
        .export_bpf(&memfd)
        .map_err(|e| failed(Box::new(e)))?;
    let mut file = std::fs::File::from(memfd);
    std::io::Seek::rewind(&mut file).map_err(|e| failed(Box::new(e)))?;
    let mut bpf = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bpf).map_err(|e| failed(Box::new(e)))?;
    Ok(bpf)
}

/// Keeps a compiled program for the next container, written whole or not at all; a cache that
/// cannot be written only costs the next start a compile.
fn keep(cache: &Path, path: &Path, bpf: &[u8]) {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cache);
    let temp = cache.join(format!(".{}.tmp", std::process::id()));
    if std::fs::write(&temp, bpf).is_ok() && std::fs::rename(&temp, path).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

fn action(action: &LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno.map_or(libc::EPERM, |e| e as i32))
        }
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.map_or(libc::EPERM as u16, |e| e as u16))
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// Whether the profile sends its notifier to a listener.
pub(crate) fn notifies(seccomp: Option<&LinuxSeccomp>) -> bool {
    seccomp.is_some_and(|s| s.listener_path().is_some())
}

/// Hands a process's seccomp notifier to the config's listener, as runc does: one message on
/// the listener's unix socket, the container process state (OCI runtime spec, "Seccomp
/// listener") as its text and the fd with SCM_RIGHTS.
pub(crate) fn send_to_listener(
    seccomp: Option<&LinuxSeccomp>,
    notifier: OwnedFd,
    pid: i32,
    state: &OciState,
) -> Result<()> {
    let Some((seccomp, path)) = seccomp.and_then(|s| Some((s, s.listener_path().as_ref()?))) else {
        return Ok(());
    };
    let message = serde_json::json!({
        "ociVersion": state.oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    })
    .to_string();
    let socket = std::os::unix::net::UnixStream::connect(path)
        .map_err(Error::io("connecting to the seccomp listener", path))?;
    let fds = [notifier.as_raw_fd()];
    nix::sys::socket::sendmsg::<()>(
        socket.as_raw_fd(),
        &[std::io::IoSlice::new(message.as_bytes())],
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map_err(Error::sys(format!(
        "sending the seccomp notifier to the listener {}",
        path.display()
    )))?;
    Ok(())
}
