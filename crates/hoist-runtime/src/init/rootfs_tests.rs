//! The container's mount namespace, checked without root: `Recorder` writes down every mount,
//! node and pivot `rootfs.rs` and `dev.rs` ask for, against a real temporary rootfs in which
//! the lookups (and the attacks on them) are real.

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::Spec;

use super::mount_sources::{DetachedBind, MountSources};
use super::recorder::Recorder;
use super::syscall::Mounter;
use crate::spec::Bundle;
use crate::{Error, Result};

/// A bundle whose config is `config` (merged over a minimal one), its rootfs in a temporary
/// directory.
struct Fixture {
    _dir: tempfile::TempDir,
    bundle: Bundle,
}

impl Fixture {
    fn new(config: serde_json::Value) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        std::fs::create_dir(path.join("rootfs")).unwrap();
        let mut spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {},
        });
        merge(&mut spec, config);
        let spec: Spec = serde_json::from_value(spec).unwrap();
        let bundle = Bundle {
            rootfs: path.join("rootfs"),
            process: spec.process().clone().unwrap(),
            path,
            spec,
        };
        Fixture { _dir: dir, bundle }
    }

    fn rootfs(&self) -> &Path {
        &self.bundle.rootfs
    }

    /// Runs the init's mount work with `recorder`; returns the outcome and the calls made.
    fn prepare(&self, recorder: &Recorder, in_user_ns: bool, no_pivot: bool) -> Result<()> {
        self.prepare_with(recorder, in_user_ns, no_pivot, None)
    }

    fn prepare_with(
        &self,
        recorder: &Recorder,
        in_user_ns: bool,
        no_pivot: bool,
        sources: Option<&MountSources>,
    ) -> Result<()> {
        let mounter = Mounter {
            sys: recorder,
            in_user_ns,
            own_cgroup_ns: false,
            sources,
        };
        mounter.prepare(&self.bundle, no_pivot, &|| Ok(()), self.rootfs())
    }

    fn calls(&self, in_user_ns: bool) -> Vec<String> {
        let recorder = Recorder::new(self.rootfs());
        self.prepare(&recorder, in_user_ns, false).unwrap();
        recorder.calls()
    }
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                merge(base.entry(key).or_insert(serde_json::Value::Null), value);
            }
        }
        (base, over) => *base = over,
    }
}

/// The calls from `first` on, as many as `expected` has.
fn assert_calls_from(calls: &[String], first: &str, expected: &[&str]) {
    let start = calls
        .iter()
        .position(|c| c == first)
        .unwrap_or_else(|| panic!("no call {first:?} in {calls:#?}"));
    let got: Vec<&str> = calls[start..]
        .iter()
        .take(expected.len())
        .map(String::as_str)
        .collect();
    assert_eq!(got, expected, "all calls: {calls:#?}");
}

const PIVOT: &[&str] = &[
    "chdir rootfs",
    "pivot_root . .",
    "mount - on . type - MS_REC|MS_SLAVE",
    "umount . detach",
    "chdir /",
];

