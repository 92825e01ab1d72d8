//! `hoist run`: runc's shape (`--bundle DIR ID`) and podman's (`IMAGE [CMD...]`), and the
//! hidden verbs of a detached container's helpers.

use crate::output::outln;
use anyhow::{bail, Context};
use hoist_engine::{ImageSource, RunOptions, Store};
use hoist_runtime::{CreateOptions, Exited, Runtime};

use crate::cli::{
    ContainerArgs, CreateArgs, LogRelayArgs, NetworkHookArgs, PortProxyArgs, PullPolicy, RunArgs,
};
use crate::commands::{pull, registry};
use crate::progress::pull_progress;

pub fn run_bundle(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let id = &args.image;
    if !args.command.is_empty() {
        bail!(
            "with --bundle, give exactly one argument, the container id (got {id:?} and {:?}); the command is the bundle's config.json's",
            args.command
        );
    }
    if args.container.any_given() || args.cidfile.is_some() || args.quiet {
        bail!("podman's options (--rm, --name, -e, -v, --mount, --tmpfs, --ulimit, --device, --init, --restart, ...) are for `hoist run IMAGE`; with --bundle, edit the bundle's config.json instead");
    }
    let options = CreateOptions {
        bundle: args.bundle.clone().expect("dispatched on --bundle"),
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
    };
    if args.detach {
        runtime.run_detached(id, &options)?;
        return Ok(0);
    }
    Ok(exit_byte(runtime.run(id, &options)?))
}

pub fn run_image(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let (image, command) = (&args.image, &args.command);
    let store = Store::locate();
    if let Some(cidfile) = &args.cidfile {
        if cidfile.exists() {
            bail!(
                "--cidfile {}: the file exists already; remove it, or choose another",
                cidfile.display()
            );
        }
    }
    let detach_keys = hoist_engine::DetachKeys::parse(
        args.container
            .detach_keys
            .as_deref()
            .unwrap_or(hoist_engine::DEFAULT_DETACH_KEYS),
    )?;
    let options = run_options(args.container, args.detach);
    let source = ImageSource {
        image,
        platform: pull::platform(&args.registry.transfer)?,
        registry: &registry::options(&args.registry, 6)?,
        events: pull_progress(args.quiet),
    };
    let container = hoist_engine::create_container(runtime, &store, source, command, &options)?;
    if let Some(cidfile) = &args.cidfile {
        write_cidfile(cidfile, &container.record.id)?;
    }
    if options.detach {
        hoist_engine::launch(runtime, &store, &container)?;
        outln!("{}", container.record.id);
        return Ok(0);
    }
    if options.tty {
        let client = hoist_engine::ClientOptions {
            input: options.interactive,
            detach_keys,
        };
        let ended = hoist_engine::run_in_terminal(runtime, &container, &client)?;
        return Ok(crate::commands::containers::ended_byte(ended));
    }
    Ok(exit_byte(hoist_engine::run_attached(
        runtime, &store, container, &options,
    )?))
}

/// `hoist create IMAGE [CMD...]` (podman's): the container made and left for `hoist start`;
/// prints its id.
pub fn create_image(runtime: &Runtime, args: CreateArgs) -> anyhow::Result<()> {
    if args.pid_file.is_some()
        || args.console_socket.is_some()
        || args.no_pivot
        || args.preserve_fds > 0
    {
        bail!("--pid-file, --console-socket, --no-pivot and --preserve-fds are for runc's `create --bundle DIR ID`");
    }
    if let Some(cidfile) = &args.cidfile {
        if cidfile.exists() {
            bail!(
                "--cidfile {}: the file exists already; remove it, or choose another",
                cidfile.display()
            );
        }
    }
    let store = Store::locate();
    let options = run_options(args.container, true);
    let source = ImageSource {
        image: &args.id,
        platform: pull::platform(&args.registry.transfer)?,
        registry: &registry::options(&args.registry, 6)?,
        events: pull_progress(args.quiet),
    };
    let container = hoist_engine::create(runtime, &store, source, &args.command, &options)?;
    if let Some(cidfile) = &args.cidfile {
        write_cidfile(cidfile, &container.record.id)?;
    }
    outln!("{}", container.record.id);
    Ok(())
}

