//! A container's log: its stdout and stderr go through two pipes to a relay process (hoist
//! re-executed with `LOG_RELAY_VERB`) that writes them to `ctr.log` as timestamped lines
//! (`log_format`), as podman's conmon does; for a foreground run, it also passes them on to
//! the caller's stdout and stderr. With a cap (`--log-opt max-size`), it starts the file over
//! when it would grow past it, as conmon's `log_size_max` does: a new file renamed over the
//! old, so a follower sees a new inode and reads it from its start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use command_fds::CommandFdExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::log_format::{encode, Stream};
use crate::{Error, Result};

/// The hidden verb of the log's writer: `container-log-relay [--max N] [--tee] PATH`.
pub const LOG_RELAY_VERB: &str = "container-log-relay";
/// The relay's flag for a foreground run: pass the output on to its own stdout and stderr.
pub const LOG_RELAY_TEE_FLAG: &str = "--tee";
/// The fd on which the relay reads the container's stderr (stdin carries its stdout).
const STDERR_FD: i32 = 3;

/// The process that writes the log.
pub struct Relay {
    child: Child,
    /// The log, which the monitor writes to directly once the container is done.
    log: PathBuf,
    /// A foreground run's own stdout and stderr, given back once the container is done.
    callers: Option<(OwnedFd, OwnedFd)>,
}

impl Relay {
    /// Starts the relay and makes the write ends of its pipes this process's stdout and
    /// stderr, which the container inherits. `tee`: the relay passes the output on to this
    /// process's stdout and stderr as they are now (a foreground run's).
    pub fn start(log: &Path, max: Option<u64>, tee: bool) -> Result<Relay> {
        let piping = |e: nix::errno::Errno| Error::Process {
            what: "sending the output to the log relay",
            source: e.into(),
        };
        // Every end closes on exec: the relay gets the read ends as its stdin and fd 3 only,
        // so the pipes end when the monitor and the container are done with them.
        let (out_read, out_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(piping)?;
        let (err_read, err_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(piping)?;
        let mut command = Command::new("/proc/self/exe");
        command.arg(LOG_RELAY_VERB);
        if let Some(max) = max {
            command.arg("--max").arg(max.to_string());
        }
        if tee {
            command.arg(LOG_RELAY_TEE_FLAG);
        }
        command
            .fd_mappings(vec![command_fds::FdMapping {
                parent_fd: err_read,
                child_fd: STDERR_FD,
            }])
            .map_err(|_| piping(nix::errno::Errno::EBADF))?;
        let child = command
            .arg(log)
            .stdin(Stdio::from(out_read))
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "the log relay",
                source,
            })?;
        let callers = match tee {
            true => Some((
                nix::unistd::dup(std::io::stdout()).map_err(piping)?,
                nix::unistd::dup(std::io::stderr()).map_err(piping)?,
            )),
            false => None,
        };
        nix::unistd::dup2_stdout(&out_write).map_err(piping)?;
        nix::unistd::dup2_stderr(&err_write).map_err(piping)?;
        Ok(Relay {
            child,
            log: log.to_path_buf(),
            callers,
        })
    }

    /// Closes this process's ends of the pipes and waits (up to 5 s) until the relay has
    /// written all the container wrote, so the log is complete once the exit status is
    /// recorded. What this process says after goes to the caller's stdout and stderr (a
    /// foreground run), or to the log directly (a monitor).
    pub fn finish(mut self) {
        match self.callers.take() {
            Some((stdout, stderr)) => {
                let _ = nix::unistd::dup2_stdout(&stdout);
                let _ = nix::unistd::dup2_stderr(&stderr);
            }
            None => {
                if let Ok(log) = OpenOptions::new().append(true).open(&self.log) {
                    let _ = nix::unistd::dup2_stdout(&log);
                    let _ = nix::unistd::dup2_stderr(&log);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                _ => return,
            }
        }
    }
}

/// The relay's side: writes the container's stdout (stdin here) and stderr (fd 3) to the log
/// at `path` until both end, capped at `max` bytes; with `tee`, passes them on too.
pub fn relay_log(path: &Path, max: Option<u64>, tee: bool) -> Result<()> {
    // It ends when the container's output does: not with a ctrl-C or ctrl-Z at the terminal
    // of a foreground run (whose process group it shares), which hoist passes on to the
    // container instead.
    // (Blocked, not ignored: the same for a process that never unblocks them, without
    // unsafe code.)
    let mut terminal_signals = nix::sys::signal::SigSet::empty();
    for signal in [
        nix::sys::signal::SIGINT,
        nix::sys::signal::SIGQUIT,
        nix::sys::signal::SIGTSTP,
        nix::sys::signal::SIGHUP,
    ] {
        terminal_signals.add(signal);
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&terminal_signals),
        None,
    )
    .map_err(|e| Error::Process {
        what: "blocking the terminal's signals",
        source: e.into(),
    })?;
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        OpenOptions::new().create(true).append(true),
        0o600,
    )
    .open(path)
    .map_err(Error::io("opening", path))?;
    let mut log = Log::new(file, path, max).map_err(Error::io("opening", path))?;
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(relay_io(path))?;
    let mut inputs = [
        Some((File::from(stdin), Stream::Stdout)),
        Some((
            inherited_stderr_pipe().map_err(relay_io(path))?,
            Stream::Stderr,
        )),
    ];
    let mut buffer = vec![0u8; 64 * 1024];
    while inputs.iter().any(Option::is_some) {
        wait_for_input(&inputs).map_err(relay_io(path))?;
        for slot in inputs.iter_mut() {
            let Some((input, stream)) = slot else {
                continue;
            };
            let n = match read_ready(input, &mut buffer) {
                Ok(Some(0)) | Err(_) => {
                    *slot = None;
                    continue;
                }
                Ok(None) => continue,
                Ok(Some(n)) => n,
            };
            if tee {
                // The caller gone (a closed pipe), the log is still kept.
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(&buffer[..n]),
                    Stream::Stderr => std::io::stderr().write_all(&buffer[..n]),
                };
            }
            log.write(*stream, &buffer[..n])
                .map_err(Error::io("writing", path))?;
        }
    }
    Ok(())
}

