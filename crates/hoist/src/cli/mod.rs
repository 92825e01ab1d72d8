//! The command line: clap structures only.

use std::path::PathBuf;

mod container;
mod image;
mod layout;
mod runtime;

use clap::{Parser, Subcommand, ValueEnum};

pub use container::*;
pub use image::*;
pub use layout::*;
pub use runtime::*;

const EXIT_CODES: &str = "\
Exit codes (podman's, and runc's for its verbs):
  0      success
  N      `hoist run` in the foreground, `exec`, `wait`: the container's own exit code (128+S if
         killed by signal S)
  1      a runtime verb (create, start, state, kill, delete, list, run --bundle, exec into an
         engine's container) failed, whatever failed, as runc does; so did one of skopeo's
         or umoci's verbs (copy, sync, list-tags, inspect of an image outside the store,
         delete docker://, manifest-digest, unpack, repack, config, insert, tag --image, ls,
         gc), as theirs do; `rm` of a container that does not exist
  2      `rm` of a running container (without -f)
  125    hoist itself failed (pull, run IMAGE, exec, podman's other verbs, or a usage error),
         as podman does
  126    the container's command cannot be run (not executable)
  127    the container's command was not found

Environment:
  HOIST_ROOT           hoist's image store and containers (default /var/lib/hoist for root,
                       $XDG_DATA_HOME/hoist otherwise)
  HOIST_LOG            what to log on stderr, as a tracing filter (e.g. debug, hoist_engine=debug)
  HOIST_BRIDGE         the bridge `run --network bridge` uses (default hoist0)
  HOIST_BRIDGE_SUBNET  its subnet (default 10.89.0.0/24)
  HOIST_RESOLVE_IN_USERSPACE  resolve paths in a rootfs without openat2 (for testing)
  REGISTRY_AUTH_FILE   the credentials file (before $XDG_RUNTIME_DIR/containers/auth.json,
                       ~/.config/containers/auth.json, $DOCKER_CONFIG or ~/.docker/config.json)
  CONTAINERS_CONF      containers.conf to read (seccomp_profile, default_capabilities, dns_*)
  CONTAINERS_REGISTRIES_CONF  registries.conf to read (short names, mirrors, blocked registries)
  XDG_RUNTIME_DIR, XDG_DATA_HOME, HOME   where an unprivileged user's state and store go";

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
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub root: Option<PathBuf>,

    /// Also write errors to this file (engines read it)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub log: Option<PathBuf>,

    /// Format of --log: text, or json (one object per line)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT", help_heading = "Global options")]
    pub log_format: LogFormat,

    /// Print debug messages on stderr
    #[arg(long, global = true, help_heading = "Global options")]
    pub debug: bool,

    /// The trust policy (containers-policy.json) for images pulled and copied [default:
    /// ~/.config/containers/policy.json, then /etc/containers/policy.json]
    #[arg(
        long,
        global = true,
        visible_alias = "signature-policy",
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub policy: Option<PathBuf>,

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
    /// The changes made in an unpacked bundle's rootfs as a new layer, tagged in the layout
    /// (like `umoci repack --image DIR:TAG BUNDLE`)
    Repack(RepackArgs),
    /// Change an image's config in a layout: entrypoint, cmd, env, user, labels... (like
    /// `umoci config`)
    Config(Box<ConfigArgs>),
    /// Add a host file or directory to an image of a layout as a new layer (like `umoci
    /// insert`)
    Insert(InsertArgs),
    /// Make an image of a container's changes, a layer on its image (like `podman commit`)
    Commit(CommitArgs),
    /// Give an image another name: in a layout (like `umoci tag --image DIR:TAG NEW`), or in
    /// the store (like `podman tag IMAGE NAME`)
    Tag(TagArgs),
    /// List a layout's tags (like `umoci ls --layout DIR`)
    Ls(LayoutArg),
    /// Remove the blobs no tag of a layout reaches (like `umoci gc --layout DIR`)
    Gc(LayoutArg),
    /// Run a container: `run IMAGE [CMD...]` like podman, or `run --bundle DIR ID` like runc
    Run(Box<RunArgs>),
    /// Create a container from a bundle, its process waiting for `start` (like `runc create
    /// --bundle DIR ID`), or from an image (like `podman create IMAGE`)
    Create(Box<CreateArgs>),
    /// Start a created container's process (like `runc start ID`), or created or ended
    /// containers (like `podman start [-a] NAME...`)
    Start(StartArgs),
    /// Stop containers and start them again (like `podman restart`)
    Restart(RestartArgs),
    /// Print a container's state as JSON (like `runc state`)
    State(IdArg),
    /// Send a signal to a container's process (like `runc kill ID SIGNAL`, or `podman kill -s
    /// SIGNAL NAME...`)
    Kill(KillArgs),
    /// Delete a stopped container's state (like `runc delete`), or an image from its registry
    /// (like `skopeo delete docker://REF`)
    Delete(DeleteArgs),
    /// List containers (like `runc list`)
    List(ListArgs),
    /// Run another process in a running container (like `runc exec`)
    Exec(ExecArgs),
    /// List containers (like `podman ps`), or with an id a container's processes as host pids
    /// (like `runc ps`)
    Ps(PsArgs),
    /// Freeze every process of a container (like `runc pause` and `podman pause`)
    Pause(IdArg),
    /// Thaw a paused container (like `runc resume` and `podman unpause`)
    #[command(visible_alias = "unpause")]
    Resume(IdArg),
    /// Wait for containers to end, and print their exit codes (like `podman wait`)
    Wait(WaitArgs),
    /// Copy files into or out of a container (like `podman cp`)
    Cp(CpArgs),
    /// List a container's published ports (like `podman port`)
    Port(PortArgs),
    /// List a container's processes (like `podman top`)
    Top(TopArgs),
    /// Print what containers use: CPU, memory, block I/O, processes, again every few seconds
    /// (like `podman stats`)
    Stats(StatsArgs),
    /// Change a running container's resource limits (like `runc update`)
    Update(UpdateArgs),
    /// Write a default config.json for a bundle (like `runc spec`)
    Spec(SpecArgs),
    /// Print what this runtime supports, as JSON (like `runc features`)
    Features,
    /// Copy an image between registries, layouts and archives (like `skopeo copy`)
    Copy(CopyArgs),
    /// Show a container's configuration and state (like `podman inspect NAME`), or an image's
    /// manifest and config without pulling it (like `skopeo inspect docker://REF`)
    Inspect(InspectArgs),
    /// Copy every image of a repository or directory tree to a registry or directory (like
    /// `skopeo sync --src docker --dest dir REPO DIR`)
    Sync(SyncArgs),
    /// List a repository's tags, as JSON (like `skopeo list-tags docker://REPO`)
    ListTags(ListTagsArgs),
    /// Print the digest of a manifest file (like `skopeo manifest-digest`)
    ManifestDigest {
        /// The manifest file
        manifest: PathBuf,
    },
    /// List the images in hoist's store
    Images(ImagesArgs),
    /// Remove images from hoist's store, and the blobs no other image uses
    Rmi(RmiArgs),
    /// Join the terminal of a container started with -t, until it ends or you detach (like
    /// `podman attach`)
    Attach(AttachArgs),
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
    /// Describe this machine's setup: store, storage driver, cgroups (like `podman info`)
    Info(InfoArgs),
    /// Housekeeping of the store
    #[command(subcommand)]
    System(SystemCommand),
    /// Named volumes: data that outlives containers (like `podman volume`)
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Networks containers join: bridges with subnets (like `podman network`)
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Print a shell completion script: `source <(hoist completion bash)` (like `podman
    /// completion`)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Store credentials for a registry, after checking them (like `podman login`)
    Login(LoginArgs),
    /// Remove stored credentials (like `podman logout`)
    Logout(LogoutArgs),
    /// Writes a man page for hoist and each of its verbs into DIR (for packagers; internal)
    #[command(name = "generate-man", hide = true)]
    GenerateMan { dir: PathBuf },
    /// The monitor of a detached container (internal)
    #[command(name = hoist_engine::MONITOR_VERB, hide = true)]
    ContainerMonitor(MonitorArgs),
    /// Hosts the terminal of an `exec -it` process (internal)
    #[command(name = hoist_engine::EXEC_SESSION_VERB, hide = true)]
    ExecSession(ExecSessionArgs),
    /// Forwards published ports to a container (internal)
    #[command(name = hoist_engine::PORT_PROXY_VERB, hide = true)]
    PortProxy(PortProxyArgs),
    /// Connects a container's own network namespace once the runtime has made it: its place
    /// on the bridge (`--userns auto`), or pasta and the port proxy (pasta) (internal: an OCI
    /// hook)
    #[command(name = hoist_engine::NETWORK_HOOK_VERB, hide = true)]
    NetworkHook(NetworkHookArgs),
    /// Writes a detached container's capped log (internal)
    #[command(name = hoist_engine::LOG_RELAY_VERB, hide = true)]
    LogRelay(LogRelayArgs),
    /// Makes and removes an unprivileged user's layers and containers in the user's namespace
    /// (internal)
    #[command(name = hoist_engine::STORAGE_HELPER_VERB, hide = true)]
    StorageHelper,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, and the layers and blobs no image or container uses
    Prune {
        /// Do not ask (podman's scripts pass it; hoist never asks)
        #[arg(short, long)]
        force: bool,
    },
    /// Verify the store: blobs against their digests, images against their blobs, cached
    /// layers, containers against their records; exits 1 if anything is wrong
    Check(SystemCheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Make a volume (a generated name if none is given); prints its name
    Create {
        /// The volume's name
        name: Option<String>,
    },
    /// List the volumes
    #[command(visible_alias = "list")]
    Ls {
        /// json, a Go template ('{{.Name}}'), or `table` and a template
        #[arg(long)]
        format: Option<String>,
        /// Print only the names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show volumes as JSON, or through a template
    Inspect {
        /// A Go template ('{{.Mountpoint}}'), or json
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes and what they hold
    Rm {
        /// Remove the containers that use them first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses
    Prune {
        /// Accepted for podman compatibility (hoist does not ask)
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Make a network: a bridge and a subnet (prints its name)
    Create(NetworkCreateArgs),
    /// List the networks
    #[command(visible_alias = "list")]
    Ls {
        /// json, a Go template ('{{.Name}}'), or `table` and a template
        #[arg(long)]
        format: Option<String>,
        /// Print only the names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show networks as JSON, or through a template
    Inspect {
        /// A Go template ('{{.subnets}}'), or json
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks
    #[command(visible_alias = "remove")]
    Rm {
        /// Remove the containers that join them first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every network (but the default) no container joins
    Prune {
        /// Accepted for podman compatibility (hoist does not ask)
        #[arg(short, long)]
        force: bool,
    },
    /// Exit 0 if the network exists, 1 if not
    Exists { name: String },
}

#[derive(Debug, clap::Args)]
pub struct NetworkCreateArgs {
    /// The network's name (hoistN if none is given)
    pub name: Option<String>,
    /// Its IPv4 subnet, e.g. 10.89.7.0/24 (a free 10.89.N.0/24 if none is given)
    #[arg(long)]
    pub subnet: Option<String>,
    /// The bridge's address (the subnet's first if none is given)
    #[arg(long)]
    pub gateway: Option<String>,
    /// No traffic leaves the subnet
    #[arg(long)]
    pub internal: bool,
    /// KEY=VALUE
    #[arg(long)]
    pub label: Vec<String>,
    /// bridge, the one driver hoist has
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Succeed, doing nothing, if the network exists
    #[arg(long)]
    pub ignore: bool,
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// json (the default), or a Go template ('{{.Store.GraphRoot}}')
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SystemCheckArgs {
    /// Skip hashing blob contents
    #[arg(long)]
    pub quick: bool,
    /// `json` for the report as a JSON document
    #[arg(long)]
    pub format: Option<String>,
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
        assert_eq!(kill.targets, ["c1", "9"]);
        assert_eq!(kill.signal, None);
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
        assert_eq!(run.image, "busybox");
        assert_eq!(run.command, ["sh", "-c", "echo --rm"]);
        assert!(Cli::try_parse_from(["hoist", "pull", "x", "--tls-verify=false"]).is_ok());
    }

    #[test]
    fn an_unknown_flag_before_the_image_is_a_usage_error_naming_it() {
        let error = Cli::try_parse_from(["hoist", "run", "--no-such-flag", "busybox"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(error.to_string().contains("--no-such-flag"), "{error}");
        let cli = Cli::try_parse_from(["hoist", "run", "--privileged", "busybox", "id"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert!(run.container.privileged);
        assert_eq!(
            (run.image.as_str(), run.command.as_slice()),
            ("busybox", &["id".to_string()][..])
        );
    }

    #[test]
    fn podmans_spellings_parse() {
        for line in [
            "hoist rm -a -f",
            "hoist ps -a -q --no-trunc",
            "hoist logs --tail 5 web",
            "hoist stop -t 3 web db",
            "hoist stop -a",
            "hoist kill -s HUP web",
            "hoist unpause web",
            "hoist wait web",
            "hoist exec -it -w /tmp -u nobody:nogroup -e A=1 --privileged web sh",
            "hoist run -d -l a=b --stop-signal USR1 --stop-timeout 3 --cidfile /c -q busybox",
            "hoist ps --format {{.Names}}",
        ] {
            let words = line.split(' ');
            if let Err(e) = Cli::try_parse_from(words) {
                panic!("{line}: {e}");
            }
        }
    }

    #[test]
    fn the_monitor_takes_the_flag_the_engine_starts_it_with() {
        let cli = Cli::try_parse_from([
            "hoist",
            hoist_engine::MONITOR_VERB,
            hoist_engine::MONITOR_ATTACHED_FLAG,
            "web",
        ])
        .unwrap();
        let Command::ContainerMonitor(monitor) = cli.command else {
            panic!()
        };
        assert!(monitor.attached);
        assert_eq!(monitor.id, "web");
        let cli = Cli::try_parse_from([
            "hoist",
            hoist_engine::EXEC_SESSION_VERB,
            hoist_engine::EXEC_SESSION_PID_FILE_FLAG,
            "/p",
            "web",
        ])
        .unwrap();
        let Command::ExecSession(session) = cli.command else {
            panic!()
        };
        assert_eq!(
            session.pid_file.as_deref(),
            Some(std::path::Path::new("/p"))
        );
    }

    #[test]
    fn podman_terminal_flags_parse_on_run_exec_and_attach() {
        let cli = Cli::try_parse_from(["hoist", "exec", "-it", "web", "sh", "-i"]).unwrap();
        let Command::Exec(exec) = cli.command else {
            panic!()
        };
        assert!(exec.interactive && exec.tty);
        assert_eq!(exec.command, ["sh", "-i"]);
        assert_eq!(exec.detach_keys, hoist_engine::DEFAULT_DETACH_KEYS);
        let cli =
            Cli::try_parse_from(["hoist", "run", "-dit", "--detach-keys=", "busybox"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert!(run.detach && run.container.interactive && run.container.tty);
        assert_eq!(run.container.detach_keys.as_deref(), Some(""));
        let cli = Cli::try_parse_from(["hoist", "attach", "--no-stdin", "web"]).unwrap();
        let Command::Attach(attach) = cli.command else {
            panic!()
        };
        assert!(attach.no_stdin);
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
        let transfer = copy.transfer;
        let copy = copy.ends;
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
        assert_eq!(transfer.retry_times, 0);
        for both_ends in ["--creds=a:1", "--tls-verify=false", "--cert-dir=/certs"] {
            assert!(
                Cli::try_parse_from(["hoist", "copy", both_ends, "oci:/a", "oci:/b"]).is_err(),
                "{both_ends} would serve both registries"
            );
        }
    }
}
