//! A guest machine under qemu, for what this host cannot be: its cgroups are hybrid (v1
//! controllers), and only a host with cgroup2 alone can delegate controllers to a user. The
//! guest boots Debian's cloud kernel (fetched by `cargo xtask setup`) with `cgroup_no_v1=all`
//! from an initramfs made here: busybox, this build of hoist, newuidmap/newgidmap with the
//! libraries they load, a user with subordinate ids, an OCI layout, and a script. Everything
//! it does happens in the guest's own kernel; what the script prints comes back as `@@key
//! value` lines. Software emulation (this host's KVM cannot run it) boots in about two seconds.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The unprivileged user inside the guest, with subordinate ids, as setup gives the host's.
pub const GUEST_USER_UID: u32 = 1001;

/// The guest's kernel: `$HOIST_TEST_GUEST_KERNEL` holds `vmlinuz` and `overlay.ko`.
pub struct GuestKernel {
    dir: PathBuf,
}

impl GuestKernel {
    /// The kernel `cargo xtask test` provides, or `None` (after saying why; a failure under
    /// xtask).
    pub fn find() -> Option<GuestKernel> {
        let dir = std::env::var_os("HOIST_TEST_GUEST_KERNEL").map(PathBuf::from);
        match dir.filter(|d| d.join("vmlinuz").exists()) {
            Some(dir) if which("qemu-system-x86_64") => Some(GuestKernel { dir }),
            _ => {
                crate::skip("no guest kernel or qemu (run the tests with `cargo xtask test`)");
                None
            }
        }
    }
}

/// What a guest printed: its `@@key value` lines, and all of its console for messages.
pub struct GuestOutput {
    pub values: BTreeMap<String, String>,
    pub console: String,
}

impl GuestOutput {
    /// The value the script printed under `key`; fails the test, showing the console, if none.
    pub fn get(&self, key: &str) -> &str {
        match self.values.get(key) {
            Some(value) => value,
            None => panic!("the guest printed no {key}; its console:\n{}", self.console),
        }
    }

    /// Asserts that the command the script ran under `key` failed (`key-status` not 0) and
    /// that its message (`key`) says each of `phrases`.
    pub fn assert_refused(&self, key: &str, phrases: &[&str]) {
        assert_ne!(self.get(&format!("{key}-status")), "0", "{}", self.get(key));
        let message = self.get(key);
        for phrase in phrases {
            assert!(
                message.contains(phrase),
                "{key}: no {phrase:?} in {message}"
            );
        }
    }
}

/// An initramfs being put together in `stage`, then booted.
pub struct Guest {
    kernel: PathBuf,
    stage: PathBuf,
}

impl Guest {
    /// The guest's files under `scratch`: the tools, hoist (`binary`, without its debug
    /// sections), the user, and `image` (an OCI layout) at `/image`.
    pub fn new(kernel: &GuestKernel, scratch: &Path, binary: &Path, image: &Path) -> Guest {
        let stage = scratch.join("guest-root");
        for dir in [
            "bin", "usr/bin", "proc", "sys", "dev", "tmp", "run", "etc", "home", "lib",
        ] {
            std::fs::create_dir_all(stage.join(dir)).unwrap();
        }
        let guest = Guest {
            kernel: kernel.dir.join("vmlinuz"),
            stage,
        };
        guest.add_program(Path::new("/bin/busybox"), "bin/busybox", 0o755);
        let hoist = guest.stage.join("usr/bin/hoist");
        crate::expect_ok(
            Command::new("objcopy")
                .arg("--strip-debug")
                .arg(binary)
                .arg(&hoist),
        );
        guest.add_libraries(&hoist);
        for map in ["newuidmap", "newgidmap"] {
            let host = Path::new("/usr/bin").join(map);
            guest.add_program(&host, &format!("usr/bin/{map}"), 0o4755);
            guest.add_libraries(&host);
        }
        std::fs::copy(
            kernel.dir.join("overlay.ko"),
            guest.stage.join("lib/overlay.ko"),
        )
        .unwrap();
        let user = GUEST_USER_UID;
        let files = [
            (
                "etc/passwd",
                format!("root:x:0:0::/root:/bin/sh\nu:x:{user}:{user}::/home/u:/bin/sh\n"),
            ),
            ("etc/group", format!("root:x:0:\nu:x:{user}:\n")),
            ("etc/subuid", "u:100000:65536\n".to_string()),
            ("etc/subgid", "u:100000:65536\n".to_string()),
        ];
        for (path, text) in files {
            std::fs::write(guest.stage.join(path), text).unwrap();
        }
        crate::expect_ok(
            Command::new("cp")
                .arg("-a")
                .arg(image)
                .arg(guest.stage.join("image")),
        );
        guest
    }

