//! The runc-shaped runtime: real containers in real namespaces, their lifecycle, and the
//! hardening cases, each with the test that would have caught its CVE.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use hoist_e2e::cgroup_view::{CgroupView, ViewCleanup};
use hoist_e2e::{
    assert_refused, busybox_bundle, edit_config, expect_ok, hoist, run, run_bundle, run_detached,
    set_args, state, stderr, stdout, unique_id, wait_for,
};
use serde_json::json;

/// Makes `from` the child's fd `to`, inherited across exec.
fn inherit_fd(command: &mut Command, from: i32, to: i32) {
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself keeps CLOEXEC, so clear it explicitly.
            if libc::dup2(from, to) < 0 || libc::fcntl(to, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_container_sees_its_own_namespaces_and_returns_its_exit_code() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(
        &bundle,
        &["sh", "-c", "hostname; echo pid=$$; for n in mnt uts ipc pid net; do readlink /proc/self/ns/$n; done; ls /sys/class/net; exit 42"],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("ns"));
    assert_eq!(output.status.code(), Some(42), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "hoist",
        "the uts namespace has the config's hostname"
    );
    assert_eq!(
        lines[1], "pid=1",
        "the process is pid 1 of a new pid namespace"
    );
    for (i, ns) in ["mnt", "uts", "ipc", "pid", "net"].iter().enumerate() {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            lines[2 + i],
            host.to_string_lossy(),
            "{ns} namespace is the host's"
        );
    }
    assert_eq!(&lines[7..], ["lo"], "a new network namespace has only lo");
}

#[test]
fn lifecycle_create_start_state_kill_delete() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let id = unique_id("life");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "echo started > /started; trap 'exit 3' TERM; while true; do sleep 0.05; done",
        ],
    );
    let pid_file = dir.path().join("pid");
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "create leaves the init running"
    );
    let created = state(dir.path(), &id);
    assert_eq!(created["status"], "created");
    assert_eq!(created["pid"], pid);
    assert_eq!(created["id"], id.as_str());
    assert_eq!(
        created["bundle"],
        bundle.canonicalize().unwrap().to_str().unwrap()
    );
    assert!(
        !bundle.join("rootfs/started").exists(),
        "create must not start the user's program"
    );

    // Refusals while created.
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("already exists"), "{err}");

    expect_ok(hoist(dir.path()).args(["start", &id]));
    wait_for("the program to start", || {
        bundle.join("rootfs/started").exists()
    });
    assert_eq!(state(dir.path(), &id)["status"], "running");
    let twice = run(hoist(dir.path()).args(["start", &id]));
    assert_refused(&twice, "running");
    let busy = run(hoist(dir.path()).args(["delete", &id]));
    assert_refused(&busy, "--force");

    expect_ok(hoist(dir.path()).args(["kill", &id, "15"]));
    wait_for("the container to stop", || {
        state(dir.path(), &id)["status"] == "stopped"
    });
    let dead = run(hoist(dir.path()).args(["kill", &id, "KILL"]));
    assert_eq!(dead.status.code(), Some(1));
    assert!(
        stderr(&dead).contains("container not running"),
        "containerd matches this text: {}",
        stderr(&dead)
    );

    let listed = expect_ok(hoist(dir.path()).args(["list", "--format", "json"]));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == id.as_str()));

    expect_ok(hoist(dir.path()).args(["delete", &id]));
    assert!(
        !dir.path().join("run").join(&id).exists(),
        "delete removes the state"
    );
    let gone = run(hoist(dir.path()).args(["state", &id]));
    assert_refused(&gone, "does not exist");
    expect_ok(hoist(dir.path()).args(["delete", "--force", &id]));
}

#[test]
fn delete_refuses_a_running_container_and_with_force_kills_it() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let id = unique_id("force");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    set_args(&bundle, &["sleep", "1000"]);
    let pid = hoist_e2e::start_detached(dir.path(), &bundle, &id);
    let output = run(hoist(dir.path()).args(["delete", &id]));
    assert!(!output.status.success(), "deleted a running container");
    assert_eq!(state(dir.path(), &id)["status"], "running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(!stat.contains(") Z "), "the process was killed: {stat}");
    expect_ok(hoist(dir.path()).args(["delete", "--force", &id]));
    assert!(!dir.path().join("run").join(&id).exists());
    wait_for("the killed process to go", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    });
}

