//! Cold runs: `hoist run --rm IMAGE true` into an empty store (pull, unpack, start), beside
//! hoist's pull of the same image alone and podman's first run into an empty store of its own
//! (its pull included). Once on this host's loopback, where the registry answers as fast as
//! the cores hash and the pull is CPU-bound; once over a link of 1 Gbit/s (a registry in a
//! network namespace of the bench's own, its loopback shaped with tc's token bucket), where the
//! pull waits on the network, as it does for a registry elsewhere.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::bench::{compare, in_own_network, tool, Settings};
use crate::registry::{start_server, Registries};
use crate::shell;

/// The images a cold run is timed on: many files, and few large ones.
const IMAGES: &[&str] = &["debian-like", "big-layers"];
/// The shaped link's rate, as tc writes it.
const LINK: &str = "1gbit";

pub(crate) fn compare_cold_runs(
    hoist: &Path,
    registries: &Registries,
    settings: &Settings,
) -> anyhow::Result<()> {
    let wanted = |task: &str| settings.only.is_none_or(|only| task.contains(only));
    if IMAGES
        .iter()
        .all(|image| !wanted(&task(image, "")) && !wanted(&task(image, &link_note())))
    {
        return Ok(());
    }
    for image in IMAGES {
        cold_run(hoist, &registries.plain.address, image, "", settings)?;
    }
    // The same storage, served by a second registry on the shaped loopback of the bench's
    // network namespace.
    let server_dir = settings.scratch.join("shaped-registry");
    fs::create_dir_all(&server_dir)?;
    let _ = fs::remove_file(server_dir.join("data"));
    symlink(registries.plain_storage(), server_dir.join("data"))?;
    in_own_network(|| {
        shell::output(Command::new("tc").args([
            "qdisc", "add", "dev", "lo", "root", "tbf", "rate", LINK, "burst", "512kb", "latency",
            "50ms",
        ]))?;
        let server = start_server(&server_dir, None)?;
        let outcome = IMAGES
            .iter()
            .try_for_each(|image| cold_run(hoist, &server.address, image, &link_note(), settings));
        server.kill();
        outcome
    })
}

fn link_note() -> String {
    format!(", {LINK}/s link")
}

fn task(image: &str, note: &str) -> String {
    format!("cold run {image} true{note}")
}

fn cold_run(
    hoist: &Path,
    registry: &str,
    image: &str,
    note: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let reference = format!("{registry}/{image}:latest");
    let hoist_in = |dir: &Path| {
        let mut c = Command::new(hoist);
        c.env("HOIST_ROOT", dir.join("store"));
        c
    };
    let cold = tool("hoist", |dir, _| {
        let mut c = hoist_in(dir);
        c.args(["run", "--rm", "--network", "none", "--tls-verify=false"])
            .args([&reference, "true"]);
        c
    });
    let pull_alone = tool("hoist pull", |dir, _| {
        let mut c = hoist_in(dir);
        c.args(["pull", "--quiet", "--tls-verify=false", &reference]);
        c
    });
    let podman = tool("podman", |dir, _| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(dir.join("podman"))
            .arg("--runroot")
            .arg(dir.join("podman-run"))
            // Without it a fresh store leaves its directory mounted on itself behind.
            .args(["--storage-opt", "overlay.skip_mount_home=true"])
            .args(["run", "--rm", "--network", "none", "--tls-verify=false"])
            .args(crate::bench::PODMAN_HOST_OPTIONS)
            .args([&reference, "true"]);
        c
    });
    let peers = [pull_alone, podman];
    compare(&task(image, note), &cold, &peers, settings)
}
