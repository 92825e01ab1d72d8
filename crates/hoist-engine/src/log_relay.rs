//! A detached container's log with a size cap (`--log-opt max-size`): the monitor's output,
//! and so the container's, goes through a pipe to a relay process (hoist re-executed with
//! `LOG_RELAY_VERB`) that appends it to `ctr.log` and starts the file over when it would grow
//! past the cap, as podman's k8s-file log (conmon's `log_size_max`) does: a new file renamed
//! over the old, so a follower sees a new inode and reads it from its start. A log without a
//! cap is written by the container directly and needs no relay.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The hidden verb of a capped log's writer: `container-log-relay MAX PATH`.
pub const LOG_RELAY_VERB: &str = "container-log-relay";

/// The process that writes the log.
pub struct Relay {
    child: Child,
    /// The log, which the monitor writes to directly once the container is done.
    log: PathBuf,
}

impl Relay {
    /// Starts the relay and makes the write end of its pipe this process's stdout and stderr,
    /// which the container inherits.
    pub fn start(log: &Path, max: u64) -> Result<Relay> {
        let piping = |e: nix::errno::Errno| Error::Process {
            what: "sending the output to the log relay",
            source: e.into(),
        };
        // Both ends close on exec: the relay gets the read end as its stdin only, so the
        // pipe ends when the monitor and the container are done with it.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(piping)?;
        let child = Command::new("/proc/self/exe")
            .arg(LOG_RELAY_VERB)
            .arg(max.to_string())
            .arg(log)
            .stdin(Stdio::from(read))
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "the log relay",
                source,
            })?;
        redirect_output(&write).map_err(piping)?;
        Ok(Relay {
            child,
            log: log.to_path_buf(),
        })
    }

    /// Closes this process's end of the pipe and waits (up to 5 s) until the relay has written
    /// all the container wrote, so the log is complete once the exit status is recorded. What
    /// the monitor says after (its own failure, say) goes to the log directly, as it would
    /// without a cap.
    pub fn finish(mut self) {
        if let Ok(log) = OpenOptions::new().append(true).open(&self.log) {
            let _ = redirect_output(&log);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                _ => return,
            }
        }
    }
}

/// The relay's side: appends stdin to the log at `path` until its end, capped at `max` bytes.
pub fn relay_log(path: &Path, max: u64) -> Result<()> {
    let log = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(Error::io("opening", path))?;
    copy_capped(std::io::stdin().lock(), log, path, max).map_err(Error::io("writing", path))
}

/// Makes `to` this process's stdout and stderr.
fn redirect_output(to: impl std::os::fd::AsFd) -> nix::Result<()> {
    nix::unistd::dup2_stdout(&to)?;
    nix::unistd::dup2_stderr(&to)
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

/// Appends what `input` gives to `log` (open at `path`) until its end, starting a new file
/// there whenever the next chunk would take it past `max` bytes (a chunk longer than `max`
/// keeps its last `max`).
fn copy_capped(mut input: impl Read, mut log: File, path: &Path, max: u64) -> std::io::Result<()> {
    let mut size = log.metadata()?.len();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buffer[..n];
        if chunk.len() as u64 > max {
            chunk = &chunk[chunk.len() - max as usize..];
        }
        if size + chunk.len() as u64 > max {
            log = start_over(path)?;
            size = 0;
        }
        log.write_all(chunk)?;
        size += chunk.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(writes: &[&[u8]], max: u64) -> Vec<u8> {
        capped_after(b"", writes, max)
    }

    /// The log after `writes` went through the relay into a log that held `before`.
    fn capped_after(before: &[u8], writes: &[&[u8]], max: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, before).unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let mut writer = File::from(write);
        for chunk in writes {
            writer.write_all(chunk).unwrap();
        }
        drop(writer);
        let log = OpenOptions::new().append(true).open(&path).unwrap();
        copy_capped(File::from(read), log, &path, max).unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn the_log_starts_over_when_it_would_pass_its_cap() {
        // One pipe read may take several writes, so only the invariants are certain: never
        // more than the cap, and the end of the output is always there.
        let log = capped(&[b"0123456789", b"abcdefghij", b"KLMNO"], 12);
        assert!(log.len() <= 12, "{log:?}");
        assert!(log.ends_with(b"KLMNO"), "{log:?}");
        assert_eq!(capped(&[b"abc"], 12), b"abc");
        assert_eq!(capped(&[b"0123456789abcdef"], 4), b"cdef");
        // A full log is replaced by a new file holding what came after.
        assert_eq!(capped_after(b"0123456789ab", &[b"XY"], 12), b"XY");
    }
}