#[test]
fn a_missing_program_fails_create_with_the_message_engines_map_to_127() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let id = unique_id("nocmd");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    set_args(&bundle, &["/no/such/cmd"]);
    let log = dir.path().join("log.json");
    let output = run(hoist(dir.path())
        .arg("--log")
        .arg(&log)
        .arg("--log-format=json")
        .arg("create")
        .arg("--bundle")
        .arg(&bundle)
        .arg(&id));
    assert_refused(&output, "no such file or directory");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "podman reads the whole log as one object: {text}"
    );
    let entry: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(entry["level"], "error");
    assert!(entry["msg"]
        .as_str()
        .unwrap()
        .contains("no such file or directory"));
    assert!(entry["time"].as_str().is_some());
    assert!(
        !dir.path().join("run").join(&id).exists(),
        "a failed create leaves no state"
    );

    set_args(&bundle, &["not-in-path"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("nopath"));
    assert!(
        stderr(&output).contains("executable file not found in $PATH"),
        "{}",
        stderr(&output)
    );
}

/// Only stdio and preserved fds reach the container (CVE-2024-21626: a leaked fd of a host
/// directory let the container escape through /proc/self/fd).
#[test]
fn no_runtime_fd_reaches_the_container() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(
        &bundle,
        &["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"],
    );
    let host_dir = std::fs::File::open("/").unwrap();
    let leaked = host_dir.as_raw_fd();
    let mut command = hoist(dir.path());
    command
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(unique_id("fds"));
    // fd 7, without CLOEXEC: as if an engine had leaked it to the runtime.
    inherit_fd(&mut command, leaked, 7);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", stderr(&output));
    // ls itself holds fd 3 open on /proc/self/fd while it lists it.
    assert_eq!(
        stdout(&output).trim(),
        "0 1 2 3",
        "only stdio may reach the container"
    );

    // And a working directory through such a leaked fd is refused, not entered.
    edit_config(&bundle, |c| c["process"]["cwd"] = json!("/proc/self/fd/7"));
    let mut command = hoist(dir.path());
    command
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(unique_id("cwd"));
    inherit_fd(&mut command, leaked, 7);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("working directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn preserved_fds_do_reach_the_container() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["sh", "-c", "cat <&3"]);
    let passed = std::fs::File::open(bundle.join("rootfs/etc/group")).unwrap();
    let fd = passed.as_raw_fd();
    let mut command = hoist(dir.path());
    command
        .args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("keep"));
    inherit_fd(&mut command, fd, 3);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("root:x:0:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn proc_and_sys_are_masked_and_read_only_by_default() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // The masked files this kernel has: each must read as empty (/dev/null over it).
    let files: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect();
    let script = format!(
        "for f in {}; do echo \"$f $(wc -c < $f)\"; done; echo \"acpi $(ls /proc/acpi | wc -l)\"; \
         grep -E ' /proc/(sys|bus|irq) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; \
         test -c /dev/null && test -c /dev/urandom && test -L /dev/fd && echo devices-ok",
        files.join(" ")
    );
    set_args(&bundle, &["sh", "-c", &script]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("masks"));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    for file in &files {
        assert!(
            lines.contains(&format!("{file} 0").as_str()),
            "{file} must be masked:\n{out}"
        );
    }
    if Path::new("/proc/acpi").is_dir() {
        assert!(
            lines.contains(&"acpi 0"),
            "/proc/acpi is masked by an empty tmpfs:\n{out}"
        );
    }
    assert!(lines.contains(&"/proc/sys ro"), "{out}");
    for read_only in ["/proc/bus", "/proc/irq"] {
        if Path::new(read_only).exists() {
            assert!(lines.contains(&format!("{read_only} ro").as_str()), "{out}");
        }
    }
    assert_eq!(lines.last(), Some(&"devices-ok"));
}

#[test]
fn the_default_capabilities_and_a_configured_user_apply() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status | cut -f2; id -u; id -g; id -G; grep NoNewPrivs /proc/self/status | cut -f2"]);
    edit_config(&bundle, |c| {
        c["process"]["user"] = json!({ "uid": 65534, "gid": 65534, "additionalGids": [100] });
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("user"));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    // runc's default set: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE.
    assert_eq!(lines[0], "0000000020000420", "effective capabilities");
    assert_eq!(lines[1], "0000000020000420", "bounding set");
    assert_eq!(&lines[2..4], ["65534", "65534"]);
    assert!(
        lines[4].split(' ').any(|g| g == "100"),
        "additional gids: {}",
        lines[4]
    );
    assert_eq!(lines[5], "1", "no_new_privileges");
}

