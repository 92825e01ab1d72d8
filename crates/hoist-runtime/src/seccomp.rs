//! The config's seccomp filter, compiled with libseccomp as runc and youki do: its handling of
//! syscall names per architecture, argument comparisons and overlapping rules is what the OCI
//! profile format (and every engine's default profile) was written against.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::channel::InitEnd;
use crate::{Error, Result};

/// Compiles the filter (which needs no privileges); [`load`] installs it.
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

/// Installs the filter in this process (and so in what it execs).
pub(crate) fn load(filter: &ScmpFilterContext) -> Result<()> {
    filter
        .load()
        .map_err(|e| Error::Init(format!("loading the seccomp filter: {e}")))
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

/// Installs the filter in a container process; one with a listener (`notifies`) hands its
/// notifier's fd to the runtime over `channel`, for [`send_to_listener`].
pub(crate) fn install(filter: &ScmpFilterContext, notifies: bool, channel: &InitEnd) -> Result<()> {
    load(filter)?;
    if !notifies {
        return Ok(());
    }
    let fd = filter
        .get_notify_fd()
        .map_err(|e| Error::Init(format!("getting the seccomp notifier's fd: {e}")))?;
    // SAFETY: libseccomp hands over the fd the kernel returned at load; nothing else closes it.
    channel.seccomp_notify(&unsafe { OwnedFd::from_raw_fd(fd) })
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
    state: &serde_json::Value,
) -> Result<()> {
    let Some((seccomp, path)) = seccomp.and_then(|s| Some((s, s.listener_path().as_ref()?))) else {
        return Ok(());
    };
    let message = serde_json::json!({
        "ociVersion": state["ociVersion"],
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
