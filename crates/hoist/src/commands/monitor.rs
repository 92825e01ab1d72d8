//! The life of a `hoist run IMAGE` container: in the foreground, or watched by a detached
//! monitor process (hoist itself, re-executed in a session of its own) that keeps the output in
//! `ctr.log` and records the exit status once the container ends, whoever is still around.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoist_runtime::{CreateOptions, Exited, Runtime, Status};

use crate::commands::log_relay;
use hoist_engine::{Container, Store};

/// The hidden subcommand a detached container's monitor runs.
pub const MONITOR_COMMAND: &str = "container-monitor";

/// Runs the container until it exits, records how it ended, and unmounts (or, with `--rm`,
/// removes) it. Returns the exit code to pass on. A log relay is finished before the end is
/// recorded, so whoever sees the exit status finds the whole log.
pub fn run_to_exit(
    runtime: &Runtime,
    mut container: Container,
    relay: Option<log_relay::Relay>,
) -> anyhow::Result<u8> {
    let options = CreateOptions {
        bundle: container.dir.clone(),
        ..CreateOptions::default()
    };
    let proxy = match start_port_proxy(&container) {
        Ok(proxy) => proxy,
        Err(error) => {
            container.release_network(&Store::locate());
            Container::remove_files(&container.dir)?;
            return Err(error);
        }
    };
    let outcome = runtime.run(&container.record.id, &options);
    if let Some(relay) = relay {
        relay.finish();
    }
    if let Some(mut proxy) = proxy {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(proxy.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = proxy.wait();
    }
    container.release_network(&Store::locate());
    container.record.network = None;
    container.record.exit_code = Some(match &outcome {
        Ok(exited) => exited.code,
        Err(_) => 125,
    });
    container.record.finished =
        Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    if container.record.remove {
        Container::remove_files(&container.dir)?;
    } else {
        hoist_unpack::unmount_rootfs(&container.dir)?;
        container.save()?;
    }
    Ok(exit_byte(outcome?))
}

/// Starts the monitor of a detached container and returns once the container runs (or has
/// already ended), printing its id as podman does.
pub fn launch(runtime: &Runtime, container: &Container) -> anyhow::Result<()> {
    let id = &container.record.id;
    // The container's output is its own business: readable by root only.
    let log = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().create(true).append(true),
        0o600,
    )
    .open(container.log_path())
    .with_context(|| format!("creating {}", container.log_path().display()))?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("--root")
        .arg(runtime.root())
        .arg(MONITOR_COMMAND)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the monitor leaves this terminal's session so that
    // closing it (SIGHUP) does not end the container.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut monitor = command
        .spawn()
        .context("starting the container's monitor")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = runtime
            .state(id)
            .is_ok_and(|s| matches!(s.status, Status::Running | Status::Stopped));
        if running {
            break;
        }
        if let Some(status) = monitor.try_wait()? {
            let store = Store::locate();
            let ended = Container::open(&store, id).is_ok_and(|c| c.record.exit_code.is_some());
            if !status.success() && !ended {
                let log = std::fs::read_to_string(container.log_path()).unwrap_or_default();
                let _ = Container::remove_files(&container.dir);
                bail!(
                    "the container did not start: {}",
                    log.lines().last().unwrap_or("(no message)")
                );
            }
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the container did not start within 60 s; see {}",
                container.log_path().display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("{id}");
    Ok(())
}

/// Starts the process that forwards published ports, once it listens on all of them.
fn start_port_proxy(container: &Container) -> anyhow::Result<Option<std::process::Child>> {
    let (Some(network), false) = (&container.record.network, container.record.ports.is_empty())
    else {
        return Ok(None);
    };
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("port-proxy")
        .arg(network.address.to_string())
        .args(&container.record.ports)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; the proxy ends with whoever started it.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().context("starting the port proxy")?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
    if line.trim() != "ready" {
        let output = child.wait_with_output()?;
        bail!(
            "publishing ports: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(Some(child))
}

/// The port proxy's side: listen, say so, forward.
pub fn port_proxy(args: crate::cli::PortProxyArgs) -> anyhow::Result<u8> {
    let mappings = args
        .mappings
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<hoist_net::PortMapping>, _>>()?;
    let listeners = hoist_net::proxy::bind(&mappings)?;
    println!("ready");
    use std::io::Write;
    std::io::stdout().flush()?;
    hoist_net::proxy::serve(listeners, args.to)
}

/// The monitor's side: run the container to its end.
pub fn monitor(runtime: &Runtime, id: &str) -> anyhow::Result<u8> {
    let container = Container::open(&Store::locate(), id)?;
    let relay = match container.record.log_max_size {
        Some(max) => Some(log_relay::start(&container.log_path(), max)?),
        None => None,
    };
    run_to_exit(runtime, container, relay)
}

/// The exit status to pass on, saying so when the memory limit killed the container.
pub fn exit_byte(exited: Exited) -> u8 {
    if exited.oom_killed {
        eprintln!("hoist: the container hit its memory limit and the kernel's OOM killer ended it");
    }
    u8::try_from(exited.code).unwrap_or(255)
}
