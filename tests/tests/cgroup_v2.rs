//! The cgroup2 code on a real cgroup2 hierarchy. This machine is hybrid (v1 controllers, and
//! cgroup2 with few controllers beside them), so hoist is run in a mount namespace of its own
//! where /sys/fs/cgroup is a fresh cgroup2 mount: there it sees what a pure-v2 host shows, and
//! everything it does (cgroups made, processes moved, eBPF device programs attached, freezing)
//! happens in the kernel's one real cgroup2 hierarchy.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hoist_e2e::{busybox_bundle, edit_config, hoist, run, set_args, stderr, stdout, unique_id};
use serde_json::json;

/// Whether this kernel can mount cgroup2 at all.
fn cgroup2_available() -> bool {
    let known = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("cgroup2"));
    if !known {
        assert!(
            std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_none(),
            "this kernel has no cgroup2"
        );
        eprintln!("skipped: this kernel has no cgroup2");
    }
    known
}

/// Runs `command` in a new mount namespace whose /sys/fs/cgroup is only a cgroup2 mount.
fn with_cgroup2_only(command: &mut Command) -> &mut Command {
    // SAFETY: only raw syscalls (unshare, mount, umount2), which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let check = |ret: libc::c_int| {
                if ret < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::umount2(c"/sys/fs/cgroup".as_ptr(), libc::MNT_DETACH))?;
            check(libc::mount(
                c"cgroup2".as_ptr(),
                c"/sys/fs/cgroup".as_ptr(),
                c"cgroup2".as_ptr(),
                0,
                std::ptr::null(),
            ))
        });
    }
    command
}

/// Where the host mounts its cgroup2 hierarchy (/sys/fs/cgroup/unified here).
fn host_cgroup2_mount() -> PathBuf {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split(' ').next() == Some("cgroup2"))
                .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
        .expect("the host mounts cgroup2")
}

/// Deletes the container, in the cgroup2-only view its state was made in, when dropped.
struct Cgroup2Container<'a> {
    scratch: &'a Path,
    id: String,
}

impl Drop for Cgroup2Container<'_> {
    fn drop(&mut self) {
        let _ = with_cgroup2_only(hoist(self.scratch).args(["delete", "--force", &self.id]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_container_on_cgroup2_gets_its_own_cgroup_limits_and_freezer() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    if !cgroup2_available() {
        return;
    }
    let hugetlb = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").is_dir();
    edit_config(&bundle, |c| {
        if hugetlb {
            c["linux"]["resources"]["hugepageLimits"] =
                json!([{ "pageSize": "2MB", "limit": 4 << 20 }]);
        }
    });
    let script = if hugetlb {
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.procs; cat /sys/fs/cgroup/hugetlb.2MB.max"
    } else {
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.procs"
    };
    set_args(&bundle, &["sh", "-c", script]);
    let id = unique_id("v2run");
    let output = run(with_cgroup2_only(
        hoist(dir.path())
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id),
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"0::/"),
        "the container's cgroup is the root of its cgroup2 view: {out}"
    );
    let procs = lines.iter().position(|l| *l == "1");
    assert!(procs.is_some(), "pid 1 is in the cgroup: {out}");
    if hugetlb {
        assert_eq!(lines.last().unwrap(), &(4 << 20).to_string(), "{out}");
    }
    let cgroup = host_cgroup2_mount().join("hoist").join(&id);
    assert!(!cgroup.exists(), "the cgroup is removed with the container");

    // pause/resume use cgroup.freeze.
    set_args(&bundle, &["sleep", "60"]);
    let id = unique_id("v2pause");
    let _cleanup = Cgroup2Container {
        scratch: dir.path(),
        id: id.clone(),
    };
    let (status, err) = hoist_e2e::run_detached(
        with_cgroup2_only(
            hoist(dir.path())
                .args(["run", "--detach", "--bundle"])
                .arg(&bundle)
                .arg(&id),
        ),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let cgroup = host_cgroup2_mount().join("hoist").join(&id);
    let frozen = || {
        std::fs::read_to_string(cgroup.join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
    };
    assert!(!frozen());
    let pause = run(with_cgroup2_only(hoist(dir.path()).args(["pause", &id])));
    assert!(pause.status.success(), "{}", stderr(&pause));
    assert!(frozen(), "the kernel reports the cgroup frozen");
    let resume = run(with_cgroup2_only(hoist(dir.path()).args(["resume", &id])));
    assert!(resume.status.success(), "{}", stderr(&resume));
    assert!(!frozen());
    let delete = run(with_cgroup2_only(
        hoist(dir.path()).args(["delete", "--force", &id]),
    ));
    assert!(delete.status.success(), "{}", stderr(&delete));
    assert!(!cgroup.exists(), "delete removes the cgroup");
}

/// What a container may open follows `linux.resources.devices`: through the v1 devices
/// controller on this host, and through an eBPF program on the cgroup2-only view.
#[test]
fn device_rules_decide_what_a_container_may_open_on_v1_and_on_cgroup2() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    if !cgroup2_available() || !Path::new("/dev/net/tun").exists() {
        assert!(
            std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_none(),
            "no /dev/net/tun to test device rules with"
        );
        return;
    }
    // The node exists in the container's /dev whatever the rules say; the rules decide opens.
    edit_config(&bundle, |c| {
        c["linux"]["devices"] =
            json!([{ "path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200 }]);
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "(exec 3</dev/net/tun) 2>/dev/null && echo read || echo no-read; \
             (exec 3<>/dev/net/tun) 2>/dev/null && echo write || echo no-write; \
             (exec 3<>/dev/null) && echo null",
        ],
    );
    let cases = [
        (
            json!([{ "allow": false, "access": "rwm" }]),
            "no-read\nno-write\nnull\n",
        ),
        (
            json!([{ "allow": false, "access": "rwm" },
                   { "allow": true, "type": "c", "major": 10, "minor": 200, "access": "r" }]),
            "read\nno-write\nnull\n",
        ),
        (
            json!([{ "allow": false, "access": "rwm" },
                   { "allow": true, "type": "c", "major": 10, "access": "rw" }]),
            "read\nwrite\nnull\n",
        ),
        (
            json!([{ "allow": true, "access": "rwm" },
                   { "allow": false, "type": "c", "major": 10, "minor": 200, "access": "w" }]),
            "read\nno-write\nnull\n",
        ),
    ];
    for cgroup2 in [false, true] {
        for (rules, expected) in &cases {
            edit_config(&bundle, |c| {
                c["linux"]["resources"]["devices"] = rules.clone()
            });
            let mut command = hoist(dir.path());
            command
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(unique_id("devices"));
            if cgroup2 {
                with_cgroup2_only(&mut command);
            }
            let output = run(&mut command);
            assert!(output.status.success(), "{}", stderr(&output));
            assert_eq!(
                stdout(&output),
                *expected,
                "rules {rules} on {}",
                if cgroup2 {
                    "cgroup2 (eBPF)"
                } else {
                    "this host"
                }
            );
        }
    }
}