/// The monitor of a detached container (`hoist_engine::MONITOR_VERB`).
pub fn monitor(runtime: &Runtime, id: &str, attached: bool) -> anyhow::Result<u8> {
    Ok(exit_byte(hoist_engine::monitor(
        runtime,
        &Store::locate(),
        id,
        attached,
    )?))
}

/// The port proxy (`hoist_engine::PORT_PROXY_VERB`); it runs until it is ended.
pub fn port_proxy(args: PortProxyArgs) -> anyhow::Result<u8> {
    hoist_engine::port_proxy(
        args.to,
        &args.mappings,
        args.netns_of,
        args.pid_file.as_deref(),
    )?;
    Ok(0)
}

/// The network hook of a `--userns auto` container on the bridge or of one on pasta
/// (`hoist_engine::NETWORK_HOOK_VERB`).
pub fn network_hook(args: NetworkHookArgs) -> anyhow::Result<u8> {
    hoist_engine::network_hook(&Store::locate(), &args.name, std::io::stdin().lock())?;
    Ok(0)
}

/// A container log's writer (`hoist_engine::LOG_RELAY_VERB`).
pub fn log_relay(args: LogRelayArgs) -> anyhow::Result<u8> {
    hoist_engine::relay_log(&args.file, args.max, args.tee)?;
    Ok(0)
}

/// The exit status to pass on, saying so when the memory limit killed the container.
fn exit_byte(exited: Exited) -> u8 {
    if exited.oom_killed {
        eprintln!("hoist: the container hit its memory limit and the kernel's OOM killer ended it");
    }
    u8::try_from(exited.code).unwrap_or(255)
}

/// The container's id, in a file made for it (never over one that appeared meanwhile).
fn write_cidfile(path: &std::path::Path, id: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(id.as_bytes()))
        .with_context(|| format!("writing the container id to --cidfile {}", path.display()))
}

fn run_options(args: ContainerArgs, detach: bool) -> RunOptions {
    RunOptions {
        rm: args.rm,
        name: args.name,
        env: args.env,
        env_file: args.env_file,
        volume: args.volume,
        workdir: args.workdir,
        user: args.user,
        entrypoint: args.entrypoint,
        hostname: args.hostname,
        read_only: args.read_only,
        memory: args.memory,
        memory_swap: args.memory_swap,
        cpus: args.cpus,
        pids_limit: args.pids_limit,
        cap_add: args.cap_add,
        cap_drop: args.cap_drop,
        privileged: args.privileged,
        security_opt: args.security_opt,
        network: args.network,
        ip: args.ip,
        network_alias: args.network_alias,
        publish: args.publish,
        publish_all: args.publish_all,
        log_opt: args.log_opt,
        interactive: args.interactive,
        tty: args.tty,
        pull: match args.pull {
            PullPolicy::Always => hoist_engine::PullPolicy::Always,
            PullPolicy::Missing => hoist_engine::PullPolicy::Missing,
            PullPolicy::Never => hoist_engine::PullPolicy::Never,
        },
        detach,
        label: args.label,
        stop_signal: args.stop_signal,
        stop_timeout: args.stop_timeout,
        mount: args.mount,
        tmpfs: args.tmpfs,
        ulimit: args.ulimit,
        sysctl: args.sysctl,
        shm_size: args.shm_size,
        device: args.device,
        userns: args.userns,
        names: hoist_engine::NameSettings {
            dns: args.dns,
            dns_search: args.dns_search,
            dns_option: args.dns_option,
            add_host: args.add_host,
        },
        init: args.init,
        restart: args.restart,
    }
}
