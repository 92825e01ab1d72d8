//! podman driving hoist as its OCI runtime (through conmon), the way RUNTIME-CLI.md records it.
//! `--network none`: nothing on the host's network is created; all of podman's state lives in
//! the test's scratch directory.

use hoist_e2e::podman::{podman, RemoveScratch};
use hoist_e2e::{env, is_root, run, scratch, stderr, stdout, unique_id};

#[test]
fn podman_runs_execs_stops_and_removes_containers_through_hoist() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _remove = RemoveScratch(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let output = run(podman(dir.path()).args(["pull", "-q", "--tls-verify=false", &image]));
    assert!(output.status.success(), "{}", stderr(&output));

    let output = run(podman(dir.path()).args(["run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", &image]).args([
        "sh",
        "-c",
        "echo from-hoist; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; exit 7",
    ]));
    assert_eq!(
        output.status.code(),
        Some(7),
        "the container's exit code: {}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "from-hoist\n50\n");

    let name = unique_id("podman");
    let output = run(podman(dir.path())
        .args(["run", "-d", "--network", "none", "--name", &name, &image])
        .args([
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(podman(dir.path()).args(["exec", &name, "sh", "-c", "echo exec-ok; exit 3"]));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "exec-ok\n");
    for verb in ["pause", "unpause"] {
        let output = run(podman(dir.path()).args([verb, &name]));
        assert!(output.status.success(), "{verb}: {}", stderr(&output));
    }
    let output = run(podman(dir.path()).args(["stop", "-t", "10", &name]));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(podman(dir.path()).args(["rm", &name]));
    assert!(output.status.success(), "{}", stderr(&output));

    // A program that does not exist: podman maps hoist's message to 127.
    let output =
        run(podman(dir.path()).args(["run", "--rm", "--network", "none", &image, "/no/such/cmd"]));
    assert_eq!(output.status.code(), Some(127), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no such file or directory"),
        "{}",
        stderr(&output)
    );
}
