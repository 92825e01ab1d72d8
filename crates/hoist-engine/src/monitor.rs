//! The life of a `hoist run IMAGE` container: in the foreground, or watched by a detached
//! monitor process (hoist itself, re-executed in a session of its own) that keeps the output in
//! `ctr.log` and records the exit status once the container ends, whoever is still around.
//!
//! The monitor, the port proxy and the log relay are hoist re-executed with a hidden verb: the
//! binary names its verbs with the constants below.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::fd::OwnedFd;

use hoist_runtime::{CreateOptions, Exited, Runtime, Status, TerminalUse};

use crate::attach::{ClientOptions, Ended, Session};
use crate::keeper::Keeper;
use crate::log_relay::Relay;
use crate::{Container, Error, Record, Result, Store};

/// The hidden verb a detached container's monitor runs: `container-monitor ID`.
pub const MONITOR_VERB: &str = "container-monitor";
/// The monitor's flag saying its stdin is the first client of the container's terminal.
pub const MONITOR_ATTACHED_FLAG: &str = "--attached";

/// Runs the container until it exits, records how it ended, and unmounts (or, with `--rm`,
/// removes) it. A log relay is finished before the end is recorded, so whoever sees the exit
/// status finds the whole log. A container with a terminal has it hosted here, for
/// `first_client` (a foreground `run -it`) and whoever attaches; they are told how it ended
/// once it is cleaned up.
pub fn run_to_exit(
    runtime: &Runtime,
    store: &Store,
    mut container: Container,
    relay: Option<Relay>,
    first_client: Option<OwnedFd>,
) -> Result<Exited> {
    let options = CreateOptions {
        bundle: container.dir.clone(),
        ..CreateOptions::default()
    };
    let mut session = container
        .record
        .tty
        .then(|| Session::listening(&container.dir, first_client));
    let proxy = match start_port_proxy(&container) {
        Ok(proxy) => proxy,
        Err(error) => {
            container.release_network(store);
            let removed = Container::remove_files(&container.dir);
            if let Some(session) = session {
                session.finish(Err(crate::render_chain(&error)));
            }
            removed?;
            return Err(error);
        }
    };
    let name = container.record.name.clone();
    let outcome = loop {
        let terminal = match session.as_mut() {
            Some(session) => TerminalUse::Hand(session.handler()),
            None => TerminalUse::Relay,
        };
        let outcome = runtime.run_with_terminal(&name, &options, terminal);
        let Some(delay) = restart_delay(&container, &outcome) else {
            break outcome;
        };
        container.record.restarts += 1;
        let _ = container.save();
        if !sleep_unless_stopped(&container, delay) {
            break outcome;
        }
        if let Err(error) = crate::network_sharing::join_network_again(runtime, &container) {
            // The container whose network it shares has gone: it cannot run again.
            container.record.error = Some(crate::render_chain(&error));
            break outcome;
        }
        let _ = runtime.delete(&name, hoist_runtime::DeleteOptions { force: true });
        // pasta and the port proxy were the ended init's: the next start makes its own.
        if container.record.pasta {
            crate::rootless::pasta::disconnect(&container.dir);
        }
    };
    if let Some(session) = &session {
        session.drain();
    }
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
    let on_networks = container.is_on_networks();
    container.record.networks.clear();
    container.record.exit_code = Some(match &outcome {
        Ok(exited) => exited.code,
        Err(error) => error
            .program_failure()
            .map_or(125, |f| f.exit_code().into()),
    });
    if let Err(error) = &outcome {
        container.record.error = Some(crate::render_chain(error));
    }
    container.record.finished = Some(crate::now());
    // Taking it off its networks waits on the kernel (RCU grace periods, as its veths and
    // rules go): beside the unmounting of its rootfs. Its end is recorded (and its directory,
    // with its name, freed) only after both, so that whoever waits on that end finds its name,
    // address and ports free.
    let unmounted = std::thread::scope(|scope| {
        let released =
            on_networks.then(|| scope.spawn(|| crate::container::release_network_of(store, &name)));
        let unmounted = hoist_unpack::unmount_rootfs(&container.dir).map_err(Error::from);
        if let Some(released) = released {
            let _ = released.join();
        }
        unmounted
    });
    let cleaned = unmounted.and_then(|()| match container.record.remove {
        true => Container::remove_files(&container.dir),
        false => container.save(),
    });
    if let Some(session) = session {
        session.finish(match &outcome {
            Ok(exited) => Ok(exited.code),
            Err(error) => Err(crate::render_chain(error)),
        });
    }
    cleaned?;
    Ok(outcome?)
}

/// Marks a container that `stop` ends, so that its monitor does not start it again whatever
/// its `--restart` policy (podman's rule); `start` takes the mark away.
pub(crate) const STOP_REQUESTED: &str = "stop-requested";

/// Waits `delay` before a restart; false if `stop` asked for the end meanwhile.
fn sleep_unless_stopped(container: &Container, delay: Duration) -> bool {
    let until = Instant::now() + delay;
    let marker = container.dir.join(STOP_REQUESTED);
    while !marker.exists() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    false
}

