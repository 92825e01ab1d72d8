//! podman's verbs for `hoist run IMAGE` containers: what each is doing, `logs`, `stop`, `rm`.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use hoist_runtime::{DeleteOptions, Runtime, Status};
use nix::sys::signal::Signal;

use crate::container::remove_half_made;
use crate::keeper::abandoned;
use crate::{check_name, Container, Error, Result, Store};

/// What a container is doing, judged by its record and the runtime's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Ended with this code.
    Exited(i32),
    /// Known to the runtime (created, running, paused or stopped).
    Runtime(Status),
    /// Made, but not (or no longer) known to the runtime.
    Created,
}

impl Activity {
    pub fn of(runtime: &Runtime, container: &Container) -> Activity {
        if let Some(code) = container.record.exit_code {
            return Activity::Exited(code);
        }
        match runtime.state(&container.record.name) {
            Ok(state) => Activity::Runtime(state.status),
            Err(_) => Activity::Created,
        }
    }

    /// Whether its processes may still run.
    pub fn alive(&self) -> bool {
        matches!(self, Activity::Runtime(status) if *status != Status::Stopped)
    }
}

impl std::fmt::Display for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activity::Exited(code) => write!(f, "Exited ({code})"),
            Activity::Runtime(status) => write!(f, "{status}"),
            Activity::Created => write!(f, "Created"),
        }
    }
}

/// Whether the container will not run again by itself: its end is recorded, or nobody keeps
/// it (its keeper died) and it is not running.
pub(crate) fn has_ended(runtime: &Runtime, container: &Container) -> bool {
    if container.record.exit_code.is_some() {
        return true;
    }
    let running = matches!(
        Activity::of(runtime, container),
        Activity::Runtime(Status::Running | Status::Paused)
    );
    !running && abandoned(&container.dir).is_some()
}