#[test]
fn a_default_container_is_mounted_in_runcs_order() {
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        ],
        "linux": {
            "maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/not-there"],
            "readonlyPaths": ["/proc/sys"],
        },
    }));
    // What procfs would hold, for the masks to find.
    let proc = fixture.rootfs().join("proc");
    std::fs::create_dir_all(proc.join("acpi")).unwrap();
    std::fs::create_dir_all(proc.join("sys")).unwrap();
    std::fs::write(proc.join("kcore"), "").unwrap();

    let calls = fixture.calls(false);
    let mut expected = vec![
        // Slave first, so nothing mounted in the container reaches the host.
        "mount - on / type - MS_REC|MS_SLAVE",
        "mount rootfs on rootfs type - MS_BIND|MS_REC",
        "mount proc on rootfs/proc type proc MS_NOSUID|MS_NODEV|MS_NOEXEC",
        "mount tmpfs on rootfs/dev type tmpfs MS_NOSUID|MS_STRICTATIME mode=755,size=65536k",
        "mknod rootfs/dev/null c 1:3 666 0:0",
        "mknod rootfs/dev/zero c 1:5 666 0:0",
        "mknod rootfs/dev/full c 1:7 666 0:0",
        "mknod rootfs/dev/random c 1:8 666 0:0",
        "mknod rootfs/dev/urandom c 1:9 666 0:0",
        "mknod rootfs/dev/tty c 5:0 666 0:0",
        "symlink rootfs/dev/fd -> /proc/self/fd",
        "symlink rootfs/dev/stdin -> /proc/self/fd/0",
        "symlink rootfs/dev/stdout -> /proc/self/fd/1",
        "symlink rootfs/dev/stderr -> /proc/self/fd/2",
        "symlink rootfs/dev/ptmx -> pts/ptmx",
    ];
    expected.extend(PIVOT);
    expected.extend([
        // A file is masked by the container's own null device, a directory by an empty
        // read-only tmpfs; a path that is not there needs nothing.
        "mount rootfs/dev/null on rootfs/proc/kcore type - MS_BIND",
        "mount tmpfs on rootfs/proc/acpi type tmpfs MS_RDONLY",
        // Read-only: bound on itself, then that new mount (found by fd) remounted.
        "mount rootfs/proc/sys on rootfs/proc/sys type - MS_BIND|MS_REC",
        "mount - on rootfs/proc/sys type - MS_RDONLY|MS_REMOUNT|MS_BIND",
    ]);
    assert_eq!(calls, expected);
}

#[test]
fn a_bind_mount_gets_its_flags_while_detached_then_its_propagation() {
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().canonicalize().unwrap();
    std::fs::write(host_dir.join("file"), "x").unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [
            {"destination": "/data", "type": "bind", "source": host_dir,
             "options": ["rbind", "ro", "nosuid", "rprivate"]},
            {"destination": "/etc/one-file", "type": "bind", "source": host_dir.join("file"),
             "options": ["bind", "noatime"]},
        ],
    }));
    let calls = fixture.calls(false);
    let host = host_dir.display();
    assert_calls_from(
        &calls,
        &format!("bind {host} on rootfs/data recursive set=0x3 clear=0x0"),
        &[
            &format!("bind {host} on rootfs/data recursive set=0x3 clear=0x0"),
            "mount - on rootfs/data type - MS_REC|MS_PRIVATE",
            // A file source gets a file to be mounted on, made inside the rootfs.
            &format!("bind {host}/file on rootfs/etc/one-file set=0x10 clear=0x70"),
        ],
    );
    assert!(fixture.rootfs().join("etc/one-file").is_file());
}

#[test]
fn under_a_shared_root_a_bind_that_names_no_propagation_is_made_a_slave() {
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().canonicalize().unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [
            {"destination": "/quiet", "type": "bind", "source": host_dir, "options": ["rbind"]},
            {"destination": "/both-ways", "type": "bind", "source": host_dir,
             "options": ["rbind", "rshared"]},
        ],
        "linux": {"rootfsPropagation": "rshared"},
    }));
    let calls = fixture.calls(false);
    let host = host_dir.display();
    assert_calls_from(
        &calls,
        &format!("bind {host} on rootfs/quiet recursive set=0x0 clear=0x0"),
        &[
            &format!("bind {host} on rootfs/quiet recursive set=0x0 clear=0x0"),
            // Else it would stay the host's peer, and what is mounted below it would reach
            // the host.
            "mount - on rootfs/quiet type - MS_REC|MS_SLAVE",
            &format!("bind {host} on rootfs/both-ways recursive set=0x0 clear=0x0"),
            "mount - on rootfs/both-ways type - MS_REC|MS_SHARED",
        ],
    );
}

#[test]
fn without_mount_setattr_a_bind_is_remounted_through_its_fd() {
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().canonicalize().unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [{"destination": "/data", "type": "bind", "source": host_dir,
                    "options": ["rbind", "ro"]}],
    }));
    let recorder = Recorder::new(fixture.rootfs()).failing("bind ", Errno::ENOSYS);
    fixture.prepare(&recorder, false, false).unwrap();
    let host = host_dir.display();
    assert_calls_from(
        &recorder.calls(),
        &format!("bind {host} on rootfs/data recursive set=0x1 clear=0x0 -> ENOSYS"),
        &[
            &format!("bind {host} on rootfs/data recursive set=0x1 clear=0x0 -> ENOSYS"),
            &format!("mount {host} on rootfs/data type - MS_BIND|MS_REC"),
            "mount - on rootfs/data type - MS_RDONLY|MS_REMOUNT|MS_BIND",
        ],
    );
}

