//! The whole path through the CLI: registry → layout → bundle → container, and the one-step
//! `hoist run IMAGE`.

use hoist_e2e::{
    env, expect_ok, hoist, is_root, run, scratch, set_args, stderr, stdout, unique_id,
};

#[test]
fn pull_unpack_run_the_busybox_image() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let bundle = dir.path().join("bundle");
    expect_ok(
        hoist(dir.path())
            .args(["pull", "--tls-verify=false"])
            .arg(format!("docker://{}/busybox:latest", env.registry))
            .arg("--dest")
            .arg(format!("oci:{}:latest", layout.display())),
    );
    expect_ok(
        hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle),
    );
    set_args(
        &bundle,
        &["sh", "-c", "echo hello from $(hostname); exit 3"],
    );
    let output = run(hoist(dir.path())
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(unique_id("e2e")));
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "hello from hoist\n");
}

#[test]
fn run_image_pulls_into_the_store_and_runs_in_one_step() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let image = format!("{}/busybox:latest", env.registry);
    let name = unique_id("podman-shape");
    let output = run(hoist(dir.path())
        .args([
            "run",
            "--rm",
            "--network=none",
            "--tls-verify=false",
            "-e",
            "GREETING=hi there",
            "--name",
            &name,
        ])
        .arg(&image)
        .args(["sh", "-c", "echo \"$GREETING from $(hostname)\"; exit 4"]));
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    // The hostname is the id's first 12 hex digits, whatever the name (podman's default).
    let said = stdout(&output);
    let hostname = said
        .strip_prefix("hi there from ")
        .and_then(|h| h.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        hostname.len() == 12 && hostname.bytes().all(|b| b.is_ascii_hexdigit()),
        "{said}"
    );
    let containers = dir.path().join("hoist-root/containers");
    assert!(
        !containers.join(&name).exists(),
        "--rm removes the container's files"
    );

    // The image is in the store now: a second run needs no registry at all.
    let offline = run(hoist(dir.path()).args([
        "run",
        "--rm",
        "--network=none",
        "--tls-verify=false",
        "127.0.0.1:1/unreachable:latest",
        "true",
    ]));
    assert_eq!(
        offline.status.code(),
        Some(125),
        "an unreachable registry is hoist's own error"
    );
    let again = run(hoist(dir.path())
        .args(["run", "--rm", "--network=none"])
        .arg(&image)
        .args(["echo", "cached"]));
    assert_eq!(stdout(&again), "cached\n", "{}", stderr(&again));

    // Unpack accepts the store's image by reference too.
    let bundle = dir.path().join("from-store");
    expect_ok(
        hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(&image)
            .arg(&bundle),
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
}

#[test]
fn bad_usage_is_exit_125_with_a_clear_message() {
    let dir = scratch();
    let output = run(hoist(dir.path()).args(["pull", "Not/A/Valid:Ref!"]));
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("invalid"), "{}", stderr(&output));
    // umoci's and skopeo's verbs exit 1, as theirs do.
    let output = run(hoist(dir.path())
        .args(["unpack", "--image", "/no/such/layout:tag"])
        .arg(dir.path().join("b")));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not an OCI image layout"),
        "{}",
        stderr(&output)
    );
    let missing = ["oci:/no/such/layout:tag", "dir:/no/such/copy"];
    let output = run(hoist(dir.path()).arg("copy").args(missing));
    let theirs = run(std::process::Command::new("skopeo")
        .arg("copy")
        .args(missing));
    assert_eq!(output.status.code(), theirs.status.code());
    assert_eq!(output.status.code(), Some(1));
    let output = run(hoist(dir.path()).args(["frobnicate"]));
    assert_eq!(output.status.code(), Some(125));
    let help = expect_ok(hoist(dir.path()).arg("--help"));
    assert!(
        stdout(&help).contains("125"),
        "--help documents the exit codes"
    );
}
