//! The command line: clap structures only.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0      success
  N      `hoist run` in the foreground: the container's own exit code (128+S if killed by signal S)
  1      a runtime verb (create, start, state, kill, delete, list, run --bundle) failed, as runc does
  125    hoist itself failed (pull, unpack, run IMAGE, or a usage error), as podman does

Environment:
  HOIST_ROOT   hoist's image store and containers (default /var/lib/hoist for root,
               $XDG_DATA_HOME/hoist otherwise)";

/// Pull, unpack and run OCI container images.
///
/// hoist does what skopeo (pull), umoci (unpack) and runc (run) do, in one binary:
///
///   hoist pull docker://registry.example/app:1.0 --dest oci:./app:1.0
///   hoist unpack --image ./app:1.0 ./bundle
///   hoist run --bundle ./bundle my-container
///
/// or all in one step, like podman: `hoist run --rm registry.example/app:1.0 echo hi`.
#[derive(Debug, Parser)]
#[command(name = "hoist", version, after_help = EXIT_CODES, max_term_width = 100, verbatim_doc_comment)]
pub struct Cli {
    /// Directory for container state (runc's --root) [default: /run/hoist for root,
    /// $XDG_RUNTIME_DIR/hoist otherwise]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Also write errors to this file (engines read it)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Format of --log: text, or json (one object per line)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Print debug messages on stderr
    #[arg(long, global = true)]
    pub debug: bool,

    /// Accepted for runc compatibility; hoist manages cgroups through the file system
    #[arg(long, global = true, hide = true)]
    pub systemd_cgroup: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Each command's arguments are built only when that command is run: building all of them
// cost ~0.4 ms of every start, and a container start pays for two (see main.rs).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Pull an image from a registry into an OCI image layout (like `skopeo copy`)
    Pull(PullArgs),
    /// Unpack an image into an OCI runtime bundle: config.json and rootfs/ (like `umoci unpack`)
    Unpack(UnpackArgs),
    /// Run a container: `run IMAGE [CMD...]` like podman, or `run --bundle DIR ID` like runc
    Run(Box<RunArgs>),
    /// Create a container from a bundle; its process waits for `start` (like `runc create`)
    Create(CreateArgs),
    /// Start a created container's process (like `runc start`)
    Start(IdArg),
    /// Print a container's state as JSON (like `runc state`)
    State(IdArg),
    /// Send a signal to a container's process (like `runc kill`)
    Kill(KillArgs),
    /// Delete a stopped container's state (like `runc delete`)
    Delete(DeleteArgs),
    /// List containers (like `runc list`)
    List(ListArgs),
    /// Run another process in a running container (like `runc exec`)
    Exec(ExecArgs),
    /// List containers (like `podman ps`), or with an id a container's processes as host pids
    /// (like `runc ps`)
    Ps(PsArgs),
    /// Freeze every process of a container (like `runc pause`)
    Pause(IdArg),
    /// Thaw a paused container (like `runc resume`)
    Resume(IdArg),
    /// Change a running container's resource limits (like `runc update`)
    Update(UpdateArgs),
    /// Write a default config.json for a bundle (like `runc spec`)
    Spec(SpecArgs),
    /// Print what this runtime supports, as JSON (like `runc features`)
    Features,
    /// Copy an image between registries, layouts and archives (like `skopeo copy`)
    Copy(CopyArgs),
    /// Show an image's manifest and config without pulling it (like `skopeo inspect`)
    Inspect(InspectArgs),
    /// List the images in hoist's store
    Images(ImagesArgs),
    /// Remove images from hoist's store, and the blobs no other image uses
    Rmi(RmiArgs),
    /// Print the output of a detached container (like `podman logs`)
    Logs(LogsArgs),
    /// Stop containers: SIGTERM, then SIGKILL (like `podman stop`)
    Stop(StopArgs),
    /// Remove containers of `hoist run IMAGE` (like `podman rm`)
    Rm(RmArgs),
    /// Write images from the store into one OCI archive, for another machine (like `podman save`)
    Save(SaveArgs),
    /// Bring the images of an OCI archive into the store (like `podman load`)
    Load(LoadArgs),
    /// Describe this machine's setup: store, storage driver, cgroups
    Info,
    /// Housekeeping of the store
    #[command(subcommand)]
    System(SystemCommand),
    /// Store credentials for a registry, after checking them (like `podman login`)
    Login(LoginArgs),
    /// Remove stored credentials (like `podman logout`)
    Logout(LogoutArgs),
    /// The monitor of a detached container (internal)
    #[command(name = hoist_engine::MONITOR_VERB, hide = true)]
    ContainerMonitor(IdArg),
    /// Forwards published ports to a container (internal)
    #[command(name = hoist_engine::PORT_PROXY_VERB, hide = true)]
    PortProxy(PortProxyArgs),
    /// Writes a detached container's capped log (internal)
    #[command(name = hoist_engine::LOG_RELAY_VERB, hide = true)]
    LogRelay(LogRelayArgs),
}