/// In a user namespace the init reaches neither the store nor a volume by path: the rootfs is
/// bound from its working directory, and a bind source is the detached mount the runtime
/// made, attached as it is (its flags were set on it then), never looked up.
#[test]
fn with_sources_from_the_runtime_nothing_of_the_hosts_is_looked_up_by_path() {
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().canonicalize().unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "bind", "source": "/nonexistent/unreachable",
             "options": ["rbind", "ro"]},
        ],
    }));
    let tree = rustix::fs::open(
        &host_dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let sources = MountSources::from_binds(vec![None, Some(DetachedBind { tree, is_dir: true })]);
    let recorder = Recorder::new(fixture.rootfs());
    fixture
        .prepare_with(&recorder, true, false, Some(&sources))
        .unwrap();
    let calls = recorder.calls();
    let host = host_dir.display();
    assert_calls_from(
        &calls,
        "bind . on rootfs recursive set=0x0 clear=0x0",
        &[
            "bind . on rootfs recursive set=0x0 clear=0x0",
            "mount proc on rootfs/proc type proc 0",
            &format!("attach {host} on rootfs/data"),
        ],
    );
    assert!(
        fixture.rootfs().join("data").is_dir(),
        "a directory to attach a directory on"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("unreachable") || c.starts_with("mount rootfs")),
        "{calls:#?}"
    );
}

#[test]
fn in_a_user_namespace_devices_are_the_hosts_bound_and_sysfs_falls_back_to_a_bind() {
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        ],
        "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]},
    }));
    let recorder = Recorder::new(fixture.rootfs()).failing("mount sysfs", Errno::EPERM);
    fixture.prepare(&recorder, true, false).unwrap();
    let calls = recorder.calls();
    assert_calls_from(
        &calls,
        "mount sysfs on rootfs/sys type sysfs MS_RDONLY -> EPERM",
        &[
            "mount sysfs on rootfs/sys type sysfs MS_RDONLY -> EPERM",
            "mount /sys on rootfs/sys type - MS_BIND|MS_REC",
            "mount - on rootfs/sys type - MS_RDONLY|MS_REMOUNT|MS_BIND",
        ],
    );
    assert!(!calls.iter().any(|c| c.starts_with("mknod")), "{calls:#?}");
    for node in ["null", "zero", "full", "random", "urandom", "tty", "fuse"] {
        let bound = format!("mount /dev/{node} on rootfs/dev/{node} type - MS_BIND");
        assert!(calls.contains(&bound), "no {bound:?} in {calls:#?}");
    }
}

#[test]
fn configured_devices_get_their_exact_mode_and_owner_and_type_a_is_refused() {
    let device = |typ: &str| {
        Fixture::new(serde_json::json!({
            "linux": {"devices": [{"path": "/dev/fuse", "type": typ, "major": 10, "minor": 229,
                                   "fileMode": 0o620, "uid": 5, "gid": 6}]},
        }))
    };
    let calls = device("c").calls(false);
    assert!(
        calls.contains(&"mknod rootfs/dev/fuse c 10:229 620 5:6".to_string()),
        "{calls:#?}"
    );
    // Without a /dev mount of its own, the rootfs's /dev gets no default nodes.
    assert!(!calls.iter().any(|c| c.contains("dev/null")), "{calls:#?}");

    let fixture = device("a");
    let recorder = Recorder::new(fixture.rootfs());
    let refused = fixture.prepare(&recorder, false, false);
    assert!(
        matches!(&refused, Err(Error::InvalidSpec(m)) if m.contains("cgroup rules only")),
        "{refused:?}"
    );
}

#[test]
fn a_dev_bind_mounted_by_the_user_is_left_as_it_is() {
    let host = tempfile::tempdir().unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [{"destination": "/dev", "type": "bind", "source": host.path(),
                    "options": ["rbind"]}],
        "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]},
    }));
    let calls = fixture.calls(false);
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("mknod") || c.starts_with("symlink")),
        "{calls:#?}"
    );
}