fn relay_io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    Error::io("relaying the output to", path)
}

/// The stderr pipe `Relay::start` left on fd 3, opened anew through /proc: safe code cannot
/// take an fd it did not open. Non-blocking (it is read only when `poll` says so), so that the
/// open cannot wait for a writer: a pipe's open for reading does while it has none.
fn inherited_stderr_pipe() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(format!("/proc/self/fd/{STDERR_FD}"))
}

/// Waits until one of the open inputs can be read (or has ended).
fn wait_for_input(inputs: &[Option<(File, Stream)>; 2]) -> std::io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds: Vec<PollFd> = inputs
        .iter()
        .flatten()
        .map(|(file, _)| PollFd::new(file, PollFlags::IN))
        .collect();
    loop {
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map(|_| ()).map_err(Into::into),
        }
    }
}

/// Reads what `input` has without blocking: `None` if nothing yet, `Some(0)` at its end.
fn read_ready(input: &mut File, buffer: &mut [u8]) -> std::io::Result<Option<usize>> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fd = [PollFd::new(&*input, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if poll(&mut fd, Some(&zero))? == 0 {
        return Ok(None);
    }
    loop {
        match input.read(buffer) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.map(Some),
        }
    }
}

/// The log file being written, and how full it is.
struct Log<'p> {
    file: File,
    path: &'p Path,
    size: u64,
    max: Option<u64>,
    lines: Vec<u8>,
}

impl<'p> Log<'p> {
    fn new(file: File, path: &'p Path, max: Option<u64>) -> std::io::Result<Log<'p>> {
        let size = file.metadata()?.len();
        Ok(Log {
            file,
            path,
            size,
            max,
            lines: Vec::new(),
        })
    }

    /// Appends `chunk` from `stream` as log lines, starting a new file when they would take
    /// it past its cap (lines longer than the cap keep their last whole ones that fit).
    fn write(&mut self, stream: Stream, chunk: &[u8]) -> std::io::Result<()> {
        self.lines.clear();
        encode(stream, SystemTime::now(), chunk, &mut self.lines);
        let mut lines = &self.lines[..];
        if let Some(max) = self.max {
            if lines.len() as u64 > max {
                let cut = lines.len() - max as usize;
                let next_line = lines[cut..].iter().position(|b| *b == b'\n');
                lines = next_line.map_or(&[][..], |at| &lines[cut + at + 1..]);
            }
            if self.size + lines.len() as u64 > max {
                self.file = start_over(self.path)?;
                self.size = 0;
            }
        }
        self.file.write_all(lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }
}

/// A new, empty log renamed over the old one (readable by its owner only, as the first was).
fn start_over(path: &Path) -> std::io::Result<File> {
    let fresh = path.with_extension("log.new");
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        OpenOptions::new().create(true).truncate(true).write(true),
        0o600,
    )
    .open(&fresh)?;
    std::fs::rename(&fresh, path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_format::decode;

    /// What the log holds after `writes` (of stdout) into a log that held `before`.
    fn capped_after(before: &[u8], writes: &[&[u8]], max: u64) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, before).unwrap();
        let file = OpenOptions::new().append(true).open(&path).unwrap();
        let mut log = Log::new(file, &path, Some(max)).unwrap();
        for chunk in writes {
            log.write(Stream::Stdout, chunk).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() as u64 <= max, "{} bytes", bytes.len());
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| decode(l).content.to_vec())
            .collect()
    }

    #[test]
    fn the_log_starts_over_when_it_would_pass_its_cap() {
        // A line is 39 bytes of stamp and tags plus its text.
        let max = 100;
        assert_eq!(capped_after(b"", &[b"abc\n"], max), [b"abc"]);
        // The third line would pass the cap: a new file holds it.
        let kept = capped_after(b"", &[b"0123\n", b"4567\n", b"89ab\n"], max);
        assert_eq!(kept, [b"89ab"]);
        // A write longer than the cap keeps its last whole lines.
        let kept = capped_after(b"", &[b"one\ntwo\nthree\n"], max);
        assert_eq!(kept, [b"two".to_vec(), b"three".to_vec()]);
        // A full log is replaced by a new file holding what came after.
        assert_eq!(capped_after(&[b'x'; 90], &[b"XY\n"], max), [b"XY"]);
    }
}
