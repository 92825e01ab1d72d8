//! Host setup: Debian packages the tests and benchmarks need, installed only where missing.

use std::process::Command;

use anyhow::Context;

use crate::shell::{self, cargo};

/// What tests, the demo and benchmarks use: the registry we pull from, the peers we check
/// against and measure beside, busybox for fixture images, htpasswd for the auth registry.
pub const PACKAGES: &[&str] = &[
    "docker-registry",
    "skopeo",
    "umoci",
    "runc",
    "crun",
    // containerd drives hoist through its runc shim in the tests, as podman does directly.
    "containerd",
    "busybox-static",
    "apache2-utils",
    "iproute2",
    // The engine that drives hoist as its runtime in the tests (RUNTIME-CLI.md's contract).
    "podman",
    // hoist-runtime links libseccomp (as runc does) to compile seccomp profiles.
    "libseccomp-dev",
    "pkg-config",
];

pub fn run(build: bool) -> anyhow::Result<()> {
    install_missing(PACKAGES)?;
    if build {
        shell::run(cargo().args(["build", "--release", "--package", "hoist"]))?;
    }
    Ok(())
}

pub fn install_missing(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    shell::run(Command::new("apt-get").args(["update", "-q"]))
        .context("apt-get update (setup needs root)")?;
    shell::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}
