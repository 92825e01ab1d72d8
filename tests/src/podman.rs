//! podman for the tests: as an engine driving hoist (RUNTIME-CLI.md's contract), or with
//! another runtime as the reference hoist's own results are compared with. All of its state
//! lives in the test's scratch directory; nothing on the host's network is created.

use std::path::Path;
use std::process::Command;

/// podman with hoist as its OCI runtime.
pub fn podman(scratch: &Path) -> Command {
    podman_with_runtime(scratch, "hoist")
}

/// podman with the runtime of that name (`hoist`, or one podman knows, such as `runc`), its
/// configuration and storage all in `scratch` (the runtime is chosen once per scratch).
pub fn podman_with_runtime(scratch: &Path, runtime: &str) -> Command {
    let conf = scratch.join("containers.conf");
    if !conf.exists() {
        std::fs::create_dir_all(scratch).unwrap();
        // podman passes --log-format=json only to runtimes it knows by name: hoist is named so.
        let text = r#"[engine]
runtime = "RUNTIME"
runtime_supports_json = ["crun", "runc", "hoist"]
cgroup_manager = "cgroupfs"
events_logger = "file"

[engine.runtimes]
hoist = ["HOIST_BIN"]

[containers]
# this machine's hard limits: podman's defaults are above them
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
"#
        .replace("HOIST_BIN", &crate::hoist_bin().display().to_string())
        .replace("RUNTIME", runtime);
        std::fs::write(&conf, text).unwrap();
    }
    let mut command = Command::new("podman");
    command
        .env("CONTAINERS_CONF", &conf)
        .env("CONTAINERS_STORAGE_CONF", storage_conf(scratch))
        .arg("--root")
        .arg(scratch.join("storage"))
        .arg("--runroot")
        .arg(scratch.join("runroot"))
        .arg("--tmpdir")
        .arg(scratch.join("tmp"));
    command
}

/// buildah over the same storage as [`podman_with_runtime`] in `scratch` (it runs nothing:
/// the corpus builds with `from`, `copy`, `config` and `commit`).
pub fn buildah(scratch: &Path) -> Command {
    let mut command = Command::new("buildah");
    command
        .env("CONTAINERS_STORAGE_CONF", storage_conf(scratch))
        .arg("--root")
        .arg(scratch.join("storage"))
        .arg("--runroot")
        .arg(scratch.join("runroot"));
    command
}

/// containers-storage.conf for a store in `scratch` (for other tools of containers, such as
/// skopeo's `containers-storage:` transport, to use podman's store).
pub fn storage_conf(scratch: &Path) -> std::path::PathBuf {
    let storage = scratch.join("storage.conf");
    if !storage.exists() {
        std::fs::create_dir_all(scratch).unwrap();
        // No bind mount of the storage directory onto itself: it would outlive the test.
        let text = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n[storage.options.overlay]\nskip_mount_home = \"true\"\n",
            scratch.join("storage").display(),
            scratch.join("runroot").display()
        );
        std::fs::write(&storage, text).unwrap();
    }
    storage
}

/// Removes podman's scratch directory. conmon starts `podman container cleanup` after a
/// container exits, which may still be at work when the test ends (for long on a busy machine),
/// and mounts the storage's overlay directory again if it is gone: wait (up to half a minute)
/// until no process names this scratch directory any more, then unmount and remove it.
pub struct RemoveScratch<'a>(pub &'a Path);

/// Whether a process other than this one has `dir` in its command line (conmon and the
/// `podman container cleanup` it starts name the storage under it).
fn someone_uses(dir: &Path) -> bool {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let name = entry.file_name();
            name.to_string_lossy().bytes().all(|b| b.is_ascii_digit())
                && name.to_string_lossy() != me
                && std::fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
}

impl Drop for RemoveScratch<'_> {
    fn drop(&mut self) {
        for _ in 0..300 {
            if !someone_uses(self.0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let overlay = std::ffi::CString::new(
            self.0
                .join("storage/overlay")
                .as_os_str()
                .as_encoded_bytes(),
        )
        .unwrap();
        for _ in 0..300 {
            // SAFETY: unmounting a path of this test's own scratch directory (if mounted).
            unsafe { libc::umount2(overlay.as_ptr(), libc::MNT_DETACH) };
            if std::fs::remove_dir_all(self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
