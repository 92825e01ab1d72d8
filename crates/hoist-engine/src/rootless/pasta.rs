//! An unprivileged user's network: pasta (Debian's `passt` package), rootless podman's default.
//! pasta joins the container's user and network namespaces, gives it an interface with the
//! host's addresses and routes (`--config-net`), and carries its traffic through ordinary
//! sockets of the user's on the host: no bridge, no firewall rule, no privilege. Published
//! ports are hoist's port proxy's (see `start_port_proxy`). Both run as daemons per container,
//! started by a createRuntime hook (the namespaces exist, the program has not started), and
//! are ended with the container's network.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// In the container's directory: the pid of its pasta, and of its port proxy.
const PASTA_PID_FILE: &str = "pasta.pid";
const PROXY_PID_FILE: &str = "port-proxy.pid";

/// Connects the network namespace of process `pid` (the container's init) to the host's
/// network, and publishes `ports` (`IP:HOSTPORT:CONTAINERPORT/PROTOCOL`).
pub(crate) fn connect(dir: &Path, pid: i32, ports: &[String]) -> Result<()> {
    start_pasta(dir, pid)?;
    if !ports.is_empty() {
        start_port_proxy(dir, pid, ports)?;
    }
    Ok(())
}

fn start_pasta(dir: &Path, pid: i32) -> Result<()> {
    let mut command = Command::new("pasta");
    command
        // No way from the container to the host's own loopback services, and nothing
        // forwarded in by pasta (its default would forward every port the container binds):
        // published ports are the port proxy's.
        .args(["--config-net", "--quiet", "--no-map-gw"])
        .args(["-t", "none", "-u", "none", "-T", "none", "-U", "none"])
        .arg("--pid")
        .arg(dir.join(PASTA_PID_FILE))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::bad_option(
            "--network pasta",
            "needs pasta, which is not installed: install it (Debian's passt package), or run with --network none",
        ),
        _ => Error::io("starting", "pasta")(e),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = said
        .lines()
        .filter(|l| !l.starts_with("Failed to send"))
        .collect();
    let mut reason = format!("pasta failed: {}", said.join("; "));
    if reason.contains("tun") {
        reason.push_str(
            " (it needs /dev/net/tun readable and writable by you, mode 0666 as udev's default rule makes it)",
        );
    }
    Err(Error::bad_option("--network pasta", reason))
}

/// Published ports: hoist's port proxy listens on the host and connects from inside the
/// container's network namespace, as rootless podman's rootlessport does (the server sees
/// the proxy, at 127.0.0.1). pasta's own forwarding is not used: the pasta of Debian 12
/// (2023-03) accepted connections from other hosts on this machine but never passed them
/// into the container (only loopback ones, which it splices).
fn start_port_proxy(dir: &Path, pid: i32, ports: &[String]) -> Result<()> {
    let mut args = vec![
        "--netns-of".to_string(),
        pid.to_string(),
        "--pid-file".to_string(),
        dir.join(PROXY_PID_FILE).to_string_lossy().into_owned(),
        "127.0.0.1".to_string(),
    ];
    args.extend(ports.iter().cloned());
    // It outlives this hook (it ends with the container's init); its pid is in its file.
    crate::port_proxy::spawn(&args).map(drop)
}

/// Ends the pasta and port proxy of the container in `dir`, where they run.
pub(crate) fn disconnect(dir: &Path) {
    end(&dir.join(PROXY_PID_FILE));
    end(&dir.join(PASTA_PID_FILE));
}

/// Ends the process `file` names, only if its command line names `file` too: it is the one
/// started for this container (a pid is reused once its process is gone). Its /proc directory
/// may be root's (pasta makes itself undumpable); `cmdline` stays readable.
fn end(file: &Path) {
    let Some(pid) = std::fs::read_to_string(file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The pidfd first, then the check: what is signalled is the process checked.
    if let Ok(process) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        let started_here = std::fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()))
            .is_ok_and(|line| {
                line.split(|b| *b == 0)
                    .any(|arg| arg == file.as_os_str().as_encoded_bytes())
            });
        if started_here {
            // SIGKILL: pasta blocks SIGTERM, and neither has anything to save.
            let _ = rustix::process::pidfd_send_signal(&process, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_file(file);
}