/// `runc spec` lists ambient capabilities but no inheritable ones, which the kernel refuses to
/// raise; runc and crun run such a config without them, and so must hoist. Where the config
/// makes them inheritable too, a non-root process keeps them across its exec.
#[test]
fn ambient_capabilities_are_raised_only_where_the_kernel_allows() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let runc_default = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    // Effective, then ambient (the order of /proc/self/status).
    let script = "grep -E '^Cap(Eff|Amb)' /proc/self/status | cut -f2";
    set_args(&bundle, &["sh", "-c", script]);
    edit_config(&bundle, |c| {
        let caps = &mut c["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted", "ambient"] {
            caps[set] = json!(runc_default);
        }
        caps.as_object_mut().unwrap().remove("inheritable");
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("ambient"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "0000000020000420\n0000000000000000\n");

    edit_config(&bundle, |c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
        c["process"]["user"] = json!({ "uid": 65534, "gid": 65534 });
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("ambient"));
    assert!(output.status.success(), "{}", stderr(&output));
    // CAP_KILL alone (bit 5): ambient, and so effective for a non-root user after its exec.
    assert_eq!(stdout(&output), "0000000000000020\n0000000000000020\n");
}

/// A host whose cgroup hierarchies are each mounted twice (here: /sys/fs/cgroup bound onto
/// itself, as a nested or reconfigured host shows them) still has one of each: the container's
/// cgroup mount holds each hierarchy once, where mounting a duplicate on top of itself used to
/// fail with EBUSY. Run in a mount namespace of its own, so the host sees none of it.
#[test]
fn cgroup_hierarchies_mounted_twice_are_mounted_once_in_the_container() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["sh", "-c", "ls /sys/fs/cgroup"]);
    let mut command = hoist(dir.path());
    command
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("twice"));
    // SAFETY: only raw syscalls (unshare, mount), which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let check = |ret: libc::c_int| match ret {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            let (none, root, cgroups) = (std::ptr::null(), c"/".as_ptr(), c"/sys/fs/cgroup");
            check(libc::mount(
                none,
                root,
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                none.cast(),
            ))?;
            let flags = libc::MS_BIND | libc::MS_REC;
            check(libc::mount(
                cgroups.as_ptr(),
                cgroups.as_ptr(),
                none,
                flags,
                none.cast(),
            ))
        });
    }
    let output = run(&mut command);
    assert!(output.status.success(), "{}", stderr(&output));
    // On a v1 or hybrid host, a directory per hierarchy (systemd's named one is not mounted
    // in containers); on a pure-v2 host, the one hierarchy's own files.
    let expected: Vec<String> = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        vec!["cgroup.controllers".into()]
    } else {
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "systemd")
            .collect()
    };
    let inside = stdout(&output);
    for hierarchy in &expected {
        assert!(
            inside.lines().any(|l| l == hierarchy),
            "{hierarchy} is missing: {inside}"
        );
    }
}

/// A rootfs whose /proc is a symlink must not steer procfs (and the masks on it) elsewhere
/// (runc's CVE-2019-19921 family).
#[test]
fn a_rootfs_with_a_symlinked_proc_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let proc_dir = bundle.join("rootfs/proc");
    std::fs::remove_dir(&proc_dir).unwrap();
    std::os::unix::fs::symlink("/etc", &proc_dir).unwrap();
    set_args(&bundle, &["true"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("symproc"));
    assert_refused(&output, "/proc");
    assert!(
        bundle.join("rootfs/etc/passwd").is_file(),
        "nothing was mounted over the rootfs's /etc"
    );
}

/// A /dev/null that is not the null device must not be bind-mounted over masked paths.
#[test]
fn a_fake_dev_null_is_not_used_for_masks() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    edit_config(&bundle, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    });
    std::os::unix::fs::symlink("/etc/passwd", bundle.join("rootfs/dev/null")).unwrap();
    set_args(&bundle, &["true"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("fakenull"));
    assert_refused(&output, "/dev/null");
}

/// Raising a hard limit needs CAP_SYS_RESOURCE; without it the error says which limit and why.
#[test]
fn an_rlimit_above_the_hard_limit_names_the_limit() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
    let wanted = current.rlim_max + 1;
    edit_config(&bundle, |c| {
        c["process"]["rlimits"] =
            json!([{ "type": "RLIMIT_NOFILE", "hard": wanted, "soft": wanted }]);
    });
    set_args(&bundle, &["sh", "-c", "ulimit -Hn"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("rlimit"));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    let has_sys_resource = u64::from_str_radix(effective, 16).unwrap() & (1 << 24) != 0;
    if has_sys_resource {
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output).trim(), wanted.to_string());
    } else {
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(
            message.contains("RLIMIT_NOFILE") && message.contains("CAP_SYS_RESOURCE"),
            "{message}"
        );
    }
}

