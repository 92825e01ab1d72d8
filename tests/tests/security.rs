//! Attacks on the host through a container's config, each as a runtime maintainer would try
//! it: a config is not trusted to name sysctls, names, cgroups or a /dev that reach beyond the
//! container. Every case that could change the host sets a value to the one it already has, or
//! works only on cgroups, directories and processes the test itself made.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hoist_e2e::{
    busybox_bundle, edit_config, hoist, run, run_bundle, set_args, start_detached, stderr, stdout,
    unique_id, ContainerGuard,
};
use serde_json::json;

/// The config's namespaces without those of `types`.
fn drop_namespaces(bundle: &Path, types: &[&str]) {
    edit_config(bundle, |c| {
        let kept: Vec<serde_json::Value> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| !types.contains(&n["type"].as_str().unwrap()))
            .cloned()
            .collect();
        c["linux"]["namespaces"] = json!(kept);
    });
}

fn host_value(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn assert_refused(output: &std::process::Output, naming: &str) {
    assert!(
        !output.status.success(),
        "the container ran: {}",
        stdout(output)
    );
    assert!(
        stderr(output).contains(naming),
        "the error does not name {naming}: {}",
        stderr(output)
    );
}

#[test]
fn a_sysctl_that_is_not_namespaced_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["true"]);
    let current = host_value("/proc/sys/vm/overcommit_memory");
    edit_config(&bundle, |c| {
        c["linux"]["sysctl"] = json!({ "vm.overcommit_memory": current });
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("sysctl-host"));
    assert_refused(&output, "vm.overcommit_memory");
}

/// The attack: a pod's annotation (engines pass them on) naming the host's `/` as the layer of
/// a rootfs overlay, which a root runtime's init would mount, writable through `upper`.
#[test]
fn a_root_runtime_mounts_no_rootfs_overlay_an_annotation_names() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let (upper, work) = (dir.path().join("upper"), dir.path().join("work"));
    for made in [&upper, &work] {
        std::fs::create_dir(made).unwrap();
    }
    set_args(&bundle, &["sh", "-c", "touch /etc/hoist-was-here"]);
    let overlay = json!({ "lower": ["/"], "upper": upper, "work": work }).to_string();
    edit_config(&bundle, |c| {
        c["annotations"] = json!({ "org.hoist.rootfs.overlay": overlay });
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("overlay-annotation"));
    assert_refused(&output, "org.hoist.rootfs.overlay");
    assert!(
        !upper.join("etc").exists(),
        "nothing was written through it"
    );
}

#[test]
fn an_ipc_sysctl_without_an_ipc_namespace_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["true"]);
    drop_namespaces(&bundle, &["ipc"]);
    let current = host_value("/proc/sys/kernel/shmmax");
    edit_config(&bundle, |c| {
        c["linux"]["sysctl"] = json!({ "kernel.shmmax": current });
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("sysctl-ipc"));
    assert_refused(&output, "kernel.shmmax");
}

#[test]
fn a_hostname_or_domainname_without_a_uts_namespace_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["true"]);
    drop_namespaces(&bundle, &["uts"]);
    let hostname = host_value("/proc/sys/kernel/hostname");
    let domainname = host_value("/proc/sys/kernel/domainname");
    for (field, value) in [("hostname", &hostname), ("domainname", &domainname)] {
        edit_config(&bundle, |c| {
            c.as_object_mut().unwrap().remove("hostname");
            c[field] = json!(value);
        });
        let output = run_bundle(dir.path(), &bundle, &unique_id("uts"));
        assert_refused(&output, field);
    }
}

/// Every mounted cgroup hierarchy (v1 controllers, named ones, the unified one).
fn cgroup_mountpoints() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fstype = after.split_whitespace().next()?;
            let mountpoint = before.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
        })
        .collect()
}

/// Cgroups the test makes (at one path in every hierarchy) and removes when dropped, killing
/// only the processes it started in them.
struct OwnCgroup {
    dirs: Vec<PathBuf>,
    processes: Vec<Child>,
}

