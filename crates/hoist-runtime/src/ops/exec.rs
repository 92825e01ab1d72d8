use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::channel;
use crate::init::exec::{self as exec_init, ExecSettings};
use crate::init::exit;
use crate::ops::create::{ensure_single_threaded, write_pid_file};
use crate::ops::run::{forward_signals_until_exit, Exited};
use crate::spec::Bundle;
use crate::state::ContainerState;
use crate::status::Operation;
use crate::sys::{clone_into_namespaces, Forked};
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

use crate::namespaces::NAMESPACES as JOIN_ORDER;

impl Runtime {
    /// The container's configured process: the base `exec` starts from when it is given only a
    /// command (capabilities, user, env and rlimits as for the container's own process).
    pub fn configured_process(&self, id: &str) -> Result<Process> {
        let state = ContainerState::load(&self.root, id)?;
        let bundle = Bundle::load(&state.bundle)?;
        Ok(bundle.process)
    }

    /// Starts another process in a running container. Returns how it ended, or `None` with
    /// `detach`.
    pub fn exec(&self, id: &str, options: &ExecOptions) -> Result<Option<Exited>> {
        let state = ContainerState::load(&self.root, id)?;
        let status = state.status(&self.root);
        status.require(Operation::Exec, id)?;
        let terminal = options.process.terminal().unwrap_or(false);
        if terminal && options.console_socket.is_none() && options.detach {
            return Err(Error::InvalidSpec(
                "a terminal for a detached exec needs --console-socket".into(),
            ));
        }
        if options.process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec("the process to exec has no args".into()));
        }
        let bundle = Bundle::load(&state.bundle)?;
        let namespaces = container_namespaces(&bundle);
        let in_user_ns = namespaces
            .iter()
            .any(|(t, _, _)| *t == LinuxNamespaceType::User);
        // Opened now, from the host: the namespaces of the container's init.
        let mut to_join: Vec<(OwnedFd, CloneFlags)> = Vec::new();
        for (_, name, flag) in &namespaces {
            let path = format!("/proc/{}/ns/{name}", state.pid);
            let fd = rfs::open(
                path.as_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("opening the container's namespace", &path)(e.into()))?;
            to_join.push((fd, *flag));
        }

        ensure_single_threaded()?;
        if !options.detach {
            // The process is a grandchild (the helper that joins the namespaces exits): as a
            // subreaper this process inherits it, and can wait for it.
            rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
                .map_err(|e| Error::sys("becoming a child subreaper")(std::io::Error::from(e)))?;
        }
        let console_socket = match &options.console_socket {
            Some(path) => Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(path)
                    .map_err(Error::io("connecting to the console socket", path))?,
            )),
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

        let helper = match clone_into_namespaces(0, None)
            .map_err(Error::sys("forking the exec helper"))?
        {
            Forked::Child => {
                // Non-dumpable from birth, and so is the process it clones into the container:
                // no /proc/PID/exe of the host's binary for the container to open, at any
                // moment (the exec'd process also says so again first thing).
                crate::init::not_dumpable();
                drop(parent_end);
                // The helper moves itself into the v1 directories (cheaply: see
                // Cgroup::attach_current_thread_v1) and clones the process straight into the
                // unified one, whose fd it opens while host paths are still in view.
                let unified = state.cgroup.unified_dir().and_then(|dir| {
                    rustix::fs::open(
                        dir,
                        rustix::fs::OFlags::PATH
                            | rustix::fs::OFlags::DIRECTORY
                            | rustix::fs::OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )
                    .ok()
                });
                let joined = (|| -> Result<()> {
                    state.cgroup.attach_current_thread_v1()?;
                    if unified.is_none() {
                        state.cgroup.add_unified(std::process::id() as i32)?;
                    }
                    for (fd, flag) in &to_join {
                        nix::sched::setns(fd, *flag).map_err(Error::sys(format!(
                            "joining the container's {flag:?} namespace"
                        )))?;
                    }
                    Ok(())
                })();
                if let Err(e) = joined {
                    helper_end.failed(&e);
                    exit(1);
                }
                match clone_into_namespaces(0, unified.as_ref().map(std::os::fd::AsFd::as_fd)) {
                    Ok(Forked::Child) => exec_init::run(
                        ExecSettings {
                            process: &options.process,
                            in_user_ns,
                            console_socket,
                            preserve_fds: options.preserve_fds,
                            seccomp: seccomp.as_ref(),
                        },
                        helper_end,
                    ),
                    Ok(Forked::Parent { child, in_cgroup }) => {
                        if let (false, Some(unified)) = (in_cgroup, &unified) {
                            // A kernel without CLONE_INTO_CGROUP: move it through the fd.
                            let procs = rustix::fs::openat(
                                unified,
                                "cgroup.procs",
                                rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
                                rustix::fs::Mode::empty(),
                            )
                            .and_then(|fd| rustix::io::write(&fd, child.to_string().as_bytes()));
                            if let Err(e) = procs {
                                // Outside the container's cgroup it must not run on.
                                let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
                                let e = Error::sys("moving the process into its cgroup")(e);
                                helper_end.failed(&e);
                                exit(1);
                            }
                        }
                        let _ = helper_end.spawned(child);
                        exit(0);
                    }
                    Err(e) => {
                        let e = Error::sys("cloning the process into the container")(e);
                        helper_end.failed(&e);
                        exit(1);
                    }
                }
            }
            Forked::Parent { child, .. } => child,
        };
        drop(helper_end);
        drop(console_socket);

        let outcome = (|| {
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
            let code = forward_signals_until_exit(Pid::from_raw(pid), None)?;
            Ok(Some(Exited {
                code,
                oom_killed: state.cgroup.oom_kills() > 0,
            }))
        })();
        if !options.detach {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
        }
        outcome
    }
}

/// The container's own namespaces (those the config asks to create or join), in join order.
fn container_namespaces(bundle: &Bundle) -> Vec<(LinuxNamespaceType, &'static str, CloneFlags)> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let listed: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect();
    JOIN_ORDER
        .iter()
        .filter(|(t, _, _)| listed.contains(t))
        .cloned()
        .collect()
}
