//! containerd drives hoist as its runc (`ctr run --runc-binary`), through its own runc shim:
//! create with a pid file and console or fifos, start, state, exec, pause/resume, ps, kill,
//! delete — the calls RUNTIME-CLI.md records for containerd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use hoist_e2e::{
    env, expect_ok, hoist, hoist_bin, is_root, run, scratch, stderr, stdout, unique_id,
};

/// A containerd of the test's own: its root, state, sockets and config in the scratch
/// directory. Stopped (by pid) when dropped.
struct Containerd {
    dir: PathBuf,
    daemon: Child,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n\
                 [grpc]\n  address = \"{dir}/containerd.sock\"\n[ttrpc]\n  address = \"{dir}/containerd.sock.ttrpc\"\n",
                root = dir.join("root").display(),
                state = dir.join("state").display(),
                dir = dir.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (cargo xtask setup installs it)");
        let containerd = Containerd {
            dir: dir.to_path_buf(),
            daemon,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run(&mut containerd.ctr(&["version"])).status.success() {
            assert!(Instant::now() < deadline, "containerd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(args);
        command
    }

    /// `ctr run` with hoist as the runtime binary, its state and fifos in the scratch directory.
    fn run_with_hoist(&self, args: &[&str]) -> Command {
        let mut command = self.ctr(&["run"]);
        command
            .arg("--runc-binary")
            .arg(hoist_bin())
            .arg("--runc-root")
            .arg(self.dir.join("hoist-state"))
            .arg("--fifo-dir")
            .arg(self.dir.join("fifo"))
            .args(args);
        command
    }

    fn task_status(&self, id: &str) -> Option<String> {
        let listed = stdout(&expect_ok(&mut self.ctr(&["task", "ls"])));
        listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.daemon.wait();
        // Directories containerd's tools fix under /run/containerd (shim sockets, some fifos):
        // removed when empty, so the machine is left as found.
        let _ = std::fs::remove_dir("/run/containerd/s");
        let _ = std::fs::remove_dir("/run/containerd/fifo");
        let _ = std::fs::remove_dir("/run/containerd");
        // Snapshot mounts containerd may have left under its root.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.to_string_lossy().into_owned();
        for line in mounts.lines().rev() {
            if let Some(point) = line
                .split_whitespace()
                .nth(4)
                .filter(|p| p.starts_with(&dir))
            {
                let point = std::ffi::CString::new(point).unwrap();
                // SAFETY: unmounting a path inside this test's own scratch directory.
                unsafe { libc::umount2(point.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

#[test]
fn containerd_runs_execs_pauses_and_kills_through_hoist() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let archive = dir.path().join("busybox.tar");
    expect_ok(
        hoist(dir.path())
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/busybox:latest", env.registry))
            .arg(format!("oci-archive:{}:latest", archive.display())),
    );
    let containerd = Containerd::start(dir.path());
    let image = "docker.io/library/busybox:latest";
    expect_ok(
        containerd
            .ctr(&[
                "images",
                "import",
                "--base-name",
                "docker.io/library/busybox",
            ])
            .arg(&archive),
    );

    // In the foreground: output and exit code come back through the shim.
    let id = unique_id("ctr-fg");
    let output = run(&mut containerd.run_with_hoist(&[
        "--rm",
        image,
        &id,
        "sh",
        "-c",
        "echo hello from containerd; exit 7",
    ]));
    assert_eq!(
        stdout(&output),
        "hello from containerd\n",
        "{}",
        stderr(&output)
    );
    assert_eq!(output.status.code(), Some(7));

    // Detached: exec, pause and resume, ps, kill, delete.
    let id = unique_id("ctr-bg");
    expect_ok(&mut containerd.run_with_hoist(&["-d", image, &id, "sleep", "600"]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("RUNNING"));
    let exec = expect_ok(&mut containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "probe",
        &id,
        "sh",
        "-c",
        "echo exec-ok",
    ]));
    assert_eq!(stdout(&exec), "exec-ok\n");
    expect_ok(&mut containerd.ctr(&["task", "pause", &id]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("PAUSED"));
    expect_ok(&mut containerd.ctr(&["task", "resume", &id]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("RUNNING"));
    let ps = stdout(&expect_ok(&mut containerd.ctr(&["task", "ps", &id])));
    assert_eq!(
        ps.lines().count(),
        2,
        "the header and the one process: {ps}"
    );
    expect_ok(&mut containerd.ctr(&["task", "kill", "-s", "SIGKILL", &id]));
    hoist_e2e::wait_for("the task to stop", || {
        containerd.task_status(&id).as_deref() == Some("STOPPED")
    });
    expect_ok(&mut containerd.ctr(&["task", "delete", &id]));
    expect_ok(&mut containerd.ctr(&["container", "rm", &id]));
    let left = std::fs::read_dir(dir.path().join("hoist-state/default"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "hoist's state for the containers is gone");
}
