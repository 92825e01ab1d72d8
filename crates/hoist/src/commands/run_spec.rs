//! podman's `run` options, applied to the runtime config an image produced.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use hoist_oci::ImageConfiguration;
use oci_spec::runtime::{LinuxNamespaceType, LinuxPids, Mount, Spec};

use crate::cli::ContainerArgs;

/// What to apply besides the options themselves.
pub struct RunContext<'a> {
    pub image: &'a ImageConfiguration,
    /// The command after the image name, if any.
    pub command: &'a [String],
    pub id: &'a str,
    pub rootfs: &'a Path,
    /// The network namespace to join (the bridge's, or another container's), made or found
    /// by the caller.
    pub join_network: Option<PathBuf>,
    /// `/etc/hosts` and `/etc/resolv.conf` mounts.
    pub name_files: Vec<Mount>,
}

pub fn apply(spec: &mut Spec, args: &ContainerArgs, context: &RunContext) -> anyhow::Result<()> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(arguments(args, context)?));
    process.set_env(Some(environment(
        process.env().clone().unwrap_or_default(),
        args,
    )?));
    if let Some(dir) = &args.workdir {
        if !dir.starts_with('/') {
            bail!("--workdir {dir:?} must be an absolute path");
        }
        process.set_cwd(dir.into());
    }
    if let Some(user) = &args.user {
        let root = hoist_fs::Root::open(context.rootfs)
            .with_context(|| format!("opening {}", context.rootfs.display()))?;
        process.set_user(
            hoist_unpack::process_user(&root, user).with_context(|| format!("--user {user:?}"))?,
        );
    }
    process.set_terminal(Some(args.tty));
    spec.set_process(Some(process));

    spec.set_hostname(Some(
        args.hostname
            .clone()
            .unwrap_or_else(|| context.id.chars().take(12).collect()),
    ));
    if args.read_only {
        let mut root = spec.root().clone().unwrap_or_default();
        root.set_readonly(Some(true));
        spec.set_root(Some(root));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.extend(context.name_files.iter().cloned());
    for volume in &args.volume {
        mounts.push(bind_mount(volume)?);
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    if args.memory.is_some() || args.memory_swap.is_some() {
        let mut memory = resources.memory().unwrap_or_default();
        if let Some(limit) = &args.memory {
            memory.set_limit(Some(size(limit, "--memory")?));
        }
        if let Some(swap) = &args.memory_swap {
            if args.memory.is_none() {
                bail!("--memory-swap needs --memory");
            }
            memory.set_swap(Some(if swap == "-1" {
                -1
            } else {
                size(swap, "--memory-swap")?
            }));
        }
        resources.set_memory(Some(memory));
    }
    if let Some(cpus) = args.cpus {
        if cpus.is_nan() || cpus <= 0.0 {
            bail!("--cpus {cpus} must be more than 0");
        }
        let mut cpu = resources.cpu().clone().unwrap_or_default();
        const PERIOD: u64 = 100_000;
        cpu.set_period(Some(PERIOD));
        cpu.set_quota(Some((cpus * PERIOD as f64).round() as i64));
        resources.set_cpu(Some(cpu));
    }
    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(if limit <= 0 { -1 } else { limit });
        resources.set_pids(Some(pids));
    }
    linux.set_resources(Some(resources));

    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    match args.network.as_str() {
        "none" | "private" => {}
        "host" => namespaces.retain(|n| n.typ() != LinuxNamespaceType::Network),
        other if other == "bridge" || other.starts_with("container:") => {
            let path = context
                .join_network
                .clone()
                .context("no network namespace to join")?;
            for namespace in namespaces.iter_mut() {
                if namespace.typ() == LinuxNamespaceType::Network {
                    namespace.set_path(Some(path.clone()));
                }
            }
        }
        other => {
            bail!("--network {other:?} is not supported; use bridge, none, host or container:NAME")
        }
    }
    if args.network != "host" {
        // Unprivileged ICMP sockets, so that ping works without CAP_NET_RAW, as under podman.
        let mut sysctl = linux.sysctl().clone().unwrap_or_default();
        sysctl
            .entry("net.ipv4.ping_group_range".to_string())
            .or_insert_with(|| "0 2147483647".to_string());
        linux.set_sysctl(Some(sysctl));
    }
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    super::security_opts::apply(spec, args)
}

/// podman's rule: `--entrypoint` replaces the image's entrypoint and drops its Cmd; a command
/// after the image replaces Cmd.
fn arguments(args: &ContainerArgs, context: &RunContext) -> anyhow::Result<Vec<String>> {
    let config = context.image.config().as_ref();
    let image_entrypoint = config
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let image_cmd = config.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let mut argv = match &args.entrypoint {
        Some(entrypoint) if entrypoint.trim_start().starts_with('[') => {
            serde_json::from_str(entrypoint)
                .with_context(|| format!("--entrypoint {entrypoint:?} is not a JSON array"))?
        }
        Some(entrypoint) if entrypoint.is_empty() => Vec::new(),
        Some(entrypoint) => vec![entrypoint.clone()],
        None => image_entrypoint,
    };
    if !context.command.is_empty() {
        argv.extend(context.command.iter().cloned());
    } else if args.entrypoint.is_none() {
        argv.extend(image_cmd);
    }
    if argv.is_empty() {
        bail!("the image names no command: give one after the image name");
    }
    Ok(argv)
}

fn environment(mut env: Vec<String>, args: &ContainerArgs) -> anyhow::Result<Vec<String>> {
    let mut entries: Vec<String> = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--env-file {}", file.display()))?;
        entries.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    entries.extend(args.env.iter().cloned());
    for entry in entries {
        let (key, value) = match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(&entry) {
                Ok(v) => (entry.clone(), v),
                Err(_) => continue,
            },
        };
        if key.is_empty() {
            bail!("-e {entry:?}: the variable has no name");
        }
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(format!("{key}={value}"));
    }
    Ok(env)
}

/// `HOST:CONTAINER[:OPTIONS]`, the host side an existing absolute path.
fn bind_mount(volume: &str) -> anyhow::Result<Mount> {
    let parts: Vec<&str> = volume.split(':').collect();
    let (host, container, options) = match parts.as_slice() {
        [host, container] => (*host, *container, ""),
        [host, container, options] => (*host, *container, *options),
        _ => bail!("-v {volume:?}: give HOST:CONTAINER[:ro]"),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        bail!("-v {volume:?}: both paths must be absolute");
    }
    let source = std::fs::canonicalize(host)
        .with_context(|| format!("-v {volume:?}: the host path {host} does not exist"))?;
    let mut mount_options = vec!["rbind".to_string(), "rprivate".to_string()];
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" | "rw" | "nosuid" | "nodev" | "noexec" => mount_options.push(option.to_string()),
            "z" | "Z" => {} // SELinux relabelling: this host has no SELinux
            other => bail!("-v {volume:?}: unknown option {other:?} (use ro or rw)"),
        }
    }
    let mut mount = Mount::default();
    mount.set_destination(container.into());
    mount.set_typ(Some("bind".to_string()));
    mount.set_source(Some(source));
    mount.set_options(Some(mount_options));
    Ok(mount)
}

fn size(text: &str, flag: &str) -> anyhow::Result<i64> {
    let bytes = crate::cli::parse_size(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    i64::try_from(bytes).with_context(|| format!("{flag} {text}: too large"))
}