impl OwnCgroup {
    fn new(path: &str) -> OwnCgroup {
        let dirs: Vec<PathBuf> = cgroup_mountpoints()
            .iter()
            .map(|mountpoint| mountpoint.join(path))
            .collect();
        for dir in &dirs {
            std::fs::create_dir_all(dir).unwrap();
            // A new v1 cpuset starts empty and takes no process until given its parent's.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let own = dir.join(file);
                let parent = dir.parent().unwrap().join(file);
                if std::fs::read_to_string(&own).is_ok_and(|v| v.trim().is_empty()) {
                    std::fs::write(&own, std::fs::read_to_string(parent).unwrap().trim()).unwrap();
                }
            }
        }
        OwnCgroup {
            dirs,
            processes: Vec::new(),
        }
    }

    /// Starts `script` under sh with its pid written into every cgroup of this one.
    fn start(&mut self, script: &str) -> u32 {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.processes.push(child);
        for dir in &self.dirs {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        }
        pid
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A killed shell's last child (a `sleep 0.1`) may outlive it for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for dir in self.dirs.iter().rev() {
            while std::fs::remove_dir(dir).is_err()
                && dir.exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as i32, 0) } == 0;
    exists
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[test]
fn delete_leaves_a_cgroup_it_did_not_make_and_whatever_lives_in_it() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let path = format!("hoist-victim-{}", unique_id("cg"));
    let mut victim_cgroup = OwnCgroup::new(&path);
    let victim = victim_cgroup.start("exec sleep 60");
    set_args(&bundle, &["sleep", "60"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{path}"))
    });
    let id = unique_id("shared-cgroup");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    start_detached(dir.path(), &bundle, &id);
    let deleted = run(hoist(dir.path()).args(["delete", "--force", &id]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(
        alive(victim),
        "delete killed a process of a cgroup hoist did not make"
    );
    assert!(
        victim_cgroup.dirs.iter().all(|d| d.is_dir()),
        "delete removed a cgroup hoist did not make"
    );
}

#[test]
fn kill_all_without_a_cgroup_or_pid_namespace_of_its_own_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // The container's cgroup exists before it (so hoist makes none) and it shares the host's
    // pid namespace: "all its processes" cannot be told from the host's.
    let path = format!("hoist-shared-{}", unique_id("kill"));
    let mut shared = OwnCgroup::new(&path);
    let marker = dir.path().join("signalled");
    // A process of the host's (the test's), outside the container, that notes a SIGWINCH.
    let bystander = shared.start(&format!(
        "trap 'touch {}' WINCH; while :; do sleep 0.1; done",
        marker.display()
    ));
    drop_namespaces(&bundle, &["pid"]);
    set_args(&bundle, &["sleep", "60"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{path}"))
    });
    let id = unique_id("kill-all");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    start_detached(dir.path(), &bundle, &id);
    let killed = run(hoist(dir.path()).args(["kill", "--all", &id, "WINCH"]));
    assert!(!killed.status.success(), "kill --all signalled the host");
    assert!(stderr(&killed).contains("--all"), "{}", stderr(&killed));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(alive(bystander));
    assert!(
        !marker.exists(),
        "a process outside the container got the signal"
    );
    // Without --all, only the init is signalled, as always.
    let init = run(hoist(dir.path()).args(["kill", &id, "KILL"]));
    assert!(init.status.success(), "{}", stderr(&init));
}

#[test]
fn a_cgroups_path_cannot_climb_out_of_the_hierarchy() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let name = unique_id("hoist-escape");
    set_args(&bundle, &["sleep", "60"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/../../../../{name}"))
    });
    let id = unique_id("escape");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    let pid = start_detached(dir.path(), &bundle, &id);
    assert!(
        !Path::new("/").join(&name).exists(),
        "the cgroup was made outside the hierarchy, at /{name}"
    );
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    // A v1 hierarchy exists for every process once anything mounts it, even in a namespace of
    // its own (the net_cls test does): only those this host mounts are hoist's to use.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounted_here = |line: &&str| {
        let controllers = line.split(':').nth(1).unwrap_or("");
        controllers.is_empty()
            || mountinfo.lines().any(|m| {
                m.split(" - ").nth(1).is_some_and(|fs| {
                    fs.starts_with("cgroup ") && fs.ends_with(&format!(",{controllers}"))
                })
            })
    };
    assert!(
        membership
            .lines()
            .filter(|l| !l.contains("name=systemd"))
            .filter(mounted_here)
            .all(|l| l.ends_with(&format!(":/{name}"))),
        "the container is not in /{name} of every hierarchy:\n{membership}"
    );
}

#[test]
fn controllers_are_not_switched_on_in_a_unified_cgroup_hoist_did_not_make() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cgroup.controllers").exists() {
        return; // not a hybrid host: on pure cgroup2, enabling controllers above is the way
    }
    let parent = format!("hoist-parent-{}", unique_id("subtree"));
    let made = OwnCgroup::new(&parent);
    let parent_dir = unified.join(&parent);
    set_args(&bundle, &["true"]);
    edit_config(&bundle, |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{parent}/ctr"))
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("subtree"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(parent_dir.join("cgroup.subtree_control"))
            .unwrap()
            .trim(),
        "",
        "hoist switched on controllers in a cgroup it did not make"
    );
    // hoist made `ctr` in every hierarchy and removed it; the parents are the test's.
    for dir in &made.dirs {
        let _ = std::fs::remove_dir(dir.join("ctr"));
    }
}

