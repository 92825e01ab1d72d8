//! podman's `exec NAME CMD`: the process a running container's config gives, with the
//! command and podman's exec options applied.

use std::path::{Path, PathBuf};

use hoist_runtime::Runtime;
use oci_spec::runtime::Process;

use crate::run::{available_capabilities, read_env_files, set_env};
use crate::{Error, Result};

/// What `exec` asks for besides the container's defaults.
#[derive(Debug, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// `KEY=VALUE`, or `KEY` to copy this process's value.
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    pub workdir: Option<PathBuf>,
    /// `USER[:GROUP]`, names looked up in the container's own `/etc/passwd` and `/etc/group`.
    pub user: Option<String>,
    pub tty: bool,
    /// Every capability hoist can give.
    pub privileged: bool,
}

/// The process to exec in container `id` (a runtime id): its config's, with `request`
/// applied.
pub fn exec_process(runtime: &Runtime, id: &str, request: &ExecRequest) -> Result<Process> {
    if request.command.is_empty() {
        return Err(Error::NoCommand);
    }
    let mut process = runtime.configured_process(id)?;
    process.set_args(Some(request.command.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    let mut entries = Vec::new();
    // As podman's `exec -t`: a terminal's kind, unless the container names one.
    if request.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        entries.push("TERM=xterm".to_string());
    }
    entries.extend(read_env_files(&request.env_file)?);
    entries.extend(request.env.iter().cloned());
    set_env(&mut env, entries)?;
    process.set_env(Some(env));
    if let Some(dir) = &request.workdir {
        if !dir.is_absolute() {
            return Err(Error::bad_option(
                format!("--workdir {}", dir.display()),
                "must be an absolute path",
            ));
        }
        process.set_cwd(dir.clone());
    }
    if let Some(user) = &request.user {
        process.set_user(container_user(runtime, id, user)?);
    }
    if request.privileged {
        let all = available_capabilities();
        let mut caps = process.capabilities().clone().unwrap_or_default();
        caps.set_bounding(Some(all.clone()));
        caps.set_effective(Some(all.clone()));
        caps.set_permitted(Some(all));
        process.set_capabilities(Some(caps));
    }
    process.set_terminal(Some(request.tty));
    Ok(process)
}

/// `USER[:GROUP]` resolved in the container's root file system, found through its state.
fn container_user(runtime: &Runtime, id: &str, user: &str) -> Result<oci_spec::runtime::User> {
    let rootfs = runtime.state(id)?.rootfs;
    let root = hoist_fs::Root::open(Path::new(&rootfs)).map_err(Error::io("opening", &rootfs))?;
    hoist_unpack::process_user(&root, user).map_err(|source| Error::User {
        user: user.to_string(),
        source,
    })
}
