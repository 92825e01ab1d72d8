//! The life of a `hoist run IMAGE` container: in the foreground, or watched by a detached
//! monitor process (hoist itself, re-executed in a session of its own) that keeps the output in
//! `ctr.log` and records the exit status once the container ends, whoever is still around.
//!
//! The monitor, the port proxy and the log relay are hoist re-executed with a hidden verb: the
//! binary names its verbs with the constants below.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoist_runtime::{CreateOptions, Exited, Runtime, Status};

use crate::log_relay::Relay;
use crate::{Container, Error, Result, Store};

/// The hidden verb a detached container's monitor runs: `container-monitor ID`.
pub const MONITOR_VERB: &str = "container-monitor";
/// The hidden verb of the process that forwards published ports: `port-proxy TO MAPPING...`.
pub const PORT_PROXY_VERB: &str = "port-proxy";

/// Runs the container until it exits, records how it ended, and unmounts (or, with `--rm`,
/// removes) it. A log relay is finished before the end is recorded, so whoever sees the exit
/// status finds the whole log.
pub fn run_to_exit(
    runtime: &Runtime,
    store: &Store,
    mut container: Container,
    relay: Option<Relay>,
) -> Result<Exited> {
    let options = CreateOptions {
        bundle: container.dir.clone(),
        ..CreateOptions::default()
    };
    let proxy = match start_port_proxy(&container) {
        Ok(proxy) => proxy,
        Err(error) => {
            container.release_network(store);
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
    container.release_network(store);
    container.record.network = None;
    container.record.exit_code = Some(match &outcome {
        Ok(exited) => exited.code,
        Err(_) => 125,
    });
    container.record.finished = Some(crate::now());
    if container.record.remove {
        Container::remove_files(&container.dir)?;
    } else {
        hoist_unpack::unmount_rootfs(&container.dir)?;
        container.save()?;
    }
    Ok(outcome?)
}

/// Starts the monitor of a detached container and returns once the container runs (or has
/// already ended).
pub fn launch(runtime: &Runtime, store: &Store, container: &Container) -> Result<()> {
    let id = &container.record.id;
    let log_path = container.log_path();
    // The container's output is its own business: readable by root only.
    let log = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().create(true).append(true),
        0o600,
    )
    .open(&log_path)
    .map_err(Error::io("creating", &log_path))?;
    let log_too = log.try_clone().map_err(Error::io("opening", &log_path))?;
    let mut monitor = Command::new("/proc/self/exe")
        .arg("--root")
        .arg(runtime.root())
        .arg(MONITOR_VERB)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(log_too)
        .stderr(log)
        .spawn()
        .map_err(|source| Error::Spawn {
            what: "the container's monitor",
            source,
        })?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = runtime
            .state(id)
            .is_ok_and(|s| matches!(s.status, Status::Running | Status::Stopped));
        if running {
            return Ok(());
        }
        let ended = monitor.try_wait().map_err(|source| Error::Spawn {
            what: "the container's monitor",
            source,
        })?;
        if let Some(status) = ended {
            let recorded = Container::open(store, id).is_ok_and(|c| c.record.exit_code.is_some());
            if !status.success() && !recorded {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let _ = Container::remove_files(&container.dir);
                return Err(Error::DidNotStart {
                    last_words: log.lines().last().unwrap_or("(no message)").to_string(),
                });
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::StartTimedOut { log: log_path });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The monitor's side: leave the caller's session (so that closing its terminal does not end
/// the container), then run the container to its end.
pub fn monitor(runtime: &Runtime, store: &Store, id: &str) -> Result<Exited> {
    // Fails only for a process group leader, which a spawned child is not.
    let _ = nix::unistd::setsid();
    let container = Container::open(store, id)?;
    let relay = match container.record.log_max_size {
        Some(max) => Some(Relay::start(&container.log_path(), max)?),
        None => None,
    };
    run_to_exit(runtime, store, container, relay)
}

/// Starts the process that forwards published ports, once it listens on all of them.
fn start_port_proxy(container: &Container) -> Result<Option<Child>> {
    let (Some(network), false) = (&container.record.network, container.record.ports.is_empty())
    else {
        return Ok(None);
    };
    let spawn_error = |source| Error::Spawn {
        what: "the port proxy",
        source,
    };
    let mut child = Command::new("/proc/self/exe")
        .arg(PORT_PROXY_VERB)
        .arg(network.address.to_string())
        .args(&container.record.ports)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(spawn_error)?;
    if line.trim() != "ready" {
        let output = child.wait_with_output().map_err(spawn_error)?;
        return Err(Error::Publishing(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(Some(child))
}

/// The port proxy's side: end with whoever started it, listen, say so, forward.
pub fn port_proxy(to: std::net::Ipv4Addr, mappings: &[String]) -> Result<()> {
    // Should the starter have died before this, the "ready" below meets a pipe nobody reads,
    // and SIGPIPE ends this process.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM)).map_err(
        |e| Error::Process {
            what: "asking for a signal when the monitor ends",
            source: e.into(),
        },
    )?;
    let mappings = mappings
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<hoist_net::PortMapping>, _>>()?;
    let listeners = hoist_net::proxy::bind(&mappings)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Process {
            what: "telling the monitor the ports are ready",
            source,
        })?;
    hoist_net::proxy::serve(listeners, to)
}