#[test]
fn a_bind_mounted_dev_is_left_as_it_is() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let users_dev = dir.path().join("users-dev");
    std::fs::create_dir(&users_dev).unwrap();
    let made = Command::new("mknod")
        .arg(users_dev.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success());
    let inode =
        |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
    let null_before = inode(&users_dev.join("null"));
    edit_config(&bundle, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| {
            m["destination"] != "/dev" && !m["destination"].as_str().unwrap().starts_with("/dev/")
        });
        mounts.push(json!({
            "destination": "/dev", "type": "bind",
            "source": users_dev, "options": ["rbind", "rw"]
        }));
    });
    set_args(&bundle, &["sh", "-c", "ls /dev"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("bind-dev"));
    assert!(output.status.success(), "{}", stderr(&output));
    let names: Vec<String> = std::fs::read_dir(&users_dev)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["null"], "nodes were made in the user's /dev");
    assert_eq!(
        inode(&users_dev.join("null")),
        null_before,
        "the user's /dev/null was replaced"
    );
}

/// A container's root in a user namespace is some unprivileged host uid, which cannot enter a
/// directory only the host's root may (a store is 0700; so is the scratch directory here). Its
/// rootfs and bind sources under one are reached all the same, through what the runtime opened
/// for it, and the bind keeps its flags (read-only here).
#[test]
fn a_user_namespace_reaches_a_rootfs_and_sources_only_roots_directories_hold() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // Open to all itself, but inside the scratch directory, made the host root's alone.
    let shelf = dir.path().join("shelf");
    std::fs::create_dir(&shelf).unwrap();
    std::fs::set_permissions(&shelf, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(shelf.join("note"), "through the runtime\n").unwrap();
    // The rootfs is the host root's, unshifted: the mount point must be there already.
    std::fs::create_dir(bundle.join("rootfs/data")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "user" }));
        let shifted = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
        c["linux"]["uidMappings"] = shifted.clone();
        c["linux"]["gidMappings"] = shifted;
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": shelf,
            "options": ["rbind", "ro"]
        }));
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "cat /data/note; grep -c ' /data ro,' /proc/self/mountinfo",
        ],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("userns-reach"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "through the runtime\n1\n");
}

/// Runs `work` on a thread in a mount namespace of its own (a slave of the machine's, so that
/// nothing mounted in it reaches the machine); hoist started from there runs in it too.
fn in_private_mounts<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
        let slave = nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE;
        nix::mount::mount(None::<&str>, "/", None::<&str>, slave, None::<&str>).unwrap();
        work()
    })
    .join()
    .expect("the part of the test in its own mount namespace")
}

/// A user-namespace container with CAP_SYS_ADMIN, its one extra mount `mount` (a bind).
fn with_sys_admin_in_a_user_namespace(bundle: &Path, mount: serde_json::Value) {
    edit_config(bundle, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "user" }));
        let shifted = json!([{ "containerID": 0, "hostID": 300000, "size": 65536 }]);
        c["linux"]["uidMappings"] = shifted.clone();
        c["linux"]["gidMappings"] = shifted;
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        c["mounts"].as_array_mut().unwrap().push(mount);
    });
}

/// The attack: a root with CAP_SYS_ADMIN in its user namespace remounts a host mount it was
/// given read-only (per mount) read-write, and writes. The kernel locks the flags of the
/// copies a new namespace gets; a source the runtime had attached from a detached copy would
/// carry no lock.
#[test]
fn a_user_namespace_cannot_undo_a_host_mounts_read_only_flag() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let source = dir.path().join("host-ro");
    std::fs::create_dir(&source).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(bundle.join("rootfs/data")).unwrap();
    with_sys_admin_in_a_user_namespace(
        &bundle,
        json!({ "destination": "/data", "type": "bind", "source": source, "options": ["rbind"] }),
    );
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "mount -o remount,bind,rw /data; touch /data/written && echo wrote",
        ],
    );
    let scratch = dir.path().to_path_buf();
    let output = in_private_mounts(move || {
        use nix::mount::MsFlags;
        let none = None::<&str>;
        nix::mount::mount(
            Some("tmpfs"),
            &source,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=1777"),
        )
        .unwrap();
        nix::mount::mount(
            none,
            &source,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            none,
        )
        .unwrap();
        run_bundle(&scratch, &bundle, &unique_id("locked-ro"))
    });
    assert!(
        !stdout(&output).contains("wrote"),
        "the container made the host's read-only mount writable: {}",
        stderr(&output)
    );
}

