//! A containerd of a test's own, stopped (by pid) and cleaned up when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::{expect_ok, hoist_bin, run, stdout};

/// Snapshotters that need file systems or kernels this host lacks: off, so that containerd
/// does not log their failures.
const UNUSABLE_SNAPSHOTTERS: &[&str] = &[
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
];

/// A containerd of the test's own: its root, state, sockets and config in the scratch
/// directory. Stopped (by pid) when dropped.
pub struct Containerd {
    dir: PathBuf,
    daemon: Child,
}

impl Containerd {
    /// containerd without its CRI plugin, for `ctr`.
    pub fn start(dir: &Path) -> Containerd {
        Containerd::start_with(dir, &["io.containerd.grpc.v1.cri"], "")
    }

    /// containerd with `disabled` plugins off besides the snapshotters this host cannot use,
    /// and `plugins` (TOML) appended to its config.
    pub fn start_with(dir: &Path, disabled: &[&str], plugins: &str) -> Containerd {
        let config = dir.join("config.toml");
        let disabled: Vec<String> = disabled
            .iter()
            .chain(UNUSABLE_SNAPSHOTTERS)
            .map(|p| format!("{p:?}"))
            .collect();
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
                 disabled_plugins = [{disabled}]\n\
                 [grpc]\n  address = \"{dir}/containerd.sock\"\n[ttrpc]\n  address = \"{dir}/containerd.sock.ttrpc\"\n\
                 {plugins}",
                root = dir.join("root").display(),
                state = dir.join("state").display(),
                dir = dir.display(),
                disabled = disabled.join(", "),
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
        let mut containerd = Containerd {
            dir: dir.to_path_buf(),
            daemon,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run(&mut containerd.ctr(&["version"])).status.success() {
            let exited = containerd.daemon.try_wait().unwrap().is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "containerd did not come up:\n{}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        containerd
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(args);
        command
    }

    /// `ctr run` with hoist as the runtime binary, its state and fifos in the scratch directory.
    pub fn run_with_hoist(&self, args: &[&str]) -> Command {
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

    pub fn task_status(&self, id: &str) -> Option<String> {
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
