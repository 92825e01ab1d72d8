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
    // The CRI tests: protoc builds the CRI client's protobufs; containerd's pod networks are
    // set up by CNI plugins (the loopback one; the pod's own interface by a test plugin).
    "protobuf-compiler",
    "containernetworking-plugins",
    "busybox-static",
    "apache2-utils",
    "iproute2",
    // hoist's networks: masquerading and published ports in an nftables table of its own.
    "nftables",
    // The engine that drives hoist as its runtime in the tests (RUNTIME-CLI.md's contract).
    "podman",
    // Image builders whose output hoist must run (the compatibility corpus).
    "buildah",
    // hoist-runtime links libseccomp (as runc does) to compile seccomp profiles.
    "libseccomp-dev",
    "pkg-config",
    // newuidmap/newgidmap, for rootless containers that map subordinate ids.
    "uidmap",
    // pasta, an unprivileged user's network.
    "passt",
    // `cargo xtask dist`: objcopy strips the binary; the install tests render the man pages.
    "binutils",
    "man-db",
    // A guest machine for what this host cannot be (cgroup2 alone): qemu boots Debian's cloud
    // kernel (`guest_kernel.rs`) from an initramfs the test makes.
    "qemu-system-x86",
];

/// The unprivileged user the rootless tests run as, with subordinate uid and gid ranges.
pub const ROOTLESS_USER: &str = "hoist-rootless";

pub fn run(build: bool) -> anyhow::Result<()> {
    install_missing(PACKAGES)?;
    ensure_rootless_user()?;
    open_tun_device()?;
    crate::guest_kernel::ensure()?;
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

/// pasta (an unprivileged user's network) opens /dev/net/tun: udev's default rule on Debian
/// makes it 0666, which a machine without udev (a container or a minimal VM) lacks.
fn open_tun_device() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tun = std::path::Path::new("/dev/net/tun");
    let mode = std::fs::metadata(tun)
        .with_context(|| format!("{} (the tun device pasta needs)", tun.display()))?
        .permissions()
        .mode();
    if mode & 0o666 != 0o666 {
        eprintln!(
            "xtask: making {} mode 0666 for the whole machine, as udev does on Debian (pasta needs it)",
            tun.display()
        );
        std::fs::set_permissions(tun, std::fs::Permissions::from_mode(0o666))
            .with_context(|| format!("making {} 0666, as udev does", tun.display()))?;
    }
    Ok(())
}

/// Creates the rootless tests' user (an ordinary account with no home and no login shell) and
/// gives it subordinate ids, where missing.
fn ensure_rootless_user() -> anyhow::Result<()> {
    let exists = Command::new("id")
        .arg(ROOTLESS_USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        shell::run(Command::new("useradd").args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            ROOTLESS_USER,
        ]))
        .context("creating the rootless tests' user (setup needs root)")?;
    }
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let listed = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:")));
        if !listed {
            shell::run(Command::new("usermod").args([flag, "300000-365535", ROOTLESS_USER]))?;
        }
    }
    Ok(())
}
