//! `cargo xtask demo`: the main job end to end, on a fresh machine.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::registry::{Registries, DEFAULT_INSTANCE};
use crate::shell::{self, target_dir};
use crate::{fixtures, setup};

const DEMO_SCRIPT: &str = "echo 'Hello from a hoist container!'; \
echo \"  hostname: $(hostname)\"; echo \"  my pid:   $$\"; echo \"  user:     $(id)\"; \
echo \"  network:  $(ls /sys/class/net)\"; echo \"  rootfs:  \" $(ls /)";

pub fn run() -> anyhow::Result<()> {
    setup::run(true)?;
    let registries = Registries::start(DEFAULT_INSTANCE)?;
    fixtures::build_and_push(&registries, fixtures::Selection::Tests)?;

    let hoist = target_dir().join("release/hoist");
    let work = target_dir().join("demo");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let layout = work.join("layout");
    let bundle = work.join("bundle");
    let image = format!("docker://{}/busybox:latest", registries.plain.address);

    step(&format!(
        "hoist pull {image} --tls-verify=false --dest oci:{}:latest",
        layout.display()
    ));
    shell::run(
        Command::new(&hoist)
            .args(["pull", &image, "--tls-verify=false", "--dest"])
            .arg(format!("oci:{}:latest", layout.display())),
    )?;

    step(&format!(
        "hoist unpack --image {}:latest {}",
        layout.display(),
        bundle.display()
    ));
    shell::run(
        Command::new(&hoist)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle),
    )?;
    set_args(&bundle, &["sh", "-c", DEMO_SCRIPT])?;

    let id = format!("hoist-demo-{}", std::process::id());
    step(&format!("hoist run --bundle {} {id}", bundle.display()));
    let status = Command::new(&hoist)
        .arg("--root")
        .arg(work.join("run"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .status()?;
    if !status.success() {
        bail!("the demo container failed: {status}");
    }

    let one_step = format!("{}/busybox:latest", registries.plain.address);
    step(&format!(
        "hoist run --rm --network none --tls-verify=false {one_step} echo ... (pull, unpack and run in one step)"
    ));
    let status = Command::new(&hoist)
        .env("HOIST_ROOT", work.join("store"))
        .arg("--root")
        .arg(work.join("run"))
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--tls-verify=false",
            &one_step,
            "echo",
            "  ...and one step from an image name to a running container.",
        ])
        .status()?;
    if !status.success() {
        bail!("the one-step run failed: {status}");
    }
    eprintln!(
        "\nThe local registry is still running at {} (stop it with `cargo xtask registry stop`).",
        registries.plain.address
    );
    Ok(())
}

fn step(what: &str) {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("\n\x1b[1m$ {what}\x1b[0m");
    } else {
        eprintln!("\n$ {what}");
    }
}

pub fn set_args(bundle: &Path, args: &[&str]) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
    config["process"]["args"] = serde_json::json!(args);
    fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}
