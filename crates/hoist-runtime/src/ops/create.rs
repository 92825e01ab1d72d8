use std::fs::{self, DirBuilder};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode as NixMode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxIdMapping;
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::cgroups::{Cgroup, CgroupError, Hierarchies};
use crate::channel;
use crate::init::{self, InitOptions};
use crate::spec::Bundle;
use crate::state::{
    container_dir, now_rfc3339, process_start_time, validate_id, ContainerState, EXEC_FIFO,
};
use crate::sys::{clone_into_namespaces, Forked};
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
        crate::validate::host_facing_fields(&bundle.spec)?;
        let process = &bundle.process;
        let terminal = process.terminal().unwrap_or(false);
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

        ensure_single_threaded()?;
        let dir = self.make_container_dir(id)?;
        let mut guard = RemoveOnError {
            dir: Some(dir.clone()),
            cgroup: None,
        };

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
        let exec_fifo = rfs::open(&fifo_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io("opening the exec fifo", &fifo_path)(e.into()))?;

        let namespaces = Namespaces::from_spec(&bundle)?;
        let cgroup = create_cgroup(&bundle, id)?;
        guard.set_cgroup(cgroup.clone());
        if let Some(pid_ns) = &namespaces.join_pid {
            // Joining a pid namespace takes effect for children: enter it before the clone.
            nix::sched::setns(pid_ns, CloneFlags::CLONE_NEWPID)
                .map_err(Error::sys("joining the configured pid namespace"))?;
        }
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

        let unified_dir = cgroup.unified_dir().and_then(|dir| {
            rfs::open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        });
        // Asked before the clone: in a new user namespace the init sees itself as nobody
        // until its maps are written.
        let unprivileged_parent = !nix::unistd::geteuid().is_root();
        // Born outside a new user namespace, the init can move itself into its v1 cgroups,
        // which is much cheaper than being moved (see Cgroup::attach_current_thread_v1).
        let self_attach = !namespaces.new_user && cgroup.dirs.iter().any(|d| !d.unified);
        let forked = clone_into_namespaces(
            namespaces.clone_flags.bits() as u64,
            unified_dir.as_ref().map(|fd| fd.as_fd()),
        )
        .map_err(Error::sys("cloning the container's init"))?;
        drop(unified_dir);
        let (child, born_in_cgroup) = match forked {
            Forked::Child => {
                drop(parent_end);
                init::run(
                    &bundle,
                    InitOptions {
                        exec_fifo,
                        join: namespaces.join,
                        new_user_ns: namespaces.new_user,
                        unprivileged_parent,
                        self_attach: self_attach.then(|| cgroup.clone()),
                        new_cgroup_ns: namespaces.new_cgroup,
                        new_time_ns: namespaces.new_time.clone(),
                        preserve_fds: options.preserve_fds,
                        no_pivot: options.no_pivot,
                        console_socket,
                        seccomp,
                    },
                    init_end,
                )
            }
            Forked::Parent { child, in_cgroup } => (child, in_cgroup),
        };
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
        let ready = (|| {
            match (self_attach, born_in_cgroup) {
                (true, true) => parent_end.wait_for_attached()?,
                (true, false) => {
                    parent_end.wait_for_attached()?;
                    cgroup.add_unified(child)?;
                }
                (false, true) => cgroup.add_outside_unified(child)?,
                (false, false) => cgroup.add(child)?,
            }
            if namespaces.new_user {
                write_id_maps(child, &bundle)?;
            }
            // The container's namespaces exist now: the runtime-side hooks (network set-up,
            // typically) run here, in the runtime's own namespaces.
            let document = state.oci_state_as(Status::Creating);
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
            parent_end.proceed(&document)?;
            let seccomp = bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().as_ref());
            parent_end.wait_for_ready(&mut |notifier| {
                crate::seccomp::send_to_listener(seccomp, notifier, child, &document)
            })
        })();
        if let Err(e) = ready {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(child), None);
            return Err(e);
        }

        state.start_time = process_start_time(child)
            .ok_or_else(|| Error::Init("the container's init exited right after setup".into()))?;
        state.save(&self.root)?;
        if let Some(pid_file) = &options.pid_file {
            write_pid_file(pid_file, child)?;
        }
        guard.disarm();
        Ok(state)
    }

    fn make_container_dir(&self, id: &str) -> Result<PathBuf> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(Error::io("creating the state directory", &self.root))?;
        let dir = container_dir(&self.root, id);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(id.to_string()))
            }
            Err(e) => Err(Error::io("creating the container's state directory", &dir)(
                e,
            )),
        }
    }
}