/// Waits (up to a minute, as long as a start may take) while the container is being started:
/// whoever runs it holds it, but the runtime does not know it yet. Removed under its monitor,
/// it would start all the same, with nothing left to record it in. Fails if it is still so.
fn wait_while_starting(runtime: &Runtime, container: &Container) -> Result<()> {
    let starting = || {
        container.record.exit_code.is_none()
            && Activity::of(runtime, container) == Activity::Created
            && abandoned(&container.dir).is_none()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while starting() {
        if Instant::now() >= deadline {
            return Err(Error::Running(container.record.name.clone()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Copies the container's log to `out` (only its last `tail` lines, if given); with `follow`,
/// until the container has ended and everything it wrote is out.
pub fn copy_log(
    runtime: &Runtime,
    store: &Store,
    id: &str,
    follow: bool,
    tail: Option<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    let container = Container::find(store, id)?;
    let id = &container.record.name;
    let path = container.log_path();
    let reading = |source| Error::Io {
        what: "reading",
        path: path.clone(),
        source,
    };
    let writing = |source| Error::Process {
        what: "writing the log out",
        source,
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(_) if !container.record.detached && !container.record.tty => {
            return Err(Error::NoLog(id.to_string()))
        }
        Err(e) => return Err(reading(e)),
    };
    if let Some(lines) = tail {
        let start = start_of_last_lines(&mut file, lines).map_err(reading)?;
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(reading)?;
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut stopped_since = None;
    loop {
        let n = file.read(&mut buffer).map_err(reading)?;
        if n > 0 {
            out.write_all(&buffer[..n]).map_err(writing)?;
            continue;
        }
        out.flush().map_err(writing)?;
        if !follow {
            return Ok(());
        }
        // Through a log relay (--log-opt max-size) the end is once the monitor has recorded
        // it, which it does after the relay has written everything; should the monitor be
        // gone, 10 s after the container stopped. The end is looked at first: after it, the
        // log no longer changes.
        let ended = Container::open(store, id).map_or(true, |c| {
            let stopped = !Activity::of(runtime, &c).alive();
            if c.record.exit_code.is_some() || (stopped && c.record.log_max_size.is_none()) {
                return true;
            }
            stopped
                && stopped_since.get_or_insert_with(Instant::now).elapsed()
                    > Duration::from_secs(10)
        });
        // A capped log starts over in a new file when full: follow that one from its start.
        let current = std::fs::metadata(&path).ok();
        let open = file.metadata().map_err(reading)?.ino();
        if current.as_ref().is_some_and(|m| m.ino() != open) {
            file = std::fs::File::open(&path).map_err(reading)?;
            continue;
        }
        let position = file.stream_position().map_err(reading)?;
        if ended && current.is_none_or(|m| m.len() <= position) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the last `lines` lines of `file` begin, read backwards a block at a time (a log may
/// be large, and only its end is wanted).
fn start_of_last_lines(file: &mut std::fs::File, lines: usize) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let length = file.metadata()?.len();
    if lines == 0 {
        return Ok(length);
    }
    let mut end = length;
    let mut newlines = 0;
    let mut block = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(std::io::SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, byte) in chunk.iter().enumerate().rev() {
            let after = start + i as u64 + 1;
            // The newline that ends the last line starts no line after it.
            if *byte == b'\n' && after != length {
                newlines += 1;
                if newlines == lines {
                    return Ok(after);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

/// The container's stop signal (SIGTERM unless `--stop-signal` or the image chose another),
/// then SIGKILL after `grace` (by default the container's `--stop-timeout`, else 10 s);
/// returns once whoever ran the container (a monitor, or a foreground `hoist run`) has recorded
/// its end, which is the last thing it does.
pub fn stop(runtime: &Runtime, store: &Store, id: &str, grace: Option<Duration>) -> Result<()> {
    let container = Container::find(store, id)?;
    let grace = grace
        .or(container.record.stop_timeout.map(Duration::from_secs))
        .unwrap_or(Duration::from_secs(10));
    stop_container(runtime, store, &container, grace)
}

fn stop_container(
    runtime: &Runtime,
    store: &Store,
    container: &Container,
    grace: Duration,
) -> Result<()> {
    let id = &container.record.name;
    if container.record.exit_code.is_some() {
        return Ok(());
    }
    // Asked to end: its monitor must not start it again (`--restart`).
    let marker = container.dir.join(crate::monitor::STOP_REQUESTED);
    std::fs::write(&marker, b"").map_err(Error::io("writing", &marker))?;
    // Not running, and nobody who would run it (again) keeps it: there is nothing to stop.
    if !Activity::of(runtime, container).alive() && abandoned(&container.dir).is_some() {
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
    let signal = container
        .record
        .stop_signal
        .as_deref()
        .and_then(|s| hoist_runtime::parse_signal(s).ok())
        .unwrap_or(Signal::SIGTERM);
    let _ = runtime.kill(id, signal, false);
    if wait(grace) {
        return Ok(());
    }
    let _ = runtime.kill(id, Signal::SIGKILL, true);
    if wait(Duration::from_secs(10)) {
        return Ok(());
    }
    // Nobody recorded the end (its monitor was killed): the runtime's word decides.
    if Activity::of(runtime, container).alive() {
        return Err(Error::WouldNotDie(id.to_string()));
    }
    Ok(())
}

/// Removes a container; a running one only with `force` (stopped at once). Returns whether
/// there was one: `force` passes over a container that is not there, never a name that is no
/// name.
pub fn remove(runtime: &Runtime, store: &Store, reference: &str, force: bool) -> Result<bool> {
    let container = match Container::find(store, reference) {
        Ok(container) => container,
        Err(e @ Error::InvalidName(_)) => return Err(e),
        Err(_)
            if check_name(reference).is_ok()
                && remove_half_made(store, &store.containers().join(reference))? =>
        {
            return Ok(true)
        }
        Err(_) if force => return Ok(false),
        Err(e) => return Err(e),
    };
    let id = &container.record.name;
    wait_while_starting(runtime, &container)?;
    if Activity::of(runtime, &container).alive() {
        if !force {
            return Err(Error::Running(id.clone()));
        }
        stop_container(runtime, store, &container, Duration::ZERO)?;
    }
    // A monitor that has not yet recorded the end leaves the runtime's state behind.
    let _ = runtime.delete(id, DeleteOptions { force: true });
    container.release_network(store);
    Container::remove_files(&container.dir)?;
    Ok(true)
}

/// The runtime's id for what a user named: a runtime container of that id (a runc-shaped
/// call, from an engine or a user of bundles), else a container of `hoist run IMAGE` by name,
/// id or id prefix.
pub fn runtime_id(runtime: &Runtime, store: &Store, reference: &str) -> Result<String> {
    if runtime.state(reference).is_ok() {
        return Ok(reference.to_string());
    }
    Ok(Container::find(store, reference)?.record.name)
}

/// Waits until the container has ended, and returns its exit code (podman's `wait`). A
/// container whose keeper died without recording the end counts as ended once the runtime
/// says it stopped (its code then unknown: -1, as podman has it).
pub fn wait(runtime: &Runtime, store: &Store, reference: &str) -> Result<i32> {
    let name = Container::find(store, reference)?.record.name;
    loop {
        let container = Container::open(store, &name)?;
        if let Some(code) = container.record.exit_code {
            return Ok(code);
        }
        // A created container waits for its `start` (as under podman).
        if !container.record.unstarted && has_ended(runtime, &container) {
            // Its keeper records the end before it lets go: what it left is the last word.
            return Ok(Container::open(store, &name)?
                .record
                .exit_code
                .unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to a running container's process (podman's `kill`).
pub fn signal(runtime: &Runtime, store: &Store, reference: &str, signal: Signal) -> Result<()> {
    let container = Container::find(store, reference)?;
    if !Activity::of(runtime, &container).alive() {
        return Err(Error::NotRunning(container.record.name));
    }
    runtime.kill(&container.record.name, signal, false)?;
    Ok(())
}

/// Freezes (`pause`) or thaws every process of a running container.
pub fn set_paused(runtime: &Runtime, store: &Store, reference: &str, paused: bool) -> Result<()> {
    let container = Container::find(store, reference)?;
    let name = &container.record.name;
    match paused {
        true => runtime.pause(name)?,
        false => runtime.resume(name)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_start_after_the_right_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let start = |text: &str, lines| {
            std::fs::write(&path, text).unwrap();
            start_of_last_lines(&mut std::fs::File::open(&path).unwrap(), lines).unwrap()
        };
        assert_eq!(start("a\nb\nc\n", 2), 2);
        assert_eq!(start("a\nb\nc", 1), 4);
        assert_eq!(start("a\nb\nc\n", 5), 0);
        assert_eq!(start("a\nb\n", 0), 4);
        let long = "x\n".repeat(100_000);
        assert_eq!(start(&long, 3), long.len() as u64 - 6);
    }
}
