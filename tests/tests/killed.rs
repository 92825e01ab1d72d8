//! `kill -9` at known points of `hoist run IMAGE`, of a container's monitor and of the
//! runtime's `create`: `system check` names what the dead process left, and the next command
//! that uses the same place (a run or create of the same name, `rm`, `delete`) or `system
//! prune` removes all of it — directories, mounts, cgroups, network namespaces, leases.
//! (`cargo xtask soak` kills at random points, many times over.)

use std::path::Path;

use hoist_e2e::{
    busybox_bundle, edit_config, expect_ok, hoist, in_private_network, is_root, kill_at_work,
    layout_with_a_waiting_layer, monitor_of, run, scratch, set_args, stdout, unique_id, wait_for,
};
use serde_json::json;

#[test]
fn a_run_killed_while_making_its_container_leaves_what_the_next_run_or_rm_removes() {
    let Some(env) = hoist_e2e::env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let (image, put_back) = layout_with_a_waiting_layer(&env, dir.path());
    let image = format!("oci:{image}");
    let containers = dir.path().join("hoist-root/containers");
    for name in ["web", "db"] {
        kill_at_work(
            hoist(dir.path()).args(["run", "--network=none", "--name", name, &image, "true"]),
            || containers.join(name).exists(),
        );
    }
    let check = run(hoist(dir.path()).args(["system", "check", "--quick"]));
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("container web: half-made by a process that died"),
        "{}",
        stdout(&check)
    );

    put_back();
    let again = run(hoist(dir.path()).args([
        "run",
        "--rm",
        "--network=none",
        "--name",
        "web",
        &image,
        "echo",
        "reclaimed",
    ]));
    assert_eq!(
        stdout(&again),
        "reclaimed\n",
        "the name is free again: {again:?}"
    );
    expect_ok(hoist(dir.path()).args(["rm", "db"]));
    assert_eq!(entries(&containers), Vec::<String>::new());
    assert_store_checks_clean(dir.path());
}

#[test]
fn a_container_whose_monitor_was_killed_is_pruned_with_its_network_once_it_stops() {
    let Some(env) = hoist_e2e::env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let scratch_path = dir.path().to_path_buf();
    let image = format!("oci:{}:busybox-latest", env.fixtures.display());
    let name = unique_id("orphaned");
    in_private_network(move || {
        let dir = scratch_path.as_path();
        expect_ok(hoist(dir).args([
            "run",
            "-d",
            "--network",
            "bridge",
            "--name",
            &name,
            &image,
            "sleep",
            "600",
        ]));
        let monitor = monitor_of(&name).expect("the container's monitor");
        nix::sys::signal::kill(monitor, nix::sys::signal::Signal::SIGKILL).unwrap();
        wait_for("the monitor to die", || monitor_of(&name).is_none());

        // The container runs on without its monitor: prune leaves it be.
        expect_ok(hoist(dir).args(["system", "prune"]));
        let listed = stdout(&expect_ok(hoist(dir).args(["ps", "-a"])));
        assert!(
            listed.contains(&name) && listed.contains(" Up "),
            "{listed}"
        );

        expect_ok(hoist(dir).args(["kill", &name, "KILL"]));
        wait_for("the container to stop", || {
            stdout(&run(hoist(dir).args(["state", &name]))).contains("\"stopped\"")
        });
        let check = run(hoist(dir).args(["system", "check", "--quick"]));
        assert_eq!(check.status.code(), Some(1));
        assert!(
            stdout(&check).contains("its end was never recorded"),
            "{}",
            stdout(&check)
        );

        let pruned = stdout(&expect_ok(hoist(dir).args(["system", "prune"])));
        assert!(pruned.contains("Removed 1 stopped container"), "{pruned}");
        assert!(entries(&dir.join("hoist-root/containers")).is_empty());
        assert!(entries(&dir.join("hoist-root/network/leases")).is_empty());
        assert!(!Path::new("/run/netns")
            .join(format!("hoist-{name}"))
            .exists());
        assert!(!dir.join("run").join(&name).exists(), "the runtime's state");
        assert_eq!(cgroups_named(&name), Vec::<String>::new());
        assert_store_checks_clean(dir);
    });
}

#[test]
fn a_killed_create_leaves_its_cgroup_for_the_next_create_or_delete_of_the_id() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let hook_pid = dir.path().join("hook.pid");
    // The create waits in its createRuntime hook, its cgroup made, until it is killed.
    edit_config(&bundle, |c| {
        c["hooks"] = json!({ "createRuntime": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 600", hook_pid.display())],
        }]})
    });
    set_args(&bundle, &["sleep", "600"]);
    let (again, deleted) = (unique_id("created-again"), unique_id("deleted"));
    for id in [&again, &deleted] {
        let _ = std::fs::remove_file(&hook_pid);
        kill_at_work(
            hoist(dir.path())
                .args(["create", "--bundle"])
                .arg(&bundle)
                .arg(id),
            || std::fs::read_to_string(&hook_pid).is_ok_and(|p| p.ends_with('\n')),
        );
        let hook: i32 = std::fs::read_to_string(&hook_pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(hook),
            nix::sys::signal::Signal::SIGKILL,
        );
        assert!(
            !cgroups_named(id).is_empty(),
            "the killed create had made its cgroup"
        );
    }

    edit_config(&bundle, |c| c["hooks"] = json!({}));
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &again);
    hoist_e2e::create_detached(dir.path(), &bundle, &again);
    expect_ok(hoist(dir.path()).args(["delete", "--force", &again]));
    expect_ok(hoist(dir.path()).args(["delete", &deleted]));
    for id in [&again, &deleted] {
        assert_eq!(cgroups_named(id), Vec::<String>::new(), "{id}");
        assert!(!dir.path().join("run").join(id).exists(), "{id}: its state");
    }
}

fn assert_store_checks_clean(scratch: &Path) {
    let check = expect_ok(hoist(scratch).args(["system", "check"]));
    assert!(stdout(&check).contains("no problems"), "{}", stdout(&check));
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroup directories named `id` under hoist's default parent, in every hierarchy.
fn cgroups_named(id: &str) -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("hoist").join(id))
        .filter(|d| d.is_dir())
        .map(|d| d.display().to_string())
        .collect()
}
