//! OCI lifecycle hooks: each runs at its moment, in its namespaces, with the state on stdin.

use std::path::Path;

use hoist_e2e::busybox_bundle;
use hoist_e2e::{
    edit_config, expect_ok, hoist, run_bundle, run_detached, set_args, unique_id, ContainerGuard,
};
use serde_json::{json, Value};

fn hook(script: &str, timeout: Option<u64>) -> Value {
    let mut hook =
        json!({ "path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/usr/bin:/bin"] });
    if let Some(t) = timeout {
        hook["timeout"] = json!(t);
    }
    hook
}

fn read_state(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// What every hook reads on stdin (runtime.md's state), whatever its moment.
fn assert_state(state: &Value, hook: &str, id: &str, bundle: &Path, status: &str) {
    assert_eq!(state["id"], id, "{hook}");
    assert_eq!(state["bundle"], bundle.to_str().unwrap(), "{hook}");
    assert_eq!(state["annotations"]["org.example.hook"], "seen", "{hook}");
    assert_eq!(state["status"], status, "{hook}: {state}");
}

#[test]
fn every_hook_runs_at_its_moment_with_the_state() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let out = dir.path().join("hooks");
    std::fs::create_dir(&out).unwrap();
    let o = out.display();
    edit_config(&bundle, |c| {
        c["annotations"] = json!({ "org.example.hook": "seen" });
        c["hooks"] = json!({
            "prestart": [hook(&format!("cat > {o}/prestart.json"), None)],
            "createRuntime": [hook(&format!("cat > {o}/createRuntime.json"), None)],
            "createContainer": [hook(&format!("cat > {o}/createContainer.json; readlink /proc/self/ns/mnt > {o}/createContainer.mnt"), None)],
            // Inside the container, after pivot_root: the container's own /bin/sh and paths.
            "startContainer": [hook("cat > /startContainer.json", None)],
            "poststart": [hook(&format!("cat > {o}/poststart.json"), None)],
            "poststop": [hook(&format!("cat > {o}/poststop.json"), None)],
        });
    });
    set_args(&bundle, &["sleep", "600"]);
    let id = unique_id("hooks");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let pid = read_state(&out.join("createRuntime.json"))["pid"]
        .as_i64()
        .unwrap();
    assert!(pid > 0);
    // The create-time hooks run after the environment is made (runtime.md's step 2, the one
    // that is "creating"): they read `created`, as a conformance check expects.
    for create_hook in ["prestart", "createRuntime", "createContainer"] {
        let state = read_state(&out.join(format!("{create_hook}.json")));
        assert_state(&state, create_hook, &id, &bundle, "created");
        assert_eq!(state["pid"], pid, "{create_hook}");
    }
    let container_mnt = std::fs::read_to_string(out.join("createContainer.mnt")).unwrap();
    assert_eq!(
        container_mnt.trim(),
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .unwrap()
            .to_string_lossy(),
        "createContainer runs in the container's mount namespace"
    );
    assert!(!out.join("poststart.json").exists(), "not before start");

    expect_ok(hoist(dir.path()).args(["start", &id]));
    let poststart = read_state(&out.join("poststart.json"));
    assert_state(
        &poststart,
        "poststart (before start returns)",
        &id,
        &bundle,
        "running",
    );
    assert_eq!(poststart["pid"], pid);
    // startContainer hooks run in the init after `start` has returned, just before the exec.
    let started = bundle.join("rootfs/startContainer.json");
    hoist_e2e::wait_for("the startContainer hook", || {
        std::fs::read_to_string(&started).is_ok_and(|t| t.ends_with('}'))
    });
    let start_container = read_state(&started);
    assert_state(&start_container, "startContainer", &id, &bundle, "created");
    assert_eq!(start_container["pid"], pid);
    expect_ok(hoist(dir.path()).args(["delete", "--force", &id]));
    assert_state(
        &read_state(&out.join("poststop.json")),
        "poststop",
        &id,
        &bundle,
        "stopped",
    );
}

#[test]
fn a_failing_or_hanging_create_hook_fails_create_and_leaves_nothing() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    for (name, script, timeout, expected) in [
        // Its error tells what the hook said last, as runc's does.
        (
            "failing",
            "echo broken on purpose >&2; exit 3",
            None,
            "saying \"broken on purpose\"",
        ),
        ("hanging", "sleep 30", Some(1), "timeout"),
    ] {
        edit_config(&bundle, |c| {
            c["hooks"] = json!({ "createRuntime": [hook(script, timeout)] })
        });
        set_args(&bundle, &["true"]);
        let id = unique_id(name);
        let _cleanup = ContainerGuard::new(dir.path(), &id);
        let output = run_bundle(dir.path(), &bundle, &id);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message
                .lines()
                .any(|line| line.contains("createRuntime") && line.contains(expected)),
            "{name}: {message}"
        );
        assert!(
            !dir.path().join("run").join(&id).exists(),
            "{name}: no state is left"
        );
    }
}

/// Runs a container in the foreground whose state carries `padding` (more than a pipe or a
/// packet of the runtime's channel holds) with `hooks`, and returns how `hoist run` ended.
fn run_with_large_state(
    padding: &str,
    hooks: Value,
    args: &[&str],
) -> Option<(std::process::Output, tempfile::TempDir)> {
    let (_env, dir, bundle) = busybox_bundle()?;
    edit_config(&bundle, |c| {
        c["annotations"] = json!({ "padding": padding });
        c["hooks"] = hooks;
    });
    set_args(&bundle, args);
    let id = unique_id("large-state");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    let output = run_bundle(dir.path(), &bundle, &id);
    Some((output, dir))
}

#[test]
fn a_config_with_large_annotations_runs_and_its_hooks_get_them_whole() {
    let padding = "x".repeat(512 * 1024);
    let out = tempfile::tempdir().unwrap();
    let state = out.path().join("state.json");
    let hooks = json!({
        "createContainer": [hook(&format!("cat > {}", state.display()), None)],
    });
    let Some((output, _dir)) = run_with_large_state(&padding, hooks, &["true"]) else {
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let state = read_state(&state);
    assert_eq!(
        state["annotations"]["padding"].as_str(),
        Some(padding.as_str())
    );
}

#[test]
fn a_hook_that_leaves_its_state_unread_does_not_end_a_foreground_run() {
    // The write to a hook that exits without reading meets a closed pipe (EPIPE, and a
    // SIGPIPE kept pending while `run` blocks signals).
    let hooks = json!({
        "createRuntime": [hook("exit 0", None)],
        "poststart": [hook("exit 0", None)],
    });
    let padding = "x".repeat(512 * 1024);
    let Some((output, _dir)) = run_with_large_state(&padding, hooks, &["sh", "-c", "exit 7"])
    else {
        return;
    };
    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
