//! The container's init: the cloned child, from its birth in the new namespaces to the exec of
//! the user's program. Until it reports ready, every error goes back to `hoist create` over the
//! channel; after that the only way left to speak is the container's own stderr.

mod cgroup_mount;
mod console;
mod dev;
pub(crate) mod exec;
mod mount_calls;
pub(crate) mod mount_options;
pub(crate) mod mount_sources;
mod overlay_mount;
mod process;
mod procfs;
pub(crate) mod reaper;
#[cfg(test)]
mod recorder;
mod root_propagation;
mod rootfs;
#[cfg(test)]
mod rootfs_tests;
mod syscall;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use hoist_fs::Root;
use nix::sys::signal::{SigSet, SigmaskHow};

use crate::channel::InitEnd;
use crate::spec::Bundle;
use crate::{Error, Result};

pub(crate) use process::close_fds_from;

/// What the init needs beyond the bundle.
pub(crate) struct InitOptions {
    /// An `O_PATH` fd of the exec fifo; opening it for writing blocks until `start`.
    pub exec_fifo: OwnedFd,
    /// Namespaces to join (opened by the parent), entered first.
    pub join: Vec<crate::namespaces::NamespaceFd>,
    /// The init is in a user namespace of the container's (new, or joined by path).
    pub in_user_ns: bool,
    /// An unprivileged runtime writes the new user namespace's id maps, which it (or its
    /// setuid newuidmap) can only do to a dumpable init.
    pub unprivileged_parent: bool,
    /// The cgroup whose v1 directories the init moves itself into first thing (while it still
    /// has the runtime's credentials); `None` when the runtime moves it.
    pub self_attach: Option<crate::cgroups::Cgroup>,
    /// Unshared only once the parent has moved the init into its cgroup, so the namespace's
    /// root is the container's own cgroup.
    pub new_cgroup_ns: bool,
    /// A new time namespace with these clock offsets (clock, seconds, nanoseconds).
    pub new_time_ns: Option<Vec<(String, i64, u32)>>,
    /// It made a network namespace of its own, whose loopback it brings up.
    pub new_network_ns: bool,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// The container has a mount namespace of its own to set up; without one, the init only
    /// chroots into the rootfs.
    pub own_mount_ns: bool,
    /// The config's seccomp filter, made by the parent (see seccomp::Filter::prepare).
    pub seccomp: Option<crate::seccomp::Filter>,
    /// The config's bind sources, opened by the runtime (see `MountSources`).
    pub mount_sources: Option<mount_sources::MountSources>,
    /// The engine's console socket (or the runtime's own, for a foreground run it relays),
    /// connected by the parent: the init sends it a new pty.
    pub console_socket: Option<OwnedFd>,
}

/// Runs in the cloned child. Never returns: it execs or exits.
pub(crate) fn run(bundle: &Bundle, options: InitOptions, channel: InitEnd) -> ! {
    // Opened while the host's /proc is in view: the container may have no /proc (none in its
    // config, or no mount namespace to mount one in), and the fifo is reopened through this.
    let own_fds = match open_own_fd_dir() {
        Ok(fds) => fds,
        Err(e) => {
            channel.failed(&e);
            exit(1);
        }
    };
    let Prepared {
        program,
        state,
        late_seccomp,
    } = match prepare(bundle, &options, &channel) {
        Ok(prepared) => prepared,
        Err(e) => {
            channel.failed(&e);
            exit(1);
        }
    };
    if channel.ready().is_err() {
        exit(1);
    }
    drop(channel);
    let process = &bundle.process;
    let start_hooks = bundle
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
        .unwrap_or_default();
    let result = wait_for_start(&own_fds, &options.exec_fifo)
        .and_then(|()| crate::hooks::run("startContainer", &start_hooks, &state))
        .and_then(|()| close_fds_from(3 + options.preserve_fds))
        .and_then(|()| reset_signals())
        .and_then(|()| match (&options.seccomp, late_seccomp) {
            (Some(filter), true) => filter.load(),
            _ => Ok(()),
        });
    let error = match result {
        Ok(()) if reaper::wanted(&bundle.spec) => reaper::exec_under_init(&program, process),
        Ok(()) => process::exec(&program, process),
        Err(e) => e,
    };
    let (message, errno) = crate::error::split_errno(&error);
    let cause = errno.map(|n| format!(": {}", std::io::Error::from_raw_os_error(n)));
    let _ = writeln!(
        std::io::stderr(),
        "hoist: {message}{}",
        cause.unwrap_or_default()
    );
    exit(127);
}

