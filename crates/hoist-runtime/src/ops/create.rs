use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode as NixMode;
use nix::unistd::Pid;
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::channel;
use crate::creation::Creation;
use crate::id_maps::write_id_maps;
use crate::init::mount_sources::{InRootfs, MountSources};
use crate::init::{self, InitOptions};
use crate::namespaces::Namespaces;
use crate::ops::init_clone::clone_init;
use crate::ops::pid_file::write_pid_file;
use crate::spec::Bundle;
use crate::state::{now_rfc3339, process_start_time, validate_id, ContainerState, EXEC_FIFO};
use crate::sys::{ensure_single_threaded, Forked};
use crate::{hooks, Error, Result, Runtime, Status};

/// `create`'s flags.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Extra fds (3, 4, …) passed on to the container.
    pub preserve_fds: u32,
    /// chroot instead of pivot_root (for a rootfs on a ramdisk).
    pub no_pivot: bool,
}

impl Runtime {
    /// Creates the container: its init exists in its namespaces with the rootfs in place, and
    /// waits for `start`. Returns once that is so; the init is left to whoever reaps it.
    pub fn create(&self, id: &str, options: &CreateOptions) -> Result<ContainerState> {
        self.create_init(id, options, false, None)
    }

    /// `relay_console`: for a foreground run without a console socket, the runtime's own end of
    /// one, which the init sends its terminal to when the process has one.
    pub(crate) fn create_init(
        &self,
        id: &str,
        options: &CreateOptions,
        foreground: bool,
        relay_console: Option<OwnedFd>,
    ) -> Result<ContainerState> {
        validate_id(id)?;
        let bundle = Bundle::load(&options.bundle)?;
        crate::spec_values::check(&bundle.spec)?;
        crate::validate::host_facing_fields(&bundle.spec)?;
        let terminal = check_terminal(&bundle, options, foreground)?;

        let single_threaded = ensure_single_threaded()?;
        let mut creation = Creation::claim(&self.root, id)?;
        let exec_fifo = make_exec_fifo(creation.dir())?;
        let namespaces = Namespaces::from_spec(&bundle)?;
        let cgroup = crate::cgroups::create_for(
            bundle.spec.linux().as_ref().unwrap_or(&Default::default()),
            id,
            |planned| {
                creation
                    .record_cgroup(planned)
                    .map_err(|source| crate::cgroups::CgroupError::Io {
                        action: "recording the cgroup to be made in",
                        path: creation.dir().to_path_buf(),
                        source,
                    })
            },
        )?;
        // Compiled (or found compiled) here, with the host's file system in view.
        let seccomp = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| crate::seccomp::Filter::prepare(s, &self.root.join(SECCOMP_CACHE)))
            .transpose()?;
        let (parent_end, init_end) = channel::pair()?;
        // Connected here, on the host, before the init's view of the file system changes.
        let console_socket = match (&options.console_socket, relay_console) {
            (Some(path), _) => Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(path)
                    .map_err(Error::io("connecting to the console socket", path))?,
            )),
            (None, relayed) if terminal && foreground => relayed,
            (None, _) => None,
        };

        // Asked before the clone: in a new user namespace the init sees itself as nobody
        // until its maps are written.
        let unprivileged_parent = !nix::unistd::geteuid().is_root();
        let joins_user = namespaces.foreign_user().is_some();
        // Born outside a new user namespace, the init can move itself into its v1 cgroups,
        // which is much cheaper than being moved (see Cgroup::attach_current_thread_v1); one
        // cloned into a joined user namespace is born in them.
        let self_attach =
            !namespaces.new_user && !joins_user && cgroup.dirs.iter().any(|d| !d.unified);
        let mount_sources = MountSources::for_container(&bundle, &namespaces, unprivileged_parent)?;
        let in_rootfs = match mount_sources {
            Some(_) => Some(InRootfs::enter(&bundle.rootfs)?),
            None => None,
        };
        let forked = clone_init(
            &single_threaded,
            &namespaces,
            &cgroup,
            &parent_end,
            &init_end,
        )?;
        let (child, born_in_cgroup) = match forked {
            Forked::Child(_) => {
                drop(parent_end);
                creation.leave_to_creator();
                init::run(
                    &bundle,
                    InitOptions {
                        exec_fifo,
                        join: namespaces.join,
                        in_user_ns: namespaces.new_user || joins_user,
                        unprivileged_parent: unprivileged_parent && namespaces.new_user,
                        self_attach: self_attach.then(|| cgroup.clone()),
                        new_cgroup_ns: namespaces.new_cgroup,
                        new_time_ns: namespaces.new_time.clone(),
                        new_network_ns: namespaces
                            .clone_flags
                            .contains(nix::sched::CloneFlags::CLONE_NEWNET),
                        preserve_fds: options.preserve_fds,
                        no_pivot: options.no_pivot,
                        own_mount_ns: namespaces.own_mount,
                        mount_sources,
                        console_socket,
                        seccomp,
                    },
                    init_end,
                )
            }
            Forked::Parent { child, in_cgroup } => (child, in_cgroup),
        };
        drop(in_rootfs);
        drop(mount_sources);
        if let Some(start_time) = process_start_time(child) {
            // Without it, a cleanup after this process's death could leave the init waiting.
            if let Err(error) = creation.record_init(child, start_time) {
                tracing::warn!(%error, "recording the container's init");
            }
        }
        drop(init_end);
        drop(exec_fifo);
        drop(console_socket);

        let mut state = ContainerState {
            id: id.to_string(),
            pid: child,
            start_time: 0,
            bundle: bundle.path.clone(),
            rootfs: bundle.rootfs.clone(),
            created: now_rfc3339(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            cgroup: cgroup.clone(),
            hooks: bundle.spec.hooks().clone(),
        };
        let init = Init {
            pid: child,
            parent_end: &parent_end,
            self_attach,
            born_in_cgroup,
            new_user_ns: namespaces.new_user,
        };
        if let Err(e) = init.complete(&bundle, &state) {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(child), None);
            return Err(e);
        }

        state.start_time = process_start_time(child).ok_or(Error::Vanished {
            who: "the container's init",
            when: "right after setup",
        })?;
        state.save(&self.root)?;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, child)?;
        }
        creation.finish();
        Ok(state)
    }
}

