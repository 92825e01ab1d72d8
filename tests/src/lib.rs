//! Shared pieces of the end-to-end tests: where the registry and fixtures are, how to run the
//! hoist binary, unique names, and a builder for hand-made (and hostile) images.

pub mod cgroup_view;
pub mod containerd;
pub mod cri;
pub mod fault_proxy;
pub mod guest;
pub mod hostile_registry;
pub mod image;
pub mod podman;
pub mod registry_process;
pub mod rootless;
pub mod soak;
pub mod terminal;
pub mod tls_redirector;
pub mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What `cargo xtask test` provides: registries, fixture layout, the binary.
pub struct TestEnv {
    pub registry: String,
    pub auth_registry: String,
    pub auth_creds: String,
    pub fixtures: PathBuf,
    /// The plain registry's storage, for tests that start a registry of their own on it.
    pub registry_storage: PathBuf,
}

/// The test environment, or `None` (after saying why) when the tests run outside `cargo xtask
/// test`. Under xtask (`HOIST_TEST_REQUIRE_ALL=1`) a missing piece is a failure, not a skip.
pub fn env() -> Option<TestEnv> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("HOIST_TEST_REGISTRY"),
        var("HOIST_TEST_AUTH_REGISTRY"),
        var("HOIST_TEST_AUTH_CREDS"),
        var("HOIST_TEST_FIXTURES"),
        var("HOIST_TEST_REGISTRY_STORAGE"),
    ) {
        (Some(registry), Some(auth_registry), Some(auth_creds), Some(fixtures), Some(storage)) => {
            Some(TestEnv {
                registry,
                auth_registry,
                auth_creds,
                fixtures: PathBuf::from(fixtures),
                registry_storage: PathBuf::from(storage),
            })
        }
        _ => {
            skip("no local registry and fixtures (run the tests with `cargo xtask test`)");
            None
        }
    }
}

/// True if this process is root, which real namespaces, mounts and cgroups need.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        skip("not root: containers need real namespaces and mounts");
    }
    root
}

fn skip(why: &str) {
    if std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_some() {
        panic!(
            "this test cannot run here ({why}), but HOIST_TEST_REQUIRE_ALL says everything must"
        );
    }
    eprintln!("skipped, because {why}");
}

/// The hoist binary: `$HOIST_BIN`, else the debug build beside this test executable.
pub fn hoist_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HOIST_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/deps");
    dir.join("hoist")
}

/// A `hoist` command with its own store and runtime root in `scratch`, so tests never share
/// state with each other or with the machine.
pub fn hoist(scratch: &Path) -> Command {
    hoist_from(&hoist_bin(), scratch)
}

/// `hoist` as above, but the binary at `binary`.
pub fn hoist_from(binary: &Path, scratch: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env("HOIST_ROOT", scratch.join("hoist-root"))
        .env_remove("HOIST_LOG")
        .arg("--root")
        .arg(scratch.join("run"));
    command
}

/// Runs a command and returns its output, with both streams shown on failure of `expect_ok`.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"))
}

pub fn expect_ok(command: &mut Command) -> Output {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A container id no other test (in this or another run) uses.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch directory, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hoist-test-")
        .tempdir()
        .expect("scratch dir")
}

/// Sets `process.args` (and, optionally, other fields) of a bundle's config.json.
pub fn set_args(bundle: &Path, args: &[&str]) {
    edit_config(bundle, |c| c["process"]["args"] = serde_json::json!(args));
}

pub fn edit_config(bundle: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// `hoist run --bundle BUNDLE ID` (runc's shape, in the foreground), run to its end.
pub fn run_bundle(scratch: &Path, bundle: &Path, id: &str) -> Output {
    run(hoist(scratch).args(["run", "--bundle"]).arg(bundle).arg(id))
}

/// `hoist unpack --image LAYOUT:TAG BUNDLE`, to be run.
pub fn unpack_command(scratch: &Path, layout: &Path, tag: &str, bundle: &Path) -> Command {
    let mut command = hoist(scratch);
    command
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle);
    command
}

/// Unpacks the named fixture image (e.g. `busybox-latest`) into `bundle` with hoist.
pub fn unpack_fixture(env: &TestEnv, scratch: &Path, image: &str, bundle: &Path) {
    expect_ok(
        hoist(scratch)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{image}", env.fixtures.display()))
            .arg(bundle),
    );
}

/// A description of every entry under `root` (type, mode, owner, size, content hash, link
/// target, link count, mtime), for comparing trees made by
/// different unpackers.
pub fn tree_summary(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    use sha2::Digest as _;
    use std::os::unix::fs::MetadataExt;
    let mut summary = std::collections::BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let detail = if kind.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_file() {
                let hash = sha2::Sha256::digest(std::fs::read(&path).unwrap());
                format!(
                    "file {} sha256:{:x} mtime {}",
                    meta.len(),
                    hash,
                    meta.mtime()
                )
            } else if kind.is_dir() {
                pending.push(path.clone());
                format!("dir mtime {}", meta.mtime())
            } else {
                format!("special rdev {}", meta.rdev())
            };
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = if kind.is_symlink() {
                0
            } else {
                meta.mode() & 0o7777
            };
            summary.insert(
                relative,
                format!(
                    "{detail} mode {mode:o} owner {}:{} nlink {}",
                    meta.uid(),
                    meta.gid(),
                    meta.nlink()
                ),
            );
        }
    }
    summary
}