#[test]
fn signals_to_a_foreground_run_reach_the_container() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done",
        ],
    );
    let mut child = hoist(dir.path())
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(unique_id("sig"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn runc_runs_hoists_bundle_and_hoist_runs_umocis() {
    let Some((env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["sh", "-c", "echo from-runc; exit 5"]);
    let output = run(Command::new("runc")
        .arg("--root")
        .arg(dir.path().join("runc"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("runc")));
    assert_eq!(output.status.code(), Some(5), "runc: {}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "from-runc");

    // crun refuses a hybrid cgroup host outright; where it runs, it must run the bundle, and
    // where it refuses, the refusal must be about the host, never about hoist's config.
    let output = run(Command::new("crun")
        .arg("--root")
        .arg(dir.path().join("crun"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("crun")));
    if output.status.code() != Some(5) {
        assert!(
            stderr(&output).contains("hybrid"),
            "crun rejected hoist's bundle: {}",
            stderr(&output)
        );
    }

    let umoci_bundle = dir.path().join("umoci");
    expect_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:busybox-latest", env.fixtures.display()))
            .arg(&umoci_bundle),
    );
    set_args(&umoci_bundle, &["sh", "-c", "echo from-hoist; exit 6"]);
    edit_config(&umoci_bundle, |c| c["process"]["terminal"] = json!(false));
    let output = run_bundle(dir.path(), &umoci_bundle, &unique_id("umoci"));
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "from-hoist");
}

/// CVE-2019-5736: a process in the container must not reach the runtime binary through
/// /proc/PID/exe. Until `start`, the container's pid 1 is a clone of hoist itself; it is
/// non-dumpable, so even root in the container (without CAP_SYS_PTRACE) cannot open it.
#[test]
fn the_runtime_binary_is_out_of_reach_before_start() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["true"]);
    let id = unique_id("exe");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let output = run(hoist(dir.path()).args([
        "exec",
        &id,
        "sh",
        "-c",
        "if cat /proc/1/exe > /dev/null 2>&1; then echo readable; else echo denied; fi; readlink /proc/1/exe || echo no-link",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("denied"),
        "the runtime binary was readable from the container:\n{out}"
    );
    assert!(
        out.contains("no-link"),
        "its path was visible from the container:\n{out}"
    );
}

/// CVE-2021-30465 class: a mount destination that is (or passes through) a symlink pointing
/// out of the rootfs is resolved inside the rootfs, never on the host.
#[test]
fn a_mount_destination_through_a_symlink_stays_in_the_rootfs() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let host_target = dir.path().join("host-target");
    std::fs::create_dir(&host_target).unwrap();
    let source = dir.path().join("volume");
    std::fs::create_dir(&source).unwrap();
    std::fs::write(source.join("file"), b"from the volume").unwrap();
    std::os::unix::fs::symlink(&host_target, bundle.join("rootfs/escape")).unwrap();
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/escape/mnt", "type": "bind", "source": source, "options": ["rbind", "ro"]
        }));
    });
    set_args(&bundle, &["cat", "/escape/mnt/file"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("symmount"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "from the volume",
        "the mount is where the container looks"
    );
    assert!(
        std::fs::read_dir(&host_target).unwrap().next().is_none(),
        "nothing was created on the host"
    );
    let inside = bundle
        .join("rootfs")
        .join(host_target.strip_prefix("/").unwrap())
        .join("mnt");
    assert!(
        inside.is_dir(),
        "the mount point was made inside the rootfs at {}",
        inside.display()
    );
}

#[test]
fn spec_writes_a_config_that_runs_and_features_describe_the_runtime() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    std::fs::remove_file(bundle.join("config.json")).unwrap();
    expect_ok(hoist(dir.path()).arg("spec").arg("--bundle").arg(&bundle));
    let again = run(hoist(dir.path()).arg("spec").arg("--bundle").arg(&bundle));
    assert_eq!(
        again.status.code(),
        Some(1),
        "spec does not overwrite a config"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["terminal"], true,
        "like runc spec, a shell on a terminal"
    );
    edit_config(&bundle, |c| c["process"]["terminal"] = json!(false));
    set_args(&bundle, &["echo", "spec-ok"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("spec"));
    assert_eq!(stdout(&output), "spec-ok\n", "{}", stderr(&output));

    let rootless = dir.path().join("rootless");
    std::fs::create_dir(&rootless).unwrap();
    expect_ok(
        hoist(dir.path())
            .args(["spec", "--rootless", "--bundle"])
            .arg(&rootless),
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rootless.join("config.json")).unwrap()).unwrap();
    let namespaces: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        namespaces.contains(&"user") && !namespaces.contains(&"network"),
        "{namespaces:?}"
    );

    let features: serde_json::Value =
        serde_json::from_slice(&expect_ok(hoist(dir.path()).arg("features")).stdout).unwrap();
    let listed: Vec<&str> = features["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"user") && listed.contains(&"cgroup"),
        "{listed:?}"
    );
    assert!(features["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
}

#[test]
fn sysctls_apply_inside_the_containers_namespaces_only() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let host_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let flipped = if host_forward.trim() == "1" { "0" } else { "1" };
    edit_config(&bundle, |c| {
        c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": flipped, "kernel.shmmni": "1234" });
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
        ],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("sysctl"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{flipped}\n1234\n"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_forward,
        "the host is untouched"
    );

    // A path, not a name: refused whether it claims a namespaced prefix or none.
    for key in ["../../../etc/x", "net/../../../etc/x"] {
        edit_config(&bundle, |c| c["linux"]["sysctl"] = json!({ key: "1" }));
        let output = run_bundle(dir.path(), &bundle, &unique_id("badsysctl"));
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(
            message.contains("not a sysctl name") || message.contains("not namespaced"),
            "{message}"
        );
    }
}

#[test]
fn a_rootfs_with_a_symlinked_dev_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    std::fs::remove_dir(bundle.join("rootfs/dev")).unwrap();
    std::os::unix::fs::symlink("/tmp", bundle.join("rootfs/dev")).unwrap();
    set_args(&bundle, &["true"]);
    let output = run_bundle(dir.path(), &bundle, &unique_id("symdev"));
    assert_refused(&output, "/dev");
}

