//! `hoist run IMAGE` end to end: podman's options, shared overlay layers, detached containers
//! with logs, stop and rm, save → load → run offline, and bad input that leaves nothing behind.

use std::path::Path;
use std::process::{Command, Output};

use hoist_e2e::{
    env, expect_ok, hoist, is_root, run, scratch, stderr, stdout, tree_summary, unique_id, TestEnv,
};

fn image(env: &TestEnv, name: &str) -> String {
    format!("{}/{name}:latest", env.registry)
}

/// `hoist run --tls-verify=false ARGS...` with the scratch directory's store; with
/// `--network none` unless the arguments choose a network, so that only the tests that make a
/// network namespace of their own ever get a bridge.
fn hoist_run(scratch: &Path, args: &[&str]) -> Output {
    let mut command = hoist(scratch);
    command.args(["run", "--tls-verify=false"]);
    if !args.iter().any(|a| a.starts_with("--network")) {
        command.arg("--network=none");
    }
    run(command.args(args))
}

/// `hoist run -d --name NAME IMAGE COMMAND...`, which must succeed.
fn detached(scratch: &Path, name: &str, image: &str, command: &[&str]) {
    let mut args = vec!["-d", "--name", name, image];
    args.extend_from_slice(command);
    let started = hoist_run(scratch, &args);
    assert!(started.status.success(), "{}", stderr(&started));
}

fn containers_left(scratch: &Path) -> Vec<String> {
    std::fs::read_dir(scratch.join("hoist-root/containers"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Overlay mounts whose options mention `path`.
fn mounts_under(path: &Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&*path.to_string_lossy()))
        .count()
}

#[test]
fn podman_options_reach_the_container() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("from-host"), "host data\n").unwrap();
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=file value\n").unwrap();
    let volume = format!("{}:/mnt/shared", shared.display());
    let readonly_volume = format!("{}:/mnt/ro:ro", shared.display());
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "-e",
            "GREETING=hello there",
            "--env-file",
            env_file.to_str().unwrap(),
            "-v",
            &volume,
            "-v",
            &readonly_volume,
            "-w",
            "/mnt/shared",
            "-u",
            "nobody",
            "--hostname",
            "boxy",
            "--read-only",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "echo \"$GREETING|$FROM_FILE|$(pwd)|$(id -u):$(id -g)|$(hostname)\"; \
             cat from-host; touch /mnt/ro/x 2>/dev/null && echo ro-writable; \
             touch /rootfs-write 2>/dev/null && echo root-writable; exit 7",
        ],
    );
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "hello there|file value|/mnt/shared|65534:65534|boxy\nhost data\n"
    );
    assert!(
        containers_left(dir.path()).is_empty(),
        "--rm leaves nothing"
    );

    // A writable volume's writes land on the host.
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "-v",
            &volume,
            &image(&env, "busybox"),
            "sh",
            "-c",
            "echo written > /mnt/shared/new",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(shared.join("new")).unwrap(),
        "written\n"
    );

    // --entrypoint replaces the image's, and capabilities can be dropped.
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--entrypoint",
            "/bin/echo",
            "--cap-drop",
            "ALL",
            &image(&env, "busybox"),
            "via",
            "entrypoint",
        ],
    );
    assert_eq!(stdout(&output), "via entrypoint\n", "{}", stderr(&output));
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--cap-drop",
            "ALL",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "grep CapEff /proc/self/status",
        ],
    );
    assert!(
        stdout(&output).contains("0000000000000000"),
        "{}",
        stdout(&output)
    );

    // --cpus and --memory-swap become the cgroup's quota and swap limit, read from inside.
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "--memory-swap",
            "96m",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "cd /sys/fs/cgroup; if [ -d cpu ]; then \
             cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us memory/memory.limit_in_bytes \
             memory/memory.memsw.limit_in_bytes; else cat cpu.max memory.max memory.swap.max; fi",
        ],
    );
    let v1 = format!("50000\n100000\n{}\n{}\n", 64 << 20, 96 << 20);
    let v2 = format!("50000 100000\n{}\n{}\n", 64 << 20, 32 << 20);
    assert!(
        stdout(&output) == v1 || stdout(&output) == v2,
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn networks_none_host_and_another_containers() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let interfaces = |network: &str| {
        let output = hoist_run(
            dir.path(),
            &[
                "--rm",
                "--network",
                network,
                &image(&env, "busybox"),
                "ls",
                "/sys/class/net",
            ],
        );
        assert!(output.status.success(), "{network}: {}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(interfaces("none"), "lo\n");
    // ... and that `lo` is up, as podman leaves it: a server and its client meet on 127.0.0.1.
    let looped = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--network",
            "none",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "nc -l -p 9 127.0.0.1 & sleep 0.3; echo over-loopback | nc 127.0.0.1 9",
        ],
    );
    assert_eq!(stdout(&looped), "over-loopback\n", "{}", stderr(&looped));
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let seen = interfaces("host");
    for interface in &host {
        assert!(
            seen.lines().any(|l| l == interface),
            "{interface} missing from {seen}"
        );
    }

    let name = unique_id("netns");
    detached(dir.path(), &name, &image(&env, "busybox"), &["sleep", "60"]);
    let theirs = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--network",
            &format!("container:{name}"),
            &image(&env, "busybox"),
            "readlink",
            "/proc/self/ns/net",
        ],
    );
    let state = expect_ok(hoist(dir.path()).args(["state", &name]));
    let pid = serde_json::from_slice::<serde_json::Value>(&state.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    let expected = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(
        stdout(&theirs).trim(),
        expected.to_string_lossy(),
        "{}",
        stderr(&theirs)
    );
    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
}

