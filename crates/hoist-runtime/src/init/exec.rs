//! The process `exec` starts in a running container: already in its namespaces and cgroup
//! (the intermediate child saw to that), it takes the process's settings and execs.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use hoist_fs::Root;
use oci_spec::runtime::Process;

use super::{console, exit, process, reset_signals};
use crate::channel::InitEnd;
use crate::{Error, Result};

pub(crate) struct ExecSettings<'a> {
    pub process: &'a Process,
    pub in_user_ns: bool,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// The container's seccomp filter, which its exec'd processes get too.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
}

/// Never returns: it execs (closing the channel, which tells the parent) or exits after saying
/// why not.
pub(crate) fn run(settings: ExecSettings<'_>, channel: InitEnd) -> ! {
    match prepare(&settings, &channel) {
        Ok(program) => {
            let error = process::exec(&program, settings.process);
            channel.failed(&error);
            exit(127);
        }
        Err(e) => {
            channel.failed(&e);
            exit(1);
        }
    }
}

fn prepare(settings: &ExecSettings<'_>, channel: &InitEnd) -> Result<PathBuf> {
    super::not_dumpable();
    let process = settings.process;
    if let Some(socket) = &settings.console_socket {
        nix::unistd::setsid().map_err(Error::sys("starting a new session"))?;
        console::attach(socket, process)?;
    }
    process::apply_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    let root =
        Root::open(Path::new("/")).map_err(Error::io("opening the container's root", "/"))?;
    process::enter_cwd(&root, process.cwd())?;
    let program = process::find_program(&root, process)?;
    process::set_exec_labels(process)?;
    let filter = settings.seccomp;
    let notifies = filter.is_some_and(|f| f.notifies());
    let load = |filter: &crate::seccomp::Filter| filter.install(channel);
    let no_new_privileges = process.no_new_privileges().unwrap_or(false);
    if let (Some(filter), false) = (&filter, no_new_privileges) {
        load(filter)?; // while CAP_SYS_ADMIN is still there
    }
    process::become_user(process, settings.in_user_ns)?;
    if no_new_privileges {
        process::set_no_new_privileges()?;
    }
    if let (Some(filter), true, true) = (&filter, no_new_privileges, notifies) {
        load(filter)?; // while the channel is open, for the notifier's fd
    }
    process::close_fds_from(3 + settings.preserve_fds)?;
    reset_signals()?;
    if let (Some(filter), true, false) = (&filter, no_new_privileges, notifies) {
        load(filter)?; // as late as possible
    }
    Ok(program)
}