/// An LSM label the host cannot apply is an error, never a silent unconfined run.
#[test]
fn lsm_labels_apply_or_fail_clearly() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    set_args(&bundle, &["true"]);
    edit_config(&bundle, |c| {
        c["process"]["apparmorProfile"] = json!("hoist-test-profile")
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("apparmor"));
    if Path::new("/sys/kernel/security/apparmor").exists() {
        // The profile does not exist, so the kernel refuses it: still a failure, never unconfined.
        assert_ne!(output.status.code(), Some(0));
    } else {
        assert_refused(&output, "no AppArmor");
    }
    edit_config(&bundle, |c| {
        c["process"]["apparmorProfile"] = json!("");
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("selinux"));
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        assert_refused(&output, "no SELinux");
    }
}

/// A time namespace shifts the container's monotonic and boot-time clocks by the config's
/// offsets; the host's clocks, and a container without one, are untouched.
#[test]
fn a_time_namespace_offsets_the_containers_clocks() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    if !Path::new("/proc/self/ns/time").exists() {
        assert!(
            std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_none(),
            "this kernel has no time namespaces"
        );
        eprintln!("skipped: this kernel has no time namespaces");
        return;
    }
    const DAYS: u64 = 3 * 86_400;
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "time" }));
        c["linux"]["timeOffsets"] = json!({
            "boottime": { "secs": DAYS, "nanosecs": 0 },
            "monotonic": { "secs": 2 * DAYS, "nanosecs": 0 }
        });
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/time; cat /proc/uptime; exec cat /proc/self/timens_offsets",
        ],
    );
    let host_uptime = || -> f64 {
        let text = std::fs::read_to_string("/proc/uptime").unwrap();
        text.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before = host_uptime();
    let output = run_bundle(dir.path(), &bundle, &unique_id("timens"));
    let after = host_uptime();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines[0],
        std::fs::read_link("/proc/self/ns/time")
            .unwrap()
            .to_string_lossy(),
        "the program runs in a time namespace of its own"
    );
    let uptime: f64 = lines[1].split_whitespace().next().unwrap().parse().unwrap();
    let shifted = uptime - DAYS as f64;
    assert!(
        shifted >= before - 1.0 && shifted <= after + 1.0,
        "the container's uptime {uptime} is the host's ({before}..{after}) plus the boottime offset"
    );
    let monotonic = (2 * DAYS).to_string();
    assert!(
        lines.iter().any(|l| l
            .split_whitespace()
            .eq(["monotonic", monotonic.as_str(), "0"])),
        "the monotonic offset is in place: {out}"
    );

    // Offsets without the namespace to hold them are a config error, not silently dropped.
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "time");
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("timens-missing"));
    assert_ne!(output.status.code(), Some(0));
    assert!(
        stderr(&output).contains("timeOffsets needs a new time namespace"),
        "{}",
        stderr(&output)
    );
}