#[test]
fn containers_of_one_image_share_its_layers_and_see_the_same_tree() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let (a, b) = (unique_id("share-a"), unique_id("share-b"));
    for name in [&a, &b] {
        let started = hoist_run(
            dir.path(),
            &["-d", "--name", name, &image(&env, "layers"), "sleep", "60"],
        );
        assert!(started.status.success(), "{}", stderr(&started));
    }
    let layers = std::fs::read_dir(dir.path().join("hoist-root/layers"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(layers, 3, "three layers, unpacked once for both containers");

    // The merged tree is the one a full unpack makes. Overlayfs reports a link count of 1 for
    // every merged directory, and hoist adds /etc/hosts and /etc/resolv.conf (mount targets);
    // that is all that may differ.
    let full = dir.path().join("full");
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--image", &image(&env, "layers")])
            .arg(&full),
    );
    let strip_dir_links = |tree: std::collections::BTreeMap<std::path::PathBuf, String>| {
        tree.into_iter()
            .map(|(path, detail)| {
                let detail = if detail.starts_with("dir ") {
                    detail.rsplit_once(" nlink").unwrap().0.to_string()
                } else {
                    detail
                };
                (path, detail)
            })
            .filter(|(path, _)| {
                !["etc", "etc/hosts", "etc/resolv.conf"].contains(&path.to_str().unwrap())
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let merged = dir
        .path()
        .join("hoist-root/containers")
        .join(&a)
        .join("rootfs");
    assert_eq!(
        strip_dir_links(tree_summary(&merged)),
        strip_dir_links(tree_summary(&full.join("rootfs")))
    );

    // A write in one is not seen by the other.
    expect_ok(hoist(dir.path()).args(["exec", &a, "sh", "-c", "echo mine > /data/only-a"]));
    let other = run(hoist(dir.path()).args(["exec", &b, "cat", "/data/only-a"]));
    assert!(!other.status.success(), "b saw a's write");

    expect_ok(hoist(dir.path()).args(["rm", "-f", &a, &b]));
    assert!(containers_left(dir.path()).is_empty());
    assert_eq!(
        mounts_under(&dir.path().join("hoist-root")),
        0,
        "no overlay left mounted"
    );
}

#[test]
fn detached_containers_keep_logs_and_exit_status_and_stop() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let name = unique_id("detached");
    let started = hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            &name,
            &image(&env, "busybox"),
            "sh",
            "-c",
            "echo to-out; echo to-err >&2; exit 5",
        ],
    );
    assert!(started.status.success(), "{}", stderr(&started));
    let id = stdout(&started).trim().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "prints the container's id, as podman does: {id}"
    );
    let logs = expect_ok(hoist(dir.path()).args(["logs", "-f", &id[..12]]));
    assert_eq!(stdout(&logs), "to-out\n", "a prefix of the id names it");
    assert_eq!(
        stderr(&logs),
        "to-err\n",
        "the container's stderr to logs's stderr"
    );
    hoist_e2e::wait_for("the exit status to be recorded", || {
        stdout(&expect_ok(hoist(dir.path()).args(["ps", "-a"]))).contains("Exited (5)")
    });
    let running = expect_ok(hoist(dir.path()).args(["ps"]));
    assert!(
        !stdout(&running).contains(&name),
        "ps without -a lists running ones only"
    );

    let sleeper = unique_id("sleeper");
    detached(
        dir.path(),
        &sleeper,
        &image(&env, "busybox"),
        &["sleep", "600"],
    );
    assert!(stdout(&expect_ok(hoist(dir.path()).args(["ps"]))).contains(&sleeper));
    let still_running = run(hoist(dir.path()).args(["rm", &sleeper]));
    assert_eq!(
        still_running.status.code(),
        Some(2),
        "rm refuses a running container, with podman's code for it"
    );
    expect_ok(hoist(dir.path()).args(["stop", "-t", "1", &sleeper]));
    hoist_e2e::wait_for("the stop to be recorded", || {
        stdout(&expect_ok(hoist(dir.path()).args(["ps", "-a"]))).contains("Exited (137)")
    });
    expect_ok(hoist(dir.path()).args(["rm", &name, &sleeper]));
    assert!(containers_left(dir.path()).is_empty());
    assert_eq!(mounts_under(&dir.path().join("hoist-root")), 0);
    let list = expect_ok(hoist(dir.path()).args(["list", "-q"]));
    assert!(!stdout(&list).contains(&name) && !stdout(&list).contains(&sleeper));
}