#[test]
fn no_pivot_moves_the_rootfs_and_chroots_and_a_read_only_root_is_remounted_last() {
    let fixture = Fixture::new(serde_json::json!({"root": {"readonly": true}}));
    let recorder = Recorder::new(fixture.rootfs());
    fixture.prepare(&recorder, false, true).unwrap();
    assert_eq!(
        recorder.calls()[2..],
        [
            "chdir rootfs",
            "mount - on / type - MS_SLAVE",
            "mount . on / type - MS_MOVE",
            "chroot .",
            "chdir /",
            "mount - on rootfs type - MS_RDONLY|MS_REMOUNT|MS_BIND",
        ]
    );
}

#[test]
fn each_root_propagation_is_set_around_the_pivot_that_would_refuse_it() {
    for (asked, before, after) in [
        ("slave", &["mount - on / type - MS_REC|MS_SLAVE"][..], None),
        (
            "shared",
            // The host's peers are kept for rshared bind mounts, but the mount holding the
            // rootfs leaves them: its bind must not show on the host, nor its parent be shared.
            &[
                "mount - on / type - MS_REC|MS_SHARED",
                "mount - on / type - MS_SLAVE",
            ],
            // `shared` is the root mount's alone, as runc reads it; `rshared` all of it.
            Some("mount - on rootfs type - MS_SHARED"),
        ),
        (
            "rshared",
            &[
                "mount - on / type - MS_REC|MS_SHARED",
                "mount - on / type - MS_SLAVE",
            ],
            Some("mount - on rootfs type - MS_REC|MS_SHARED"),
        ),
        ("private", &["mount - on / type - MS_REC|MS_PRIVATE"], None),
        (
            "unbindable",
            &["mount - on / type - MS_REC|MS_PRIVATE"],
            Some("mount - on rootfs type - MS_UNBINDABLE"),
        ),
    ] {
        let fixture = Fixture::new(serde_json::json!({"linux": {"rootfsPropagation": asked}}));
        let calls = fixture.calls(false);
        let mut expected: Vec<&str> = before.to_vec();
        expected.push("mount rootfs on rootfs type - MS_BIND|MS_REC");
        expected.extend(PIVOT);
        expected.extend(after);
        assert_eq!(calls, expected, "{asked}");
    }
}

#[test]
fn sysctls_are_written_after_the_pivot_and_a_name_that_climbs_is_refused() {
    let fixture = Fixture::new(serde_json::json!({
        "linux": {"sysctl": {"net.ipv4.ip_forward": "1"}},
    }));
    let calls = fixture.calls(false);
    assert_calls_from(
        &calls,
        "chdir /",
        &["chdir /", "write /proc/sys/net/ipv4/ip_forward 1"],
    );
    let fixture = Fixture::new(serde_json::json!({
        "linux": {"sysctl": {"kernel/../../etc/passwd": "x"}},
    }));
    let recorder = Recorder::new(fixture.rootfs());
    let refused = fixture.prepare(&recorder, false, false);
    assert!(matches!(refused, Err(Error::InvalidSpec(_))), "{refused:?}");
    assert!(!recorder.calls().iter().any(|c| c.starts_with("write")));
}

// Attacks by the image: a rootfs is the image author's, and its symlinks must not steer mounts.

#[test]
fn a_rootfs_whose_proc_is_a_symlink_gets_no_procfs_anywhere() {
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    }));
    std::fs::create_dir(fixture.rootfs().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", fixture.rootfs().join("proc")).unwrap();
    let recorder = Recorder::new(fixture.rootfs());
    let refused = fixture.prepare(&recorder, false, false);
    assert!(refused.is_err(), "a symlinked /proc was mounted on");
    assert!(
        !recorder.calls().iter().any(|c| c.contains("type proc")),
        "{:#?}",
        recorder.calls()
    );
}