#[test]
fn supplementary_groups_are_emptied_in_a_user_namespace() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // An identity map keeps the rootfs's owners as they are; the runtime runs with a
    // supplementary group the container must not keep.
    edit_config(&bundle, |c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.push(json!({ "type": "user" }));
        let identity = json!([{ "containerID": 0, "hostID": 0, "size": 65536 }]);
        c["linux"]["uidMappings"] = identity.clone();
        c["linux"]["gidMappings"] = identity;
    });
    set_args(&bundle, &["sh", "-c", "grep Groups /proc/self/status"]);
    let id = unique_id("groups");
    let output = run(Command::new("setpriv")
        .args(["--groups=4242", "--"])
        .arg(hoist_e2e::hoist_bin())
        .env("HOIST_ROOT", dir.path().join("hoist-root"))
        .arg("--root")
        .arg(dir.path().join("run"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).split_whitespace().collect::<Vec<_>>(),
        ["Groups:"],
        "the container kept the runtime's groups"
    );
}

#[test]
fn a_container_name_cannot_be_a_path_and_its_log_is_the_owners_only() {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return;
    };
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let store = dir.path().join("hoist-root");
    let escaped = run(hoist(dir.path()).args([
        "run",
        "--rm",
        "--network=none",
        "--name",
        "../escaped",
        &image,
        "true",
    ]));
    assert_eq!(escaped.status.code(), Some(125), "{}", stderr(&escaped));
    assert!(
        stderr(&escaped).contains("\"../escaped\""),
        "{}",
        stderr(&escaped)
    );
    assert!(
        !store.join("escaped").exists(),
        "a container directory outside containers/"
    );
    for verb in [&["logs"][..], &["rm", "-f"][..], &["stop"][..]] {
        let output = run(hoist(dir.path()).args(verb).arg("../images"));
        assert!(
            stderr(&output).contains("not a valid container name"),
            "{verb:?}: {}",
            stderr(&output)
        );
    }

    let name = unique_id("logged");
    let (status, err) = hoist_e2e::run_detached(
        hoist(dir.path()).args([
            "run",
            "-d",
            "--network=none",
            "--name",
            &name,
            &image,
            "true",
        ]),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let log = store.join("containers").join(&name).join("ctr.log");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    let _ = run(hoist(dir.path()).args(["rm", "-f", &name]));
    assert_eq!(mode & 0o777, 0o600, "ctr.log is readable by others");
}

/// What a `hoist run IMAGE` container's process sees of its own confinement: its bounding
/// capabilities, its seccomp mode, no_new_privileges, what `swapoff` of a missing file meets
/// (seccomp profiles refuse swapoff whatever the capabilities; unfiltered, the kernel answers
/// that the file is missing), whether /proc/timer_list is masked, and whether it got the
/// host's /dev/kmsg.
fn confinement(options: &[&str]) -> Vec<String> {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return Vec::new();
    };
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let script = "grep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; \
                  echo swapoff=$(swapoff /nonexistent 2>&1 | sed 's/.*: //'); \
                  echo timer_list=$(stat -c %F /proc/timer_list); \
                  test -e /dev/kmsg && echo kmsg=yes || echo kmsg=no";
    let output = run(hoist(dir.path())
        .args(["run", "--rm", "--network=none"])
        .args(options)
        .args([&image, "sh", "-c", script]));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The test's own bounding set: what root on this host has (this machine's root lacks
/// CAP_SYS_RESOURCE, for one).
fn own_bounding_set() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn run_image_has_podmans_capabilities_and_seccomp_profile_by_default() {
    let seen = confinement(&[]);
    if seen.is_empty() {
        return;
    }
    assert_eq!(
        seen,
        [
            "CapBnd: 00000000800405fb",
            "NoNewPrivs: 0",
            "Seccomp: 2",
            "swapoff=Operation not permitted",
            "timer_list=character special file",
            "kmsg=no",
        ],
        "podman's eleven capabilities, a seccomp filter, masked kernel files"
    );
    // Not the capability: with CAP_SYS_ADMIN the filter still refuses swapoff.
    let with_admin = confinement(&["--cap-add", "SYS_ADMIN"]);
    assert!(
        with_admin.contains(&"swapoff=Operation not permitted".to_string()),
        "{with_admin:?}"
    );
}

