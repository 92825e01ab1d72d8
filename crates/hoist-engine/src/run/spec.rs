//! podman's `run` options, applied to the runtime config an image produced.

use std::path::{Path, PathBuf};

use hoist_oci::ImageConfiguration;
use oci_spec::runtime::{LinuxNamespaceType, LinuxPids, Mount, Spec};

use super::RunOptions;
use crate::{parse_size, ContainersConf, Error, NetworkMode, Result};

/// What to apply besides the options themselves.
pub struct RunContext<'a> {
    pub image: &'a ImageConfiguration,
    /// The command after the image name, if any.
    pub command: &'a [String],
    pub id: &'a str,
    pub rootfs: &'a Path,
    /// The network namespace to join (its networks', or another container's), made or found
    /// by the caller.
    pub join_network: Option<PathBuf>,
    pub network: &'a NetworkMode,
    /// `/etc/hosts` and `/etc/resolv.conf` mounts.
    pub name_files: Vec<Mount>,
    /// What `-v`, `--mount` and `--tmpfs` ask for.
    pub mounts: Vec<Mount>,
    /// containers.conf's environment and sysctls, under the image's and the flags'.
    pub defaults: &'a ContainersConf,
}

pub fn apply(spec: &mut Spec, args: &RunOptions, context: &RunContext) -> Result<()> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(arguments(args, context)?));
    process.set_env(Some(environment(
        &context.defaults.env,
        process.env().clone().unwrap_or_default(),
        args,
    )?));
    if let Some(dir) = &args.workdir {
        if !dir.starts_with('/') {
            return Err(Error::bad_option(
                format!("--workdir {dir:?}"),
                "must be an absolute path",
            ));
        }
        process.set_cwd(dir.into());
    }
    if let Some(user) = &args.user {
        let root =
            hoist_fs::Root::open(context.rootfs).map_err(Error::io("opening", context.rootfs))?;
        let found = hoist_unpack::process_user(&root, user).map_err(|source| Error::User {
            user: user.clone(),
            source,
        })?;
        process.set_user(found);
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
    // A mount asked for replaces the config's at the same place (a `--tmpfs /dev/shm`).
    mounts.retain(|m| {
        !context
            .mounts
            .iter()
            .any(|r| r.destination() == m.destination())
    });
    mounts.extend(context.mounts.iter().cloned());
    spec.set_mounts(Some(mounts));
    if let Some(size) = &args.shm_size {
        super::mounts::set_shm_size(spec, size)?;
    }
    for device in &args.device {
        super::mounts::add_device(spec, device)?;
    }
    for ulimit in &args.ulimit {
        super::mounts::set_ulimit(spec, ulimit)?;
    }
    // --userns is applied by create_container (run/userns.rs): it needs the container's directory.
    if args.init {
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(
            hoist_runtime::INIT_ANNOTATION.to_string(),
            "true".to_string(),
        );
        spec.set_annotations(Some(annotations));
    }

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    if args.memory.is_some() || args.memory_swap.is_some() {
        let mut memory = resources.memory().unwrap_or_default();
        if let Some(limit) = &args.memory {
            memory.set_limit(Some(size(limit, "--memory")?));
        }
        if let Some(swap) = &args.memory_swap {
            if args.memory.is_none() {
                return Err(Error::bad_option("--memory-swap", "needs --memory"));
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
            return Err(Error::bad_option(
                format!("--cpus {cpus}"),
                "must be more than 0",
            ));
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
    linux.set_namespaces(Some(network_namespaces(
        linux.namespaces().clone().unwrap_or_default(),
        context,
    )?));
    linux.set_sysctl(Some(sysctls(
        linux.sysctl().clone().unwrap_or_default(),
        args,
        context,
    )?));
    spec.set_linux(Some(linux));
    super::security::apply(spec, args)
}

/// The image config's sysctls with containers.conf's `default_sysctls` and `--sysctl` over
/// them. A default `net.*` one is left out where the container has no network namespace of
/// its own (the host's, or another container's), as podman leaves it out; a flag's is refused
/// there, as podman refuses it.
fn sysctls(
    mut sysctl: std::collections::HashMap<String, String>,
    args: &RunOptions,
    context: &RunContext,
) -> Result<std::collections::HashMap<String, String>> {
    let own_network = !matches!(
        context.network,
        NetworkMode::Host | NetworkMode::Container(_)
    );
    let parse = |entry: &String, flag: &str| {
        entry
            .split_once('=')
            .map(|(name, value)| (name.trim().to_string(), value.to_string()))
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| Error::bad_option(format!("{flag} {entry:?}"), "is not NAME=VALUE"))
    };
    for entry in &context.defaults.default_sysctls {
        let (name, value) = parse(entry, "containers.conf's default_sysctls")?;
        if own_network || !name.starts_with("net.") {
            sysctl.insert(name, value);
        }
    }
    if own_network {
        // Unprivileged ICMP sockets, so that ping works without CAP_NET_RAW, as under podman.
        sysctl
            .entry("net.ipv4.ping_group_range".to_string())
            .or_insert_with(|| "0 2147483647".to_string());
    }
    for entry in &args.sysctl {
        let (name, value) = parse(entry, "--sysctl")?;
        // Refused before the runtime sees them, as podman refuses them.
        if name == "kernel.hostname" {
            return Err(Error::bad_option(
                format!("--sysctl {entry:?}"),
                "is not allowed: give the container's name with --hostname",
            ));
        }
        if name.starts_with("net.") && !own_network {
            return Err(Error::bad_option(
                format!("--sysctl {entry:?}"),
                "cannot be set: the container shares another network namespace (--network host or container:NAME)",
            ));
        }
        sysctl.insert(name, value);
    }
    Ok(sysctl)
}

/// The namespaces with `--network` applied: none and private keep a new one, host drops it,
/// networks and container:NAME join the one the caller found.
fn network_namespaces(
    mut namespaces: Vec<oci_spec::runtime::LinuxNamespace>,
    context: &RunContext,
) -> Result<Vec<oci_spec::runtime::LinuxNamespace>> {
    match context.network {
        NetworkMode::Own | NetworkMode::Pasta => {}
        NetworkMode::Host => namespaces.retain(|n| n.typ() != LinuxNamespaceType::Network),
        NetworkMode::Container(_) | NetworkMode::Networks(_) => {
            let Some(path) = &context.join_network else {
                return Err(Error::bad_option(
                    "--network",
                    "has no network namespace to join",
                ));
            };
            for namespace in namespaces.iter_mut() {
                if namespace.typ() == LinuxNamespaceType::Network {
                    namespace.set_path(Some(path.clone()));
                }
            }
        }
    }
    Ok(namespaces)
}

/// podman's rule: `--entrypoint` replaces the image's entrypoint and drops its Cmd; a command
/// after the image replaces Cmd.
fn arguments(args: &RunOptions, context: &RunContext) -> Result<Vec<String>> {
    let config = context.image.config().as_ref();
    let image_entrypoint = config
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let image_cmd = config.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let mut argv = match &args.entrypoint {
        Some(entrypoint) if entrypoint.trim_start().starts_with('[') => {
            serde_json::from_str(entrypoint).map_err(|source| Error::BadEntrypoint {
                entrypoint: entrypoint.clone(),
                source,
            })?
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
        return Err(Error::NoCommand);
    }
    Ok(argv)
}

fn environment(defaults: &[String], image: Vec<String>, args: &RunOptions) -> Result<Vec<String>> {
    // containers.conf's, then the image's over them (taken as they are: an entry of the
    // image's is never looked up in hoist's own environment, as set_env does a bare KEY).
    let mut env = Vec::new();
    set_env(&mut env, defaults.to_vec())?;
    let key = |entry: &str| entry.split_once('=').map_or(entry, |(k, _)| k).to_string();
    let image_keys: Vec<String> = image.iter().map(|entry| key(entry)).collect();
    env.retain(|entry| !image_keys.contains(&key(entry)));
    env.extend(image);
    // A terminal's programs look its kind up in TERM: podman's default, unless the image or
    // the options set one.
    let mut entries: Vec<String> = match args.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        true => vec!["TERM=xterm".to_string()],
        false => Vec::new(),
    };
    entries.extend(read_env_files(&args.env_file)?);
    entries.extend(args.env.iter().cloned());
    set_env(&mut env, entries)?;
    Ok(env)
}

/// The `KEY=VALUE` lines of `--env-file`s (blank lines and `#` comments skipped).
pub(crate) fn read_env_files(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut entries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(Error::io("reading --env-file", file))?;
        entries.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(entries)
}

/// Sets `entries` (`KEY=VALUE`, or `KEY` for this process's value) in `env`, a later entry
/// replacing an earlier one of the same key.
pub(crate) fn set_env(env: &mut Vec<String>, entries: Vec<String>) -> Result<()> {
    for entry in entries {
        let (key, value) = match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(&entry) {
                Ok(v) => (entry.clone(), v),
                Err(_) => continue,
            },
        };
        if key.is_empty() {
            return Err(Error::bad_option(
                format!("-e {entry:?}"),
                "names no variable",
            ));
        }
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(format!("{key}={value}"));
    }
    Ok(())
}

fn size(text: &str, flag: &'static str) -> Result<i64> {
    let bytes = parse_size(text).map_err(|source| Error::BadSize { flag, source })?;
    i64::try_from(bytes).map_err(|_| Error::bad_option(format!("{flag} {text}"), "is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfiguration {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Entrypoint": strings(entrypoint), "Cmd": strings(cmd)},
        }))
        .unwrap()
    }

    /// A context of `image` on `network` with `defaults`, for one container and no command.
    fn context<'a>(
        image: &'a ImageConfiguration,
        command: &'a [String],
        network: &'a NetworkMode,
        defaults: &'a ContainersConf,
    ) -> RunContext<'a> {
        RunContext {
            image,
            command,
            id: "c",
            rootfs: Path::new("/nonexistent"),
            join_network: None,
            network,
            name_files: Vec::new(),
            mounts: Vec::new(),
            defaults,
        }
    }

    fn argv(entrypoint: Option<&str>, command: &[&str]) -> Result<Vec<String>> {
        let image = image(&["/entry"], &["default"]);
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let defaults = ContainersConf::default();
        let context = context(&image, &command, &NetworkMode::Own, &defaults);
        let options = RunOptions {
            entrypoint: entrypoint.map(str::to_string),
            ..RunOptions::default()
        };
        arguments(&options, &context)
    }

    #[test]
    fn the_command_follows_podmans_entrypoint_and_cmd_rules() {
        assert_eq!(argv(None, &[]).unwrap(), ["/entry", "default"]);
        assert_eq!(argv(None, &["x"]).unwrap(), ["/entry", "x"]);
        assert_eq!(argv(Some("/e2"), &[]).unwrap(), ["/e2"]);
        assert_eq!(
            argv(Some(r#"["/e3","-a"]"#), &["b"]).unwrap(),
            ["/e3", "-a", "b"]
        );
        assert_eq!(argv(Some(""), &["sh"]).unwrap(), ["sh"]);
        assert!(matches!(argv(Some(""), &[]), Err(Error::NoCommand)));
        assert!(matches!(
            argv(Some("[oops"), &[]),
            Err(Error::BadEntrypoint { .. })
        ));
    }

    #[test]
    fn later_environment_entries_replace_earlier_ones() {
        let options = RunOptions {
            env: vec![
                "A=2".into(),
                "B=3".into(),
                "HOIST_SURELY_UNSET_VARIABLE".into(),
            ],
            ..RunOptions::default()
        };
        let env = environment(&[], vec!["A=1".into(), "PATH=/bin".into()], &options).unwrap();
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
        let with_terminal = RunOptions {
            tty: true,
            env: vec!["B=3".into()],
            ..RunOptions::default()
        };
        let env = environment(&[], vec!["PATH=/bin".into()], &with_terminal).unwrap();
        assert_eq!(env, ["PATH=/bin", "TERM=xterm", "B=3"]);
        let env = environment(&[], vec!["TERM=vt100".into()], &with_terminal).unwrap();
        assert_eq!(env, ["TERM=vt100", "B=3"]);
        let nameless = RunOptions {
            env: vec!["=x".into()],
            ..RunOptions::default()
        };
        assert!(environment(&[], Vec::new(), &nameless).is_err());
    }

    #[test]
    fn default_net_sysctls_stay_out_of_a_network_namespace_not_the_containers_own() {
        let image = image(&[], &["sh"]);
        let defaults = ContainersConf {
            default_sysctls: vec!["net.core.somaxconn=7".into(), "kernel.msgmax=9".into()],
            ..ContainersConf::default()
        };
        let flagged = RunOptions {
            sysctl: vec!["kernel.msgmax=10".into()],
            ..RunOptions::default()
        };
        let on = |network: &NetworkMode| {
            let context = context(&image, &[], network, &defaults);
            sysctls(Default::default(), &flagged, &context).unwrap()
        };
        let own = on(&NetworkMode::Own);
        assert_eq!(own["net.core.somaxconn"], "7");
        assert_eq!(own["kernel.msgmax"], "10");
        for shared in [NetworkMode::Host, NetworkMode::Container("other".into())] {
            let sysctls = on(&shared);
            assert!(
                !sysctls.keys().any(|k| k.starts_with("net.")),
                "{sysctls:?}"
            );
            assert_eq!(sysctls["kernel.msgmax"], "10");
        }
    }

    #[test]
    fn sysctl_flags_podman_refuses_are_refused() {
        let image = image(&[], &["sh"]);
        let defaults = ContainersConf::default();
        let refused = |flag: &str, network: &NetworkMode| {
            let options = RunOptions {
                sysctl: vec![flag.to_string()],
                ..RunOptions::default()
            };
            let context = context(&image, &[], network, &defaults);
            sysctls(Default::default(), &options, &context).is_err()
        };
        assert!(refused("kernel.hostname=x", &NetworkMode::Own));
        assert!(refused("nonsense", &NetworkMode::Own));
        assert!(refused("net.ipv4.ip_forward=1", &NetworkMode::Host));
        assert!(!refused("net.ipv4.ip_forward=1", &NetworkMode::Own));
        assert!(!refused(
            "kernel.domainname=example.test",
            &NetworkMode::Own
        ));
    }

    #[test]
    fn containers_conf_environment_is_under_the_images_and_the_flags() {
        let defaults = ["A=conf".to_string(), "B=conf".into(), "C=conf".into()];
        let options = RunOptions {
            env: vec!["C=flag".into()],
            ..RunOptions::default()
        };
        // An image's bare name is kept as it is, never filled from hoist's environment.
        let image = vec!["B=image".into(), "PATH".into()];
        let env = environment(&defaults, image, &options).unwrap();
        assert_eq!(env, ["A=conf", "B=image", "PATH", "C=flag"]);
    }
}
