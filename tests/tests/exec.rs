//! `exec`: another process in a running container, in its namespaces and cgroup.

use std::path::PathBuf;

use hoist_e2e::{
    assert_refused, env, expect_ok, hoist, is_root, run, run_detached, scratch, set_args, stderr,
    stdout, unique_id, unpack_fixture, ContainerGuard,
};
use serde_json::json;

fn running_container(label: &str) -> Option<(tempfile::TempDir, PathBuf, String, ContainerGuard)> {
    let env = env()?;
    if !is_root() {
        return None;
    }
    let dir = scratch();
    let bundle = dir.path().join("bundle");
    unpack_fixture(&env, dir.path(), "busybox-latest", &bundle);
    set_args(&bundle, &["sleep", "600"]);
    let id = unique_id(label);
    let guard = ContainerGuard::new(dir.path(), &id);
    hoist_e2e::start_detached(dir.path(), &bundle, &id);
    Some((dir, bundle, id, guard))
}

fn ns(pid: i64, name: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exec_joins_the_containers_namespaces_and_passes_the_exit_code() {
    let Some((dir, _bundle, id, _guard)) = running_container("exec") else {
        return;
    };
    let init: i64 = serde_json::from_slice::<serde_json::Value>(
        &expect_ok(hoist(dir.path()).args(["state", &id])).stdout,
    )
    .unwrap()["pid"]
        .as_i64()
        .unwrap();
    let script = "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; for n in mnt pid net uts ipc; do readlink /proc/self/ns/$n; done; echo $GREETING; pwd; exit 5";
    let output = run(hoist(dir.path()).args([
        "exec",
        "-e",
        "GREETING=hello",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].trim(),
        "sleep 600",
        "pid 1 is the container's init"
    );
    assert_eq!(lines[1], "hoist");
    for (i, name) in ["mnt", "pid", "net", "uts", "ipc"].iter().enumerate() {
        assert_eq!(
            lines[2 + i],
            ns(init, name),
            "the exec'd process shares the {name} namespace"
        );
    }
    assert_eq!(&lines[7..], ["hello", "/tmp"]);
}

#[test]
fn exec_detached_writes_a_pid_file_and_runs_in_the_cgroup() {
    let Some((dir, _bundle, id, _guard)) = running_container("exec-detach") else {
        return;
    };
    let pid_file = dir.path().join("exec.pid");
    let process = dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&json!({
            "args": ["sleep", "300"], "cwd": "/", "user": { "uid": 65534, "gid": 65534 },
            "env": ["PATH=/bin:/usr/bin"], "noNewPrivileges": true
        }))
        .unwrap(),
    )
    .unwrap();
    let (status, err) = run_detached(
        hoist(dir.path())
            .args(["exec", "--detach", "--process"])
            .arg(&process)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status_file = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status_file
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "runs as the process's user"
    );
    let listed: Vec<i64> = serde_json::from_slice(
        &expect_ok(hoist(dir.path()).args(["ps", "--format", "json", &id])).stdout,
    )
    .unwrap();
    assert!(
        listed.contains(&pid),
        "the exec'd process is in the container's cgroup: {listed:?}"
    );
}

#[test]
fn exec_of_a_missing_program_or_into_a_stopped_container_fails_clearly() {
    let Some((dir, _bundle, id, _guard)) = running_container("exec-missing") else {
        return;
    };
    let output = run(hoist(dir.path()).args(["exec", &id, "/no/such/program"]));
    assert_refused(&output, "no such file or directory");
    expect_ok(hoist(dir.path()).args(["kill", &id, "KILL"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while serde_json::from_slice::<serde_json::Value>(
        &expect_ok(hoist(dir.path()).args(["state", &id])).stdout,
    )
    .unwrap()["status"]
        != "stopped"
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = run(hoist(dir.path()).args(["exec", &id, "true"]));
    assert_refused(&output, "stopped");
}