#[test]
fn security_opts_and_privileged_change_the_defaults_as_podman_does() {
    let unconfined = confinement(&[
        "--security-opt",
        "seccomp=unconfined",
        "--cap-add",
        "SYS_ADMIN",
    ]);
    if unconfined.is_empty() {
        return;
    }
    assert!(
        unconfined.contains(&"Seccomp: 0".to_string()),
        "{unconfined:?}"
    );
    assert!(
        unconfined.contains(&"swapoff=No such file or directory".to_string()),
        "{unconfined:?}"
    );

    let nnp = confinement(&["--security-opt", "no-new-privileges", "--cap-drop", "ALL"]);
    assert!(nnp.contains(&"NoNewPrivs: 1".to_string()), "{nnp:?}");
    assert!(
        nnp.contains(&"CapBnd: 0000000000000000".to_string()),
        "{nnp:?}"
    );

    let privileged = confinement(&["--privileged"]);
    for expected in [
        format!("CapBnd: {}", own_bounding_set()),
        "Seccomp: 0".into(),
        "swapoff=No such file or directory".into(),
        "timer_list=regular empty file".into(),
        "kmsg=yes".into(),
    ] {
        assert!(privileged.contains(&expected), "{expected}: {privileged:?}");
    }
}

/// Adds a bind mount of `source` on `destination` to the config.
fn add_bind(bundle: &Path, source: &Path, destination: &str) {
    edit_config(bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": destination, "type": "bind",
            "source": source, "options": ["bind", "rw"]
        }));
    });
}

#[test]
fn a_mount_into_proc_is_refused_even_through_a_symlink_in_the_image() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // What a host file bind-mounted over a /proc file the runtime writes to would receive.
    let decoy = dir.path().join("decoy");
    std::fs::write(&decoy, "decoy\n").unwrap();
    set_args(&bundle, &["cat", "/proc/uptime"]);
    let original = std::fs::read(bundle.join("config.json")).unwrap();

    add_bind(&bundle, &decoy, "/proc/self/oom_score_adj");
    edit_config(&bundle, |c| c["process"]["oomScoreAdj"] = json!(0));
    let output = run_bundle(dir.path(), &bundle, &unique_id("proc-mount"));
    assert_refused(&output, "inside /proc");
    assert_eq!(
        std::fs::read_to_string(&decoy).unwrap(),
        "decoy\n",
        "the runtime's write to /proc went to a file of the host's"
    );

    std::fs::write(bundle.join("config.json"), &original).unwrap();
    std::os::unix::fs::symlink("/proc/sys", bundle.join("rootfs/evil")).unwrap();
    add_bind(&bundle, &decoy, "/evil/kernel/core_pattern");
    let output = run_bundle(dir.path(), &bundle, &unique_id("proc-symlink"));
    assert_refused(&output, "inside /proc");
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy\n");

    // What lxcfs does is still allowed.
    std::fs::write(bundle.join("config.json"), &original).unwrap();
    add_bind(&bundle, &decoy, "/proc/uptime");
    let output = run_bundle(dir.path(), &bundle, &unique_id("lxcfs-like"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "decoy\n");
}

#[test]
fn a_sysctl_is_written_only_to_the_kernels_procfs() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // No procfs at /proc: what is there is the image's, a plain file standing for a sysctl.
    edit_config(&bundle, |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "proc");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["linux"]["sysctl"] = json!({ "kernel.shmmni": "1234" });
    });
    let fake = bundle.join("rootfs/proc/sys/kernel");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("shmmni"), "4096\n").unwrap();
    set_args(&bundle, &["true"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("fake-proc"));
    assert_refused(&output, "kernel.shmmni");
    assert_eq!(
        std::fs::read_to_string(fake.join("shmmni")).unwrap(),
        "4096\n",
        "the sysctl went into a file that is not the kernel's"
    );
}

/// Echoes every line back, a thread a connection, until the test ends.
fn echo_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let _ = std::io::copy(&mut reader, &mut &stream);
            });
        }
    });
    address
}

/// Sends a line through `address` and reads it back, or says why not within a few seconds.
fn round_trip(address: &str, line: &str) -> Result<std::net::TcpStream, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(line.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut back = vec![0u8; line.len()];
    stream.read_exact(&mut back).map_err(|e| e.to_string())?;
    (back == line.as_bytes())
        .then_some(stream)
        .ok_or_else(|| "a different answer".to_string())
}