/// How long to wait before running the container again, if its `--restart` policy asks for
/// that after `outcome`: 100 ms, doubling with each restart up to 10 s, as docker waits.
fn restart_delay(
    container: &Container,
    outcome: &hoist_runtime::Result<Exited>,
) -> Option<Duration> {
    let record = &container.record;
    let code = outcome.as_ref().ok()?.code;
    if container.dir.join(STOP_REQUESTED).exists() {
        return None;
    }
    let again = match record.restart.as_deref()?.split_once(':') {
        Some(("on-failure", most)) => {
            code != 0 && (most == "0" || record.restarts < most.parse::<u32>().unwrap_or(0))
        }
        None if record.restart.as_deref() == Some("on-failure") => code != 0,
        None => true,
        Some(_) => false,
    };
    again.then(|| Duration::from_millis(100 << record.restarts.min(7)).min(Duration::from_secs(10)))
}

/// Starts the monitor of a detached container and returns once the container runs (or has
/// already ended).
pub fn launch(runtime: &Runtime, store: &Store, container: &Container) -> Result<()> {
    let id = &container.record.name;
    let log_path = container.log_path();
    let mut monitor = spawn(runtime, container, None)?;
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
            let record = Container::open(store, id).ok().map(|c| c.record);
            return match record {
                // The runtime could not start it: the container stays, as under podman.
                Some(Record {
                    error: Some(error),
                    exit_code,
                    ..
                }) => Err(Error::DidNotStart {
                    last_words: error,
                    exit_code: exit_code
                        .and_then(|c| u8::try_from(c).ok())
                        .filter(|c| *c != 125),
                }),
                Some(Record {
                    exit_code: Some(_), ..
                }) => Ok(()),
                _ if status.success() => Ok(()),
                _ => {
                    let _ = Container::remove_files(&container.dir);
                    Err(did_not_start(&log_path))
                }
            };
        }
        if Instant::now() > deadline {
            return Err(Error::StartTimedOut { log: log_path });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `hoist run -it IMAGE`: the container made by `create_container` runs under its monitor,
/// which hosts its terminal; this process is the first client, connected before the container
/// starts.
pub fn run_in_terminal(
    runtime: &Runtime,
    container: &Container,
    options: &ClientOptions,
) -> Result<Ended> {
    let (client, host) = crate::attach::session_pair()?;
    let mut monitor = spawn(runtime, container, Some(host))?;
    let ended = crate::attach::run_client(client, options);
    if !crate::attach::session_over(&ended) {
        return ended;
    }
    let _ = monitor.wait();
    match ended {
        // The monitor failed before it could say so to the client: its last words are in the
        // log, if the container is still there.
        Err(Error::SessionLost) => Err(did_not_start(&container.log_path())),
        other => other,
    }
}

/// Starts a container's monitor, its output going to the container's log. With
/// `first_client`, the monitor hosts the container's terminal for that client from the start.
fn spawn(runtime: &Runtime, container: &Container, first_client: Option<OwnedFd>) -> Result<Child> {
    let log_path = container.log_path();
    // The container's output is its own business: readable by root only.
    let log = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().create(true).append(true),
        0o600,
    )
    .open(&log_path)
    .map_err(Error::io("creating", &log_path))?;
    let log_too = log.try_clone().map_err(Error::io("opening", &log_path))?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("--root")
        .arg(runtime.root())
        .arg(MONITOR_VERB)
        .arg(&container.record.name);
    match first_client {
        Some(socket) => command
            .arg(MONITOR_ATTACHED_FLAG)
            .stdin(Stdio::from(socket)),
        None => command.stdin(Stdio::null()),
    };
    command
        .stdout(log_too)
        .stderr(log)
        .spawn()
        .map_err(|source| Error::Spawn {
            what: "the container's monitor",
            source,
        })
}

/// Why a container whose monitor ended early did not start: the monitor's last words, in the
/// container's log.
fn did_not_start(log_path: &std::path::Path) -> Error {
    let log = std::fs::read(log_path).unwrap_or_default();
    let last = log.trim_ascii_end().split(|b| *b == b'\n').next_back();
    let last_words = last.map(|line| crate::log_format::decode(line).content);
    Error::DidNotStart {
        last_words: String::from_utf8_lossy(last_words.unwrap_or(b"(no message)")).into_owned(),
        exit_code: None,
    }
}

/// The monitor's side: leave the caller's session (so that closing its terminal does not end
/// the container), then run the container to its end. `attached`: stdin is the socket of the
/// terminal's first client.
pub fn monitor(runtime: &Runtime, store: &Store, id: &str, attached: bool) -> Result<Exited> {
    crate::attach::leave_callers_session();
    let first_client = attached.then(crate::attach::take_stdin).transpose()?;
    let mut container = Container::open(store, id)?;
    // Held before the container is started, and so before whoever started this monitor
    // (which holds it meanwhile) lets go.
    container.keeper = Some(Keeper::hold(&container.dir)?);
    let relay = Relay::start(&container.log_path(), container.record.log_max_size, false)?;
    run_to_exit(runtime, store, container, Some(relay), first_client)
}

/// Starts the process that forwards published ports, once it listens on all of them.
fn start_port_proxy(container: &Container) -> Result<Option<Child>> {
    let (Some(network), false) = (
        container.record.networks.first(),
        container.record.ports.is_empty(),
    ) else {
        return Ok(None);
    };
    let mut args = vec![network.address.to_string()];
    args.extend(container.record.ports.iter().cloned());
    crate::port_proxy::spawn(&args).map(Some)
}
