//! podman driving hoist as its OCI runtime (through conmon), the way RUNTIME-CLI.md records it.
//! `--network none`: nothing on the host's network is created; all of podman's state lives in
//! the test's scratch directory.

use std::path::Path;
use std::process::Command;

use hoist_e2e::{env, hoist_bin, is_root, run, scratch, stderr, stdout, unique_id};

fn podman(scratch: &Path) -> Command {
    let conf = scratch.join("containers.conf");
    if !conf.exists() {
        // podman passes --log-format=json only to runtimes it knows by name: hoist is named so.
        let text = r#"[engine]
runtime = "hoist"
runtime_supports_json = ["crun", "runc", "hoist"]
cgroup_manager = "cgroupfs"
events_logger = "file"

[engine.runtimes]
hoist = ["HOIST_BIN"]

[containers]
# this machine's hard limits: podman's defaults are above them
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
"#
        .replace("HOIST_BIN", &hoist_bin().display().to_string());
        std::fs::write(&conf, text).unwrap();
    }
    let storage = scratch.join("storage.conf");
    if !storage.exists() {
        // No bind mount of the storage directory onto itself: it would outlive the test.
        let text = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n[storage.options.overlay]\nskip_mount_home = \"true\"\n",
            scratch.join("storage").display(),
            scratch.join("runroot").display()
        );
        std::fs::write(&storage, text).unwrap();
    }
    let mut command = Command::new("podman");
    command
        .env("CONTAINERS_CONF", &conf)
        .env("CONTAINERS_STORAGE_CONF", &storage)
        .arg("--root")
        .arg(scratch.join("storage"))
        .arg("--runroot")
        .arg(scratch.join("runroot"))
        .arg("--tmpdir")
        .arg(scratch.join("tmp"));
    command
}

/// Removes podman's scratch directory. conmon starts `podman container cleanup` after a
/// container exits, which may still be at work when the test ends (for long on a busy machine),
/// and mounts the storage's overlay directory again if it is gone: wait (up to half a minute)
/// until no process names this scratch directory any more, then unmount and remove it.
struct RemoveScratch<'a>(&'a Path);

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

#[test]
fn podman_runs_execs_stops_and_removes_containers_through_hoist() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _remove = RemoveScratch(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let output = run(podman(dir.path()).args(["pull", "-q", "--tls-verify=false", &image]));
    assert!(output.status.success(), "{}", stderr(&output));

    let output = run(podman(dir.path()).args(["run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", &image]).args([
        "sh",
        "-c",
        "echo from-hoist; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; exit 7",
    ]));
    assert_eq!(
        output.status.code(),
        Some(7),
        "the container's exit code: {}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "from-hoist\n50\n");

    let name = unique_id("podman");
    let output = run(podman(dir.path())
        .args(["run", "-d", "--network", "none", "--name", &name, &image])
        .args([
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(podman(dir.path()).args(["exec", &name, "sh", "-c", "echo exec-ok; exit 3"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "exec-ok\n");
    for verb in ["pause", "unpause"] {
        let output = run(podman(dir.path()).args([verb, &name]));
        assert!(output.status.success(), "{verb}: {}", stderr(&output));
    }
    let output = run(podman(dir.path()).args(["stop", "-t", "10", &name]));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(podman(dir.path()).args(["rm", &name]));
    assert!(output.status.success(), "{}", stderr(&output));

    // A program that does not exist: podman maps hoist's message to 127.
    let output =
        run(podman(dir.path()).args(["run", "--rm", "--network", "none", &image, "/no/such/cmd"]));
    assert_eq!(output.status.code(), Some(127), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no such file or directory"),
        "{}",
        stderr(&output)
    );
}