#[test]
fn the_port_proxy_keeps_serving_when_it_cannot_start_a_thread() {
    let Some((_env, _dir, _bundle)) = busybox_bundle() else {
        return;
    };
    let pids = Path::new("/sys/fs/cgroup/pids");
    if !pids.is_dir() {
        eprintln!("skipped: no v1 pids hierarchy to hold the proxy to few threads");
        return;
    }
    let echo = echo_server();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Command::new(hoist_e2e::hoist_bin())
        .args(["port-proxy", "127.0.0.1"])
        .arg(format!("127.0.0.1:{port}:{}", echo.port()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cgroup = OwnCgroup::new(&unique_id("hoist-proxy"));
    let limited = cgroup
        .dirs
        .iter()
        .find(|d| d.starts_with(pids))
        .unwrap()
        .clone();
    for dir in &cgroup.dirs {
        std::fs::write(dir.join("cgroup.procs"), proxy.id().to_string()).unwrap();
    }
    let proxy_stdout = proxy.stdout.take().unwrap();
    // Killed with the cgroup, whatever the test's outcome.
    cgroup.processes.push(proxy);
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(proxy_stdout), &mut ready).unwrap();
    // The proxy's own threads, and one connection's two: no more.
    let current = limited.join("pids.current");
    let idle = std::fs::read_to_string(&current)
        .unwrap()
        .trim()
        .to_string();
    let limit = idle.parse::<u32>().unwrap() + 2;
    std::fs::write(limited.join("pids.max"), limit.to_string()).unwrap();
    let address = format!("127.0.0.1:{port}");

    let first = round_trip(&address, "one\n").expect("the first connection is forwarded");
    // No thread to be had for a second one at once: it is closed, and only it.
    assert!(round_trip(&address, "two\n").is_err());
    drop(first);
    let settled = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&current).unwrap().trim() != idle {
        assert!(
            std::time::Instant::now() < settled,
            "the proxy's threads did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let third = round_trip(&address, "three\n");
    assert!(third.is_ok(), "the proxy stopped forwarding: {third:?}");
}

#[test]
fn a_foreground_terminal_is_a_pty_of_the_containers_own_not_the_callers() {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return;
    };
    // The caller's terminal (script(1)'s pty) must not be the container's: a process holding
    // it could push input into the caller's shell (TIOCSTI). The container's stdin must be a
    // terminal of its own /dev/pts.
    let probe = r#"[ "$(stat -L -c %d /proc/self/fd/0)" = "$(stat -c %d /dev/pts)" ] && echo own-terminal || echo callers-terminal"#;
    let inner = format!(
        "exec {hoist} --root {run} run -it --rm --network none oci:{fixtures}:busybox-latest sh -c '{probe}'",
        hoist = hoist_e2e::hoist_bin().display(),
        run = dir.path().join("run").display(),
        fixtures = env.fixtures.display(),
    );
    let mut child = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("HOIST_ROOT", dir.path().join("hoist-root"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("own-terminal") && !out.contains("callers-terminal"),
        "{out}"
    );
}

#[test]
fn a_bind_mounts_flags_land_on_that_mount_not_on_what_a_second_lookup_finds() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // The destination is resolved before the mount; resolved again after it, the same path
    // goes through the new mount, where `s` is the source's symlink and `..` climbs out of it
    // to the container's root. Flags applied by that second lookup make the root read-only and
    // leave the bind writable.
    std::fs::create_dir_all(bundle.join("rootfs/d/s")).unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    std::os::unix::fs::symlink("/etc", source.join("s")).unwrap();
    edit_config(&bundle, |c| {
        c["root"]["readonly"] = json!(false);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/d/s/..", "type": "bind",
            "source": source, "options": ["bind", "ro"]
        }));
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "touch /d/written 2>/dev/null && echo bind-writable || echo bind-read-only; \
             touch /written 2>/dev/null && echo root-writable || echo root-read-only",
        ],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("second-lookup"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "bind-read-only\nroot-writable\n");
    assert!(!source.join("written").exists());
}

#[test]
fn a_compiled_seccomp_filter_is_kept_and_a_damaged_one_is_compiled_again() {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return;
    };
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let filtered = || {
        let output = run(hoist(dir.path())
            .args([
                "run",
                "--rm",
                "--network=none",
                "--cap-add",
                "SYS_ADMIN",
                &image,
            ])
            .args([
                "sh",
                "-c",
                "grep Seccomp: /proc/self/status; swapoff /nonexistent 2>&1 | sed 's/.*: //'",
            ]));
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let expected = "Seccomp:\t2\nOperation not permitted\n";
    assert_eq!(filtered(), expected);
    let cache = dir.path().join("run/.seccomp");
    let kept: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "one program for one profile: {kept:?}");
    assert_eq!(filtered(), expected, "from the kept program");
    // A program cut short is not loaded as it is, but compiled again.
    let program = std::fs::read(&kept[0]).unwrap();
    std::fs::write(&kept[0], &program[..program.len() - 3]).unwrap();
    assert_eq!(filtered(), expected, "after the kept program was damaged");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), program);
    // The cache is no container's state directory: a container may be called `seccomp`.
    let named = run(hoist(dir.path()).args([
        "run",
        "--rm",
        "--network=none",
        "--name",
        "seccomp",
        &image,
        "true",
    ]));
    assert!(named.status.success(), "{}", stderr(&named));
}

