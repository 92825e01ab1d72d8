//! podman's verbs for `hoist run IMAGE` containers: `ps`, `logs`, `stop`, `rm`.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hoist_runtime::{DeleteOptions, Runtime, Status};
use nix::sys::signal::Signal;

use crate::cli::{LogsArgs, PsArgs, RmArgs, StopArgs};
use hoist_engine::{Container, Store};

/// What a container is doing, judged by its record and the runtime's state.
fn status(runtime: &Runtime, container: &Container) -> (bool, String) {
    if let Some(code) = container.record.exit_code {
        return (false, format!("Exited ({code})"));
    }
    match runtime.state(&container.record.id) {
        Ok(state) => (state.status != Status::Stopped, state.status.to_string()),
        Err(_) => (false, "Created".to_string()),
    }
}

pub fn list(runtime: &Runtime, args: &PsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let containers = Container::all(&store)?;
    if !args.quiet {
        println!(
            "{:<14} {:<36} {:<24} {:<22} {:<14} NAMES",
            "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS"
        );
    }
    for container in &containers {
        let (alive, status) = status(runtime, container);
        if !alive && !args.all {
            continue;
        }
        let id: String = container.record.id.chars().take(12).collect();
        if args.quiet {
            println!("{}", container.record.id);
            continue;
        }
        let command: String = container
            .record
            .command
            .join(" ")
            .chars()
            .take(22)
            .collect();
        println!(
            "{id:<14} {:<36} {command:<24} {:<22} {status:<14} {}",
            container.record.image, container.record.created, container.record.id
        );
    }
    Ok(())
}

pub fn logs(runtime: &Runtime, args: LogsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let container = Container::open(&store, &args.id)?;
    let path = container.log_path();
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(_) if !container.record.detached => {
            bail!(
                "{} ran in the foreground; its output went to the terminal",
                args.id
            )
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut out = std::io::stdout().lock();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut stopped_since = None;
    loop {
        let n = file.read(&mut buffer)?;
        if n > 0 {
            out.write_all(&buffer[..n])?;
            continue;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        // Followed until the container has ended and everything it wrote is out. Through a
        // log relay (--log-opt max-size) that is once the monitor has recorded the end, which
        // it does after the relay has written everything; should the monitor be gone, 10 s
        // after the container stopped. The end is looked at first: after it, the log no
        // longer changes.
        let ended = Container::open(&store, &args.id).map_or(true, |c| {
            let stopped = !status(runtime, &c).0;
            if c.record.exit_code.is_some() || (stopped && c.record.log_max_size.is_none()) {
                return true;
            }
            stopped
                && stopped_since.get_or_insert_with(Instant::now).elapsed()
                    > Duration::from_secs(10)
        });
        // A capped log starts over in a new file when full: follow that one from its start.
        let current = std::fs::metadata(&path).ok();
        let open = file.metadata()?.ino();
        if current.as_ref().is_some_and(|m| m.ino() != open) {
            file = std::fs::File::open(&path)?;
            continue;
        }
        let position = file.stream_position()?;
        if ended && current.is_none_or(|m| m.len() <= position) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stop(runtime: &Runtime, args: StopArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        let container = Container::open(&store, id)?;
        stop_one(runtime, &store, &container, Duration::from_secs(args.time))?;
        println!("{id}");
    }
    Ok(())
}

/// SIGTERM, then SIGKILL after `grace`; returns once whoever ran the container (a monitor, or
/// a foreground `hoist run`) has recorded its end, which is the last thing it does.
fn stop_one(
    runtime: &Runtime,
    store: &Store,
    container: &Container,
    grace: Duration,
) -> anyhow::Result<()> {
    let id = &container.record.id;
    if container.record.exit_code.is_some() {
        return Ok(());
    }
    let recorded = || Container::open(store, id).map_or(true, |c| c.record.exit_code.is_some());
    let wait = |limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            if recorded() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let _ = runtime.kill(id, Signal::SIGTERM, false);
    if wait(grace) {
        return Ok(());
    }
    let _ = runtime.kill(id, Signal::SIGKILL, true);
    if wait(Duration::from_secs(10)) {
        return Ok(());
    }
    // Nobody recorded the end (its monitor was killed): the runtime's word decides.
    if status(runtime, container).0 {
        bail!("{id} did not end after SIGKILL");
    }
    Ok(())
}

pub fn rm(runtime: &Runtime, args: RmArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        // -f passes over a container that is not there, never a name that is no name.
        hoist_engine::check_name(id)?;
        let container = match Container::open(&store, id) {
            Ok(container) => container,
            Err(_) if args.force => continue,
            Err(e) => return Err(e.into()),
        };
        if status(runtime, &container).0 {
            if !args.force {
                bail!("{id} is running: stop it first (`hoist stop {id}`), or remove it with -f");
            }
            stop_one(runtime, &store, &container, Duration::ZERO)?;
        }
        // A monitor that has not yet recorded the end leaves the runtime's state behind.
        let _ = runtime.delete(id, DeleteOptions { force: true });
        container.release_network(&store);
        Container::remove_files(&container.dir)?;
        println!("{id}");
    }
    Ok(())
}
