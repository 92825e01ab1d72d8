use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::channel;
use crate::init::exec::ExecSettings;
use crate::ops::exec_helper;
use crate::ops::pid_file::write_pid_file;
use crate::ops::run::{forward_signals_until_exit, Exited, TerminalUse};
use crate::ops::terminal;
use crate::spec::Bundle;
use crate::state::ContainerState;
use crate::status::Operation;
use crate::sys::{clone_into_namespaces, ensure_single_threaded, Forked};
use crate::{Error, Result, Runtime};

/// `exec`'s settings.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub process: Process,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs, leaving it to be reaped by whoever adopts it.
    pub detach: bool,
    pub preserve_fds: u32,
}

impl Runtime {
    /// The container's configured process: the base `exec` starts from when it is given only a
    /// command (capabilities, user, env and rlimits as for the container's own process).
    pub fn configured_process(&self, id: &str) -> Result<Process> {
        let state = ContainerState::load(&self.root, id)?;
        let bundle = Bundle::load(&state.bundle)?;
        Ok(bundle.process)
    }

    /// Starts another process in a running container. Returns how it ended, or `None` with
    /// `detach`. A foreground process with a terminal and no console socket gets a pty of its
    /// own, relayed to this process's stdin and stdout (as `runc exec -t` does).
    pub fn exec(&self, id: &str, options: &ExecOptions) -> Result<Option<Exited>> {
        self.exec_with_terminal(id, options, TerminalUse::Relay)
    }

    /// [`Runtime::exec`], with the process's terminal (when it has one, runs in the foreground
    /// and `options` names no console socket) going where `terminal` says.
    pub fn exec_with_terminal(
        &self,
        id: &str,
        options: &ExecOptions,
        terminal: TerminalUse,
    ) -> Result<Option<Exited>> {
        let state = ContainerState::load(&self.root, id)?;
        let status = state.status(&self.root);
        status.require(Operation::Exec, id)?;
        let has_terminal = options.process.terminal().unwrap_or(false);
        if has_terminal && options.console_socket.is_none() && options.detach {
            return Err(Error::InvalidSpec(
                "a terminal for a detached exec needs --console-socket".into(),
            ));
        }
        if options.process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec("the process to exec has no args".into()));
        }
        let bundle = Bundle::load(&state.bundle)?;
        // Opened now, from the host: the namespaces of the container's init.
        let to_join = crate::namespaces::open_to_join(state.pid, &bundle)?;
        let in_user_ns = to_join
            .iter()
            .any(|ns| ns.flag == CloneFlags::CLONE_NEWUSER);
        // A container without a mount namespace of its own is only chrooted: the process is
        // put where its init's root is.
        let chroot_to = match to_join.iter().any(|ns| ns.flag == CloneFlags::CLONE_NEWNS) {
            true => None,
            false => Some(crate::namespaces::open_root_of(state.pid)?),
        };

        let single_threaded = ensure_single_threaded()?;
        if !options.detach {
            // The process is a grandchild (the helper that joins the namespaces exits): as a
            // subreaper this process inherits it, and can wait for it.
            rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
                .map_err(|e| Error::sys("becoming a child subreaper")(std::io::Error::from(e)))?;
        }
        // Without an engine's console socket, the terminal comes back to this process.
        let mut own_console = None;
        let console_socket = match &options.console_socket {
            Some(path) => Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(path)
                    .map_err(Error::io("connecting to the console socket", path))?,
            )),
            None if has_terminal => {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                    .map_err(Error::io("making a socket pair for the terminal", "/"))?;
                own_console = Some((ours, terminal));
                Some(OwnedFd::from(theirs))
            }
            None => None,
        };
        let mut previous = SigSet::empty();
        if !options.detach {
            nix::sys::signal::sigprocmask(
                SigmaskHow::SIG_BLOCK,
                Some(&SigSet::all()),
                Some(&mut previous),
            )
            .map_err(Error::sys("blocking signals"))?;
        }
        // Compiled (or found compiled) here, with the host's file system in view.
        let seccomp = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| {
                crate::seccomp::Filter::prepare(
                    s,
                    &self.root.join(crate::ops::create::SECCOMP_CACHE),
                )
            })
            .transpose()?;
        let (parent_end, helper_end) = channel::pair()?;

        let helper = match clone_into_namespaces(&single_threaded, 0, None)
            .map_err(Error::sys("forking the exec helper"))?
        {
            Forked::Child(single_threaded) => {
                drop(parent_end);
                exec_helper::run(
                    &single_threaded,
                    &state.cgroup,
                    &to_join,
                    chroot_to.as_ref(),
                    ExecSettings {
                        process: &options.process,
                        in_user_ns,
                        console_socket,
                        preserve_fds: options.preserve_fds,
                        seccomp: seccomp.as_ref(),
                    },
                    helper_end,
                )
            }
            Forked::Parent { child, .. } => child,
        };
        drop(helper_end);
        drop(console_socket);

        let outcome = await_process(
            &parent_end,
            helper,
            &bundle,
            &state,
            status,
            options,
            own_console,
        );
        if !options.detach {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
        }
        outcome
    }
}

/// The parent's side once the helper is forked: the process's pid from the helper, its
/// seccomp notifier to the listener, the pid file, then (unless detached) its exit.
fn await_process(
    parent_end: &channel::ParentEnd,
    helper: i32,
    bundle: &Bundle,
    state: &ContainerState,
    status: crate::Status,
    options: &ExecOptions,
    own_console: Option<(std::os::unix::net::UnixStream, TerminalUse)>,
) -> Result<Option<Exited>> {
    let pid = parent_end.wait_for_spawned();
    let _ = waitpid(Pid::from_raw(helper), None);
    let pid = pid?;
    let seccomp = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    let document = state.oci_state_as(status);
    let waited = parent_end.wait_for_exec(&mut |notifier| {
        crate::seccomp::send_to_listener(seccomp, notifier, pid, &document)
    });
    if let Err(e) = waited {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        return Err(e);
    }
    if let Some(pid_file) = &options.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if options.detach {
        return Ok(None);
    }
    // The process sent its terminal before it exec'd, which it has.
    let relay = own_console.and_then(|(socket, terminal)| {
        terminal::received_master(&socket).and_then(|master| terminal.take(master, pid))
    });
    let code = forward_signals_until_exit(Pid::from_raw(pid), relay.as_ref())?;
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(Some(Exited {
        code,
        oom_killed: state.cgroup.oom_kills() > 0,
    }))
}
