//! Arguments of podman's container verbs: run, ps, logs, stop, rm, attach; and the hidden verbs
//! of a container's helpers.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::RegistryArgs;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// json, a Go template ('{{.Names}}'), or `table` and a template; with an id (runc's
    /// `ps`): table, or json (an array of pids)
    #[arg(short, long)]
    pub format: Option<String>,

    /// Without an id: list stopped containers too
    #[arg(short, long)]
    pub all: bool,

    /// Without an id: print only the ids
    #[arg(short, long)]
    pub quiet: bool,

    /// Print ids and commands whole
    #[arg(long)]
    pub no_trunc: bool,

    /// The container whose processes to list (runc's `ps`); without it, list the containers of
    /// `hoist run IMAGE` (podman's `ps`)
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing what the container writes until it ends
    #[arg(short, long)]
    pub follow: bool,

    /// Only the last N lines (all: -1)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub tail: Option<i64>,

    /// Each line after the time it was written (RFC 3339, nanoseconds)
    #[arg(short, long)]
    pub timestamps: bool,

    /// Only lines written since TIME: RFC 3339 or a date, Unix seconds, or a duration ago
    /// (10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only lines written before TIME (as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// The container (its name or id)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short, long, visible_alias = "timeout", value_name = "SECONDS")]
    pub time: Option<u64>,

    /// Stop every running container
    #[arg(short, long)]
    pub all: bool,

    /// The containers (names, ids or id prefixes)
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop running containers first; ignore ones that do not exist
    #[arg(short, long)]
    pub force: bool,

    /// Remove every container
    #[arg(short, long)]
    pub all: bool,

    /// The containers (names, ids or id prefixes)
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// What to copy: CONTAINER:PATH or a host path
    pub source: String,
    /// Where to: CONTAINER:PATH or a host path (one of the two is in a container)
    pub destination: String,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container (name, id or id prefix)
    pub id: String,

    /// Only this container port: PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container (name, id or id prefix)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print the figures once, instead of every --interval seconds
    #[arg(long)]
    pub no_stream: bool,

    /// Seconds between two samples while streaming
    #[arg(short, long, default_value_t = 5, value_name = "SECONDS")]
    pub interval: u64,

    /// json, a Go template ('{{.MemUsage}}'), or `table` and a template
    #[arg(long)]
    pub format: Option<String>,

    /// The containers (names, ids or id prefixes) [default: every running one]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The containers (names, ids or id prefixes)
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The keys that detach, leaving the container running: ctrl-X or single characters,
    /// comma-separated; an empty string turns detaching off
    #[arg(long, value_name = "KEYS", default_value = hoist_engine::DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,

    /// Do not pass stdin on (only show the container's output)
    #[arg(long)]
    pub no_stdin: bool,

    /// The container (its name or id), started with a terminal (-t)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// stdin is the socket of the container terminal's first client
    #[arg(long = "attached")]
    pub attached: bool,

    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExecSessionArgs {
    /// Write the process's pid here
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,

    pub id: String,
}

#[derive(Debug, Args)]
pub struct PortProxyArgs {
    /// Connect from inside the network namespace of this process (an unprivileged user's
    /// container's init), and end with it
    #[arg(long)]
    pub netns_of: Option<i32>,
    /// The file its pid is kept in (named here so that whoever ends it knows it)
    #[arg(long)]
    pub pid_file: Option<std::path::PathBuf>,
    /// The container's address
    pub to: std::net::Ipv4Addr,
    /// [IP:]HOSTPORT:CONTAINERPORT
    #[arg(required = true)]
    pub mappings: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkHookArgs {
    /// The container's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LogRelayArgs {
    /// The most bytes the log may hold
    #[arg(long)]
    pub max: Option<u64>,
    /// Pass the output on to stdout and stderr too
    #[arg(long)]
    pub tee: bool,
    /// The log file
    pub file: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Two shapes:
  hoist run [OPTIONS] IMAGE [CMD...]     pull if needed, unpack, run in the foreground (podman's shape)
  hoist run --bundle DIR [OPTIONS] ID    run an existing bundle (runc's shape)")]
pub struct RunArgs {
    /// runc shape: the bundle to run (the positional argument is then the container id)
    #[arg(
        help_heading = "runc shape (with --bundle)",
        short,
        long,
        value_name = "DIR"
    )]
    pub bundle: Option<PathBuf>,

    /// Write the container process's pid here
    #[arg(help_heading = "runc shape (with --bundle)", long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Start the container and return at once instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,

    /// Use chroot instead of pivot_root (for a rootfs on a ramdisk)
    #[arg(help_heading = "runc shape (with --bundle)", long)]
    pub no_pivot: bool,

    /// Pass this many extra fds (3, 4, ...) to the container
    #[arg(
        help_heading = "runc shape (with --bundle)",
        long,
        default_value_t = 0,
        value_name = "N"
    )]
    pub preserve_fds: u32,