/// Runs a command whose children outlive it (`create`, `run --detach`): its stdout goes nowhere
/// and its stderr to a file, since a pipe would stay open in the container and `output()` would
/// wait for the container to exit. Returns the exit status and what it wrote on stderr.
pub fn run_detached(command: &mut Command, scratch: &Path) -> (std::process::ExitStatus, String) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let log = scratch.join(format!(
        "stderr-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::File::create(&log).unwrap();
    let status = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .status()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// Deletes a container (with `--force`) when dropped, so a test that fails half-way still
/// leaves no process, state or cgroup behind.
pub struct ContainerGuard {
    scratch: PathBuf,
    id: String,
}

impl ContainerGuard {
    pub fn new(scratch: &Path, id: &str) -> Self {
        ContainerGuard {
            scratch: scratch.to_path_buf(),
            id: id.to_string(),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = hoist(&self.scratch)
            .args(["delete", "--force", &self.id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Removes (`rm -f`) every container of `hoist run IMAGE` in the store in `scratch` when
/// dropped: a test that fails half-way leaves no monitor, container or mount behind, and its
/// scratch directory can go. Made after the scratch directory, so that it drops first.
pub struct RunContainersGuard<'a>(pub &'a Path);

impl Drop for RunContainersGuard<'_> {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.0.join("hoist-root/containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let _ = hoist(self.0)
                .args(["rm", "--force"])
                .arg(entry.file_name())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// A copy of the fixture layout at `dest`, for a test that changes it or hands it to another
/// user.
pub fn copy_fixtures(env: &TestEnv, dest: &Path) {
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&env.fixtures)
        .arg(dest)
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "copying the fixtures to {}",
        dest.display()
    );
}

/// A busybox bundle (unpacked by hoist from the fixtures) in a fresh scratch directory, or
/// `None` when containers cannot run here.
pub fn busybox_bundle() -> Option<(TestEnv, tempfile::TempDir, PathBuf)> {
    let env = env()?;
    if !is_root() {
        return None;
    }
    let dir = scratch();
    let bundle = dir.path().join("bundle");
    unpack_fixture(&env, dir.path(), "busybox-latest", &bundle);
    Some((env, dir, bundle))
}

/// `hoist state ID`, parsed.
pub fn state(scratch: &Path, id: &str) -> serde_json::Value {
    serde_json::from_slice(&expect_ok(hoist(scratch).args(["state", id])).stdout)
        .expect("state is JSON")
}

/// Polls `done` until it holds; a test waits for an effect, never for a duration.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What `find` finds once the kernel has had its moment (a container's veths go a grace
/// period after its network namespace, hoist's table a moment after the last container's
/// `rm`): asked again until it finds nothing, for up to 5 s; what it found last.
pub fn left_after_settling<T>(mut find: impl FnMut() -> Vec<T>) -> Vec<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = find();
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An extended attribute of `path` (not following a final symlink).
pub fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let name = std::ffi::CString::new(name).ok()?;
    let mut value = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    (n >= 0).then(|| {
        value.truncate(n as usize);
        value
    })
}

/// `hoist run --detach`: starts a container from `bundle` and returns its init's pid.
pub fn start_detached(scratch: &Path, bundle: &Path, id: &str) -> i64 {
    launch_detached(scratch, &["run", "--detach", "--bundle"], bundle, id)
}

/// `hoist create` of `bundle` as `id`, which must succeed; returns the init's pid.
pub fn create_detached(scratch: &Path, bundle: &Path, id: &str) -> i64 {
    launch_detached(scratch, &["create", "--bundle"], bundle, id)
}

/// `hoist VERB... BUNDLE ID`, which must succeed and leave the container's init running.
fn launch_detached(scratch: &Path, verb: &[&str], bundle: &Path, id: &str) -> i64 {
    let (status, err) = run_detached(hoist(scratch).args(verb).arg(bundle).arg(id), scratch);
    assert!(status.success(), "{verb:?} {id}: {err}");
    state(scratch, id)["pid"]
        .as_i64()
        .expect("a created or running container has a pid")
}

/// Runs a command to its end and returns its output with its peak resident memory in KiB
/// (from wait4's rusage for that one child, so tests running beside it do not count).
// The child is reaped by wait4, which std's Child cannot call, not by `wait()`.
#[allow(clippy::zombie_processes)]
pub fn run_measuring_peak(command: &mut Command) -> (Output, u64) {
    use std::io::Read;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let mut stderr = Vec::new();
    let _ = err.read_to_end(&mut stderr);
    let stdout = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and the pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: valid pointers to a status and a rusage for the call's duration.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "waiting for {command:?}");
    let output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout,
        stderr,
    };
    (output, usage.ru_maxrss as u64)
}

/// A mount the test made on the host, lazily unmounted when dropped.
pub struct MountGuard {
    target: PathBuf,
}

impl MountGuard {
    /// `dir` bound onto itself and made shared: a mount whose events reach its copies in the
    /// namespaces made after it (this host's own `/` is private).
    pub fn shared_bind(dir: &Path) -> MountGuard {
        expect_ok(Command::new("mount").arg("--bind").arg(dir).arg(dir));
        let guard = MountGuard {
            target: dir.to_path_buf(),
        };
        expect_ok(Command::new("mount").arg("--make-shared").arg(dir));
        guard
    }

    /// `source` bind-mounted on `target`.
    pub fn bind(source: &Path, target: &Path) -> MountGuard {
        expect_ok(Command::new("mount").arg("--bind").arg(source).arg(target));
        MountGuard {
            target: target.to_path_buf(),
        }
    }

    /// A small tmpfs on `dir`.
    pub fn tmpfs(dir: &Path) -> MountGuard {
        expect_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(dir),
        );
        MountGuard {
            target: dir.to_path_buf(),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.target).status();
    }
}

/// The command was refused (exit 1) with a message that names `says`.
pub fn assert_refused(output: &Output, says: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(says), "expected {says:?} in: {message}");
}