/// A change to a config.json.
type ConfigChange = fn(&mut serde_json::Value);

#[test]
fn values_the_spec_bounds_are_refused_at_create_with_the_field_named() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let original = std::fs::read(bundle.join("config.json")).unwrap();
    let cases: &[(&str, ConfigChange)] = &[
        ("ociVersion", |c| c["ociVersion"] = json!("2.0.0")),
        ("oomScoreAdj", |c| c["process"]["oomScoreAdj"] = json!(5000)),
        ("rootfsPropagation", |c| {
            c["linux"]["rootfsPropagation"] = json!("sideways")
        }),
        ("mounts", |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "relative", "type": "tmpfs", "source": "tmpfs"}))
        }),
        (
            "linux.devices",
            |c| {
                c["linux"]["devices"] =
                    json!([{"path": "/etc/passwd", "type": "c", "major": 1, "minor": 3}])
            },
        ),
        ("linux.devices", |c| {
            c["linux"]["devices"] = json!([{"path": "/dev/all", "type": "a"}])
        }),
        // Unknown values of the spec's enums fail as they are read.
        ("config.json", |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "bogus"}))
        }),
        ("config.json", |c| {
            c["process"]["capabilities"]["bounding"] = json!(["CAP_NOT_A_CAP"])
        }),
        ("config.json", |c| {
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}])
        }),
        ("config.json", |c| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_SOMETIMES"})
        }),
    ];
    for (i, (field, change)) in cases.iter().enumerate() {
        std::fs::write(bundle.join("config.json"), &original).unwrap();
        edit_config(&bundle, change);
        let id = unique_id(&format!("invalid-{i}"));
        let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
        // Not waited on for its output: a create that wrongly succeeds leaves an init holding
        // it, which the guard removes.
        let (status, err) = run_detached(
            hoist(dir.path())
                .args(["create", "--bundle"])
                .arg(&bundle)
                .arg(&id),
            dir.path(),
        );
        assert_eq!(status.code(), Some(1), "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(
            !dir.path().join("run").join(&id).exists(),
            "{field}: a refused container left its state"
        );
    }
}

#[test]
fn start_runs_what_create_read_whatever_the_config_says_since() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let id = unique_id("read-once");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    set_args(&bundle, &["sh", "-c", "echo created > /marker"]);
    let (status, err) = run_detached(
        hoist(dir.path())
            .args(["create", "--bundle"])
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    set_args(&bundle, &["sh", "-c", "echo edited > /marker"]);
    std::fs::rename(bundle.join("config.json"), bundle.join("config.moved")).unwrap();
    expect_ok(hoist(dir.path()).args(["start", &id]));
    let marker = bundle.join("rootfs/marker");
    wait_for("the container to write its marker", || marker.exists());
    wait_for("the marker's line", || {
        std::fs::read_to_string(&marker).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "created\n");
}

#[test]
fn network_class_ids_and_priorities_land_in_net_cls_and_net_prio_and_update_changes_them() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let id = unique_id("net-cls");
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["network"] =
            json!({"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]});
        c["linux"]["cgroupsPath"] = json!(format!("/hoist/{id}"));
    });
    set_args(&bundle, &["sleep", "1000"]);
    let create = |command: &mut Command| {
        run_detached(
            command.args(["create", "--bundle"]).arg(&bundle).arg(&id),
            dir.path(),
        )
    };
    let on_host = ["/sys/fs/cgroup/net_cls", "/sys/fs/cgroup/net_cls,net_prio"]
        .iter()
        .any(|p| Path::new(p).join("net_cls.classid").exists());
    if !on_host {
        let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
        let (status, err) = create(&mut hoist(dir.path()));
        assert_eq!(status.code(), Some(1), "created without net_cls: {err}");
        assert!(err.contains("net_cls"), "{err}");
    }

    let view = CgroupView {
        scratch: dir.path(),
        hierarchy: "net_cls,net_prio",
    };
    let _cleanup = ViewCleanup {
        view,
        id: id.clone(),
    };
    let (status, err) = create(&mut view.command(&mut hoist(dir.path())));
    assert!(status.success(), "{err}");
    let read_back = |file: &str| view.read(format!("hoist/{id}/{file}"));
    assert_eq!(read_back("net_cls.classid").trim(), "1048577");
    assert!(read_back("net_prio.ifpriomap").contains("lo 5\n"));

    let resources = dir.path().join("resources.json");
    std::fs::write(
        &resources,
        json!({"network": {"classID": 1048578, "priorities": [{"name": "lo", "priority": 7}]}})
            .to_string(),
    )
    .unwrap();
    expect_ok(
        &mut view.command(
            hoist(dir.path())
                .args(["update", "--resources"])
                .arg(&resources)
                .arg(&id),
        ),
    );
    assert_eq!(read_back("net_cls.classid").trim(), "1048578");
    assert!(read_back("net_prio.ifpriomap").contains("lo 7\n"));
}