    /// Unix socket to send the terminal's master fd to
    #[arg(help_heading = "runc shape (with --bundle)", long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Accepted for runc compatibility (hoist never creates a session keyring)
    #[arg(help_heading = "runc shape (with --bundle)", long)]
    pub no_new_keyring: bool,

    #[command(flatten)]
    pub container: ContainerArgs,

    #[command(flatten, next_help_heading = "Pulling the image")]
    pub registry: RegistryArgs,

    /// podman shape: print nothing while pulling the image
    #[arg(short, long)]
    pub quiet: bool,

    /// podman shape: write the container's id to this file (which must not exist)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,

    /// The image (podman shape), or the container id (runc shape, with --bundle)
    #[arg(value_name = "IMAGE|ID")]
    pub image: String,

    /// podman shape: the command and its arguments, in place of the image's
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

// What `hoist run IMAGE` takes from podman's command line. (A plain comment: a flattened
// struct's doc comment would become the description of the verbs using it.)
#[derive(Debug, Args, Default, PartialEq)]
pub struct ContainerArgs {
    /// podman shape: remove the container when it exits
    #[arg(help_heading = "Lifecycle", long)]
    pub rm: bool,

    /// podman shape: the container's name (default: a generated adjective_noun)
    #[arg(help_heading = "Lifecycle", long, value_name = "NAME")]
    pub name: Option<String>,

    /// podman shape: a label on the container: KEY=VALUE
    #[arg(help_heading = "Lifecycle", short, long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// podman shape: the signal `stop` sends first [default: the image's StopSignal, else
    /// SIGTERM]
    #[arg(help_heading = "Lifecycle", long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// podman shape: seconds `stop` waits for the container before SIGKILL [default: 10]
    #[arg(help_heading = "Lifecycle", long, value_name = "SECONDS")]
    pub stop_timeout: Option<u64>,

    /// podman shape: a mount: type=bind,source=/HOST,target=/CTR[,readonly],
    /// type=volume,source=NAME,target=/CTR, or type=tmpfs,target=/CTR[,tmpfs-size=SIZE]
    #[arg(help_heading = "Storage", long, value_name = "SPEC")]
    pub mount: Vec<String>,

    /// podman shape: a tmpfs at this path: PATH[:OPTIONS] [default options:
    /// rw,noexec,nosuid,nodev]
    #[arg(help_heading = "Storage", long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,

    /// podman shape: a resource limit of the process: NAME=SOFT[:HARD] (-1: unlimited), e.g.
    /// nofile=1024:2048
    #[arg(help_heading = "Resources", long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,

    /// podman shape: a namespaced kernel parameter of the container: NAME=VALUE (kernel.shm*,
    /// kernel.msg*, kernel.sem, fs.mqueue.*, and net.* with a network of its own)
    #[arg(help_heading = "Resources", long, value_name = "NAME=VALUE")]
    pub sysctl: Vec<String>,

    /// podman shape: the size of /dev/shm (e.g. 64m, 1.5g, 1GiB) [default: 64m]
    #[arg(help_heading = "Storage", long, value_name = "SIZE")]
    pub shm_size: Option<String>,

    /// podman shape: a host device in the container: HOST[:CONTAINER][:PERMISSIONS]
    /// (permissions of r, w, m; default rwm)
    #[arg(help_heading = "Storage", long, value_name = "HOST[:CTR][:rwm]")]
    pub device: Vec<String>,

    /// podman shape: the user namespace: host (the default), or auto[:size=N], one of the
    /// container's own whose root is a block of host ids no other container holds
    #[arg(help_heading = "Security", long, value_name = "MODE")]
    pub userns: Option<String>,

    /// podman shape: run a minimal init as PID 1 that reaps orphans and passes signals on
    #[arg(help_heading = "Process", long)]
    pub init: bool,

    /// podman shape: start the container again when it ends: no, on-failure[:N], always or
    /// unless-stopped (never after `hoist stop`)
    #[arg(help_heading = "Lifecycle", long, value_name = "POLICY")]
    pub restart: Option<String>,

