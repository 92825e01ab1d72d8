//! podman's verbs for `hoist run IMAGE` containers: what each is doing, `logs`, `stop`, `rm`.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

use hoist_runtime::{DeleteOptions, Runtime, Status};
use nix::sys::signal::Signal;

use crate::container::remove_half_made;
use crate::keeper::abandoned;
use crate::log_format::{decode, Stream};
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

/// What `logs` prints of a container's log.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep printing what the container writes until it has ended.
    pub follow: bool,
    /// Only the last this many lines.
    pub tail: Option<usize>,
    /// Each line after the time it was written.
    pub timestamps: bool,
    /// Only lines written at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines written before this time.
    pub until: Option<SystemTime>,
}

/// Copies the container's log, its stdout to `out` and its stderr to `err`, as `options`
/// say; following, until the container has ended and everything it wrote is out.
pub fn copy_log(
    runtime: &Runtime,
    store: &Store,
    id: &str,
    options: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let container = Container::find(store, id)?;
    let id = &container.record.name;
    let path = container.log_path();
    let reading = |source| Error::Io {
        what: "reading",
        path: path.clone(),
        source,
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(_) if container.record.unstarted => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoLog(id.to_string()))
        }
        Err(e) => return Err(reading(e)),
    };
    if let Some(lines) = options.tail {
        let start = start_of_last_lines(&mut file, lines).map_err(reading)?;
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(reading)?;
    }
    let mut printer = LogPrinter {
        options,
        out,
        err,
        pending: Vec::new(),
        mid_line: [false; 2],
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut stopped_since = None;
    loop {
        let n = file.read(&mut buffer).map_err(reading)?;
        if n > 0 {
            printer.take(&buffer[..n])?;
            continue;
        }
        printer.flush()?;
        if !options.follow {
            return printer.finish();
        }
        // The end is once the monitor has recorded it, which it does after its log relay has
        // written everything; should the monitor be gone, 10 s after the container stopped.
        // The end is looked at first: after it, the log no longer changes.
        let ended = Container::open(store, id).map_or(true, |c| {
            let stopped = !Activity::of(runtime, &c).alive();
            c.record.exit_code.is_some()
                || (stopped
                    && stopped_since.get_or_insert_with(Instant::now).elapsed()
                        > Duration::from_secs(10))
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
            return printer.finish();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A time as `logs --since` and `--until` take it, podman's ways: RFC 3339 (`2026-12-03T10:00:00Z`,
/// or a date alone), Unix seconds (`1764756000`), or a duration before now (`10m`, `1h30m`).
pub fn parse_log_time(text: &str, now: SystemTime) -> Result<SystemTime> {
    let bad = || {
        Error::bad_option(
            format!("{text:?}"),
            "is no time: give one like 2026-12-03T10:00:00Z, 2026-12-03, 1764756000 or 10m (ago)",
        )
    };
    if let Ok(ago) = humantime::parse_duration(text) {
        return now.checked_sub(ago).ok_or_else(bad);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds >= 0.0)
            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds))
            .ok_or_else(bad);
    }
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        _ => text.to_string(),
    };
    humantime::parse_rfc3339_weak(&full).map_err(|_| bad())
}

/// Prints log lines as they are read, whole lines only (a read may end inside one).
struct LogPrinter<'a> {
    options: &'a LogOptions,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    /// The start of a line whose end has not been read yet.
    pending: Vec<u8>,
    /// The last line printed of stdout, and of stderr, was a part of one (`P`): the next of
    /// that stream goes on without a timestamp.
    mid_line: [bool; 2],
}

impl LogPrinter<'_> {
    fn take(&mut self, bytes: &[u8]) -> Result<()> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            if self.pending.is_empty() {
                self.print(&rest[..end])?;
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(&rest[..end]);
                self.print(&line)?;
            }
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    fn print(&mut self, line: &[u8]) -> Result<()> {
        let entry = decode(line);
        let written = entry.written();
        let wanted = match written {
            Some(time) => {
                self.options.since.is_none_or(|since| time >= since)
                    && self.options.until.is_none_or(|until| time < until)
            }
            None => self.options.since.is_none() && self.options.until.is_none(),
        };
        if !wanted {
            return Ok(());
        }
        let (to, mid_line) = match entry.stream {
            Stream::Stdout => (&mut *self.out, &mut self.mid_line[0]),
            Stream::Stderr => (&mut *self.err, &mut self.mid_line[1]),
        };
        let mut text = Vec::with_capacity(line.len() + 32);
        if self.options.timestamps && !*mid_line {
            if let Some(time) = entry.time {
                text.extend_from_slice(time.as_bytes());
                text.push(b' ');
            }
        }
        text.extend_from_slice(entry.content);
        if !entry.partial {
            text.push(b'\n');
        }
        *mid_line = entry.partial;
        to.write_all(&text).map_err(log_out)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(log_out)?;
        self.err.flush().map_err(log_out)
    }

    /// What is left of a line with no newline after it (a log from before timestamps).
    fn finish(mut self) -> Result<()> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.out.write_all(&rest).map_err(log_out)?;
        }
        self.flush()
    }
}

fn log_out(source: std::io::Error) -> Error {
    Error::Process {
        what: "writing the log out",
        source,
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
    // A frozen (paused) container takes no signal until it is thawed: each is sent, then the
    // container thawed, as Docker and podman's `rm -f` do.
    let send = |signal: Signal, all: bool| {
        let _ = runtime.kill(id, signal, all);
        if runtime.state(id).is_ok_and(|s| s.status == Status::Paused) {
            let _ = runtime.resume(id);
        }
    };
    send(signal, false);
    if wait(grace) {
        return Ok(());
    }
    send(Signal::SIGKILL, true);
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