/// CVE-2019-5736: an image whose program is `#!/proc/self/exe` gets the kernel to run the
/// runtime's own binary inside the container; a second process there holds that executable
/// and, once it stops running, opens it for writing. Played against a copy of hoist, so a
/// failed defence harms only the copy: the copy must come out as it went in.
#[test]
fn a_container_cannot_overwrite_the_hoist_binary_through_proc_self_exe() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let victim = dir.path().join("victim/hoist");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::copy(hoist_e2e::hoist_bin(), &victim).unwrap();
    let size_before = std::fs::metadata(&victim).unwrap().len();
    let rootfs = bundle.join("rootfs");
    install_with_libraries(
        Path::new(env!("CARGO_BIN_EXE_exe_grabber")),
        &rootfs,
        "grab",
    );
    let script = rootfs.join("evil");
    std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    set_args(&bundle, &["/grab"]);

    let id = unique_id("cve-2019-5736");
    let _guard = ContainerGuard::new(dir.path(), &id);
    let victim_hoist = || hoist_e2e::hoist_from(&victim, dir.path());
    let mut attacker = victim_hoist()
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The script run by `exec` makes the kernel start the runtime's binary in the container.
    let ended = (0..400).find_map(|_| {
        let _ = victim_hoist()
            .args(["exec", &id, "/evil"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(std::time::Duration::from_millis(25));
        attacker.try_wait().unwrap()
    });
    if ended.is_none() {
        let _ = attacker.kill();
    }
    let output = attacker.wait_with_output().unwrap();
    let report = stdout(&output);
    assert!(
        report.contains("holding the runtime's executable"),
        "the attack never reached the binary, so it proves nothing: {report}{}",
        stderr(&output)
    );
    assert!(report.contains("refused at"), "{report}");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().len(),
        size_before,
        "the container wrote to the host's binary: {report}"
    );
}

/// Puts a dynamically linked host program into a rootfs as `/NAME`, with the libraries `ldd`
/// names, at the paths the program looks for them.
fn install_with_libraries(program: &Path, rootfs: &Path, name: &str) {
    let ldd = run(Command::new("ldd").arg(program));
    assert!(ldd.status.success(), "{}", stderr(&ldd));
    let libraries = stdout(&ldd)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|word| word.starts_with('/')))
        .map(PathBuf::from)
        .collect::<Vec<_>>();
    for library in libraries {
        let target = rootfs.join(library.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&library, &target).unwrap();
    }
    std::fs::copy(program, rootfs.join(name)).unwrap();
}

/// ASLR for hoist's own code and data: the binary must be position-independent (ELF type
/// ET_DYN), not linked at a fixed address.
#[test]
fn the_hoist_binary_is_position_independent() {
    let header = std::fs::read(hoist_e2e::hoist_bin()).unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    let elf_type = u16::from_le_bytes([header[16], header[17]]);
    assert_eq!(
        elf_type, 3,
        "ET_DYN (3) expected, found ELF type {elf_type}"
    );
}

/// `hoist cp` against a container that plants symlinks to the host's paths: nothing is read
/// from or written to the host through them; a symlink is copied as a symlink.
#[test]
fn cp_never_follows_a_containers_symlink_out_of_it() {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return;
    };
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let secret = host.join("secret");
    let victim = host.join("victim");
    std::fs::write(&secret, "host secret\n").unwrap();
    std::fs::write(&victim, "unchanged\n").unwrap();
    let name = unique_id("planter");
    let plant = format!(
        "ln -s / /tmp/root; ln -s {} /tmp/secret; ln -s {} /tmp/victim; mkdir /tmp/dir; \
         ln -s {} /tmp/dir/inside; exec sleep 600",
        secret.display(),
        victim.display(),
        host.display()
    );
    let started = run(hoist(dir.path()).args([
        "run",
        "-d",
        "--network=none",
        "--name",
        &name,
        &image,
        "sh",
        "-c",
        &plant,
    ]));
    assert!(started.status.success(), "{}", stderr(&started));
    let _guard = hoist_e2e::RunContainersGuard(dir.path());
    hoist_e2e::wait_for("the symlinks", || {
        run(hoist(dir.path()).args(["exec", &name, "test", "-L", "/tmp/dir/inside"]))
            .status
            .success()
    });
    let cp = |from: &str, to: &str| run(hoist(dir.path()).args(["cp", from, to]));
    let payload = dir.path().join("payload");
    std::fs::write(&payload, "attacker\n").unwrap();
    let payload = payload.to_str().unwrap();

    // Writing through a symlink to a host file: refused.
    let through = cp(payload, &format!("{name}:/tmp/victim"));
    assert!(!through.status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "unchanged\n");
    // Writing below a symlink to the container's /: lands in the container, or nowhere.
    let below = cp(payload, &format!("{name}:/tmp/root{}", victim.display()));
    assert!(
        !below.status.success(),
        "the host's path does not exist in the container"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "unchanged\n");
    // Reading a symlink to a host file copies the symlink, never the host file's bytes.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    assert!(cp(&format!("{name}:/tmp/secret"), out.to_str().unwrap())
        .status
        .success());
    assert_eq!(std::fs::read_link(out.join("secret")).unwrap(), secret);
    assert!(cp(
        &format!("{name}:/tmp/root{}", secret.display()),
        out.join("x").to_str().unwrap()
    )
    .status
    .code()
    .is_some_and(|code| code != 0));
    assert!(
        !out.join("x").exists(),
        "the host's secret was read through the container's /"
    );
    // A directory holding a symlink to a host directory: the link is copied, not what it names.
    assert!(cp(
        &format!("{name}:/tmp/dir"),
        out.join("dir").to_str().unwrap()
    )
    .status
    .success());
    assert_eq!(std::fs::read_link(out.join("dir/inside")).unwrap(), host);
    let _ = run(hoist(dir.path()).args(["rm", "-f", &name]));
}