/// What `prepare` leaves for the last moments before exec.
struct Prepared {
    program: PathBuf,
    state: crate::state::OciState,
    /// The seccomp filter is to be loaded right before exec (with no_new_privileges: as late as
    /// possible, so the profile need not allow what the runtime itself does).
    late_seccomp: bool,
}

fn prepare(bundle: &Bundle, options: &InitOptions, channel: &InitEnd) -> Result<Prepared> {
    // While this process is still the hoist binary, keep other processes (an exec'd one inside
    // the container, say) from opening /proc/PID/exe to rewrite the runtime (CVE-2019-5736).
    // The exec of the user's program resets it. An unprivileged parent (or its setuid
    // newuidmap) can write the id maps only of a dumpable process, so then this waits until
    // they are written; nothing of the container's runs before that.
    if !(options.in_user_ns && options.unprivileged_parent) {
        not_dumpable();
    }
    if let Some(cgroup) = &options.self_attach {
        cgroup.attach_current_thread_v1()?;
        channel.attached()?;
    }
    // A joined cgroup namespace (not the runtime's: asked before joining it) is the
    // container's as much as a new one: its hierarchies are mounted afresh, rooted where it is.
    let own_cgroup_ns = options.new_cgroup_ns
        || options
            .join
            .iter()
            .any(|ns| ns.flag == nix::sched::CloneFlags::CLONE_NEWCGROUP && !ns.is_current());
    crate::namespaces::enter_all(&options.join)?;
    // Nothing runs before the parent has put this process in its cgroup (and written its id
    // maps): a fork bomb must meet its pids limit.
    let state = channel.wait_to_proceed()?;
    not_dumpable();
    if options.new_cgroup_ns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(Error::sys("unsharing the cgroup namespace"))?;
    }
    if options.in_user_ns {
        let root_uid = nix::unistd::Uid::from_raw(0);
        let root_gid = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(Error::sys(
            "becoming root in the user namespace (is gid 0 mapped?)",
        ))?;
        nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(Error::sys(
            "becoming root in the user namespace (is uid 0 mapped?)",
        ))?;
    }
    if let Some(offsets) = &options.new_time_ns {
        enter_time_namespace(offsets)?;
    }
    // A new network namespace has only `lo`, and down: up, as podman, docker and CNI's
    // loopback plugin leave it, so that a program may use 127.0.0.1 under `--network none`.
    // Best effort: a namespace where even that fails is no reason to fail the container.
    if options.new_network_ns {
        let _ = crate::sys::loopback_up();
    }
    nix::unistd::setsid().map_err(Error::sys("starting a new session"))?;

    // Through the host's /proc, still in view: the container may have none.
    process::set_oom_score_adj(bundle.process.oom_score_adj())?;
    let hooks = bundle.spec.hooks().clone().unwrap_or_default();
    let create_container_hooks = || {
        crate::hooks::run(
            "createContainer",
            hooks.create_container().as_deref().unwrap_or_default(),
            &state,
        )
    };
    if options.own_mount_ns {
        rootfs::prepare(
            bundle,
            options.in_user_ns,
            own_cgroup_ns,
            options.mount_sources.as_ref(),
            options.no_pivot,
            &create_container_hooks,
        )?;
    } else {
        create_container_hooks()?;
        rootfs::chroot_only(&bundle.rootfs)?;
    }
    let process = &bundle.process;
    if let Some(socket) = &options.console_socket {
        console::attach(socket, process)?;
    }

    let spec = &bundle.spec;
    // Both need a uts namespace of the container's own (see validate::host_facing_fields).
    if let Some(hostname) = spec.hostname().as_deref() {
        nix::unistd::sethostname(hostname).map_err(Error::sys("setting the hostname"))?;
    }
    if let Some(domainname) = spec.domainname().as_deref() {
        rustix::system::setdomainname(domainname.as_bytes())
            .map_err(|e| Error::sys("setting the domain name")(std::io::Error::from(e)))?;
    }

    process::apply_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    let root =
        Root::open(Path::new("/")).map_err(Error::io("opening the container's root", "/"))?;
    process::enter_cwd(&root, process.cwd())?;
    let program = process::find_program(&root, process)?;
    process::set_exec_labels(process)?;
    let no_new_privileges = process.no_new_privileges().unwrap_or(false);
    // Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN: load it now, before
    // the capabilities go.
    let mut late_seccomp = false;
    match &options.seccomp {
        Some(filter) if !no_new_privileges => filter.install(channel)?,
        Some(_) => late_seccomp = true,
        None => {}
    }
    process::become_user(process, options.in_user_ns)?;
    if no_new_privileges {
        process::set_no_new_privileges()?;
    }
    // A notifier's fd must reach the runtime while `create` still listens: not as late.
    if let (Some(filter), true) = (&options.seccomp, late_seccomp) {
        if filter.notifies() {
            filter.install(channel)?;
            late_seccomp = false;
        }
    }
    Ok(Prepared {
        program,
        state,
        late_seccomp,
    })
}