/// The optional fields (`shared:N`, `master:N`, `unbindable`) of the mount at `/` that `pid`
/// sees.
fn root_propagation_of(pid: i64) -> Vec<String> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .rfind(|line| line.split(' ').nth(4) == Some("/"))
        .expect("a mount at /");
    let (left, _) = root.split_once(" - ").unwrap();
    left.split(' ').skip(6).map(str::to_string).collect()
}

#[test]
fn each_rootfs_propagation_gives_the_root_it_names_and_host_mounts_reach_slave_and_shared() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // The host's mounts under the rootfs must be able to propagate at all: this host's `/` is
    // private, so the scratch directory becomes a shared mount of its own.
    let _shared = hoist_e2e::MountGuard::shared_bind(dir.path());
    let probe = bundle.join("rootfs/probe");
    std::fs::create_dir(&probe).unwrap();
    set_args(&bundle, &["sleep", "1000"]);
    for (asked, tag, receives_host_mounts) in [
        ("slave", Some("master:"), true),
        ("shared", Some("shared:"), true),
        ("private", None, false),
        ("unbindable", Some("unbindable"), false),
    ] {
        edit_config(&bundle, |c| {
            c["linux"]["rootfsPropagation"] = json!(asked);
        });
        let id = unique_id(&format!("propagation-{asked}"));
        let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
        let pid = hoist_e2e::create_detached(dir.path(), &bundle, &id);
        let tags = root_propagation_of(pid);
        match tag {
            Some(tag) => assert!(tags.iter().any(|t| t.starts_with(tag)), "{asked}: {tags:?}"),
            None => assert!(tags.is_empty(), "{asked}: {tags:?}"),
        }
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !host_mounts.contains(&format!(" {} ", bundle.join("rootfs").display())),
            "{asked}: the container's bind of its rootfs shows on the host"
        );

        let host_mount = hoist_e2e::MountGuard::tmpfs(&probe);
        std::fs::write(probe.join("marker"), asked).unwrap();
        let seen = std::fs::read_to_string(format!("/proc/{pid}/root/probe/marker"));
        assert_eq!(seen.is_ok(), receives_host_mounts, "{asked}: {seen:?}");
        drop(host_mount);
    }
}

/// A process holding namespaces of its own (`unshare FLAGS sleep`), killed when dropped (with
/// `--fork`, its child goes with it only if FLAGS also say `--kill-child`).
struct NamespaceHolder(std::process::Child);

impl NamespaceHolder {
    fn new(flags: &[&str]) -> NamespaceHolder {
        let child = Command::new("unshare")
            .args(flags)
            .args(["sleep", "1000"])
            .spawn()
            .expect("unshare");
        let holder = NamespaceHolder(child);
        let pid = holder.0.id();
        // Its namespaces are its own once unshare has exec'd sleep (or, with --fork, once its
        // children's pid namespace is a new one).
        wait_for("the namespace holder", || match flags.contains(&"--fork") {
            true => {
                holder.ns_id("pid_for_children")
                    != std::fs::read_link("/proc/self/ns/pid")
                        .unwrap()
                        .display()
                        .to_string()
            }
            false => std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.to_string_lossy().contains("sleep")),
        });
        holder
    }

    fn ns(&self, name: &str) -> String {
        format!("/proc/{}/ns/{name}", self.0.id())
    }

    fn ns_id(&self, name: &str) -> String {
        std::fs::read_link(self.ns(name))
            .map(|link| link.display().to_string())
            .unwrap_or_default()
    }
}