/// The other half of `cp`'s attacks. Into the container: an entry the container made a fifo
/// (an open to write would hang) or a device node (a write would reach the host's device) is
/// replaced by the copied file, never opened. Out of it: a symlink a first copy left on the
/// host is never written through by a second, and a setuid file does not come out setuid.
#[test]
fn cp_never_writes_into_a_containers_devices_or_through_the_hosts_symlinks() {
    let Some((env, dir, _bundle)) = busybox_bundle() else {
        return;
    };
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "unchanged\n").unwrap();
    let name = unique_id("cp-planter");
    let plant = format!(
        "mkfifo /tmp/fifo; mknod /tmp/null c 1 3; mkdir /tmp/tree; ln -s {} /tmp/tree/link; \
         echo x > /tmp/suid; chmod 4755 /tmp/suid; touch /tmp/planted; exec sleep 600",
        victim.display()
    );
    let started = run(hoist(dir.path()).args([
        "run",
        "-d",
        "--network=none",
        "--name",
        &name,
        &image,
        "sh",
        "-c",
        &plant,
    ]));
    assert!(started.status.success(), "{}", stderr(&started));
    let _guard = hoist_e2e::RunContainersGuard(dir.path());
    let in_container = |script: &str| {
        hoist_e2e::expect_ok(hoist(dir.path()).args(["exec", &name, "sh", "-c", script]));
    };
    hoist_e2e::wait_for("the plants", || {
        run(hoist(dir.path()).args(["exec", &name, "test", "-e", "/tmp/planted"]))
            .status
            .success()
    });
    let payload = dir.path().join("payload");
    std::fs::write(&payload, "payload\n").unwrap();
    let cp = |from: &str, to: &str| cp_within_a_minute(dir.path(), from, to);

    for planted in ["/tmp/fifo", "/tmp/null"] {
        let copied = cp(payload.to_str().unwrap(), &format!("{name}:{planted}"));
        assert!(copied.status.success(), "{planted}: {}", stderr(&copied));
        let said = hoist_e2e::expect_ok(hoist(dir.path()).args([
            "exec",
            &name,
            "sh",
            "-c",
            &format!("test -f {planted} && cat {planted}"),
        ]));
        assert_eq!(
            stdout(&said),
            "payload\n",
            "{planted} is now the copied file"
        );
    }

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    assert!(cp(&format!("{name}:/tmp/tree"), out.to_str().unwrap())
        .status
        .success());
    assert_eq!(std::fs::read_link(out.join("tree/link")).unwrap(), victim);
    in_container("rm /tmp/tree/link; echo attacker > /tmp/tree/link");
    let again = cp(&format!("{name}:/tmp/tree"), out.to_str().unwrap());
    assert!(!again.status.success(), "the host's symlink is in the way");
    assert!(stderr(&again).contains("symlink"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "unchanged\n");

    assert!(cp(&format!("{name}:/tmp/suid"), out.to_str().unwrap())
        .status
        .success());
    let mode = std::fs::metadata(out.join("suid"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o7777,
        0o755,
        "the setuid bit stays in the container"
    );
    let _ = run(hoist(dir.path()).args(["rm", "-f", &name]));
}

/// `hoist cp`, failed (and killed) if it takes more than a minute: a copy hung on a fifo.
fn cp_within_a_minute(scratch: &Path, from: &str, to: &str) -> std::process::Output {
    let mut child = hoist(scratch)
        .args(["cp", from, to])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cp {from} {to} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