/// Where under the runtime's root compiled seccomp programs are kept: a name no container id
/// can take (ids do not start with a dot), so a container called `seccomp` is not the cache.
pub(crate) const SECCOMP_CACHE: &str = ".seccomp";

/// The config's namespaces, as clone flags for the new ones and fds for those to join.
struct Namespaces {
    clone_flags: CloneFlags,
    join: Vec<(OwnedFd, CloneFlags)>,
    join_pid: Option<OwnedFd>,
    new_user: bool,
    new_cgroup: bool,
    /// A new time namespace, with its clock offsets (clock name, seconds, nanoseconds).
    new_time: Option<Vec<(String, i64, u32)>>,
}

impl Namespaces {
    fn from_spec(bundle: &Bundle) -> Result<Namespaces> {
        let mut ns = Namespaces {
            clone_flags: CloneFlags::empty(),
            join: Vec::new(),
            join_pid: None,
            new_user: false,
            new_cgroup: false,
            new_time: None,
        };
        let linux = bundle.spec.linux().clone().unwrap_or_default();
        for namespace in linux.namespaces().as_deref().unwrap_or_default() {
            let flag = crate::namespaces::clone_flag(namespace.typ());
            match namespace.path() {
                None => ns.clone_flags |= flag,
                Some(path) => {
                    let fd = rfs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                        .map_err(|e| Error::io("opening the namespace to join", path)(e.into()))?;
                    if flag == CloneFlags::CLONE_NEWPID {
                        ns.join_pid = Some(fd);
                    } else if flag == CloneFlags::CLONE_NEWUSER {
                        // The user namespace decides what the others may do: join it first.
                        ns.join.insert(0, (fd, flag));
                    } else {
                        ns.join.push((fd, flag));
                    }
                }
            }
        }
        if !ns.clone_flags.contains(CloneFlags::CLONE_NEWNS)
            && ns.join.iter().all(|(_, f)| *f != CloneFlags::CLONE_NEWNS)
        {
            return Err(Error::InvalidSpec(
                "the config has no mount namespace; hoist needs one to set up the rootfs".into(),
            ));
        }
        ns.new_user = ns.clone_flags.contains(CloneFlags::CLONE_NEWUSER);
        // The init unshares its cgroup namespace itself, once it is in its cgroup.
        ns.new_cgroup = ns.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP);
        ns.clone_flags.remove(CloneFlags::CLONE_NEWCGROUP);
        // And its time namespace: the clocks' offsets can only be written before any process
        // is in it, so the init unshares (which leaves itself outside), writes them, and
        // enters it with the exec.
        let new_time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        let offsets = linux.time_offsets().clone().unwrap_or_default();
        if ns.clone_flags.contains(new_time) {
            ns.clone_flags.remove(new_time);
            ns.new_time = Some(
                offsets
                    .iter()
                    .map(|(clock, offset)| {
                        (
                            clock.clone(),
                            offset.secs().unwrap_or(0),
                            offset.nanosecs().unwrap_or(0),
                        )
                    })
                    .collect(),
            );
        } else if !offsets.is_empty() {
            return Err(Error::InvalidSpec(
                "linux.timeOffsets needs a new time namespace; add {\"type\": \"time\"} to linux.namespaces".into(),
            ));
        }
        Ok(ns)
    }
}

/// Writes the new user namespace's uid and gid maps. Root writes them directly. Another user
/// may write only a map of its own id, and only with setgroups denied; anything wider goes
/// through the setuid helpers `newuidmap`/`newgidmap`, which check it against /etc/subuid and
/// /etc/subgid, as podman and runc do.
fn write_id_maps(pid: i32, bundle: &Bundle) -> Result<()> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    for (maps, field) in [(&uid_maps, "uidMappings"), (&gid_maps, "gidMappings")] {
        if maps.is_empty() {
            return Err(Error::InvalidSpec(format!(
                "the config asks for a user namespace but gives no {field}"
            )));
        }
    }
    let only_own = |maps: &[LinuxIdMapping], own: u32| {
        maps.len() == 1 && maps[0].host_id() == own && maps[0].size() == 1
    };
    if nix::unistd::geteuid().is_root() {
        write_map(pid, "uid_map", &uid_maps)?;
        write_map(pid, "gid_map", &gid_maps)
    } else if only_own(&uid_maps, nix::unistd::geteuid().as_raw())
        && only_own(&gid_maps, nix::unistd::getegid().as_raw())
    {
        let setgroups = format!("/proc/{pid}/setgroups");
        fs::write(&setgroups, "deny").map_err(Error::io("denying setgroups", &setgroups))?;
        write_map(pid, "uid_map", &uid_maps)?;
        write_map(pid, "gid_map", &gid_maps)
    } else {
        run_map_helper("newuidmap", pid, &uid_maps)?;
        run_map_helper("newgidmap", pid, &gid_maps)
    }
}

fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    fs::write(&path, text).map_err(Error::io("writing the id map", &path))
}

fn run_map_helper(helper: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut command = std::process::Command::new(helper);
    command.arg(pid.to_string());
    for map in maps {
        command.args([
            map.container_id().to_string(),
            map.host_id().to_string(),
            map.size().to_string(),
        ]);
    }
    let output = command.output().map_err(|e| {
        Error::Init(format!(
            "running {helper}, which an unprivileged user needs to map more than its own id: {e} (install the uidmap package, or map only your own id)"
        ))
    })?;
    if !output.status.success() {
        return Err(Error::Init(format!(
            "{helper} refused the config's mappings: {} (the ranges must be yours in /etc/sub{}id)",
            String::from_utf8_lossy(&output.stderr).trim(),
            if helper == "newuidmap" { "u" } else { "g" }
        )));
    }
    Ok(())
}

/// Refuses to clone from a multi-threaded process (see `clone_into_namespaces`). A caller that
/// just shut down an async runtime may still have worker threads finishing: give them a moment.
pub(crate) fn ensure_single_threaded() -> Result<()> {
    let threads = || {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:")?.trim().parse::<u32>().ok())
            })
            .unwrap_or(1)
    };
    for _ in 0..200 {
        if threads() <= 1 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(Error::Init(format!(
        "hoist has {} threads, and a container's init can only be cloned from a single-threaded process (this is a bug in hoist)",
        threads()
    )))
}

/// Written beside the target and renamed, so an engine polling for it never reads half a pid.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut file = fs::File::create(&tmp).map_err(Error::io("writing the pid file", &tmp))?;
    write!(file, "{pid}").map_err(Error::io("writing the pid file", &tmp))?;
    fs::rename(&tmp, path).map_err(Error::io("writing the pid file", path))
}

/// Removes a half-made container's state directory and cgroup unless creation got to the end.
struct RemoveOnError {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
}

impl RemoveOnError {
    fn set_cgroup(&mut self, cgroup: Cgroup) {
        self.cgroup = Some(cgroup);
    }

    fn disarm(mut self) {
        self.dir = None;
        self.cgroup = None;
    }
}

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// The container's cgroup, made before the clone so a limit this host cannot enforce fails
/// `create` before anything runs. Its path is the config's `cgroupsPath` (systemd's
/// `slice:prefix:name` form becomes the path systemd would give it), or `/hoist/<id>`.
fn create_cgroup(bundle: &Bundle, id: &str) -> Result<Cgroup> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let path = match linux.cgroups_path() {
        Some(path) => systemd_to_path(path),
        None => PathBuf::from(format!("/hoist/{id}")),
    };
    let hierarchies = Hierarchies::detect().map_err(Error::io(
        "reading the cgroup hierarchies from",
        "/proc/self",
    ))?;
    let resources = linux.resources().clone().unwrap_or_default();
    match Cgroup::create(&hierarchies, &path, &resources) {
        // A rootless container runs without a cgroup where the user may not make one, as under
        // runc, unless the config asks for limits that only a cgroup could enforce.
        Err(CgroupError::Io { source, path, .. })
            if source.kind() == std::io::ErrorKind::PermissionDenied
                && !nix::unistd::geteuid().is_root() =>
        {
            if sets_limits(&resources) {
                Err(Error::InvalidSpec(format!(
                    "the config sets resource limits, but this user may not make cgroups ({} is not writable); run as root, point linux.cgroupsPath into a cgroup delegated to this user, or remove linux.resources",
                    path.display()
                )))
            } else {
                Ok(Cgroup::default())
            }
        }
        other => Ok(other?),
    }
}

/// Whether `resources` asks for anything beyond device rules.
fn sets_limits(resources: &oci_spec::runtime::LinuxResources) -> bool {
    resources.memory().is_some()
        || resources.cpu().is_some()
        || resources.pids().is_some()
        || resources.block_io().is_some()
        || resources
            .hugepage_limits()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || resources.network().is_some()
        || resources.unified().as_ref().is_some_and(|u| !u.is_empty())
}

fn systemd_to_path(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [slice, prefix, name] if !text.starts_with('/') => {
            let slice = if slice.is_empty() {
                "system.slice"
            } else {
                slice
            };
            PathBuf::from(format!("/{slice}/{prefix}-{name}.scope"))
        }
        _ => path.to_path_buf(),
    }
}
