//! An unprivileged user's containers in the cgroup2 subtree delegated to them, as rootless
//! podman's are, tested in a guest machine whose cgroups are cgroup2 alone (this host's are
//! hybrid, and v1 controllers are never delegated): `hoist_e2e::guest`.

use std::time::Duration;

use hoist_e2e::guest::{Guest, GuestKernel, GuestOutput};
use hoist_e2e::{env, expect_ok, hoist, hoist_bin, is_root, scratch};

/// The guest's boot and script, under software emulation, take well under a minute.
const LIMIT: Duration = Duration::from_secs(300);

/// Boots a guest with the busybox fixture at `oci:/image:busybox`, running `script`.
fn in_guest(script: &str) -> Option<GuestOutput> {
    let test_env = env()?;
    if !is_root() {
        return None;
    }
    let kernel = GuestKernel::find()?;
    let dir = scratch();
    let image = dir.path().join("image");
    expect_ok(
        hoist(dir.path())
            .args(["copy"])
            .arg(format!(
                "oci:{}:busybox-latest",
                test_env.fixtures.display()
            ))
            .arg(format!("oci:{}:busybox", image.display())),
    );
    let guest = Guest::new(&kernel, dir.path(), &hoist_bin(), &image);
    Some(guest.boot(script, LIMIT))
}

/// The user's shell in `session` below their delegated `user-1001`, as a login under
/// systemd's user service has it: limits asked of `hoist run` land in a cgroup of hoist's
/// below the delegation, the kernel enforces them, and `rm` takes the cgroup away.
#[test]
fn an_unprivileged_users_limits_are_enforced_in_the_cgroup_delegated_to_them() {
    let script = r#"
D=/sys/fs/cgroup/user-1001
delegate $D
delegate $D/session
echo $$ > $D/session/cgroup.procs
echo "@@info $(as_user 'hoist info' | tr -d ' \n' | grep -o '"cgroupControllers":\[[^]]*\]')"
as_user 'hoist run -d --name limited --network none --memory 64m --pids-limit 20 --cpus 0.5 oci:/image:busybox sleep 1000' 2>&1
cgroups() { find $1 -mindepth 1 -maxdepth 1 -type d; }
echo "@@cgroups $(cgroups $D/hoist)"
C=$(cgroups $D/hoist | head -1)
echo "@@memory.max $(cat $C/memory.max)"
echo "@@pids.max $(cat $C/pids.max)"
echo "@@cpu.max $(cat $C/cpu.max)"
echo "@@procs $(cat $C/cgroup.procs | wc -l)"
# The kernel holds the container to them: 30 more processes started in it stop at the pids
# limit, and a program over the memory limit is killed.
echo "@@exec $(as_user 'hoist exec limited cat /proc/self/cgroup' 2>&1)"
as_user "hoist exec limited sh -c 'for i in \$(seq 30); do sleep 300 & done'" 2>/dev/null
echo "@@pids.current $(cat $C/pids.current)"
echo "@@pids.events $(cat $C/pids.events)"
as_user 'hoist rm -f limited' >/dev/null
echo "@@after-rm $(cgroups $D/hoist | wc -l)"
# (Files in the container's /dev/shm are memory charged to its cgroup, which no reclaim frees.)
hog='dd if=/dev/zero of=/dev/shm/hog bs=1M count=48'
as_user "hoist run --rm --network none --memory 32m oci:/image:busybox $hog" 2>/dev/null
echo "@@memory-hog $?"
as_user "hoist run --rm --network none oci:/image:busybox $hog" 2>/dev/null
echo "@@memory-hog-unlimited $?"
# containers.conf's pids limit applies where the user's cgroup can have one.
mkdir -p /home/u/.config/containers
printf '[containers]\npids_limit = 33\n' > /home/u/.config/containers/containers.conf
chown -R 1001:1001 /home/u/.config
as_user "hoist run --rm --network none oci:/image:busybox cat /sys/fs/cgroup/pids.max" | sed 's/^/@@default-pids /'
echo "@@left $(cgroups $D/hoist | wc -l)"
# root's exec on this nsdelegate mount, likewise into the container's cgroup.
echo $$ > /sys/fs/cgroup/cgroup.procs
hoist run -d --name by-root --network none oci:/image:busybox sleep 1000 >/dev/null
echo "@@root-exec $(hoist exec by-root cat /proc/self/cgroup 2>&1)"
hoist rm -f by-root >/dev/null
"#;
    let Some(out) = in_guest(script) else { return };
    assert!(!out.values.contains_key("setup-failed"), "{}", out.console);
    for controller in ["memory", "pids", "cpu"] {
        assert!(
            out.get("info").contains(&format!("\"{controller}\"")),
            "hoist info lists the delegated {controller}: {}",
            out.get("info")
        );
    }
    assert_eq!(
        out.get("cgroups").split_whitespace().count(),
        1,
        "{}",
        out.console
    );
    assert_eq!(
        out.get("memory.max"),
        (64 << 20).to_string(),
        "{}",
        out.console
    );
    assert_eq!(out.get("pids.max"), "20");
    assert_eq!(out.get("cpu.max"), "50000 100000");
    assert_ne!(out.get("procs"), "0", "the container's processes are in it");
    assert_eq!(
        out.get("exec"),
        "0::/",
        "exec'd into its cgroup: {}",
        out.console
    );
    assert_eq!(
        out.get("after-rm"),
        "0",
        "rm takes the container's cgroup away"
    );
    // The container's sleep, and as many of the 30 as fit beside it and the shell that
    // started them (which failed at a fork, and is gone).
    let current: u32 = out.get("pids.current").parse().unwrap();
    assert!(
        (10..=20).contains(&current),
        "30 forks under --pids-limit 20 left {current}: {}",
        out.console
    );
    let refused: u32 = out
        .get("pids.events")
        .trim_start_matches("max ")
        .parse()
        .unwrap();
    assert!(refused > 0, "{}", out.get("pids.events"));
    assert_eq!(
        out.get("memory-hog"),
        "137",
        "killed over --memory 32m: {}",
        out.console
    );
    assert_eq!(out.get("memory-hog-unlimited"), "0", "{}", out.console);
    assert_eq!(out.get("default-pids"), "33", "{}", out.console);
    assert_eq!(out.get("left"), "0");
    assert_eq!(out.get("root-exec"), "0::/", "{}", out.console);
}