/// A copy of the fixture layout in `scratch` whose busybox layer is a FIFO: an unpack opens it
/// and waits there, its staging directory made, until it is killed. Returns the image and what
/// puts the layer back.
pub fn layout_with_a_waiting_layer(env: &TestEnv, scratch: &Path) -> (String, impl FnOnce()) {
    let layout = scratch.join("layout");
    copy_fixtures(env, &layout);
    let fixtures = hoist_oci::Layout::open(&layout).unwrap();
    let manifest: hoist_oci::ImageManifest = fixtures
        .read_json(
            &fixtures.resolve(Some("busybox-latest")).unwrap(),
            "manifest",
        )
        .unwrap();
    let layer = layout.join("blobs/sha256").join(
        manifest.layers()[0]
            .digest()
            .to_string()
            .trim_start_matches("sha256:"),
    );
    let saved = scratch.join("layer");
    std::fs::rename(&layer, &saved).unwrap();
    nix::unistd::mkfifo(&layer, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let put_back = move || {
        std::fs::remove_file(&layer).unwrap();
        std::fs::rename(&saved, &layer).unwrap();
    };
    (format!("{}:busybox-latest", layout.display()), put_back)
}

/// How many entries of `dir` start with `prefix`.
pub fn named(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(prefix)
            })
            .count()
        })
        .unwrap_or(0)
}

/// Starts `command`, waits until `left()` holds (it is at work), and kills it (-9).
pub fn kill_at_work(command: &mut Command, left: impl Fn() -> bool) {
    let mut killed = command.spawn().unwrap();
    wait_for("hoist to be at work", &left);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(left(), "kill -9 leaves what it was making");
}

/// Runs `work` on a thread of its own in a new network namespace holding only `lo`: what it
/// starts (hoist, and the containers' monitors) lives there, and the machine's own interfaces
/// are never touched. The namespace goes when the last of them does.
pub fn in_private_network<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("a new network namespace");
        // Every address the work below talks to (the bridge's 10.89.0.0/24, 127.0.0.1) must be
        // this namespace's own: refuse to go on if the thread were still in the machine's.
        let ours = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let machines = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert_ne!(
            ours, machines,
            "the test thread is not in a network namespace of its own"
        );
        let links = stdout(&expect_ok(Command::new("ip").args(["-br", "link"])));
        assert_eq!(
            links
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .collect::<Vec<_>>(),
            ["lo"],
            "a fresh network namespace holds only lo"
        );
        expect_ok(Command::new("ip").args(["link", "set", "lo", "up"]));
        work()
    })
    .join()
    .expect("the networked part of the test")
}

/// The hidden verb a container's monitor runs as.
const MONITOR_VERB: &str = "container-monitor";

/// The pid of the monitor of container `name`, if one runs.
pub fn monitor_of(name: &str) -> Option<nix::unistd::Pid> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_monitor = args
                .windows(2)
                .any(|w| w[0] == MONITOR_VERB.as_bytes() && w[1] == name.as_bytes());
            is_monitor.then(|| nix::unistd::Pid::from_raw(pid))
        })
}

/// Pushes the registry's busybox to `REGISTRY/REPOSITORY:TAG` (a repository of the test's
/// own); returns its manifest digest.
pub fn push_busybox(scratch: &Path, registry: &str, repository: &str, tag: &str) -> String {
    let output = expect_ok(hoist(scratch).args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{registry}/busybox:latest"),
        &format!("docker://{registry}/{repository}:{tag}"),
    ]));
    stdout(&output).trim().to_string()
}