/// Where images can be: docker://REF (a registry), oci:DIR[:TAG] (an image layout),
/// oci-archive:FILE[:TAG] (a layout in one tar file), or a bare name (hoist's store).
// Each end has TLS and credential flags of its own, as skopeo's have: what is given for one
// registry never goes to the other.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image to copy: docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG], or a name in
    /// hoist's store
    pub source: String,

    /// Where to put it, in the same forms (the tag defaults to the source's)
    pub destination: String,

    /// Require HTTPS with a verified certificate from the source registry; with
    /// `--src-tls-verify=false` an unverified certificate is accepted and plain HTTP is tried
    /// after HTTPS (loopback registries may always fall back to HTTP)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub src_tls_verify: bool,

    /// Require HTTPS with a verified certificate from the destination registry (as
    /// --src-tls-verify for the source)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub dest_tls_verify: bool,

    /// CA certificates (*.crt) for the source registry [default: /etc/containers/certs.d/HOST/
    /// and /etc/docker/certs.d/HOST/]
    #[arg(long, value_name = "DIR")]
    pub src_cert_dir: Option<PathBuf>,

    /// CA certificates (*.crt) for the destination registry [default: as for the source]
    #[arg(long, value_name = "DIR")]
    pub dest_cert_dir: Option<PathBuf>,

    /// Credentials for the source registry only, as USER:PASSWORD
    #[arg(long, value_name = "USER:PASSWORD")]
    pub src_creds: Option<String>,

    /// Credentials for the destination registry only, as USER:PASSWORD
    #[arg(long, value_name = "USER:PASSWORD")]
    pub dest_creds: Option<String>,

    /// Read the source registry's credentials from this auth file [default: --authfile]
    #[arg(long, value_name = "FILE")]
    pub src_authfile: Option<PathBuf>,

    /// Read the destination registry's credentials from this auth file [default: --authfile]
    #[arg(long, value_name = "FILE")]
    pub dest_authfile: Option<PathBuf>,

    /// Read credentials for either registry from this auth file, each by its own host
    /// [default: $REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, ~/.docker/config.json with its credential helpers]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Copy every platform of a multi-platform image, and the index itself
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// Blobs to transfer at once
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: docker://REF (asks the registry), oci:DIR[:TAG], oci-archive:FILE[:TAG], or a
    /// name (hoist's store if it has it, else the registry)
    pub image: String,

    /// Print the manifest (or index) exactly as stored
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,

    /// Print the image's config blob
    #[arg(long)]
    pub config: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,

    /// Print the names only
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// The images to remove, by the names `hoist images` shows
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry, as HOST[:PORT]
    pub registry: String,

    /// The user name [default: asked]
    #[arg(short, long)]
    pub username: Option<String>,

    /// The password [default: asked, or read from stdin with --password-stdin]
    #[arg(short, long)]
    pub password: Option<String>,

    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,

    /// The auth file to write [default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Require HTTPS with a verified certificate (see `hoist pull --help`)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,

    /// CA certificates (*.crt) for the registry
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry, as HOST[:PORT]
    #[arg(required_unless_present = "all")]
    pub registry: Option<String>,

    /// Remove the credentials of every registry
    #[arg(short, long)]
    pub all: bool,

    /// The auth file to change [default: as for login]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// The bundle directory to write config.json into
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,

    /// A config for an unprivileged user: a user namespace mapping the caller to root
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process as runtime-spec JSON (instead of a command)
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,

    /// Return once the process runs
    #[arg(short, long)]
    pub detach: bool,

    /// Write the process's pid here
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Unix socket to send the terminal's master fd to
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Give the process a terminal
    #[arg(short, long)]
    pub tty: bool,

    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Working directory inside the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// The user, as UID[:GID]
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,

    /// Pass this many extra fds (3, 4, ...) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,

    /// The container id
    pub id: String,

    /// The command and its arguments (unless --process)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// With an id: table, or json (an array of pids)
    #[arg(short, long, default_value = "table")]
    pub format: String,

    /// Without an id: list stopped containers too
    #[arg(short, long)]
    pub all: bool,

    /// Without an id: print only the ids
    #[arg(short, long)]
    pub quiet: bool,

    /// The container whose processes to list (runc's `ps`); without it, list the containers of
    /// `hoist run IMAGE` (podman's `ps`)
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing what the container writes until it ends
    #[arg(short, long)]
    pub follow: bool,

    /// The container (its name or id)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short, long, default_value_t = 10)]
    pub time: u64,

    /// The containers
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop running containers first; ignore ones that do not exist
    #[arg(short, long)]
    pub force: bool,

    /// The containers
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The archive to write (an OCI archive, as `oci-archive:` reads)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Every platform of multi-platform images
    #[arg(long)]
    pub all_platforms: bool,

    /// Images in hoist's store
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortProxyArgs {
    /// The container's address
    pub to: std::net::Ipv4Addr,
    /// [IP:]HOSTPORT:CONTAINERPORT
    #[arg(required = true)]
    pub mappings: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogRelayArgs {
    /// The most bytes the log may hold
    pub max: u64,
    /// The log file
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, and the layers and blobs no image or container uses
    Prune,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive to read (from `hoist save`, `skopeo copy ... oci-archive:`, or podman)
    #[arg(short, long, value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// JSON LinuxResources from this file, or - for stdin; the flags below override it
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,

    /// Memory limit in bytes (suffixes K, M, G)
    #[arg(long, value_parser = hoist_engine::parse_size, value_name = "SIZE")]
    pub memory: Option<u64>,

    /// Memory plus swap limit in bytes (suffixes K, M, G)
    #[arg(long, value_parser = hoist_engine::parse_size, value_name = "SIZE")]
    pub memory_swap: Option<u64>,

    /// Maximum number of processes (0 or less: no limit)
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub pids_limit: Option<i64>,

    /// CPU shares (relative weight)
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,

    /// CPU CFS quota in microseconds per period (-1: none)
    #[arg(long, allow_hyphen_values = true, value_name = "US")]
    pub cpu_quota: Option<i64>,

    /// CPU CFS period in microseconds
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,

    /// CPUs to run on (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,

    /// Memory nodes to use
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,

    /// The container id
    pub id: String,
}

/// How to reach and authenticate to registries (skopeo's and podman's names).
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Require HTTPS with a verified certificate; with `--tls-verify=false` an unverified
    /// certificate is accepted and plain HTTP is tried after HTTPS (loopback registries may
    /// always fall back to HTTP)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,

    /// CA certificates (*.crt) for the registry [default: /etc/containers/certs.d/HOST/ and
    /// /etc/docker/certs.d/HOST/]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Registry credentials as USER:PASSWORD (or USER, to be asked for the password)
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,

    /// Read credentials from this auth file [default: $REGISTRY_AUTH_FILE, then
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
    /// ~/.docker/config.json with its credential helpers]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// How transfers go, whichever registry they are with.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Retries after a network error, a stall, a 429 or a 5xx (never after 401/403/404 or a
    /// digest mismatch)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retry_times: u32,

    /// The first wait before a retry; later ones double (e.g. 500ms, 2s)
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_delay: std::time::Duration,

    /// Cut and retry a transfer that delivers nothing for this long
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub stall_timeout: std::time::Duration,

    /// Platform to choose from a multi-platform image, as os/arch[/variant] [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: [docker://]HOST/REPO:TAG or HOST/REPO@sha256:DIGEST (short names like
    /// `busybox` mean docker.io/library/busybox:latest)
    pub reference: String,

    /// Write into this OCI image layout instead of hoist's store: oci:DIR[:TAG] (default TAG:
    /// the source's tag)
    #[arg(long, value_name = "oci:DIR[:TAG]")]
    pub dest: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Take every platform of a multi-platform image, and the index itself
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// Blobs to download at once
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the result as JSON on stdout (the digest, the destination, blob counts)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The image: an OCI layout as DIR[:TAG] (or oci:DIR[:TAG]), or an image in hoist's store
    #[arg(long, value_name = "DIR[:TAG]")]
    pub image: String,

    /// The bundle directory to create (must not exist, or be empty)
    pub bundle: PathBuf,

    /// Platform to choose if the image is a multi-platform index [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Unpack without privileges: no ownership changes, no device nodes [default: on for a
    /// non-root user]
    #[arg(long)]
    pub rootless: bool,

    /// Refuse images whose layers unpack to more than this many bytes (suffixes K, M, G, T)
    #[arg(long, default_value = "64G", value_parser = hoist_engine::parse_size, value_name = "SIZE")]
    pub max_size: u64,

    /// Map file owners: container ids CONTAINER.. to host ids HOST.. (repeatable)
    #[arg(long, value_name = "CONTAINER:HOST:SIZE")]
    pub uid_map: Vec<hoist_unpack::IdRange>,

    /// Map file groups, like --uid-map
    #[arg(long, value_name = "CONTAINER:HOST:SIZE")]
    pub gid_map: Vec<hoist_unpack::IdRange>,

    /// Keep every image label as a config.json annotation. By default labels under
    /// org.systemd.property.* and run.oci.* are left out: runc and crun act on those
    /// annotations, and the image's author should not set them for whoever runs it
    #[arg(long)]
    pub runtime_labels: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Two shapes:
  hoist run [OPTIONS] IMAGE [CMD...]     pull if needed, unpack, run in the foreground (podman's shape)
  hoist run --bundle DIR [OPTIONS] ID    run an existing bundle (runc's shape)")]
pub struct RunArgs {
    /// runc shape: the bundle to run (the positional argument is then the container id)
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// Write the container process's pid here
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Start the container and return at once instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,

    /// Use chroot instead of pivot_root (for a rootfs on a ramdisk)
    #[arg(long)]
    pub no_pivot: bool,

    /// Pass this many extra fds (3, 4, ...) to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,

    /// Unix socket to send the terminal's master fd to
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Accepted for runc compatibility (hoist never creates a session keyring)
    #[arg(long)]
    pub no_new_keyring: bool,

    #[command(flatten)]
    pub container: ContainerArgs,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// IMAGE [CMD...] (podman shape), or ID (runc shape, with --bundle)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE|ID"
    )]
    pub args: Vec<String>,
}

/// What `hoist run IMAGE` takes from podman's command line.
#[derive(Debug, Args, Default)]
pub struct ContainerArgs {
    /// podman shape: remove the container when it exits
    #[arg(long)]
    pub rm: bool,

    /// podman shape: the container's name (default: a random id)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// podman shape: set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,

    /// podman shape: read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// podman shape: bind-mount a host directory or file: HOST:CONTAINER[:ro|rw]
    #[arg(short, long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volume: Vec<String>,

    /// podman shape: the working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// podman shape: the user to run as: NAME or UID, optionally :GROUP or :GID
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// podman shape: replace the image's entrypoint (an empty string clears it)
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// podman shape: the container's hostname [default: the first 12 characters of its id]
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// podman shape: mount the root file system read-only
    #[arg(long)]
    pub read_only: bool,

    /// podman shape: memory limit (e.g. 64m, 1g)
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// podman shape: memory plus swap limit (-1: unlimited swap)
    #[arg(long, value_name = "BYTES")]
    pub memory_swap: Option<String>,

    /// podman shape: CPUs the container may use (e.g. 0.5)
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,

    /// podman shape: the most processes the container may have (-1: no limit)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// podman shape: add a capability (e.g. NET_ADMIN, or ALL)
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// podman shape: drop a capability (e.g. CHOWN, or ALL) [default: podman's eleven:
    /// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP,
    /// SETUID, SYS_CHROOT]
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// podman shape: give the container what root on the host has: every capability, no
    /// seccomp filter, the host's devices, no masked or read-only kernel paths
    #[arg(long)]
    pub privileged: bool,

    /// podman shape: seccomp=unconfined|FILE (default: containers.conf's seccomp_profile, else
    /// /usr/share/containers/seccomp.json, else hoist's own), no-new-privileges,
    /// label=disable, apparmor=unconfined|PROFILE
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// podman shape: the network: bridge (an address on the hoist0 bridge; subnet from
    /// $HOIST_BRIDGE_SUBNET, default 10.89.0.0/24), none (only lo), host (the host's), or
    /// container:NAME (another container's)
    #[arg(long, alias = "net", default_value = "bridge", value_name = "MODE")]
    pub network: String,

    /// podman shape: publish a container port on the host: [IP:]HOSTPORT:CONTAINERPORT (tcp;
    /// needs --network bridge)
    #[arg(short, long = "publish", value_name = "[IP:]HOST:CTR")]
    pub publish: Vec<String>,

    /// podman shape: an option of a detached container's log: max-size=SIZE (e.g. 10m; when
    /// the log would grow past it, it starts over, as podman's k8s-file log does)
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,

    /// podman shape: keep stdin open
    #[arg(short, long)]
    pub interactive: bool,

    /// podman shape: give the container a terminal
    #[arg(short, long)]
    pub tty: bool,

    /// podman shape: when to pull the image: always, missing, never
    #[arg(long, default_value = "missing", value_name = "POLICY")]
    pub pull: PullPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,

    /// Write the container process's pid here
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Unix socket to send the terminal's master fd to
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Use chroot instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,

    /// Pass this many extra fds (3, 4, ...) to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,

    /// Accepted for runc compatibility (hoist never creates a session keyring)
    #[arg(long)]
    pub no_new_keyring: bool,

    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process in the container, not just its init
    #[arg(short, long)]
    pub all: bool,

    /// The container id
    pub id: String,

    /// The signal, as a number (9) or a name (KILL, SIGKILL)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container if it is running; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,

    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,

    /// Print only the ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_the_verb_in_both_forms() {
        let cli = Cli::try_parse_from([
            "hoist",
            "--log-format=json",
            "--log",
            "/l",
            "--root",
            "/r",
            "kill",
            "c1",
            "9",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/r")));
        let Command::Kill(kill) = cli.command else {
            panic!()
        };
        assert_eq!((kill.id.as_str(), kill.signal.as_str()), ("c1", "9"));
    }

    #[test]
    fn run_takes_the_command_after_the_image_verbatim() {
        let cli = Cli::try_parse_from([
            "hoist",
            "run",
            "--rm",
            "-e",
            "A=1",
            "busybox",
            "sh",
            "-c",
            "echo --rm",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert!(run.container.rm && run.bundle.is_none());
        assert_eq!(run.args, ["busybox", "sh", "-c", "echo --rm"]);
        assert!(Cli::try_parse_from(["hoist", "pull", "x", "--tls-verify=false"]).is_ok());
    }

    #[test]
    fn copy_takes_registry_flags_per_end_only() {
        let cli = Cli::try_parse_from([
            "hoist",
            "copy",
            "--src-tls-verify=false",
            "--dest-cert-dir",
            "/certs",
            "--src-creds",
            "a:1",
            "--dest-creds",
            "b:2",
            "--dest-authfile",
            "/auth.json",
            "--retry-times",
            "0",
            "docker://one.example/x",
            "docker://two.example/y",
        ])
        .unwrap();
        let Command::Copy(copy) = cli.command else {
            panic!()
        };
        assert!(!copy.src_tls_verify && copy.dest_tls_verify);
        assert_eq!(copy.src_cert_dir, None);
        assert_eq!(
            copy.dest_cert_dir.as_deref(),
            Some(std::path::Path::new("/certs"))
        );
        assert_eq!(
            (copy.src_creds.as_deref(), copy.dest_creds.as_deref()),
            (Some("a:1"), Some("b:2"))
        );
        assert_eq!(copy.src_authfile, None);
        assert_eq!(copy.transfer.retry_times, 0);
        for both_ends in ["--creds=a:1", "--tls-verify=false", "--cert-dir=/certs"] {
            assert!(
                Cli::try_parse_from(["hoist", "copy", both_ends, "oci:/a", "oci:/b"]).is_err(),
                "{both_ends} would serve both registries"
            );
        }
    }
}