    /// podman shape: set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(
        help_heading = "Process",
        short,
        long = "env",
        value_name = "KEY[=VALUE]"
    )]
    pub env: Vec<String>,

    /// podman shape: read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(help_heading = "Process", long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// podman shape: bind-mount a host directory or file, or a named volume (made if new):
    /// HOST|NAME:CONTAINER[:ro|rw]
    #[arg(
        help_heading = "Storage",
        short,
        long = "volume",
        value_name = "HOST:CTR[:ro]"
    )]
    pub volume: Vec<String>,

    /// podman shape: the working directory inside the container
    #[arg(help_heading = "Process", short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// podman shape: the user to run as: NAME or UID, optionally :GROUP or :GID
    #[arg(help_heading = "Process", short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// podman shape: replace the image's entrypoint (an empty string clears it)
    #[arg(help_heading = "Process", long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// podman shape: the container's hostname [default: the first 12 characters of its id]
    #[arg(help_heading = "Network", long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// podman shape: mount the root file system read-only
    #[arg(help_heading = "Storage", long)]
    pub read_only: bool,

    /// podman shape: memory limit (e.g. 64m, 1g)
    #[arg(help_heading = "Resources", short, long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// podman shape: memory plus swap limit (-1: unlimited swap)
    #[arg(help_heading = "Resources", long, value_name = "BYTES")]
    pub memory_swap: Option<String>,

    /// podman shape: CPUs the container may use (e.g. 0.5)
    #[arg(help_heading = "Resources", long, value_name = "N")]
    pub cpus: Option<f64>,

    /// podman shape: the most processes the container may have (-1: no limit)
    #[arg(
        help_heading = "Resources",
        long,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub pids_limit: Option<i64>,

    /// podman shape: add a capability (e.g. NET_ADMIN, or ALL)
    #[arg(help_heading = "Security", long, value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// podman shape: drop a capability (e.g. CHOWN, or ALL) [default: podman's eleven:
    /// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP,
    /// SETUID, SYS_CHROOT]
    #[arg(help_heading = "Security", long, value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// podman shape: give the container what root on the host has: every capability, no
    /// seccomp filter, the host's devices, no masked or read-only kernel paths
    #[arg(help_heading = "Security", long)]
    pub privileged: bool,

    /// podman shape: seccomp=unconfined|FILE (default: containers.conf's seccomp_profile, else
    /// /usr/share/containers/seccomp.json, else hoist's own), no-new-privileges,
    /// label=disable, apparmor=unconfined|PROFILE
    #[arg(help_heading = "Security", long, value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// podman shape: bridge (the default network, hoist0; subnet from $HOIST_BRIDGE_SUBNET,
    /// default 10.89.0.0/24), a network's name (`NAME[:ip=IP,alias=NAME]`; repeat for several),
    /// none (only lo), host (the host's), or container:NAME (another container's)
    #[arg(help_heading = "Network", long, alias = "net", value_name = "MODE")]
    pub network: Vec<String>,

    /// podman shape: the container's IPv4 address on its network
    #[arg(help_heading = "Network", long, value_name = "IP")]
    pub ip: Option<String>,

    /// podman shape: another name the container is found by on its networks
    #[arg(help_heading = "Network", long, value_name = "NAME")]
    pub network_alias: Vec<String>,

    /// podman shape: publish container ports on the host: [[IP:][HOSTPORT]:]CONTAINERPORT
    /// [/tcp|/udp], ranges as N-M; no host port picks a free one
    #[arg(
        help_heading = "Network",
        short,
        long = "publish",
        value_name = "[IP:]HOST:CTR"
    )]
    pub publish: Vec<String>,

    /// podman shape: publish every port the image exposes on a free host port
    #[arg(help_heading = "Network", short = 'P', long)]
    pub publish_all: bool,

    /// podman shape: a DNS server for the container's resolv.conf, in place of the host's
    #[arg(help_heading = "Network", long, value_name = "IP")]
    pub dns: Vec<String>,

    /// podman shape: a DNS search domain, in place of the host's
    #[arg(help_heading = "Network", long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// podman shape: a resolv.conf option (e.g. ndots:2), in place of the host's
    #[arg(help_heading = "Network", long, value_name = "OPTION")]
    pub dns_option: Vec<String>,

    /// podman shape: an /etc/hosts entry, HOST:IP
    #[arg(help_heading = "Network", long, value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// podman shape: an option of a detached container's log: max-size=SIZE (e.g. 10m; when
    /// the log would grow past it, it starts over, as podman's k8s-file log does)
    #[arg(help_heading = "Lifecycle", long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,

    /// podman shape: keep stdin open
    #[arg(help_heading = "Process", short, long)]
    pub interactive: bool,

    /// podman shape: give the container a terminal
    #[arg(help_heading = "Process", short, long)]
    pub tty: bool,

    /// podman shape: the keys that detach from a -it container, leaving it running
    /// (`hoist attach` joins it again): ctrl-X or single characters, comma-separated; an empty
    /// string turns detaching off [default: ctrl-p,ctrl-q]
    #[arg(help_heading = "Process", long, value_name = "KEYS")]
    pub detach_keys: Option<String>,

    /// podman shape: when to pull the image: always, missing, never
    #[arg(
        help_heading = "Lifecycle",
        long,
        default_value = "missing",
        value_name = "POLICY"
    )]
    pub pull: PullPolicy,
}

impl ContainerArgs {
    /// Whether any of podman's options was given: they mean nothing to a runc-shaped verb,
    /// whose bundle's config.json says it all. (Compared with clap's defaults, so that an
    /// option added later is covered.)
    pub fn any_given(&self) -> bool {
        use clap::FromArgMatches;
        let none_given = clap::Command::new("defaults");
        let defaults = Self::augment_args(none_given).get_matches_from(["defaults"]);
        Self::from_arg_matches(&defaults).map_or(true, |defaults| *self != defaults)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}
