//! Arguments of runc's verbs: create, start, state, kill, delete, list, exec, update, spec.

use std::path::PathBuf;

use clap::Args;

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
#[command(after_help = "\
Two shapes, told apart by the container named:
  hoist exec [-it] [-u USER] [-w DIR] [-e K=V] NAME CMD...   a container of `hoist run IMAGE`
      (its name, id or id prefix): podman's exit codes (125, 126, 127, or the command's)
  hoist exec --process FILE [--pid-file F] [--console-socket S] ID   an engine's container
      (podman, containerd): runc's, exiting 1 if exec fails and the command's code otherwise")]
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

    /// Pass stdin on to a process with a terminal (podman's -i; without a terminal, stdin is
    /// always the process's)
    #[arg(short, long)]
    pub interactive: bool,

    /// With -it: the keys that detach, leaving the process running (ctrl-X or single
    /// characters, comma-separated; an empty string turns detaching off)
    #[arg(long, value_name = "KEYS", default_value = hoist_engine::DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,

    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container (podman's -w/--workdir, runc's --cwd)
    #[arg(short = 'w', long, visible_alias = "workdir", value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// The user: a name or UID, optionally :GROUP or :GID (names from the container's
    /// /etc/passwd and /etc/group)
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Give the process every capability (podman's exec --privileged)
    #[arg(long)]
    pub privileged: bool,

    /// Pass this many extra fds (3, 4, ...) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,

    /// The container: a runtime id, or a name, id or id prefix of `hoist run IMAGE`'s
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

/// Two shapes: runc's `create --bundle DIR ID` (or `create ID` in a bundle directory), and
/// podman's `create [OPTIONS] IMAGE [CMD...]`, which makes a container for `hoist start`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// runc shape: the bundle directory [default: the current directory, when it has a
    /// config.json]
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

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

    #[command(flatten)]
    pub container: super::ContainerArgs,

    #[command(flatten)]
    pub registry: super::RegistryArgs,

    /// podman shape: print nothing while pulling the image
    #[arg(short, long)]
    pub quiet: bool,

    /// podman shape: write the container's id to this file (which must not exist)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,

    /// The container id (runc shape), or the image (podman shape)
    #[arg(value_name = "ID|IMAGE")]
    pub id: String,

    /// podman shape: the command and its arguments, in place of the image's
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// Two shapes: runc's `start ID` (a created runtime container), and podman's `start [-a]
/// NAME...` (containers of `hoist create` or ended ones of `hoist run`).
#[derive(Debug, Args)]
pub struct StartArgs {
    /// podman shape: print the container's output until it ends, and exit with its code
    #[arg(short, long)]
    pub attach: bool,

    /// The container id (runc shape), or names, ids or id prefixes (podman shape)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short, long, visible_alias = "timeout", value_name = "SECONDS")]
    pub time: Option<u64>,

    /// The containers (names, ids or id prefixes)
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The container id
    pub id: String,
}

/// Two shapes: runc's `kill [--all] ID [SIGNAL]` (SIGTERM by default), and podman's
/// `kill [-s SIGNAL] NAME...` (SIGKILL by default), taken when -s is given or the names are
/// containers of `hoist run IMAGE`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process in the container, not just its init (runc's --all)
    #[arg(short, long)]
    pub all: bool,

    /// podman shape: the signal to send [default: KILL]
    #[arg(short, long, value_name = "SIGNAL")]
    pub signal: Option<String>,

    /// ID [SIGNAL] (runc shape), or NAME... (podman shape); a signal is a number (9) or a
    /// name (KILL, SIGKILL)
    #[arg(required = true, value_name = "ID")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container if it is running; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,

    /// The container id, or docker://REF: an image to delete from its registry
    pub id: String,

    #[command(flatten, next_help_heading = "Registry options (with docker://REF)")]
    pub registry: crate::cli::RegistryArgs,
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