/// `--log-opt max-size` caps a detached container's log: it starts over when it would grow
/// past the cap (podman's k8s-file log), so a chatty container cannot fill the store's disk,
/// and what it wrote last is always there.
#[test]
fn a_detached_containers_log_stays_under_its_max_size() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let name = unique_id("capped-log");
    let busybox = image(&env, "busybox");
    // ~190 KiB of numbered lines, then a last one.
    let script = "seq 1 30000; echo the-end";
    let started = hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            &name,
            "--log-opt",
            "max-size=8k",
            &busybox,
            "sh",
            "-c",
            script,
        ],
    );
    assert!(started.status.success(), "{}", stderr(&started));
    let logs = expect_ok(hoist(dir.path()).args(["logs", "-f", &name]));
    let log = dir
        .path()
        .join("hoist-root/containers")
        .join(&name)
        .join("ctr.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size <= 8192, "ctr.log is {size} bytes, over its 8 KiB cap");
    // Followed across every new file to the end; what a full file held is gone, as with
    // podman's cap, but the last thing the container said is always there.
    assert!(stdout(&logs).ends_with("the-end\n"), "{}", stdout(&logs));
    let kept = expect_ok(hoist(dir.path()).args(["logs", &name]));
    // The file holds podman's k8s-file lines (TIME STREAM F|P TEXT); logs prints the text.
    let file_text: String = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, ' ').collect();
            assert_eq!(fields[1], "stdout", "{line}");
            match fields[2] {
                "F" => format!("{}\n", fields[3]),
                "P" => fields[3].to_string(),
                tag => panic!("tag {tag} in {line}"),
            }
        })
        .collect();
    assert_eq!(stdout(&kept), file_text);
    assert!(stdout(&kept).ends_with("the-end\n"), "{}", stdout(&kept));

    for refused in ["max-file=3", "max-size=0", "max-size=lots"] {
        let output = hoist_run(dir.path(), &["--log-opt", refused, &busybox, "true"]);
        assert_eq!(output.status.code(), Some(125), "{refused} was taken");
        assert!(stderr(&output).contains("--log-opt"), "{}", stderr(&output));
    }
    expect_ok(hoist(dir.path()).args(["rm", &name]));
}