/// Where the user's cgroup cannot give a container limits, a limit is refused before anything
/// runs, saying what is missing; without limits, the container runs all the same.
#[test]
fn limits_without_a_usable_delegation_are_refused_saying_what_is_missing() {
    let script = r#"
try() { as_user "$1" >/tmp/out 2>&1; echo "@@$2-status $?"; echo "@@$2 $(tr '\n' ' ' </tmp/out)"; }
# A cgroup of root's: nothing is delegated.
mkdir /sys/fs/cgroup/plain
echo $$ > /sys/fs/cgroup/plain/cgroup.procs
try 'hoist run --rm --network none --memory 64m oci:/image:busybox true' root-owned
try 'hoist run --rm --network none oci:/image:busybox echo ran' root-owned-plain
# Delegated, but the user's processes sit in the delegated cgroup itself.
delegate /sys/fs/cgroup/busy
echo $$ > /sys/fs/cgroup/busy/cgroup.procs
try 'hoist run --rm --network none --pids-limit 9 oci:/image:busybox true' busy
# Delegated below a parent that passes only pids down.
mkdir /sys/fs/cgroup/only-pids
echo +pids > /sys/fs/cgroup/only-pids/cgroup.subtree_control
delegate /sys/fs/cgroup/only-pids/user
delegate /sys/fs/cgroup/only-pids/user/session
echo $$ > /sys/fs/cgroup/only-pids/user/session/cgroup.procs
try 'hoist run --rm --network none --memory 64m oci:/image:busybox true' no-memory
try 'hoist run --rm --network none --pids-limit 9 oci:/image:busybox cat /sys/fs/cgroup/pids.max' pids-only
# A container with limits, then a shell of the user's outside the delegation: exec cannot put
# a process in the container's cgroup from there, and says so; rm works from anywhere.
as_user 'hoist run -d --name limited --network none --pids-limit 9 oci:/image:busybox sleep 1000' >/dev/null
echo $$ > /sys/fs/cgroup/plain/cgroup.procs
try 'hoist exec limited true' outside
try 'hoist rm -f limited' outside-rm
echo "@@left $(find /sys/fs/cgroup/only-pids/user/hoist -mindepth 1 -type d | wc -l)"
"#;
    let Some(out) = in_guest(script) else { return };
    assert!(!out.values.contains_key("setup-failed"), "{}", out.console);
    out.assert_refused(
        "root-owned",
        &["--memory needs a cgroup", "/plain is not delegated to you"],
    );
    assert_eq!(out.get("root-owned-plain-status"), "0", "{}", out.console);
    assert_eq!(out.get("root-owned-plain"), "ran");
    out.assert_refused(
        "busy",
        &[
            "--pids-limit needs the pids controller",
            "move them into a child",
        ],
    );
    out.assert_refused(
        "no-memory",
        &[
            "--memory needs the memory controller below your delegated cgroup /only-pids/user: \
           /sys/fs/cgroup/only-pids does not pass it down",
        ],
    );
    assert_eq!(out.get("pids-only-status"), "0", "{}", out.console);
    assert_eq!(out.get("pids-only"), "9");
    out.assert_refused(
        "outside",
        &["may move processes only within the cgroup delegated to them"],
    );
    assert_eq!(
        out.get("outside-rm-status"),
        "0",
        "{}",
        out.get("outside-rm")
    );
    assert_eq!(out.get("left"), "0");
}