impl Drop for NamespaceHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_namespace_joined_by_path_is_the_containers_and_a_wrong_one_is_named() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let holder = NamespaceHolder::new(&["--uts", "--ipc", "--net", "--cgroup", "--time"]);
    let joined = ["uts", "ipc", "net", "cgroup", "time"];
    // The network namespace as `ip netns` and engines keep one: a file it is bind-mounted on.
    let netns = dir.path().join("netns");
    std::fs::write(&netns, "").unwrap();
    let _netns = hoist_e2e::MountGuard::bind(Path::new(&holder.ns("net")), &netns);
    edit_config(&bundle, |c| {
        let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "pid"})];
        for name in joined {
            let (kind, path) = match name {
                "net" => ("network", netns.display().to_string()),
                other => (other, holder.ns(other)),
            };
            namespaces.push(json!({"type": kind, "path": path}));
        }
        c["linux"]["namespaces"] = json!(namespaces);
        // Its uts namespace is the container's own, though joined: it may be named.
        c["hostname"] = json!("joined-by-path");
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "hostname; for n in uts ipc net cgroup time; do readlink /proc/self/ns/$n; done",
        ],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("join-all"));
    assert!(output.status.success(), "{}", stderr(&output));
    let mut expected = vec!["joined-by-path".to_string()];
    expected.extend(joined.iter().map(|name| holder.ns_id(name)));
    assert_eq!(stdout(&output).lines().collect::<Vec<_>>(), expected);

    // A path that is another type's namespace, or none, is refused at create, named.
    for (kind, path, says) in [
        (
            "ipc",
            holder.ns("net"),
            format!(
                "the ipc namespace to join, {}, is a net namespace",
                holder.ns("net")
            ),
        ),
        (
            "time",
            "/nonexistent".to_string(),
            "the time namespace /nonexistent".to_string(),
        ),
    ] {
        edit_config(&bundle, |c| {
            c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": kind, "path": path}]);
            c["hostname"] = serde_json::Value::Null;
        });
        let output = run_bundle(dir.path(), &bundle, &unique_id("join-wrong"));
        assert_refused(&output, &says);
    }

    // A joined user namespace owns what the container makes beside it: its new mount, pid,
    // uts and ipc namespaces are made from inside it, so it can mount, set its hostname and
    // mount procfs for its own pid namespace.
    let user = NamespaceHolder::new(&["--user", "--map-root-user"]);
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "user", "path": user.ns("user")},
        ]);
        c["hostname"] = json!("in-joined-userns");
        // The holder maps only root: devpts may not name a group the namespace lacks.
        for mount in c["mounts"].as_array_mut().unwrap() {
            if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|o| o != "gid=5");
            }
        }
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "hostname; readlink /proc/self/ns/user; echo pid=$$; cat /proc/self/uid_map",
        ],
    );
    let output = run_bundle(dir.path(), &bundle, &unique_id("join-user"));
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(
        lines[..3],
        [
            "in-joined-userns".to_string(),
            user.ns_id("user"),
            "pid=1".to_string()
        ]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1"],
        "the holder's map"
    );

    // With its pid namespace joined too, the init is born in it, and the state names it by
    // its pid on the host.
    let pod = NamespaceHolder::new(&[
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--kill-child",
    ]);
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"] = json!([
            {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "pid", "path": pod.ns("pid_for_children")},
            {"type": "user", "path": pod.ns("user")},
        ]);
    });
    set_args(&bundle, &["sleep", "1000"]);
    let id = unique_id("join-user-pid");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    let pid = hoist_e2e::create_detached(dir.path(), &bundle, &id);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .unwrap()
            .display()
            .to_string(),
        pod.ns_id("pid_for_children"),
        "the state's pid is the init's on the host"
    );
}

#[test]
fn without_a_mount_namespace_the_container_shares_the_hosts_and_is_chrooted() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    // What would mount in the host's namespace is refused, named.
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"] = json!([{"type": "pid"}]);
        c["hostname"] = serde_json::Value::Null;
    });
    let output = run_bundle(dir.path(), &bundle, &unique_id("no-mnt-refused"));
    assert_refused(&output, "mounts needs a mount namespace");

    edit_config(&bundle, |c| {
        c["linux"]["namespaces"] = json!([{"type": "uts"}]);
        c["hostname"] = json!("no-mount-ns");
        c["mounts"] = json!([]);
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    set_args(&bundle, &["sleep", "1000"]);
    let id = unique_id("no-mnt");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    let pid = hoist_e2e::create_detached(dir.path(), &bundle, &id);
    let ns = |pid: &str, name: &str| std::fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap();
    let init = pid.to_string();
    assert_eq!(
        ns(&init, "mnt"),
        ns("self", "mnt"),
        "the host's mount namespace"
    );
    assert_ne!(ns(&init, "uts"), ns("self", "uts"), "its own uts namespace");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        bundle.join("rootfs"),
        "chrooted into its rootfs"
    );
    expect_ok(hoist(dir.path()).args(["start", &id]));
    // exec finds the container where its init is: in the rootfs, not the host's root.
    let output = expect_ok(hoist(dir.path()).args([
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; test -e /bin/busybox && echo rootfs; test -e /work || echo no-host",
    ]));
    assert_eq!(stdout(&output), "no-mount-ns\nrootfs\nno-host\n");
}