#[test]
fn limits_bite_and_the_host_carries_on() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "x=$(yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 200000000); echo survived ${#x}",
        ],
    );
    assert_eq!(output.status.code(), Some(137), "{}", stderr(&output));
    assert!(stderr(&output).contains("OOM"), "{}", stderr(&output));
    let output = hoist_run(
        dir.path(),
        &[
            "--rm",
            "--pids-limit",
            "8",
            &image(&env, "busybox"),
            "sh",
            "-c",
            "for i in $(seq 20); do sleep 5 & done",
        ],
    );
    assert!(
        stderr(&output).contains("can't fork"),
        "the pids limit stopped the forks: {}",
        stderr(&output)
    );
    assert!(containers_left(dir.path()).is_empty());
}

#[test]
fn an_image_saved_and_loaded_runs_with_no_network() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let connected = scratch();
    let archive = connected.path().join("images.tar");
    for name in ["busybox", "layers"] {
        expect_ok(hoist(connected.path()).args([
            "pull",
            "--quiet",
            "--tls-verify=false",
            &image(&env, name),
        ]));
    }
    expect_ok(
        hoist(connected.path())
            .args(["save", "-o"])
            .arg(&archive)
            .args([image(&env, "busybox"), image(&env, "layers")]),
    );

    let offline = scratch();
    let loaded = expect_ok(hoist(offline.path()).args(["load", "-i"]).arg(&archive));
    assert!(
        stdout(&loaded).contains(&image(&env, "layers")),
        "{}",
        stdout(&loaded)
    );
    // In a network namespace with nothing but lo: no registry could be reached.
    let mut command = Command::new("unshare");
    command
        .args(["--net", "--"])
        .arg(hoist_e2e::hoist_bin())
        .args([
            "run",
            "--rm",
            "--network=none",
            &image(&env, "layers"),
            "cat",
            "/data/keep",
        ])
        .env("HOIST_ROOT", offline.path().join("hoist-root"));
    let output = run(&mut command);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "kept\n");

    // An archive (or layout) is also run where it lies, without loading it.
    let carried = connected.path().join("layers.tar");
    expect_ok(
        hoist(connected.path())
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}", image(&env, "layers")))
            .arg(format!("oci-archive:{}:layers", carried.display())),
    );
    let elsewhere = scratch();
    let mut command = Command::new("unshare");
    command
        .args(["--net", "--"])
        .arg(hoist_e2e::hoist_bin())
        .args(["run", "--rm", "--network=none"])
        .arg(format!("oci-archive:{}:layers", carried.display()))
        .args(["cat", "/data/keep"])
        .env("HOIST_ROOT", elsewhere.path().join("hoist-root"));
    let output = run(&mut command);
    assert_eq!(stdout(&output), "kept\n", "{}", stderr(&output));
}

#[test]
fn bad_input_is_a_clear_error_with_nothing_left_behind() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                format!("{}/no-such-image:latest", env.registry),
                "true".into(),
            ],
            "not found",
        ),
        (
            vec!["--pull=never".into(), image(&env, "zstd"), "true".into()],
            "--pull=never",
        ),
        (
            vec![
                "--network".into(),
                "pasta".into(),
                image(&env, "busybox"),
                "true".into(),
            ],
            "an unprivileged user's network",
        ),
        (
            vec![
                "-v".into(),
                "/tmp:relative".into(),
                image(&env, "busybox"),
                "true".into(),
            ],
            "absolute",
        ),
        (
            vec![
                "-v".into(),
                "/no/such/dir:/x".into(),
                image(&env, "busybox"),
                "true".into(),
            ],
            "does not exist",
        ),
        (
            vec![
                "--network".into(),
                "bridge-to-nowhere".into(),
                image(&env, "busybox"),
                "true".into(),
            ],
            "--network",
        ),
        (
            vec![
                "-u".into(),
                "no-such-user".into(),
                image(&env, "busybox"),
                "true".into(),
            ],
            "no-such-user",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = hoist_run(dir.path(), &args);
        assert_eq!(
            output.status.code(),
            Some(125),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            containers_left(dir.path()).is_empty(),
            "{args:?} left a container"
        );
    }
    assert_eq!(mounts_under(&dir.path().join("hoist-root")), 0);

    let name = unique_id("taken");
    detached(dir.path(), &name, &image(&env, "busybox"), &["sleep", "60"]);
    let second = hoist_run(
        dir.path(),
        &["--name", &name, &image(&env, "busybox"), "true"],
    );
    assert_eq!(second.status.code(), Some(125));
    assert!(
        stderr(&second).contains("already in use"),
        "{}",
        stderr(&second)
    );
    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
    assert!(containers_left(dir.path()).is_empty());
}

