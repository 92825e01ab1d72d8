//! The kernel the guest tests boot under qemu: Debian's cloud kernel, taken from its package
//! (downloaded and unpacked here, never installed on this host), with the overlayfs module the
//! guest loads. A guest is where the tests get what this hybrid host cannot be: a machine whose
//! cgroups are cgroup2 alone, so an unprivileged user can be delegated controllers.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

use crate::shell::{self, target_dir};

/// The package whose dependency names the current cloud kernel's package.
const KERNEL_META_PACKAGE: &str = "linux-image-cloud-amd64";

/// The directory with `vmlinuz` and `overlay.ko`, fetched where missing.
pub fn ensure() -> anyhow::Result<PathBuf> {
    let dir = target_dir().join("guest-kernel");
    if dir.join("vmlinuz").exists() && dir.join("overlay.ko").exists() {
        return Ok(dir);
    }
    let package = kernel_package()?;
    eprintln!(
        "xtask: fetching {package} for the guest tests (unpacked into {}, not installed)",
        dir.display()
    );
    let work = target_dir().join("guest-kernel.partial");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    shell::run(
        Command::new("apt-get")
            .args(["download", "-q", &package])
            .current_dir(&work),
    )
    .context("downloading the guest kernel's package")?;
    let deb = std::fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    let unpacked = work.join("x");
    shell::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let find = |pattern: &str| -> anyhow::Result<PathBuf> {
        let found = Command::new("find")
            .arg(&unpacked)
            .args(["-name", pattern])
            .output()?;
        let text = String::from_utf8_lossy(&found.stdout);
        match text.lines().next() {
            Some(path) => Ok(PathBuf::from(path)),
            None => bail!("{package} has no {pattern}"),
        }
    };
    // Made beside, then renamed: a fetch cut short leaves no kernel that looks whole.
    let staged = work.join("kernel");
    std::fs::create_dir(&staged)?;
    std::fs::copy(find("vmlinuz-*")?, staged.join("vmlinuz"))?;
    // Newer Debian kernels ship their modules compressed; busybox's insmod wants them plain.
    let module = find("overlay.ko*")?;
    let decompressor = match module.extension().and_then(|e| e.to_str()) {
        Some("xz") => Some("xz"),
        Some("zst") => Some("zstd"),
        _ => None,
    };
    match decompressor {
        Some(tool) => {
            let plain = Command::new(tool).arg("-dc").arg(&module).output()?;
            if !plain.status.success() {
                bail!("{tool} could not decompress {}", module.display());
            }
            std::fs::write(staged.join("overlay.ko"), plain.stdout)?;
        }
        None => {
            std::fs::copy(&module, staged.join("overlay.ko"))?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staged, &dir)?;
    std::fs::remove_dir_all(&work)?;
    Ok(dir)
}

/// `linux-image-<version>-cloud-amd64`, as the meta package names it today.
fn kernel_package() -> anyhow::Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", KERNEL_META_PACKAGE])
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Depends: linux-image-")
                .map(|v| format!("linux-image-{v}"))
        })
        .with_context(|| {
            format!("apt-cache names no kernel for {KERNEL_META_PACKAGE} (is apt-get update done?)")
        })
}
