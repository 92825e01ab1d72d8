//! The port proxy: a process that listens on a container's published ports on the host and
//! forwards what the firewall's rules cannot carry (root's loopback ports), or, for an
//! unprivileged user's container, everything, connecting from inside its network namespace.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use crate::{Error, Result};

/// The hidden verb of the process that forwards published ports: `port-proxy TO MAPPING...`.
pub const PORT_PROXY_VERB: &str = "port-proxy";

/// Starts `hoist port-proxy ARGS`, once it listens on all its ports.
pub(crate) fn spawn(args: &[String]) -> Result<Child> {
    let spawn_error = |source| Error::Spawn {
        what: "the port proxy",
        source,
    };
    let mut child = Command::new("/proc/self/exe")
        .arg(PORT_PROXY_VERB)
        .args(args)
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
    Ok(child)
}

/// The port proxy's side: end with whoever started it (or, `inside` a container's network
/// namespace, with that container's init, its pid kept in `pid_file`), listen, say so, forward.
pub fn port_proxy(
    to: std::net::Ipv4Addr,
    mappings: &[String],
    inside: Option<i32>,
    pid_file: Option<&std::path::Path>,
) -> Result<()> {
    if inside.is_none() {
        // Should the starter have died before this, the "ready" below meets a pipe nobody
        // reads: the write fails, and so does this process.
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
            .map_err(|e| Error::Process {
                what: "asking for a signal when the monitor ends",
                source: e.into(),
            })?;
    }
    let mappings = mappings
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<hoist_net::PortMapping>, _>>()?;
    // Bound here, in the host's network namespace, before entering the container's.
    let listeners = hoist_net::proxy::bind(&mappings)?;
    if let Some(pid) = inside {
        enter_network_of(pid)?;
    }
    // Written before "ready": whoever ends the container from then on finds it.
    if let Some(file) = pid_file {
        std::fs::write(file, std::process::id().to_string()).map_err(Error::io("writing", file))?;
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Process {
            what: "telling the monitor the ports are ready",
            source,
        })?;
    hoist_net::proxy::serve(listeners, to)
}

/// Moves this (single-threaded) process into the user and network namespaces of process
/// `pid`, and ends it when that process does.
pub(crate) fn enter_network_of(pid: i32) -> Result<()> {
    use nix::sched::CloneFlags;
    let failed = |what: &'static str| move |e: std::io::Error| Error::Process { what, source: e };
    let process = rustix::process::Pid::from_raw(pid).ok_or_else(|| {
        failed("finding the container's init")(std::io::ErrorKind::NotFound.into())
    })?;
    // By pidfd, not by /proc/PID: the pid may be another process's by now; the pidfd's is
    // the init's or none.
    let init = rustix::process::pidfd_open(process, rustix::process::PidfdFlags::empty())
        .map_err(|e| failed("finding the container's init")(e.into()))?;
    // A container of root's (on pasta too) is in this user namespace already, and setns
    // refuses to enter one's own.
    let inode =
        |path: String| std::fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let own_user_ns =
        inode(format!("/proc/{pid}/ns/user")).ok() == inode("/proc/self/ns/user".into()).ok();
    let namespaces = match own_user_ns {
        true => CloneFlags::CLONE_NEWNET,
        false => CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET,
    };
    nix::sched::setns(&init, namespaces)
        .map_err(|e| failed("entering the container's namespaces")(e.into()))?;
    std::thread::Builder::new()
        .spawn(move || {
            let mut fds = [rustix::event::PollFd::new(
                &init,
                rustix::event::PollFlags::IN,
            )];
            while rustix::event::poll(&mut fds, None).is_err() {}
            std::process::exit(0);
        })
        .map_err(failed("watching the container's init"))?;
    Ok(())
}