#[test]
fn rmi_and_system_prune_free_the_layers_nothing_uses() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let cached = || {
        std::fs::read_dir(dir.path().join("hoist-root/layers"))
            .map(|d| {
                d.filter(|e| {
                    !e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with('.')
                })
                .count()
            })
            .unwrap_or(0)
    };
    let name = unique_id("user");
    let started = hoist_run(
        dir.path(),
        &["-d", "--name", &name, &image(&env, "layers"), "sleep", "60"],
    );
    assert!(started.status.success(), "{}", stderr(&started));
    let stopped = unique_id("stopped");
    let done = hoist_run(
        dir.path(),
        &["--name", &stopped, &image(&env, "busybox"), "true"],
    );
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(cached(), 3, "busybox's layer is the bottom one of `layers`");

    // The running container keeps its layers even once its image is gone.
    expect_ok(hoist(dir.path()).args(["rmi", &image(&env, "layers"), &image(&env, "busybox")]));
    assert_eq!(cached(), 3);
    let still = expect_ok(hoist(dir.path()).args(["exec", &name, "cat", "/data/keep"]));
    assert_eq!(stdout(&still), "kept\n");

    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
    let pruned = expect_ok(hoist(dir.path()).args(["system", "prune"]));
    assert!(
        stdout(&pruned).contains("1 stopped container"),
        "{}",
        stdout(&pruned)
    );
    assert_eq!(cached(), 0);
    assert!(containers_left(dir.path()).is_empty());
}

#[test]
fn bridged_containers_reach_each_other_and_published_ports_answer() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let scratch_path = dir.path().to_path_buf();
    let busybox = image(&env, "busybox");
    let (server, published) = (unique_id("server"), unique_id("published"));
    // The registry is on this namespace's loopback: pull first.
    expect_ok(hoist(dir.path()).args(["pull", "--quiet", "--tls-verify=false", &busybox]));
    hoist_e2e::in_private_network(move || {
        let dir = scratch_path.as_path();
        let started = hoist_run(
            dir,
            &[
                "--network",
                "bridge",
                "-d",
                "--name",
                &server,
                &busybox,
                "sh",
                "-c",
                "echo over-the-bridge | nc -l -p 80; sleep 60",
            ],
        );
        assert!(started.status.success(), "{}", stderr(&started));
        let address = stdout(&expect_ok(hoist(dir).args([
            "exec",
            &server,
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ])));
        let address = address
            .split_whitespace()
            .nth(3)
            .and_then(|cidr| cidr.split('/').next())
            .expect("an IPv4 address on eth0")
            .to_string();
        assert!(address.starts_with("10.89.0."), "{address}");

        // Another container pings it and reads from it over the bridge; its own /etc/hosts
        // names it.
        let client = hoist_run(
            dir,
            &[
                "--network", "bridge", "--rm", "--cap-add", "NET_RAW", "--hostname", "client", &busybox, "sh", "-c",
                &format!("ping -c1 -W5 {address} >/dev/null && nc {address} 80 </dev/null; grep client /etc/hosts"),
            ],
        );
        assert!(client.status.success(), "{}", stderr(&client));
        let output = stdout(&client);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some("over-the-bridge"),
            "{}",
            stdout(&client)
        );
        assert!(
            lines
                .get(1)
                .is_some_and(|l| l.starts_with("10.89.0.") && l.ends_with("client")),
            "{lines:?}"
        );

        // A published port answers from this namespace, outside the container's.
        let started = hoist_run(
            dir,
            &[
                "--network",
                "bridge",
                "-d",
                "--name",
                &published,
                "-p",
                "127.0.0.1:18080:80",
                &busybox,
                "sh",
                "-c",
                "while true; do echo through-the-proxy | nc -l -p 80; done",
            ],
        );
        assert!(started.status.success(), "{}", stderr(&started));
        let mut answer = String::new();
        hoist_e2e::wait_for("the published port to answer", || {
            answer.clear();
            std::net::TcpStream::connect("127.0.0.1:18080")
                .and_then(|mut s| std::io::Read::read_to_string(&mut s, &mut answer))
                .is_ok()
                && !answer.is_empty()
        });
        assert_eq!(answer, "through-the-proxy\n");

        expect_ok(hoist(dir).args(["rm", "-f", &server, &published]));
        // Nothing of theirs is left: namespaces, veths, leases, the proxy's port.
        let netns: Vec<String> = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            !netns
                .iter()
                .any(|n| n.contains(&server) || n.contains(&published)),
            "{netns:?}"
        );
        // The kernel takes the veths with their namespaces, a grace period later.
        let links = || {
            let listed = stdout(&expect_ok(Command::new("ip").args(["-br", "link"])));
            let names: Vec<String> = listed
                .lines()
                .filter_map(|l| Some(l.split_whitespace().next()?.to_string()))
                .collect();
            names
        };
        hoist_e2e::wait_for("the veths to go", || links().len() <= 2);
        assert_eq!(links(), ["lo", "hoist0"], "only the bridge stays");
        let leases = std::fs::read_dir(dir.join("hoist-root/network/leases"))
            .unwrap()
            .count();
        assert_eq!(leases, 0);
        assert!(
            std::net::TcpStream::connect("127.0.0.1:18080").is_err(),
            "the proxy is gone"
        );
    });
    assert!(containers_left(dir.path()).is_empty());
}

