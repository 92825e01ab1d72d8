//! The process's own settings, applied in the init after the rootfs is in place: rlimits,
//! oom_score_adj, the working directory, user and groups, capabilities, no_new_privileges, and
//! finally the exec.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability};
use hoist_fs::Root;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, PosixRlimitType, Process};
use rustix::fs::{self as rfs, FileType};

use crate::error::{ProcessError, ProgramFailure};
use crate::{Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for limit in rlimits {
        let (resource, name) = rlimit_resource(limit.typ());
        if let Err(errno) = setrlimit(resource, limit.soft(), limit.hard()) {
            let err = std::io::Error::from(errno);
            let current_max = getrlimit(resource).map_or(u64::MAX, |(_, hard)| hard);
            let hint = if err.raw_os_error() == Some(libc::EPERM) && limit.hard() > current_max {
                format!(
                    " (the current hard limit is {current_max} and raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks: lower it in config.json, process.rlimits)"
                )
            } else {
                String::new()
            };
            return Err(ProcessError::Rlimit {
                name,
                soft: limit.soft(),
                hard: limit.hard(),
                hint,
                source: err,
            }
            .into());
        }
    }
    Ok(())
}

fn rlimit_resource(typ: PosixRlimitType) -> (Resource, &'static str) {
    use PosixRlimitType::*;
    match typ {
        RlimitCpu => (Resource::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (Resource::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (Resource::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (Resource::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (Resource::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (Resource::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (Resource::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (Resource::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (Resource::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (Resource::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (Resource::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (Resource::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (Resource::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (Resource::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

pub(crate) fn set_oom_score_adj(value: Option<i32>) -> Result<()> {
    if let Some(value) = value {
        super::procfs::write("/proc/self/oom_score_adj", value.to_string().as_bytes())?;
    }
    Ok(())
}

/// Enters the process's working directory, resolved inside the container's root so that no
/// symlink or magic link (`/proc/self/fd/N`) can lead outside it. Created if missing, as runc
/// does.
pub(crate) fn enter_cwd(root: &Root, cwd: &Path) -> Result<()> {
    let dir = root
        .create_dir_all(cwd, 0o755)
        .map_err(Error::io("entering the working directory", cwd))?;
    rustix::process::fchdir(&dir)
        .map_err(|e| Error::io("entering the working directory", cwd)(e.into()))
}

/// The program to exec: `args[0]` itself if it has a slash, else its first match in the
/// process's `PATH`. Checked now, so `create` fails (rather than `start`) for a missing program,
/// with the message engines map to exit code 127.
pub(crate) fn find_program(root: &Root, process: &Process) -> Result<PathBuf> {
    let args = process.args().as_deref().unwrap_or_default();
    let program = &args[0];
    if program.contains('/') {
        let path = if program.starts_with('/') {
            PathBuf::from(program)
        } else {
            process.cwd().join(program)
        };
        return match executable(root, &path) {
            Ok(()) => Ok(path),
            Err((failure, reason)) => Err(ProcessError::NotExecutable {
                program: program.clone(),
                path,
                reason,
                failure,
            }
            .into()),
        };
    }
    let search = env_value(process, "PATH").unwrap_or(DEFAULT_PATH.to_string());
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if executable(root, &candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(ProcessError::NotInPath(program.clone()).into())
}

fn executable(root: &Root, path: &Path) -> std::result::Result<(), (ProgramFailure, String)> {
    let fd = root.open_path(path).map_err(|e| describe(&e))?;
    let stat = rfs::fstat(&fd).map_err(|e| describe(&e.into()))?;
    let cannot = |why: &str| (ProgramFailure::NotInvocable, why.to_string());
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(cannot("permission denied (not a regular file)"));
    }
    if stat.st_mode & 0o111 == 0 {
        return Err(cannot("permission denied"));
    }
    Ok(())
}

fn describe(e: &std::io::Error) -> (ProgramFailure, String) {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            (ProgramFailure::NotFound, "no such file or directory".into())
        }
        std::io::ErrorKind::PermissionDenied => {
            (ProgramFailure::NotInvocable, "permission denied".into())
        }
        _ => (ProgramFailure::NotInvocable, e.to_string()),
    }
}

fn env_value(process: &Process, key: &str) -> Option<String> {
    process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
}

/// Switches to the configured user and groups and sets the five capability sets, in the order
/// that keeps the needed capabilities across the uid change.
pub(crate) fn become_user(process: &Process, in_user_ns: bool) -> Result<()> {
    let user = process.user();
    let capabilities = process.capabilities().clone().unwrap_or_default();

    let bounding = cap_set(capabilities.bounding());
    for cap in caps::all() {
        if !bounding.contains(&cap) {
            // A kernel older than the crate's list lacks some capabilities: nothing to drop.
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    set_keep_caps(true)?;
    let additional: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // Set (emptied, unless the config names some) in a user namespace too: the runtime's own
    // groups are not the container's.
    match nix::unistd::setgroups(&additional) {
        Ok(()) => {}
        // A user namespace whose maps an unprivileged runtime wrote has setgroups denied (the
        // kernel's rule): there the process keeps the caller's groups, shown as the overflow
        // group, which is all the kernel allows.
        Err(nix::errno::Errno::EPERM)
            if in_user_ns
                && additional.is_empty()
                && std::fs::read_to_string("/proc/self/setgroups")
                    .is_ok_and(|s| s.trim() == "deny") => {}
        Err(e) => return Err(Error::sys("setting the additional groups")(e)),
    }
    let gid = nix::unistd::Gid::from_raw(user.gid());
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresgid(gid, gid, gid).map_err(Error::sys(format!("setting gid {gid}")))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(Error::sys(format!("setting uid {uid}")))?;
    set_keep_caps(false)?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    set_capabilities(&capabilities)
}

fn set_capabilities(capabilities: &LinuxCapabilities) -> Result<()> {
    let set = |which: CapSet, caps: &HashSet<Capability>, name: &'static str| {
        caps::set(None, which, caps)
            .map_err(|source| ProcessError::Capabilities { set: name, source })
    };
    // Effective first: it must stay a subset of permitted at every step.
    set(
        CapSet::Effective,
        &cap_set(capabilities.effective()),
        "effective",
    )?;
    let permitted = cap_set(capabilities.permitted());
    set(CapSet::Permitted, &permitted, "permitted")?;
    let inheritable = cap_set(capabilities.inheritable());
    set(CapSet::Inheritable, &inheritable, "inheritable")?;
    let _ = caps::clear(None, CapSet::Ambient);
    // The kernel takes an ambient capability only if it is both permitted and inheritable.
    // `runc spec` writes ambient capabilities without inheritable ones; runc and crun skip
    // what the kernel would refuse, and so does hoist rather than refuse such a config.
    let ambient = cap_set(capabilities.ambient());
    for cap in ambient
        .iter()
        .filter(|c| permitted.contains(c) && inheritable.contains(c))
    {
        caps::raise(None, CapSet::Ambient, *cap)
            .map_err(|source| ProcessError::Ambient { cap: *cap, source })?;
    }
    Ok(())
}

fn cap_set(list: &Option<oci_spec::runtime::Capabilities>) -> HashSet<Capability> {
    list.iter()
        .flatten()
        .filter_map(|cap| {
            let name = serde_json::to_value(cap).ok()?;
            let parsed = Capability::from_str(name.as_str()?).ok();
            if parsed.is_none() {
                tracing::warn!(capability = %name, "unknown capability ignored");
            }
            parsed
        })
        .collect()
}

fn set_keep_caps(keep: bool) -> Result<()> {
    rustix::thread::set_keep_capabilities(keep)
        .map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)")(std::io::Error::from(e)))
}

pub(crate) fn set_no_new_privileges() -> Result<()> {
    rustix::thread::set_no_new_privs(true)
        .map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)")(std::io::Error::from(e)))
}

/// Marks every fd from `first` up close-on-exec, so nothing of the runtime's (a directory fd
/// of the host, a socket) reaches the container (CVE-2024-21626).
pub(crate) fn close_fds_from(first: u32) -> Result<()> {
    crate::sys::cloexec_from(first).map_err(Error::io(
        "marking close-on-exec the fds in",
        "/proc/self/fd",
    ))
}

/// Replaces this process with the container's program. Returns only on failure.
pub(crate) fn exec(program: &Path, process: &Process) -> Error {
    let cstring =
        |s: &str| CString::new(s).map_err(|_| Error::from(ProcessError::NulByte(s.to_string())));
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>)> {
        let path = cstring(&program.to_string_lossy())?;
        let args = process
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| cstring(a))
            .collect::<Result<_>>()?;
        let env = process
            .env()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|e| cstring(e))
            .collect::<Result<_>>()?;
        Ok((path, args, env))
    };
    match build() {
        Ok((path, args, env)) => match nix::unistd::execve(&path, &args, &env) {
            Err(errno) => ProcessError::Exec {
                program: program.to_path_buf(),
                source: errno.into(),
            }
            .into(),
            Ok(never) => match never {},
        },
        Err(e) => e,
    }
}

/// Asks the kernel to put the program in the config's AppArmor profile or SELinux label at
/// exec. A config that asks for one on a host without that LSM fails clearly: running
/// unconfined instead would be a silent downgrade.
pub(crate) fn set_exec_labels(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !Path::new("/sys/kernel/security/apparmor").exists() {
            return Err(Error::InvalidSpec(format!(
                "the config asks for AppArmor profile {profile:?}, but this host has no AppArmor; remove process.apparmorProfile"
            )));
        }
        let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        super::procfs::write(attr, format!("exec {profile}").as_bytes()).map_err(|e| {
            ProcessError::Label {
                kind: "AppArmor profile",
                label: profile.to_string(),
                source: Box::new(e),
            }
        })?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !Path::new("/sys/fs/selinux/enforce").exists() {
            return Err(Error::InvalidSpec(format!(
                "the config asks for SELinux label {label:?}, but this host has no SELinux; remove process.selinuxLabel"
            )));
        }
        super::procfs::write("/proc/self/attr/exec", label.as_bytes()).map_err(|e| {
            ProcessError::Label {
                kind: "SELinux label",
                label: label.to_string(),
                source: Box::new(e),
            }
        })?;
    }
    Ok(())
}