/// This process's /proc/PID/fd directory, through which an `O_PATH` fd is reopened.
fn open_own_fd_dir() -> Result<OwnedFd> {
    rustix::fs::open(
        "/proc/self/fd",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("opening", "/proc/self/fd")(e.into()))
}

/// Blocks until `hoist start` opens the fifo for reading, then tells it we are going.
fn wait_for_start(own_fds: &OwnedFd, fifo: &OwnedFd) -> Result<()> {
    let name = fifo.as_raw_fd().to_string();
    let path = Path::new("/proc/self/fd").join(&name);
    let writer = rustix::fs::openat(
        own_fds,
        name.as_str(),
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("waiting for start on the exec fifo", &path)(e.into()))?;
    std::fs::File::from(writer)
        .write_all(b"0")
        .map_err(Error::io("signalling start on the exec fifo", &path))
}

/// The program must start with default signal handling: Rust ignores SIGPIPE, ignored signals
/// survive exec, and a foreground run blocks signals around the clone.
pub(crate) fn reset_signals() -> Result<()> {
    crate::sys::default_signal_handlers();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(Error::sys("unblocking signals"))
}

pub(crate) fn exit(code: i32) -> ! {
    crate::sys::exit_now(code)
}

/// Keeps other processes (one exec'd into the container, say) from opening /proc/PID/exe of
/// this process, the hoist binary, or ptrace-attaching to it (CVE-2019-5736); the exec of the
/// container's program resets it.
pub(crate) fn not_dumpable() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

/// Unshares a time namespace and sets its clocks' offsets. This process stays outside it; the
/// exec of the user's program (and any child) enters it (Linux 5.15+, exec_task_namespaces).
fn enter_time_namespace(offsets: &[(String, i64, u32)]) -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
        libc::CLONE_NEWTIME,
    ))
    .map_err(Error::sys(
        "unsharing the time namespace (does this kernel have time namespaces?)",
    ))?;
    let mut lines = String::new();
    for (clock, secs, nanosecs) in offsets {
        let clock = match clock.as_str() {
            "monotonic" | "boottime" => clock,
            other => {
                return Err(Error::InvalidSpec(format!(
                    "linux.timeOffsets has clock {other:?}; a time namespace offsets only \"monotonic\" and \"boottime\""
                )))
            }
        };
        lines.push_str(&format!("{clock} {secs} {nanosecs}\n"));
    }
    if !lines.is_empty() {
        std::fs::write("/proc/self/timens_offsets", lines).map_err(Error::io(
            "writing the clock offsets",
            "/proc/self/timens_offsets",
        ))?;
    }
    Ok(())
}