#[test]
fn signals_sent_to_hoist_run_reach_the_container() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let name = unique_id("signalled");
    let mut child = hoist(dir.path())
        .args([
            "run",
            "--rm",
            "--network=none",
            "--tls-verify=false",
            "--name",
            &name,
        ])
        .arg(image(&env, "busybox"))
        .args([
            "sh",
            "-c",
            "trap 'echo got-term; exit 3' TERM; echo ready; sleep 30 & wait",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout_pipe = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout_pipe, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout_pipe, &mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(3), "the container's own exit code");
    assert!(containers_left(dir.path()).is_empty());
}

#[test]
fn ctrl_c_on_an_interactive_terminal_run_reaches_the_container() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    // script(1) gives hoist a terminal of its own; Ctrl-C typed into it must interrupt the
    // container's foreground process, as in a shell.
    // `exec`: script(1) runs the command with `$SHELL -c`, and a shell that stays (dash does)
    // shares hoist's process group and would be killed by the Ctrl-C itself.
    let inner = format!(
        "exec {hoist} --root {run} run -it --rm --network none --tls-verify=false {image} \
         sh -c 'trap \"echo got-int; exit 4\" INT; echo trap-set; sleep 30 & wait'",
        hoist = hoist_e2e::hoist_bin().display(),
        run = dir.path().join("run").display(),
        image = image(&env, "busybox"),
    );
    let mut child = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("HOIST_ROOT", dir.path().join("hoist-root"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1), from util-linux");
    let mut stdout_pipe = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("trap-set") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout_pipe, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("trap-set"), "{seen}");
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    child.stdin.as_mut().unwrap().flush().unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout_pipe, &mut rest).unwrap();
    assert!(rest.contains("got-int"), "{rest}");
    assert_eq!(
        status.code(),
        Some(4),
        "the container's exit code, through script: {rest}"
    );
    assert!(containers_left(dir.path()).is_empty());
}

/// containers.conf's defaults, where podman reads them: the capabilities a container keeps
/// and its DNS settings; a flag given wins over the file.
#[test]
fn containers_conf_gives_capabilities_and_dns_that_flags_override() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let with_conf = under_containers_conf(
        &env,
        dir.path(),
        "[containers]\ndefault_capabilities = [\"CHOWN\", \"KILL\"]\ndns_servers = [\"192.0.2.53\"]\ndns_searches = [\"example.test\"]\n",
    );
    let show = |extra: &[&str]| {
        let mut args = vec!["--network=none"];
        args.extend_from_slice(extra);
        with_conf(&args, "grep CapEff /proc/self/status; cat /etc/resolv.conf")
    };
    let configured = show(&[]);
    // CHOWN is bit 0, KILL bit 5.
    assert!(
        configured.contains("CapEff:\t0000000000000021"),
        "{configured}"
    );
    assert!(configured.contains("nameserver 192.0.2.53"), "{configured}");
    assert!(configured.contains("search example.test"), "{configured}");
    let flagged = show(&["--dns", "198.51.100.53", "--cap-add", "NET_RAW"]);
    assert!(flagged.contains("nameserver 198.51.100.53"), "{flagged}");
    assert!(!flagged.contains("192.0.2.53"), "{flagged}");
    assert!(flagged.contains("CapEff:\t0000000000002021"), "{flagged}");
}