#[test]
fn a_symlink_in_a_mount_destination_resolves_inside_the_rootfs() {
    let host = tempfile::tempdir().unwrap();
    let fixture = Fixture::new(serde_json::json!({
        "mounts": [{"destination": "/data/x", "type": "tmpfs", "source": "tmpfs"}],
    }));
    // An absolute link climbing out: resolved in the rootfs, it stays there.
    std::os::unix::fs::symlink(
        format!("/../../../..{}", host.path().display()),
        fixture.rootfs().join("data"),
    )
    .unwrap();
    let calls = fixture.calls(false);
    let mount = calls
        .iter()
        .find(|c| c.starts_with("mount tmpfs"))
        .expect("the tmpfs is mounted");
    let inside = format!("on rootfs{}/x ", host.path().display());
    assert!(mount.contains(&inside), "{mount}");
    assert!(std::fs::read_dir(host.path()).unwrap().next().is_none());
}

#[test]
fn a_masked_file_is_never_covered_by_a_dev_null_that_is_not_the_null_device() {
    // No /dev mount: the image's own /dev/null, a plain file, would be bound over the mask.
    let fixture = Fixture::new(serde_json::json!({
        "linux": {"maskedPaths": ["/etc/secret"]},
    }));
    std::fs::create_dir_all(fixture.rootfs().join("dev")).unwrap();
    std::fs::create_dir_all(fixture.rootfs().join("etc")).unwrap();
    std::fs::write(fixture.rootfs().join("dev/null"), "not a device").unwrap();
    std::fs::write(fixture.rootfs().join("etc/secret"), "").unwrap();
    let recorder = Recorder::new(fixture.rootfs());
    let refused = fixture.prepare(&recorder, false, false);
    assert!(
        matches!(&refused, Err(Error::InvalidSpec(m)) if m.contains("null device")),
        "{refused:?}"
    );
    assert!(!recorder.calls().iter().any(|c| c.contains("etc/secret")));
}

#[test]
fn a_rootfs_overlay_is_mounted_by_fd_numbers_before_the_rootfs_is_bound() {
    let layers = tempfile::tempdir().unwrap();
    let dir = layers.path().canonicalize().unwrap();
    for sub in ["lower1", "lower2", "upper", "work"] {
        std::fs::create_dir(dir.join(sub)).unwrap();
    }
    let overlay = crate::rootfs_overlay::RootfsOverlay {
        lower: vec![dir.join("lower1"), dir.join("lower2")],
        upper: dir.join("upper"),
        work: dir.join("work"),
    };
    let fixture = Fixture::new(serde_json::json!({
        "annotations": {
            crate::rootfs_overlay::ROOTFS_OVERLAY_ANNOTATION: serde_json::to_string(&overlay).unwrap(),
        },
    }));
    for in_user_ns in [true, false] {
        let calls = fixture.calls(in_user_ns);
        let mounted = calls
            .iter()
            .position(|c| c.starts_with("mount overlay on rootfs type overlay 0 lowerdir="))
            .unwrap_or_else(|| panic!("an overlay mount in {calls:#?}"));
        let data = calls[mounted].rsplit(' ').next().unwrap();
        let numbers = |key: &str| -> Vec<u32> {
            let value = data
                .split(',')
                .find_map(|option| option.strip_prefix(key))
                .unwrap_or_else(|| panic!("{key} in {data}"));
            value.split(':').map(|n| n.parse().unwrap()).collect()
        };
        // Every directory is an fd's number: no path (and none of its commas) in the options.
        assert_eq!(numbers("lowerdir=").len(), 2, "{data}");
        assert_eq!(numbers("upperdir=").len(), 1, "{data}");
        assert_eq!(numbers("workdir=").len(), 1, "{data}");
        assert_eq!(data.ends_with(",userxattr"), in_user_ns, "{data}");
        assert_eq!(calls[mounted - 1], "chdir /proc/self/fd");
        let bound = calls
            .iter()
            .position(|c| c == "mount rootfs on rootfs type - MS_BIND|MS_REC")
            .unwrap();
        assert!(mounted < bound, "{calls:#?}");
    }

    // A runtime that opened its sources (root's, for a user namespace) does not take one.
    let recorder = Recorder::new(fixture.rootfs());
    let sources = MountSources::from_binds(Vec::new());
    let refused = fixture.prepare_with(&recorder, true, false, Some(&sources));
    assert!(matches!(refused, Err(Error::InvalidSpec(_))), "{refused:?}");
}
