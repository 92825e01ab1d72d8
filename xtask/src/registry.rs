//! Local registries: Debian's docker-registry (the CNCF distribution server) on 127.0.0.1, one
//! anonymous and one behind htpasswd basic auth, each on a free port with storage under
//! `target/registry/<instance>/`.

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::shell::{self, target_dir};

pub const DEFAULT_INSTANCE: &str = "default";
pub const AUTH_USER: &str = "hoist";
pub const AUTH_PASSWORD: &str = "hoist-test-password";

#[derive(Subcommand, Clone)]
pub enum Action {
    /// Start the registries (if not running) and print their addresses
    Start,
    /// Stop the registries this instance started
    Stop,
    /// Say whether they run, and where
    Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    pub pid: i32,
    pub address: String,
}

/// One instance: a plain registry and an authenticated one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registries {
    pub instance: String,
    pub plain: Server,
    pub auth: Server,
}

pub fn command(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Start => {
            let r = Registries::start(DEFAULT_INSTANCE)?;
            println!("registry      http://{} (anonymous)", r.plain.address);
            println!(
                "registry-auth http://{} (basic auth {AUTH_USER}:{AUTH_PASSWORD})",
                r.auth.address
            );
            println!("storage       {}", instance_dir(DEFAULT_INSTANCE).display());
        }
        Action::Stop => match Registries::load(DEFAULT_INSTANCE) {
            Ok(r) => r.stop(),
            Err(_) => println!("no registries running"),
        },
        Action::Status => match Registries::load(DEFAULT_INSTANCE) {
            Ok(r) => {
                for (name, server) in [("registry", &r.plain), ("registry-auth", &r.auth)] {
                    let state = if server.alive() { "running" } else { "dead" };
                    println!(
                        "{name:<14} {state:<8} pid {:<8} http://{}",
                        server.pid, server.address
                    );
                }
            }
            Err(_) => println!("not running (start with `cargo xtask registry start`)"),
        },
    }
    Ok(())
}

pub fn instance_dir(instance: &str) -> PathBuf {
    target_dir().join("registry").join(instance)
}

impl Registries {
    /// Starts both registries of an instance, or returns the running ones.
    pub fn start(instance: &str) -> anyhow::Result<Registries> {
        if let Ok(running) = Registries::load(instance) {
            if running.plain.alive() && running.auth.alive() {
                return Ok(running);
            }
            running.stop();
        }
        let dir = instance_dir(instance);
        fs::create_dir_all(&dir)?;
        let htpasswd = dir.join("htpasswd");
        let line =
            shell::output(Command::new("htpasswd").args(["-Bbn", AUTH_USER, AUTH_PASSWORD]))?
                .stdout;
        fs::write(&htpasswd, line)?;
        let plain = start_server(&dir.join("plain"), None)?;
        let auth = match start_server(&dir.join("auth"), Some(&htpasswd)) {
            Ok(s) => s,
            Err(e) => {
                plain.kill();
                return Err(e);
            }
        };
        let registries = Registries {
            instance: instance.to_string(),
            plain,
            auth,
        };
        fs::write(
            dir.join("servers.json"),
            serde_json::to_vec_pretty(&registries)?,
        )?;
        Ok(registries)
    }

    pub fn load(instance: &str) -> anyhow::Result<Registries> {
        let path = instance_dir(instance).join("servers.json");
        let bytes = fs::read(&path)
            .with_context(|| format!("no registries recorded in {}", path.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub fn stop(&self) {
        self.plain.kill();
        self.auth.kill();
        let _ = fs::remove_file(instance_dir(&self.instance).join("servers.json"));
    }

    /// Where the anonymous registry keeps its repositories.
    pub fn plain_storage(&self) -> PathBuf {
        instance_dir(&self.instance).join("plain").join("data")
    }

    /// Stops the registries and removes their storage.
    pub fn destroy(&self) {
        self.stop();
        let _ = fs::remove_dir_all(instance_dir(&self.instance));
    }
}

impl Server {
    /// True if the recorded pid is still our registry (not a reused pid).
    pub fn alive(&self) -> bool {
        let is_registry = fs::read_link(format!("/proc/{}/exe", self.pid))
            .is_ok_and(|exe| exe.to_string_lossy().contains("docker-registry"));
        let zombie = fs::read_to_string(format!("/proc/{}/stat", self.pid)).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        is_registry && !zombie
    }

    pub(crate) fn kill(&self) {
        if self.alive() {
            let pid = nix::unistd::Pid::from_raw(self.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.alive() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Starts a registry with storage in `dir/data`, on a free port of this thread's network
/// namespace's loopback.
pub(crate) fn start_server(dir: &Path, htpasswd: Option<&Path>) -> anyhow::Result<Server> {
    fs::create_dir_all(dir.join("data"))?;
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let auth = match htpasswd {
        Some(path) => format!(
            "auth:\n  htpasswd:\n    realm: hoist-test\n    path: {}\n",
            path.display()
        ),
        None => String::new(),
    };
    // Manifests may name non-distributable layers kept at URLs on this machine (a registry
    // refuses any URL it is not told to allow).
    let validation = "validation:\n  manifests:\n    urls:\n      allow:\n        - '^http://127\\.0\\.0\\.1[:/]'\n";
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n{auth}{validation}",
        dir.join("data").display()
    );
    let config_path = dir.join("config.yml");
    fs::write(&config_path, config)?;
    let log = fs::File::create(dir.join("registry.log"))?;
    let mut command = Command::new("docker-registry");
    command
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own session: it outlives `cargo xtask registry start` and ignores our terminal.
        .process_group(0);
    let child = command
        .spawn()
        .context("starting docker-registry (install it with `cargo xtask setup`)")?;
    let server = Server {
        pid: child.id() as i32,
        address,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers(&server.address) {
        if !server.alive() || Instant::now() > deadline {
            server.kill();
            let log = fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
            bail!(
                "docker-registry on {} did not come up:\n{log}",
                server.address
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// An ephemeral port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether the registry answers `GET /v2/` (200 anonymous, 401 with auth).
fn answers(address: &str) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {address}\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