#[test]
fn a_created_container_holds_no_mount_until_it_starts() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let name = unique_id("created");
    let image = image(&env, "busybox");
    let created = run(hoist(dir.path())
        .args([
            "create",
            "--tls-verify=false",
            "--network=none",
            "--name",
            &name,
            &image,
        ])
        .args(["sh", "-c", "echo started"]));
    assert!(created.status.success(), "{}", stderr(&created));
    let container_dir = dir.path().join("hoist-root/containers").join(&name);
    assert_eq!(
        mounts_under(&container_dir),
        0,
        "a created container's rootfs is mounted"
    );
    let started = run(hoist(dir.path()).args(["start", "-a", &name]));
    assert!(started.status.success(), "{}", stderr(&started));
    assert_eq!(stdout(&started).trim(), "started");
    expect_ok(hoist(dir.path()).args(["rm", &name]));
    assert_eq!(mounts_under(&container_dir), 0);
}

#[test]
fn containers_conf_sysctls_ulimits_env_and_pids_limit_yield_to_flags() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let with_conf = under_containers_conf(
        &env,
        dir.path(),
        r#"[containers]
default_sysctls = ["kernel.shm_rmid_forced=1", "net.ipv4.ip_unprivileged_port_start=500"]
default_ulimits = ["nofile=1000:1000"]
env = ["FROM_CONF=conf", "PATH=/conf-path"]
pids_limit = 77
"#,
    );
    let pids_max = match Path::new("/sys/fs/cgroup/pids").is_dir() {
        true => "/sys/fs/cgroup/pids/pids.max",
        false => "/sys/fs/cgroup/pids.max",
    };
    let script = format!(
        "cat /proc/sys/kernel/shm_rmid_forced; cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo -; ulimit -n; echo $FROM_CONF; echo $PATH; cat {pids_max}"
    );
    let show = |args: &[&str]| -> Vec<String> {
        with_conf(args, &script)
            .lines()
            .map(str::to_string)
            .collect()
    };
    // The image's PATH stands over the file's; the file's other variable is there.
    let image_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    assert_eq!(
        show(&["--network=none"]),
        ["1", "500", "1000", "conf", image_path, "77"]
    );
    // With the host's network the file's net.* sysctl is left out (the host's stays).
    let host = show(&["--network=host"]);
    assert_eq!(
        host[1],
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .unwrap()
            .trim()
    );
    let flagged = show(&[
        "--network=none",
        "--sysctl",
        "kernel.shm_rmid_forced=0",
        "--ulimit",
        "nofile=900:900",
        "-e",
        "FROM_CONF=flag",
        "--pids-limit",
        "55",
    ]);
    assert_eq!(flagged, ["0", "500", "900", "flag", image_path, "55"]);
}

/// `hoist run --rm IMAGE sh -c SCRIPT` with run's `args`, under a containers.conf of `text`
/// (as `$CONTAINERS_CONF`); its output, which must be a success's.
fn under_containers_conf<'a>(
    env: &'a TestEnv,
    dir: &'a Path,
    text: &str,
) -> impl Fn(&[&str], &str) -> String + 'a {
    let conf = dir.join("containers.conf");
    std::fs::write(&conf, text).unwrap();
    move |args, script| {
        let output = run(hoist(dir)
            .env("CONTAINERS_CONF", &conf)
            .args(["run", "--rm", "--tls-verify=false"])
            .args(args)
            .arg(image(env, "busybox"))
            .args(["sh", "-c", script]));
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    }
}
