//! The bench's rootless task: `hoist run --rm IMAGE true` as the unprivileged user `setup`
//! makes, beside rootless podman as the same user, each with the image in its own store and
//! no network (Debian 12's podman has no pasta, and its slirp4netns is not installed here).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::bench::{compare, tool, Settings};
use crate::setup::ROOTLESS_USER;
use crate::shell;

pub(crate) const TASK: &str = "rootless run --rm busybox true";

pub(crate) fn compare_rootless_run(
    hoist: &Path,
    image: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    if settings.only.is_some_and(|only| !TASK.contains(only)) {
        return Ok(());
    }
    let user = nix::unistd::User::from_name(ROOTLESS_USER)?
        .with_context(|| format!("no user {ROOTLESS_USER} (cargo xtask setup makes one)"))?;
    let home = settings.scratch.join("rootless-home");
    let xdg = settings.scratch.join("rootless-xdg");
    fs::set_permissions(settings.scratch, fs::Permissions::from_mode(0o755))?;
    for dir in [&home, &xdg] {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        nix::unistd::chown(dir.as_path(), Some(user.uid), Some(user.gid))?;
    }
    let as_user = |program: &Path| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &user.uid.to_string(),
            "--regid",
            &user.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(program)
        .current_dir(&home)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &xdg)
        .env_remove("HOIST_ROOT")
        .env_remove("XDG_DATA_HOME");
        c
    };
    let podman = |args: &[&str]| {
        let mut c = as_user(Path::new("podman"));
        // crun refuses this hybrid host's cgroups; runc without systemd runs.
        c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
            .args(args);
        c
    };
    let result = (|| {
        shell::output(as_user(hoist).args(["pull", "--quiet", "--tls-verify=false", image]))?;
        shell::output(&mut podman(&[
            "pull",
            "--quiet",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ]))?;
        let ours = tool("hoist", |_, _| {
            let mut c = as_user(hoist);
            c.args(["run", "--rm", "--network", "none", image, "true"]);
            c
        });
        let theirs = tool("podman", |_, _| {
            podman(&["run", "--rm", "--network", "none", image, "true"])
        });
        compare(TASK, &ours, &[theirs], settings)
    })();
    end_podmans_pause_process(&xdg);
    let _ = fs::remove_dir_all(&home);
    let _ = fs::remove_dir_all(&xdg);
    result
}

/// Rootless podman leaves a pause process holding its user namespace: the bench's own
/// (named by the runtime directory the bench gave it) goes with the bench.
fn end_podmans_pause_process(xdg: &Path) {
    let pid = fs::read_to_string(xdg.join("libpod/tmp/pause.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    // Only if that pid is still podman's (a pid is reused once its process is gone).
    let is_podman = |pid: i32| {
        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| line.starts_with(b"podman"))
    };
    if let Some(pid) = pid.filter(|pid| is_podman(*pid)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
