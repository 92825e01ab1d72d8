//! containerd drives hoist as its runc (`ctr run --runc-binary`), through its own runc shim:
//! create with a pid file and console or fifos, start, state, exec, pause/resume, ps, kill,
//! delete — the calls RUNTIME-CLI.md records for containerd.

use hoist_e2e::containerd::Containerd;
use hoist_e2e::{env, expect_ok, hoist, is_root, run, scratch, stderr, stdout, unique_id};

#[test]
fn containerd_runs_execs_pauses_and_kills_through_hoist() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let archive = dir.path().join("busybox.tar");
    expect_ok(
        hoist(dir.path())
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/busybox:latest", env.registry))
            .arg(format!("oci-archive:{}:latest", archive.display())),
    );
    let containerd = Containerd::start(dir.path());
    let image = "docker.io/library/busybox:latest";
    expect_ok(
        containerd
            .ctr(&[
                "images",
                "import",
                "--base-name",
                "docker.io/library/busybox",
            ])
            .arg(&archive),
    );

    // In the foreground: output and exit code come back through the shim.
    let id = unique_id("ctr-fg");
    let output = run(&mut containerd.run_with_hoist(&[
        "--rm",
        image,
        &id,
        "sh",
        "-c",
        "echo hello from containerd; exit 7",
    ]));
    assert_eq!(
        stdout(&output),
        "hello from containerd\n",
        "{}",
        stderr(&output)
    );
    assert_eq!(output.status.code(), Some(7));

    // Detached: exec, pause and resume, ps, kill, delete.
    let id = unique_id("ctr-bg");
    expect_ok(&mut containerd.run_with_hoist(&["-d", image, &id, "sleep", "600"]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("RUNNING"));
    let exec = expect_ok(&mut containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "probe",
        &id,
        "sh",
        "-c",
        "echo exec-ok",
    ]));
    assert_eq!(stdout(&exec), "exec-ok\n");
    expect_ok(&mut containerd.ctr(&["task", "pause", &id]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("PAUSED"));
    expect_ok(&mut containerd.ctr(&["task", "resume", &id]));
    assert_eq!(containerd.task_status(&id).as_deref(), Some("RUNNING"));
    let ps = stdout(&expect_ok(&mut containerd.ctr(&["task", "ps", &id])));
    assert_eq!(
        ps.lines().count(),
        2,
        "the header and the one process: {ps}"
    );
    expect_ok(&mut containerd.ctr(&["task", "kill", "-s", "SIGKILL", &id]));
    hoist_e2e::wait_for("the task to stop", || {
        containerd.task_status(&id).as_deref() == Some("STOPPED")
    });
    expect_ok(&mut containerd.ctr(&["task", "delete", &id]));
    expect_ok(&mut containerd.ctr(&["container", "rm", &id]));
    let left = std::fs::read_dir(dir.path().join("hoist-state/default"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "hoist's state for the containers is gone");
}