/// Whether the config's terminal and the console socket agree; returns whether the process
/// has a terminal.
fn check_terminal(bundle: &Bundle, options: &CreateOptions, foreground: bool) -> Result<bool> {
    let terminal = bundle.process.terminal().unwrap_or(false);
    if options.console_socket.is_some() && !terminal {
        return Err(Error::InvalidSpec(
            "--console-socket was given but process.terminal is false: there is no terminal to send".into(),
        ));
    }
    if terminal && !foreground && options.console_socket.is_none() {
        return Err(Error::InvalidSpec(
            "process.terminal is true, which needs --console-socket when the container is created detached".into(),
        ));
    }
    Ok(terminal)
}

/// `exec.fifo`, which `start` opens to let the init go on; returned as an `O_PATH` fd the init
/// reopens for writing.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, NixMode::from_bits_truncate(0o622)).map_err(Error::sys(
        format!("creating the exec fifo {}", fifo_path.display()),
    ))?;
    // Exactly 0622, whatever the umask: the init may have switched to an unprivileged user
    // by the time it opens the fifo for writing.
    fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(Error::io("setting the mode of the exec fifo", &fifo_path))?;
    rfs::open(&fifo_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("opening the exec fifo", &fifo_path)(e.into()))
}

/// The runtime's side of a cloned init, until it reports ready.
struct Init<'a> {
    pid: i32,
    parent_end: &'a channel::ParentEnd,
    /// The init moves itself into its v1 cgroups (and says so).
    self_attach: bool,
    /// The clone put it in its unified cgroup.
    born_in_cgroup: bool,
    new_user_ns: bool,
}

impl Init<'_> {
    /// Puts the init in its cgroups, writes its id maps, runs the runtime-side hooks, lets it
    /// go on, and waits until it is ready (handing a seccomp notifier to its listener).
    fn complete(&self, bundle: &Bundle, state: &ContainerState) -> Result<()> {
        let (child, cgroup) = (self.pid, &state.cgroup);
        match (self.self_attach, self.born_in_cgroup) {
            (true, true) => self.parent_end.wait_for_attached()?,
            (true, false) => {
                self.parent_end.wait_for_attached()?;
                cgroup.add_unified(child)?;
            }
            (false, true) => cgroup.add_outside_unified(child)?,
            (false, false) => cgroup.add(child)?,
        }
        if self.new_user_ns {
            write_id_maps(child, bundle)?;
        }
        // The container's namespaces exist now: the runtime-side hooks (network set-up,
        // typically) run here, in the runtime's own namespaces. They read `created`: runtime.md
        // has the environment made at step 2 ("creating" is that step) and the hooks after it.
        let document = state.oci_state_as(Status::Created);
        if let Some(hooks) = bundle.spec.hooks() {
            hooks::run(
                "prestart",
                hooks.prestart().as_deref().unwrap_or_default(),
                &document,
            )?;
            hooks::run(
                "createRuntime",
                hooks.create_runtime().as_deref().unwrap_or_default(),
                &document,
            )?;
        }
        self.parent_end.proceed(&document)?;
        let seccomp = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref());
        self.parent_end.wait_for_ready(&mut |notifier| {
            crate::seccomp::send_to_listener(seccomp, notifier, child, &document)
        })
    }
}

/// Where under the runtime's root compiled seccomp programs are kept: a name no container id
/// can take (ids do not start with a dot), so a container called `seccomp` is not the cache.
pub(crate) const SECCOMP_CACHE: &str = ".seccomp";
