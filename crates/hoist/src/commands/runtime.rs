//! The runc-shaped verbs.

use crate::output::outln;
use hoist_runtime::{CreateOptions, DeleteOptions, ExecOptions, Runtime};

use std::io::Read;

use anyhow::Context;
use oci_spec::runtime::{LinuxCpu, LinuxPids, LinuxResources};

use crate::cli::{CreateArgs, DeleteArgs, ExecArgs, ListArgs, PsArgs, SpecArgs, UpdateArgs};

/// Whether `create` is runc's: a bundle named, or an id alone in a bundle directory.
pub fn is_runc_create(args: &CreateArgs) -> bool {
    args.bundle.is_some()
        || (args.command.is_empty() && std::path::Path::new("config.json").is_file())
}

pub fn create(runtime: &Runtime, args: CreateArgs) -> anyhow::Result<()> {
    if args.container.any_given() || args.cidfile.is_some() || args.quiet {
        anyhow::bail!("podman's options (--name, -e, -v, ...) are for `hoist create IMAGE`; with a bundle, edit its config.json instead");
    }
    let options = CreateOptions {
        bundle: args.bundle.unwrap_or_else(|| ".".into()),
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
    };
    runtime.create(&args.id, &options)?;
    Ok(())
}

pub fn state(runtime: &Runtime, id: &str) -> anyhow::Result<()> {
    let state = runtime.state(id)?;
    outln!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}

pub fn delete(runtime: &Runtime, args: DeleteArgs) -> anyhow::Result<()> {
    runtime.delete(&args.id, DeleteOptions { force: args.force })?;
    Ok(())
}

pub fn list(runtime: &Runtime, args: ListArgs) -> anyhow::Result<()> {
    let containers = runtime.list()?;
    if args.quiet {
        for c in &containers {
            outln!("{}", c.id);
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => {
            let states: Vec<_> = containers
                .iter()
                .map(|c| c.oci_state(runtime.root()))
                .collect();
            outln!("{}", serde_json::to_string(&states)?);
        }
        "table" => {
            outln!(
                "{:<24} {:<8} {:<10} {:<40} CREATED",
                "ID",
                "PID",
                "STATUS",
                "BUNDLE"
            );
            for c in &containers {
                let state = c.oci_state(runtime.root());
                outln!(
                    "{:<24} {:<8} {:<10} {:<40} {}",
                    c.id,
                    state.pid,
                    state.status,
                    c.bundle.display(),
                    c.created
                );
            }
        }
        other => anyhow::bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

pub fn ps(runtime: &Runtime, args: PsArgs) -> anyhow::Result<()> {
    let id = args.id.as_deref().expect("dispatched on an id");
    let pids = runtime.ps(id)?;
    match args.format.as_deref().unwrap_or("table") {
        "json" => outln!("{}", serde_json::to_string(&pids)?),
        "table" => {
            outln!("PID");
            for pid in pids {
                outln!("{pid}");
            }
        }
        other => anyhow::bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

pub fn update(runtime: &Runtime, args: UpdateArgs) -> anyhow::Result<()> {
    let mut resources: LinuxResources = match &args.resources {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            serde_json::from_str(&text).context("parsing LinuxResources JSON from stdin")?
        }
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing LinuxResources JSON from {}", path.display()))?,
        None => LinuxResources::default(),
    };
    if args.memory.is_some() || args.memory_swap.is_some() {
        let mut memory = resources.memory().unwrap_or_default();
        if let Some(limit) = args.memory {
            memory.set_limit(Some(limit as i64));
        }
        if let Some(swap) = args.memory_swap {
            memory.set_swap(Some(swap as i64));
        }
        resources.set_memory(Some(memory));
    }
    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }
    if args.cpu_shares.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_period.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some()
    {
        let mut cpu: LinuxCpu = resources.cpu().clone().unwrap_or_default();
        if let Some(shares) = args.cpu_shares {
            cpu.set_shares(Some(shares));
        }
        if let Some(quota) = args.cpu_quota {
            cpu.set_quota(Some(quota));
        }
        if let Some(period) = args.cpu_period {
            cpu.set_period(Some(period));
        }
        if let Some(cpus) = args.cpuset_cpus {
            cpu.set_cpus(Some(cpus));
        }
        if let Some(mems) = args.cpuset_mems {
            cpu.set_mems(Some(mems));
        }
        resources.set_cpu(Some(cpu));
    }
    runtime.update(&args.id, &resources)?;
    Ok(())
}

/// `exec`: runc's (`--process FILE`, or a command with runc's flags, into a runtime container
/// by id) and podman's (into a `hoist run IMAGE` container by name, id or id prefix, with
/// `-w`, `-u NAME`, `--env-file`, `--privileged`) are one verb: the container is looked up as
/// a runtime id first, so an engine's call always reaches the container it named.
pub fn exec(runtime: &Runtime, mut args: ExecArgs) -> anyhow::Result<u8> {
    args.id = hoist_engine::runtime_id(runtime, &hoist_engine::Store::locate(), &args.id)?;
    let process = match &args.process {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing the process in {}", path.display()))?
        }
        None => {
            if args.command.is_empty() {
                anyhow::bail!("give a command to run, or --process FILE");
            }
            let request = hoist_engine::ExecRequest {
                command: args.command.clone(),
                env: args.env.clone(),
                env_file: args.env_file.clone(),
                workdir: args.cwd.clone(),
                user: args.user.clone(),
                tty: args.tty,
                privileged: args.privileged,
            };
            hoist_engine::exec_process(runtime, &args.id, &request)?
        }
    };
    if process.terminal() == Some(true) && args.console_socket.is_none() && !args.detach {
        // podman's `exec -it`: the terminal hosted apart, so that detaching leaves it running.
        if args.preserve_fds > 0 {
            anyhow::bail!("--preserve-fds with a terminal needs --console-socket (the process runs under a session host of its own, which does not pass on this command's fds)");
        }
        let client = hoist_engine::ClientOptions {
            input: args.interactive,
            detach_keys: hoist_engine::DetachKeys::parse(&args.detach_keys)?,
        };
        let ended = hoist_engine::exec_in_terminal(
            runtime,
            &args.id,
            &process,
            args.pid_file.as_deref(),
            &client,
        )?;
        return Ok(crate::commands::containers::ended_byte(ended));
    }
    let options = ExecOptions {
        process,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        detach: args.detach,
        preserve_fds: args.preserve_fds,
    };
    match runtime.exec(&args.id, &options)? {
        Some(exited) => Ok(u8::try_from(exited.code).unwrap_or(255)),
        None => Ok(0),
    }
}

pub fn spec(args: SpecArgs) -> anyhow::Result<()> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{} exists already; remove it first", path.display());
    }
    let spec = hoist_unpack::default_spec(args.rootless);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// runc's `features` document: what a caller may put in a config and have honoured.
pub fn features() -> anyhow::Result<()> {
    outln!(
        "{}",
        serde_json::to_string_pretty(&hoist_runtime::features())?
    );
    Ok(())
}
