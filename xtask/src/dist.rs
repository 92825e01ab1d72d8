//! `cargo xtask dist`: a Debian package of hoist — the binary, a man page per verb, shell
//! completions, and a containers.conf drop-in that registers hoist as a runtime for podman.
//! Built with `dpkg-deb`, Debian's own tool for the job (cargo-deb would be one more thing to
//! compile on every fresh machine, for a staging directory and a control file).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::shell::{self, cargo, target_dir};

/// What podman reads to know hoist as a runtime (`podman --runtime hoist`).
const CONTAINERS_CONF_DROP_IN: &str = "\
# Installed with hoist: podman may run containers with `--runtime hoist`.
[engine.runtimes]
hoist = [\"/usr/bin/hoist\"]
";

/// Packages that hoist uses where they are installed: seccomp always; newuidmap for rootless
/// containers, nft for the bridge's NAT, pasta for rootless networking.
const DEPENDS: &str = "libc6, libseccomp2";
const RECOMMENDS: &str = "uidmap, nftables, passt";

pub enum Profile {
    Release,
    /// The debug build, stripped (what the tests install).
    Debug,
}

/// Builds the binary and the package; returns the package's path.
pub fn run(profile: Profile, out: &Path) -> anyhow::Result<PathBuf> {
    let (flag, dir) = match profile {
        Profile::Release => (Some("--release"), "release"),
        Profile::Debug => (None, "debug"),
    };
    let mut build = cargo();
    build.args(["build", "--package", "hoist"]).args(flag);
    shell::run(&mut build)?;
    package(&target_dir().join(dir).join("hoist"), out)
}

/// Packages the binary at `binary` into `out`.
pub fn package(binary: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let arch =
        String::from_utf8(shell::output(Command::new("dpkg").arg("--print-architecture"))?.stdout)?;
    let arch = arch.trim();
    let stage = out.join("stage");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    let bin = stage.join("usr/bin");
    fs::create_dir_all(&bin)?;
    shell::run(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(binary)
            .arg(bin.join("hoist")),
    )?;
    let hoist = bin.join("hoist");
    man_pages(&hoist, &stage.join("usr/share/man/man1"))?;
    for (shell_name, path) in [
        ("bash", "usr/share/bash-completion/completions/hoist"),
        ("zsh", "usr/share/zsh/vendor-completions/_hoist"),
        ("fish", "usr/share/fish/vendor_completions.d/hoist.fish"),
    ] {
        let script = shell::output(Command::new(&hoist).args(["completion", shell_name]))?.stdout;
        write(&stage.join(path), &script)?;
    }
    let drop_in = "etc/containers/containers.conf.d/50-hoist.conf";
    write(&stage.join(drop_in), CONTAINERS_CONF_DROP_IN.as_bytes())?;
    let installed_kib = du_bytes(&stage)?.div_ceil(1024);
    let control = format!(
        "Package: hoist\nVersion: {version}\nArchitecture: {arch}\nMaintainer: hoist developers <hoist@localhost>\n\
         Installed-Size: {installed_kib}\nDepends: {DEPENDS}\nRecommends: {RECOMMENDS}\nSection: admin\nPriority: optional\n\
         Description: pull, unpack and run OCI container images\n \
         One binary for what skopeo (pull, copy), umoci (unpack, repack) and runc (run)\n \
         do, with podman's `run IMAGE` on top.\n"
    );
    write(&stage.join("DEBIAN/control"), control.as_bytes())?;
    write(
        &stage.join("DEBIAN/conffiles"),
        format!("/{drop_in}\n").as_bytes(),
    )?;
    let deb = out.join(format!("hoist_{version}_{arch}.deb"));
    shell::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "-z6", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    fs::remove_dir_all(&stage)?;
    println!("{}", deb.display());
    Ok(deb)
}

/// A man page per verb, gzipped as Debian installs them.
fn man_pages(hoist: &Path, dir: &Path) -> anyhow::Result<()> {
    let plain = dir.with_extension("plain");
    shell::run(Command::new(hoist).arg("generate-man").arg(&plain))?;
    fs::create_dir_all(dir)?;
    for page in fs::read_dir(&plain)? {
        let page = page?.path();
        let name = page
            .file_name()
            .context("a page has a name")?
            .to_string_lossy()
            .into_owned();
        let mut gz = flate2::write::GzEncoder::new(
            fs::File::create(dir.join(format!("{name}.gz")))?,
            flate2::Compression::best(),
        );
        gz.write_all(&fs::read(&page)?)?;
        gz.finish()?;
    }
    fs::remove_dir_all(&plain)?;
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::create_dir_all(path.parent().context("a path in the stage has a parent")?)?;
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn du_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            du_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