    fn add_program(&self, host: &Path, guest: &str, mode: u32) {
        let to = self.stage.join(guest);
        std::fs::copy(host, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The shared libraries `program` loads, at the paths the loader finds them.
    fn add_libraries(&self, program: &Path) {
        let listed = crate::expect_ok(Command::new("ldd").arg(program));
        for line in crate::stdout(&listed).lines() {
            let path = line
                .split_whitespace()
                .find(|word| word.starts_with('/'))
                .map(PathBuf::from);
            let Some(path) = path else { continue };
            let to = self.stage.join(path.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&path, &to).unwrap();
        }
    }

    /// Boots the guest, which sets up its machine (mounts, cgroup2 with the memory, pids and
    /// cpu controllers on in its root, overlayfs, the user's home and runtime directory) then
    /// runs `script` as root in `sh`, and powers off. Fails the test if the guest does not
    /// finish within `limit`.
    pub fn boot(&self, script: &str, limit: Duration) -> GuestOutput {
        let init = format!("{SETUP}\n{script}\necho @@done yes\npoweroff -f\n");
        let init_path = self.stage.join("init");
        std::fs::write(&init_path, init).unwrap();
        std::fs::set_permissions(&init_path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let initrd = self.stage.with_extension("cpio");
        crate::expect_ok(
            Command::new("/bin/busybox")
                .args([
                    "sh",
                    "-c",
                    "busybox find . | busybox cpio -o -H newc > \"$0\"",
                ])
                .arg(&initrd)
                .current_dir(&self.stage),
        );
        let mut qemu = Command::new("qemu-system-x86_64")
            .args([
                "-accel",
                "tcg",
                "-smp",
                "2",
                "-m",
                "2048",
                "-nographic",
                "-no-reboot",
            ])
            .args(["-nic", "none", "-kernel"])
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&initrd)
            .args([
                "-append",
                "console=ttyS0 panic=-1 quiet cgroup_no_v1=all rdinit=/init",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting qemu-system-x86_64");
        let mut stdout = qemu.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stdout.read_to_end(&mut text);
            String::from_utf8_lossy(&text).replace('\r', "")
        });
        let started = Instant::now();
        while qemu.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = qemu.kill();
                let _ = qemu.wait();
                panic!(
                    "the guest did not finish in {limit:?}; its console:\n{}",
                    reader.join().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let console = reader.join().unwrap();
        let values: BTreeMap<String, String> = console
            .lines()
            // The firmware's screen codes may precede the first line.
            .filter_map(|line| line.find("@@").map(|at| &line[at + 2..]))
            .map(|line| match line.split_once(' ') {
                Some((key, value)) => (key.to_string(), value.trim().to_string()),
                None => (line.to_string(), String::new()),
            })
            .collect();
        let output = GuestOutput { values, console };
        assert_eq!(
            output.get("done"),
            "yes",
            "the guest's script did not finish"
        );
        output
    }
}

/// The guest's machine, before the test's script: what a booted cgroup2-only host has.
const SETUP: &str = r#"#!/bin/busybox sh
# The initramfs is the rootfs, which pivot_root cannot leave (as runc and crun, hoist refuses
# to run containers without it): first move everything to a tmpfs, as a booted host has.
if [ "$1" != moved ]; then
    /bin/busybox mkdir /newroot
    /bin/busybox mount -t tmpfs -o mode=755 tmpfs /newroot
    for entry in /*; do
        [ "$entry" = /newroot ] || /bin/busybox cp -a "$entry" /newroot/
    done
    exec /bin/busybox switch_root /newroot /init moved
fi
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /home
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
insmod /lib/overlay.ko || echo "@@setup-failed insmod overlay"
chmod -R a+rX /image
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control || echo "@@setup-failed controllers"
ip link set lo up
mkdir -p /home/u /run/user/1001
chown 1001:1001 /home/u /run/user/1001
chmod 700 /run/user/1001
# A user's command: `as_user 'hoist ...'`, in the cgroup the caller is in.
as_user() { su -s /bin/sh u -c "export HOME=/home/u XDG_RUNTIME_DIR=/run/user/1001 PATH=/usr/bin:/bin; $1"; }
# Delegates cgroup $1 (made here) to the user, as cgroups(7) says: the directory and the files
# that move processes and pass controllers down become theirs.
delegate() {
    mkdir -p "$1"
    chown 1001:1001 "$1" "$1/cgroup.procs" "$1/cgroup.threads" "$1/cgroup.subtree_control"
}
"#;

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
