//! A podman user's habits with `hoist run IMAGE` containers: names and id prefixes, the
//! lifecycle verbs, `--format`, exit codes, `cp`, `top`, `stats`; and the same script through
//! podman (with runc) and hoist, compared by output shape and exit code.

use std::path::Path;
use std::process::Output;

use hoist_e2e::podman::{podman_with_runtime, RemoveScratch};
use hoist_e2e::{env, hoist, is_root, run, scratch, stderr, stdout, unique_id, RunContainersGuard};

/// `hoist ARGS...` with the scratch directory's store.
fn hoist_in(dir: &Path, args: &[&str]) -> Output {
    run(hoist(dir).args(args))
}

/// `hoist run --tls-verify=false --network none ARGS...`.
fn hoist_run(dir: &Path, args: &[&str]) -> Output {
    run(hoist(dir)
        .args(["run", "--tls-verify=false", "--network=none"])
        .args(args))
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

const WAIT_FOR_TERM: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

#[test]
fn containers_answer_to_generated_names_ids_and_id_prefixes() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let cidfile = dir.path().join("cid");
    let id = ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--cidfile",
            cidfile.to_str().unwrap(),
            &image,
            "sh",
            "-c",
            WAIT_FOR_TERM,
        ],
    ));
    let id = id.trim();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "run -d prints the whole id: {id}"
    );
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id);
    let again = hoist_run(
        dir.path(),
        &["--cidfile", cidfile.to_str().unwrap(), &image, "true"],
    );
    assert_eq!(
        again.status.code(),
        Some(125),
        "an existing --cidfile is refused"
    );

    // A readable generated name, in ps's NAMES column.
    let name = ok(hoist_in(dir.path(), &["ps", "--format", "{{.Names}}"]));
    let name = name.trim();
    let (adjective, noun) = name.split_once('_').expect("adjective_noun");
    assert!(
        [adjective, noun]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
        "{name}"
    );
    let table = ok(hoist_in(dir.path(), &["ps"]));
    let header = table.lines().next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with(&id[..12]) && row.ends_with(name), "{row}");
    assert_eq!(ok(hoist_in(dir.path(), &["ps", "-q"])).trim(), &id[..12]);
    assert_eq!(
        ok(hoist_in(dir.path(), &["ps", "-q", "--no-trunc"])).trim(),
        id
    );

    // Every verb takes the name, the id and a prefix of it.
    for reference in [name, id, &id[..5]] {
        let said = ok(hoist_in(dir.path(), &["exec", reference, "echo", "in"]));
        assert_eq!(said, "in\n", "exec {reference}");
        let inspected = ok(hoist_in(
            dir.path(),
            &[
                "inspect",
                "--format",
                "{{.Name}} {{.State.Status}}",
                reference,
            ],
        ));
        assert_eq!(inspected, format!("{name} running\n"));
        ok(hoist_in(dir.path(), &["logs", reference]));
        ok(hoist_in(dir.path(), &["top", reference]));
    }
    assert_eq!(
        ok(hoist_in(dir.path(), &["stop", &id[..7]])),
        format!("{}\n", &id[..7])
    );
    assert_eq!(ok(hoist_in(dir.path(), &["wait", name])), "0\n");
    assert_eq!(
        ok(hoist_in(dir.path(), &["rm", &id[..9]])),
        format!("{}\n", &id[..9])
    );

    // What does not exist: rm says so with 1, the other verbs with 125, as podman's do.
    let missing = hoist_in(dir.path(), &["rm", "no-such-container"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("no container with name or ID"));
    ok(hoist_in(dir.path(), &["rm", "-f", "no-such-container"]));
    for verb in ["stop", "logs", "wait", "top"] {
        let missing = hoist_in(dir.path(), &[verb, "no-such-container"]);
        assert_eq!(
            missing.status.code(),
            Some(125),
            "{verb}: {}",
            stderr(&missing)
        );
    }
    let invalid = hoist_in(dir.path(), &["rm", "../escape"]);
    assert_eq!(invalid.status.code(), Some(125));
    assert!(stderr(&invalid).contains("not a valid container name"));
}

#[test]
fn exit_codes_are_podmans() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let code = |output: Output| output.status.code();
    assert_eq!(
        code(hoist_run(
            dir.path(),
            &["--rm", &image, "sh", "-c", "exit 3"]
        )),
        Some(3)
    );
    let not_found = hoist_run(dir.path(), &["--rm", &image, "no-such-command"]);
    assert_eq!(code(not_found.clone()), Some(127), "{}", stderr(&not_found));
    assert!(stderr(&not_found).contains("not found"));
    let not_runnable = hoist_run(dir.path(), &["--rm", &image, "/etc/passwd"]);
    assert_eq!(
        code(not_runnable.clone()),
        Some(126),
        "{}",
        stderr(&not_runnable)
    );
    assert!(stderr(&not_runnable).contains("permission denied"));
    let detached = hoist_run(
        dir.path(),
        &["-d", "--name", "nocmd", &image, "no-such-command"],
    );
    assert_eq!(code(detached.clone()), Some(127), "{}", stderr(&detached));
    let inspected = ok(hoist_in(
        dir.path(),
        &[
            "inspect",
            "--format",
            "{{.State.ExitCode}} {{.State.Error}}",
            "nocmd",
        ],
    ));
    assert!(
        inspected.starts_with("127 ") && inspected.contains("no-such-command"),
        "{inspected}"
    );

    // An unknown flag before the image is a usage error that names it, never an image.
    for flag in ["--no-such-flag", "--privileged=maybe"] {
        let output = run(hoist(dir.path()).args(["run", flag, &image, "true"]));
        assert_eq!(code(output.clone()), Some(125), "{flag}");
        let name = flag.split('=').next().unwrap();
        assert!(
            stderr(&output).contains(name),
            "{flag}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("pull"),
            "{flag} was taken for an image"
        );
    }

    // exec into a running container: the same codes.
    ok(hoist_run(
        dir.path(),
        &["-d", "--name", "target", &image, "sh", "-c", WAIT_FOR_TERM],
    ));
    let exec = |args: &[&str]| code(hoist_in(dir.path(), &[&["exec", "target"], args].concat()));
    assert_eq!(exec(&["sh", "-c", "exit 5"]), Some(5));
    assert_eq!(exec(&["no-such-command"]), Some(127));
    assert_eq!(exec(&["/etc/passwd"]), Some(126));
}

#[test]
fn ps_images_and_inspect_print_json_and_templates() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let name = unique_id("fmt");
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            &name,
            "-l",
            "team=blue",
            &image,
            "sh",
            "-c",
            WAIT_FOR_TERM,
        ],
    ));
    let ended = hoist_run(
        dir.path(),
        &["--name", "ended", &image, "sh", "-c", "exit 2"],
    );
    assert_eq!(ended.status.code(), Some(2), "{}", stderr(&ended));

    let listed: serde_json::Value =
        serde_json::from_str(&ok(hoist_in(dir.path(), &["ps", "-a", "--format", "json"]))).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let running = listed
        .iter()
        .find(|c| c["Names"][0] == name.as_str())
        .unwrap();
    assert_eq!(running["State"], "running");
    assert_eq!(running["Labels"]["team"], "blue");
    assert!(running["Pid"].as_i64().unwrap() > 0);
    assert!(running["Status"].as_str().unwrap().starts_with("Up "));
    let ended = listed.iter().find(|c| c["Names"][0] == "ended").unwrap();
    assert_eq!(
        (ended["State"].as_str(), ended["ExitCode"].as_i64()),
        (Some("exited"), Some(2))
    );
    assert!(ended["Status"].as_str().unwrap().starts_with("Exited (2) "));

    let templated = ok(hoist_in(
        dir.path(),
        &[
            "ps",
            "-a",
            "--format",
            "{{.Names}}|{{.State}}|{{json .Labels}}",
        ],
    ));
    let mut lines: Vec<&str> = templated.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{templated}");
    // The image's labels are the container's too, as under podman.
    let title = "\"org.opencontainers.image.title\":\"busybox\"";
    assert!(
        lines[0].starts_with("ended|exited|{") && lines[0].contains(title),
        "{templated}"
    );
    assert!(
        lines[1].starts_with(&format!("{name}|running|{{")),
        "{templated}"
    );
    assert!(
        lines[1].contains("\"team\":\"blue\"") && lines[1].contains(title),
        "{templated}"
    );
    let table = ok(hoist_in(
        dir.path(),
        &["ps", "--format", r"table {{.Names}}\t{{.State}}"],
    ));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [vec!["NAMES", "STATE"], vec![name.as_str(), "running"]]
    );
    let bad = hoist_in(dir.path(), &["ps", "--format", "{{.Names"]);
    assert_eq!(
        bad.status.code(),
        Some(125),
        "a broken template is an error"
    );

    let images = ok(hoist_in(
        dir.path(),
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    ));
    assert_eq!(images, format!("{image}\n"));
    let images: serde_json::Value =
        serde_json::from_str(&ok(hoist_in(dir.path(), &["images", "--format", "json"]))).unwrap();
    assert_eq!(images[0]["name"], image.as_str());

    let inspected: serde_json::Value =
        serde_json::from_str(&ok(hoist_in(dir.path(), &["inspect", &name]))).unwrap();
    let document = &inspected[0];
    assert_eq!(document["Name"], name.as_str());
    assert_eq!(document["State"]["Running"], true);
    assert_eq!(document["Config"]["Labels"]["team"], "blue");
    assert_eq!(document["Path"], "sh");
    // The image's inspect is still skopeo's, with a template too.
    let architecture = ok(hoist_in(
        dir.path(),
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Architecture}}",
            &format!("docker://{image}"),
        ],
    ));
    assert_eq!(architecture.trim(), "amd64");
}

#[test]
fn create_start_restart_kill_pause_and_stop_signals() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let status = |name: &str| {
        ok(hoist_in(
            dir.path(),
            &["inspect", "--format", "{{.State.Status}}", name],
        ))
        .trim()
        .to_string()
    };

    // create, then start -a: the output, and the container's exit code.
    let id = ok(run(hoist(dir.path()).args([
        "create",
        "--tls-verify=false",
        "--network=none",
        "--name",
        "made",
        &image,
        "sh",
        "-c",
        "echo run-$(cat /tmp/runs 2>/dev/null | wc -l); echo x >> /tmp/runs; exit 4",
    ])));
    assert_eq!(id.trim().len(), 64);
    assert_eq!(status("made"), "created");
    ok(hoist_in(dir.path(), &["system", "check"]));
    let started = hoist_in(dir.path(), &["start", "-a", "made"]);
    assert_eq!(started.status.code(), Some(4), "{}", stderr(&started));
    assert_eq!(stdout(&started), "run-0\n");
    assert_eq!(status("made"), "exited");
    // Started again, it keeps what it wrote.
    assert_eq!(ok(hoist_in(dir.path(), &["start", "made"])), "made\n");
    assert_eq!(ok(hoist_in(dir.path(), &["wait", "made"])), "4\n");
    assert_eq!(
        ok(hoist_in(dir.path(), &["logs", "--tail", "1", "made"])),
        "run-1\n"
    );

    // --stop-signal, --stop-timeout and kill -s reach the container's traps.
    ok(hoist_run(dir.path(), &[
        "-d", "--name", "trapper", "--stop-signal", "USR1", "--stop-timeout", "30", &image, "sh", "-c",
        "trap 'echo hup' HUP; trap 'echo usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done",
    ]));
    hoist_e2e::wait_for("the traps", || {
        ok(hoist_in(dir.path(), &["logs", "trapper"])).contains("ready")
    });
    assert_eq!(
        ok(hoist_in(dir.path(), &["kill", "-s", "HUP", "trapper"])),
        "trapper\n"
    );
    hoist_e2e::wait_for("the HUP", || {
        ok(hoist_in(dir.path(), &["logs", "trapper"])).contains("hup")
    });
    ok(hoist_in(dir.path(), &["pause", "trapper"]));
    assert_eq!(status("trapper"), "paused");
    ok(hoist_in(dir.path(), &["unpause", "trapper"]));
    assert_eq!(status("trapper"), "running");
    let begun = std::time::Instant::now();
    ok(hoist_in(dir.path(), &["stop", "trapper"]));
    assert!(
        begun.elapsed() < std::time::Duration::from_secs(20),
        "USR1 ended it at once"
    );
    assert_eq!(
        ok(hoist_in(dir.path(), &["logs", "--tail", "1", "trapper"])),
        "usr1\n"
    );
    assert_eq!(ok(hoist_in(dir.path(), &["wait", "trapper"])), "0\n");

    // restart: stopped and started again, running.
    ok(hoist_run(
        dir.path(),
        &["-d", "--name", "again", &image, "sh", "-c", WAIT_FOR_TERM],
    ));
    let pid = |name: &str| {
        ok(hoist_in(
            dir.path(),
            &["inspect", "--format", "{{.State.Pid}}", name],
        ))
    };
    let before = pid("again");
    assert_eq!(ok(hoist_in(dir.path(), &["restart", "again"])), "again\n");
    assert_eq!(status("again"), "running");
    assert_ne!(pid("again"), before);
    // podman's kill default is SIGKILL: the trap does not save it.
    ok(hoist_in(dir.path(), &["kill", "again"]));
    assert_eq!(ok(hoist_in(dir.path(), &["wait", "again"])), "137\n");

    ok(hoist_in(dir.path(), &["rm", "-a", "-f"]));
    assert_eq!(ok(hoist_in(dir.path(), &["ps", "-a", "-q"])), "");
    assert_eq!(
        ok(hoist_in(dir.path(), &["system", "check"]))
            .lines()
            .count(),
        1
    );
}

#[test]
fn exec_takes_podmans_options_with_the_containers_defaults() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "# a comment\nFROM_FILE=yes\n").unwrap();
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            "box",
            "-e",
            "SET_AT_RUN=1",
            &image,
            "sh",
            "-c",
            WAIT_FOR_TERM,
        ],
    ));
    let said = ok(hoist_in(
        dir.path(),
        &[
            "exec", "-w", "/tmp", "-u", "nobody", "-e", "A=1", "--env-file",
            env_file.to_str().unwrap(), "box", "sh", "-c",
            "echo $(pwd) $(id -un):$(id -gn) $A $FROM_FILE $SET_AT_RUN; grep CapEff /proc/self/status",
        ],
    ));
    let mut lines = said.lines();
    assert_eq!(lines.next(), Some("/tmp nobody:nogroup 1 yes 1"));
    assert_eq!(
        lines.next(),
        Some("CapEff:\t0000000000000000"),
        "nobody has no capabilities"
    );
    let root_caps = ok(hoist_in(
        dir.path(),
        &["exec", "box", "grep", "CapEff", "/proc/self/status"],
    ));
    let privileged = ok(hoist_in(
        dir.path(),
        &[
            "exec",
            "--privileged",
            "box",
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    ));
    let caps =
        |line: &str| u64::from_str_radix(line.trim().rsplit('\t').next().unwrap(), 16).unwrap();
    assert!(
        caps(&privileged).count_ones() > caps(&root_caps).count_ones(),
        "{root_caps} {privileged}"
    );
    let no_such_user = hoist_in(dir.path(), &["exec", "-u", "no-such-user", "box", "true"]);
    assert_eq!(
        no_such_user.status.code(),
        Some(125),
        "podman's code for exec's own failure: {}",
        stderr(&no_such_user)
    );
    assert!(stderr(&no_such_user).contains("no-such-user"));
}

#[test]
fn cp_top_stats_and_port() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    ok(hoist_run(
        dir.path(),
        &["-d", "--name", "files", "-m", "64m", "--tmpfs", "/scratch", "-v", "cp-volume:/vol", &image, "sh", "-c",
          "mkdir -p /data/sub; echo inside > /data/sub/file; ln -s sub/file /data/link; exec sleep 600"],
    ));
    hoist_e2e::wait_for("the files", || {
        hoist_in(dir.path(), &["exec", "files", "test", "-L", "/data/link"])
            .status
            .success()
    });
    let out = dir.path().join("out");
    ok(hoist_in(
        dir.path(),
        &["cp", "files:/data", out.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read_to_string(out.join("sub/file")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("sub/file")
    );
    std::fs::write(dir.path().join("host-file"), "from the host\n").unwrap();
    ok(hoist_in(
        dir.path(),
        &[
            "cp",
            dir.path().join("host-file").to_str().unwrap(),
            "files:/data/",
        ],
    ));
    assert_eq!(
        ok(hoist_in(
            dir.path(),
            &["exec", "files", "cat", "/data/host-file"]
        )),
        "from the host\n"
    );
    // Into and out of the container's own mounts: a tmpfs and a volume, seen as it sees them.
    for mount in ["/scratch", "/vol"] {
        let host_file = dir.path().join("host-file");
        ok(hoist_in(
            dir.path(),
            &[
                "cp",
                host_file.to_str().unwrap(),
                &format!("files:{mount}/"),
            ],
        ));
        assert_eq!(
            ok(hoist_in(
                dir.path(),
                &["exec", "files", "cat", &format!("{mount}/host-file")]
            )),
            "from the host\n"
        );
        let back = dir.path().join(format!("back{}", mount.replace('/', "-")));
        ok(hoist_in(
            dir.path(),
            &[
                "cp",
                &format!("files:{mount}/host-file"),
                back.to_str().unwrap(),
            ],
        ));
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");
    }
    // A trailing /. copies what the directory holds, into an existing directory or a new one.
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    ok(hoist_in(
        dir.path(),
        &["cp", "files:/data/sub/.", existing.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read_to_string(existing.join("file")).unwrap(),
        "inside\n"
    );
    let fresh = dir.path().join("fresh");
    ok(hoist_in(
        dir.path(),
        &["cp", "files:/data/sub/.", fresh.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read_to_string(fresh.join("file")).unwrap(),
        "inside\n"
    );
    ok(hoist_in(
        dir.path(),
        &["cp", &format!("{}/.", existing.display()), "files:/data/"],
    ));
    assert_eq!(
        ok(hoist_in(
            dir.path(),
            &["exec", "files", "cat", "/data/file"]
        )),
        "inside\n"
    );

    let top = ok(hoist_in(dir.path(), &["top", "files"]));
    let mut rows = top.lines();
    assert_eq!(
        rows.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    );
    let first: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!((first[0], first[1], first[2]), ("root", "1", "0"));
    assert_eq!(first[7..].join(" "), "sleep 600");

    let stats = ok(hoist_in(
        dir.path(),
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}} {{.MemUsage}}",
            "files",
        ],
    ));
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!((fields[0], fields[1]), ("files", "1"), "{stats}");
    assert_eq!(fields[4], "67.11MB", "the memory limit: {stats}");
    let json: serde_json::Value = serde_json::from_str(&ok(hoist_in(
        dir.path(),
        &["stats", "--no-stream", "--format", "json"],
    )))
    .unwrap();
    assert!(json[0]["MemUsage"].as_u64().unwrap() > 0);
    assert!(json[0]["CPUNano"].as_u64().unwrap() > 0);

    assert_eq!(
        ok(hoist_in(dir.path(), &["port", "files"])),
        "",
        "no published ports"
    );
    // A stopped container's files can still be copied out.
    ok(hoist_in(dir.path(), &["stop", "-t", "0", "files"]));
    let after = dir.path().join("after");
    ok(hoist_in(
        dir.path(),
        &["cp", "files:/data/host-file", after.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read_to_string(after).unwrap(), "from the host\n");
}

/// One step of the script both engines run: the arguments after the engine, and what must
/// match between them.
struct Step {
    args: &'static [&'static str],
    compare: Compare,
}

fn step(compare: Compare, args: &'static [&'static str]) -> Step {
    Step { args, compare }
}

enum Compare {
    /// The exit code only.
    Code,
    /// The exit code and stdout, exactly.
    Exact,
    /// The exit code, and stdout's lines with the same number of words each.
    Shape,
}

/// The same podman commands through podman (with runc, its store in the scratch directory)
/// and through hoist: the exit codes, and the output's shape where it differs by ids and
/// times only.
#[test]
fn the_same_script_through_podman_and_hoist() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let podman_dir = dir.path().join("podman");
    let _remove = RemoveScratch(&podman_dir);
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let pulled = run(podman_with_runtime(&podman_dir, "runc").args([
        "pull",
        "-q",
        "--tls-verify=false",
        &image,
    ]));
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    ok(hoist_in(
        dir.path(),
        &["pull", "-q", "--tls-verify=false", &image],
    ));
    use Compare::*;
    #[rustfmt::skip]
    let steps = [
        step(Exact, &["run", "--rm", "--network=none", "IMAGE", "sh", "-c", "echo out; exit 3"]),
        step(Code, &["run", "--rm", "--network=none", "IMAGE", "no-such-command"]),
        step(Code, &["run", "--rm", "--network=none", "IMAGE", "/etc/passwd"]),
        step(Code, &["run", "--no-such-flag", "IMAGE"]),
        step(Shape, &["run", "-d", "--network=none", "--name", "web", "-l", "a=b", "IMAGE", "sh", "-c", "echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]),
        step(Code, &["run", "-d", "--network=none", "--name", "web", "IMAGE", "true"]),
        step(Exact, &["exec", "web", "sh", "-c", "echo in; exit 6"]),
        step(Code, &["exec", "web", "no-such-command"]),
        step(Exact, &["exec", "-w", "/tmp", "-u", "nobody", "web", "sh", "-c", "pwd; id -un"]),
        step(Exact, &["ps", "--format", "{{.Names}} {{.Image}} {{.Labels.a}}"]),
        step(Shape, &["ps", "-q"]),
        step(Exact, &["inspect", "--format", "{{.Name}} {{.State.Status}} {{.State.Running}}", "web"]),
        step(Exact, &["pause", "web"]),
        step(Exact, &["inspect", "--format", "{{.State.Status}}", "web"]),
        step(Exact, &["unpause", "web"]),
        step(Exact, &["stop", "-t", "5", "web"]),
        step(Exact, &["wait", "web"]),
        step(Exact, &["logs", "--tail", "1", "web"]),
        step(Exact, &["ps", "-a", "--format", "{{.Names}} {{.ExitCode}}"]),
        step(Shape, &["create", "--network=none", "--name", "later", "IMAGE", "sh", "-c", "echo later; exit 9"]),
        step(Exact, &["inspect", "--format", "{{.State.Status}}", "later"]),
        step(Exact, &["start", "-a", "later"]),
        step(Code, &["rm", "no-such-container"]),
        step(Code, &["stop", "no-such-container"]),
        step(Shape, &["rm", "web", "later"]),
        step(Exact, &["ps", "-a", "-q"]),
    ];
    for step in &steps {
        let args: Vec<&str> = step
            .args
            .iter()
            .map(|a| if *a == "IMAGE" { image.as_str() } else { a })
            .collect();
        let through_podman = run(podman_with_runtime(&podman_dir, "runc").args(&args));
        let through_hoist = run(hoist(dir.path()).args(&args));
        let what = format!(
            "{args:?}\npodman: {:?} {:?} {:?}\nhoist:  {:?} {:?} {:?}",
            through_podman.status.code(),
            stdout(&through_podman),
            stderr(&through_podman),
            through_hoist.status.code(),
            stdout(&through_hoist),
            stderr(&through_hoist)
        );
        assert_eq!(
            through_podman.status.code(),
            through_hoist.status.code(),
            "{what}"
        );
        match step.compare {
            Code => {}
            Exact => assert_eq!(stdout(&through_podman), stdout(&through_hoist), "{what}"),
            Shape => {
                let shape = |output: &Output| -> Vec<usize> {
                    stdout(output)
                        .lines()
                        .map(|l| l.split_whitespace().count())
                        .collect()
                };
                assert_eq!(shape(&through_podman), shape(&through_hoist), "{what}");
            }
        }
    }
    let _ = run(podman_with_runtime(&podman_dir, "runc").args(["rm", "-a", "-f"]));
}

#[test]
fn mounts_volumes_limits_and_devices_reach_the_container() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("from-host"), "host\n").unwrap();
    let bind = format!(
        "type=bind,source={},target=/bound,readonly",
        shared.display()
    );
    let said = ok(hoist_run(dir.path(), &[
        "--rm", "-v", "data:/data", "--mount", &bind, "--mount", "type=tmpfs,target=/fast,tmpfs-size=1m",
        "--tmpfs", "/scratch:size=2m", "--shm-size", "1.5m", "--ulimit", "nofile=100:200",
        "--device", "/dev/null:/dev/mynull:rw", &image, "sh", "-c",
        "echo kept > /data/file; cat /bound/from-host; touch /bound/x 2>/dev/null || echo read-only; \
         grep -E ' /(fast|scratch|dev/shm) ' /proc/mounts | cut -d' ' -f2,4 | sort; \
         ulimit -n; ulimit -Hn; echo to-null > /dev/mynull && ls -l /dev/mynull | cut -c1",
    ]));
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "host");
    assert_eq!(lines[1], "read-only");
    assert!(
        lines[2].starts_with("/dev/shm ") && lines[2].contains("size=1536k"),
        "{said}"
    );
    assert!(
        lines[3].starts_with("/fast ") && lines[3].contains("size=1024k"),
        "{said}"
    );
    assert!(
        lines[4].starts_with("/scratch ")
            && lines[4].contains("size=2048k")
            && lines[4].contains("noexec"),
        "{said}"
    );
    assert_eq!(&lines[5..], ["100", "200", "c"]);

    // The volume outlives the container, is shared by the next, and is refused removal while
    // a container uses it.
    assert_eq!(ok(hoist_in(dir.path(), &["volume", "ls", "-q"])), "data\n");
    let mountpoint = ok(hoist_in(
        dir.path(),
        &["volume", "inspect", "--format", "{{.Mountpoint}}", "data"],
    ));
    assert_eq!(
        std::fs::read_to_string(Path::new(mountpoint.trim()).join("file")).unwrap(),
        "kept\n"
    );
    ok(hoist_run(
        dir.path(),
        &[
            "-d", "--name", "user", "-v", "data:/d", &image, "sleep", "600",
        ],
    ));
    let in_use = hoist_in(dir.path(), &["volume", "rm", "data"]);
    assert_eq!(in_use.status.code(), Some(125));
    assert!(
        stderr(&in_use).contains("in use by user"),
        "{}",
        stderr(&in_use)
    );
    assert_eq!(
        ok(hoist_in(dir.path(), &["volume", "prune"])),
        "",
        "a used volume stays"
    );
    assert_eq!(
        ok(hoist_in(dir.path(), &["volume", "rm", "-f", "data"])),
        "data\n"
    );
    assert_eq!(
        ok(hoist_in(dir.path(), &["ps", "-a", "-q"])),
        "",
        "-f removed its user"
    );
    assert!(!Path::new(mountpoint.trim()).exists());
    let made = ok(hoist_in(dir.path(), &["volume", "create"]));
    assert_eq!(made.trim().len(), 64);
    assert_eq!(ok(hoist_in(dir.path(), &["volume", "prune"])), made);

    for (flags, says) in [
        (&["--ulimit", "nofile=2:1"][..], "soft limit above"),
        (
            &["--mount", "type=nfs,target=/x"][..],
            "bind, volume or tmpfs",
        ),
        (&["--device", "/etc/passwd"][..], "not a device"),
        (&["--userns", "keep-id"][..], "--userns"),
        (&["--shm-size", "lots"][..], "--shm-size"),
        (&["--restart", "sometimes"][..], "--restart"),
        (&["--rm", "--restart", "always"][..], "conflict"),
        (&["-v", "../up:/x"][..], "not a valid container name"),
    ] {
        let output = hoist_run(dir.path(), &[flags, &[image.as_str(), "true"]].concat());
        assert_eq!(output.status.code(), Some(125), "{flags:?}");
        assert!(
            stderr(&output).contains(says),
            "{flags:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        ok(hoist_in(dir.path(), &["ps", "-a", "-q"])),
        "",
        "refused runs leave nothing"
    );
}

/// Whether the container has a zombie among its processes.
fn zombies(dir: &Path, name: &str) -> usize {
    let states = ok(hoist_in(
        dir,
        &["exec", name, "sh", "-c", "cat /proc/[0-9]*/stat"],
    ));
    states
        .lines()
        .filter(|l| {
            l.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .count()
}

#[test]
fn the_init_reaps_orphans_and_passes_signals_on() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    // The subshell leaves an orphan that ends at once; the program (sleep) never waits for
    // children: only an init that reaps clears the zombie.
    let orphaning = "(sleep 0.1 &); exec sleep 600";
    for (name, init) in [("plain", false), ("reaped", true)] {
        let mut args = vec!["-d", "--name", name];
        if init {
            args.push("--init");
        }
        args.extend([image.as_str(), "sh", "-c", orphaning]);
        ok(hoist_run(dir.path(), &args));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        zombies(dir.path(), "plain"),
        1,
        "without --init the orphan stays a zombie"
    );
    assert_eq!(zombies(dir.path(), "reaped"), 0, "--init reaps it");
    let first = ok(hoist_in(dir.path(), &["top", "reaped"]));
    let first = first.lines().nth(1).unwrap();
    assert!(first.split_whitespace().nth(1) == Some("1"), "{first}");
    // The init's command line tells nothing of the host's.
    let cmdline = ok(hoist_in(
        dir.path(),
        &["exec", "reaped", "cat", "/proc/1/cmdline"],
    ));
    assert!(cmdline.bytes().all(|b| b == 0), "{cmdline:?}");
    // It holds nothing of the runtime's open, and where its fds and binary lead is not the
    // container's to read (it is not dumpable).
    assert_eq!(
        ok(hoist_in(
            dir.path(),
            &["exec", "reaped", "ls", "/proc/1/fd"]
        )),
        "0\n1\n2\n"
    );
    for link in ["/proc/1/exe", "/proc/1/fd/1"] {
        let read = hoist_in(dir.path(), &["exec", "reaped", "readlink", link]);
        assert!(!read.status.success(), "{link}: {}", stdout(&read));
    }
    // SIGTERM to PID 1 reaches the program, whose exit code is the container's.
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            "trapped",
            "--init",
            &image,
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    ));
    hoist_e2e::wait_for("the trap", || {
        ok(hoist_in(dir.path(), &["logs", "trapped"])) == "ready\n"
    });
    ok(hoist_in(dir.path(), &["stop", "trapped"]));
    assert_eq!(ok(hoist_in(dir.path(), &["wait", "trapped"])), "7\n");
    assert_eq!(
        ok(hoist_in(dir.path(), &["logs", "trapped"])),
        "ready\ngot-term\n"
    );
    // With a terminal, the program is its foreground process group, not in the init's: a
    // Ctrl-C reaches it once, from the terminal, and not again through the init.
    let groups = ok(hoist_run(
        dir.path(),
        &[
            "--rm",
            "-t",
            "--init",
            &image,
            "sh",
            "-c",
            "read -r pid _ _ _ pgrp _ _ tpgid _ < /proc/$$/stat; echo $pid $pgrp $tpgid",
        ],
    ));
    let groups: Vec<&str> = groups.split_whitespace().collect();
    assert!(
        groups.len() == 3 && groups[0] != "1" && groups.iter().all(|g| *g == groups[0]),
        "pid, process group, terminal's foreground group: {groups:?}"
    );
}

#[test]
fn restart_policies_are_kept_by_the_monitor_until_stop() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            "failing",
            "--restart",
            "on-failure:2",
            &image,
            "sh",
            "-c",
            "echo run; exit 3",
        ],
    ));
    assert_eq!(ok(hoist_in(dir.path(), &["wait", "failing"])), "3\n");
    assert_eq!(
        ok(hoist_in(dir.path(), &["logs", "failing"])),
        "run\nrun\nrun\n",
        "1 run, 2 restarts"
    );
    let restarts = ok(hoist_in(
        dir.path(),
        &["inspect", "--format", "{{.RestartCount}}", "failing"],
    ));
    assert_eq!(restarts, "2\n");

    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            "always",
            "--restart",
            "always",
            &image,
            "sh",
            "-c",
            "echo run; sleep 0.2",
        ],
    ));
    hoist_e2e::wait_for("two restarts", || {
        ok(hoist_in(dir.path(), &["logs", "always"]))
            .lines()
            .count()
            >= 3
    });
    ok(hoist_in(dir.path(), &["stop", "-t", "1", "always"]));
    let stopped = ok(hoist_in(
        dir.path(),
        &[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            "always",
        ],
    ));
    std::thread::sleep(std::time::Duration::from_millis(700));
    let later = ok(hoist_in(
        dir.path(),
        &[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            "always",
        ],
    ));
    assert!(stopped.starts_with("exited "), "{stopped}");
    assert_eq!(stopped, later, "stop ends the restarts");
    // Started by hand, it is kept running again, its count begun anew.
    ok(hoist_in(dir.path(), &["start", "always"]));
    let restarts = || {
        ok(hoist_in(
            dir.path(),
            &["inspect", "--format", "{{.RestartCount}}", "always"],
        ))
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    assert!(restarts() < 3, "{later}");
    hoist_e2e::wait_for("a restart after start", || restarts() >= 1);
}

/// The monitor processes of the container `name`.
fn monitors_of(name: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.contains(&b"container-monitor".as_slice()) && args.contains(&name.as_bytes())
        })
        .count()
}

#[test]
fn start_wait_and_network_sharing_meet_a_container_between_runs() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);

    // Between two runs of a restart policy, the monitor keeps it: start is a no-op.
    let flapping = unique_id("flapping");
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            &flapping,
            "--restart",
            "always",
            &image,
            "sh",
            "-c",
            "exit 1",
        ],
    ));
    hoist_e2e::wait_for("a few restarts", || {
        ok(hoist_in(
            dir.path(),
            &["inspect", "--format", "{{.RestartCount}}", &flapping],
        ))
        .trim()
        .parse::<u32>()
        .unwrap()
            >= 3
    });
    assert_eq!(
        ok(hoist_in(dir.path(), &["start", &flapping])),
        format!("{flapping}\n")
    );
    assert_eq!(monitors_of(&flapping), 1, "start launched a second monitor");
    ok(hoist_in(dir.path(), &["stop", "-t", "1", &flapping]));
    // stop returns once the end is recorded; the monitor exits just after it.
    hoist_e2e::wait_for("the monitor to end after stop", || {
        monitors_of(&flapping) == 0
    });

    // wait on a created container waits for it to be started and to end.
    let created = unique_id("created");
    ok(hoist_in(
        dir.path(),
        &[
            "create",
            "--tls-verify=false",
            "--network=none",
            "--name",
            &created,
            &image,
            "sh",
            "-c",
            "exit 6",
        ],
    ));
    let mut waiting = hoist(dir.path())
        .args(["wait", &created])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "wait returned before start"
    );
    ok(hoist_in(dir.path(), &["start", &created]));
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(stdout(&waited), "6\n");

    // --network container:NAME follows that container across its restarts: started later,
    // it joins the namespace the other has now, not the one of a process long gone.
    let holder = unique_id("holder");
    ok(hoist_run(
        dir.path(),
        &["-d", "--name", &holder, &image, "sh", "-c", WAIT_FOR_TERM],
    ));
    let sharer = unique_id("sharer");
    ok(hoist_in(
        dir.path(),
        &[
            "create",
            "--tls-verify=false",
            "--network",
            &format!("container:{holder}"),
            "--name",
            &sharer,
            &image,
            "readlink",
            "/proc/self/ns/net",
        ],
    ));
    ok(hoist_in(dir.path(), &["restart", "-t", "1", &holder]));
    let holders = ok(hoist_in(
        dir.path(),
        &["exec", &holder, "readlink", "/proc/self/ns/net"],
    ));
    let shared = hoist_in(dir.path(), &["start", "-a", &sharer]);
    assert_eq!(ok(shared), holders);
}

#[test]
fn logs_keep_foreground_runs_with_times_and_the_two_streams_apart() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let name = unique_id("foreground");
    let ran = hoist_run(
        dir.path(),
        &[
            "--name",
            &name,
            &image,
            "sh",
            "-c",
            "echo a; echo b >&2; sleep 1.1; echo c",
        ],
    );
    assert_eq!(
        stdout(&ran),
        "a\nc\n",
        "the caller sees the output as it comes"
    );
    assert!(stderr(&ran).ends_with("b\n"), "{}", stderr(&ran));

    let logs = |args: &[&str]| {
        let mut all = vec!["logs"];
        all.extend_from_slice(args);
        all.push(&name);
        hoist_in(dir.path(), &all)
    };
    let plain = logs(&[]);
    assert_eq!(
        (stdout(&plain).as_str(), stderr(&plain).as_str()),
        ("a\nc\n", "b\n")
    );

    let timed = ok(logs(&["-t"]));
    let stamps: Vec<(&str, &str)> = timed.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(stamps.iter().map(|s| s.1).collect::<Vec<_>>(), ["a", "c"]);
    let time = |stamp: &str| humantime::parse_rfc3339(stamp).expect(stamp);
    let (a_time, c_time) = (time(stamps[0].0), time(stamps[1].0));
    assert!(
        c_time.duration_since(a_time).unwrap() >= std::time::Duration::from_secs(1),
        "{timed}"
    );
    assert_eq!(ok(logs(&["--since", stamps[1].0])), "c\n");
    assert_eq!(ok(logs(&["--until", stamps[1].0])), "a\n");
    assert_eq!(ok(logs(&["--since", "2099-01-01"])), "");
    assert_eq!(ok(logs(&["--since", "1h"])), "a\nc\n");
    let bogus = logs(&["--since", "yesterday-ish"]);
    assert_eq!(bogus.status.code(), Some(125));
    assert!(
        stderr(&bogus).contains("yesterday-ish"),
        "{}",
        stderr(&bogus)
    );
}

#[test]
fn stats_streams_until_its_containers_end_and_info_and_network_ls_take_format() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let name = unique_id("busy");
    ok(hoist_run(
        dir.path(),
        &[
            "-d",
            "--name",
            &name,
            &image,
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do :; done",
        ],
    ));
    let mut streaming = hoist(dir.path())
        .args([
            "stats",
            "-i",
            "1",
            "--format",
            "{{.Name}} {{.CPUPerc}}",
            &name,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(streaming.stdout.take().unwrap()));
    let mut samples = Vec::new();
    for _ in 0..2 {
        samples.push(lines.next().unwrap().unwrap());
    }
    // The second sample is over its interval, in which the loop kept a CPU busy.
    let (sampled, percent) = samples[1].split_once(' ').unwrap();
    assert_eq!(sampled, name);
    let percent: f64 = percent.trim_end_matches('%').parse().unwrap();
    assert!(percent > 20.0, "{samples:?}");
    ok(hoist_in(dir.path(), &["stop", "-t", "2", &name]));
    let ended = streaming.wait().unwrap();
    assert!(ended.success(), "the stream ends with its last container");

    // hoist's JSON keys, and podman's own spelling: its Go fields.
    for (template, expected) in [
        ("{{.store.containerStore.number}} {{.host.os}}", "1 linux\n"),
        (
            "{{.Store.ContainerStore.Number}} {{.Host.OS}} {{.Host.OCIRuntime.Name}}",
            "1 linux hoist\n",
        ),
    ] {
        let counted = ok(hoist_in(dir.path(), &["info", "--format", template]));
        assert_eq!(counted, expected, "{template}");
    }
    // A field whose Go name is not its key's (CgroupsVersion, cgroupVersion).
    let version = ok(hoist_in(
        dir.path(),
        &["info", "--format", "{{.Host.CgroupsVersion}}"],
    ));
    assert!(matches!(version.trim(), "v1" | "v2"), "{version}");
    let info: serde_json::Value =
        serde_json::from_str(&ok(hoist_in(dir.path(), &["info", "--format", "json"]))).unwrap();
    assert!(info["store"]["graphRoot"]
        .as_str()
        .unwrap()
        .starts_with(dir.path().to_str().unwrap()));

    // One way to ask for JSON: --format json, on pull too.
    let pulled: serde_json::Value = serde_json::from_str(&ok(hoist_in(
        dir.path(),
        &["pull", "--tls-verify=false", "--format", "json", &image],
    )))
    .unwrap();
    assert!(
        pulled["digest"].as_str().unwrap().starts_with("sha256:"),
        "{pulled}"
    );

    assert_eq!(
        ok(hoist_in(dir.path(), &["network", "ls", "-q"])),
        "hoist\n"
    );
    let networks: serde_json::Value = serde_json::from_str(&ok(hoist_in(
        dir.path(),
        &["network", "ls", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(networks[0]["driver"], "bridge");
    assert!(networks[0]["subnets"][0]["subnet"]
        .as_str()
        .unwrap()
        .contains('/'));
    let table = ok(hoist_in(dir.path(), &["network", "ls"]));
    assert!(table.starts_with("NETWORK ID"), "{table}");
}

/// The block of host ids a container's uid 0 is (`/proc/self/uid_map` inside): start, size.
fn id_block(dir: &Path, name: &str) -> (u64, u64) {
    let map = ok(hoist_in(dir, &["exec", name, "cat", "/proc/self/uid_map"]));
    let fields: Vec<u64> = map.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert_eq!(fields.len(), 3, "one range: {map}");
    assert_eq!(fields[0], 0, "{map}");
    (fields[1], fields[2])
}

/// `--userns auto`: each container's root is a block of host ids of its own, none of the
/// host's. Written as the attack: a host file only root may read, bind-mounted in, stays
/// unreadable to the container's root; yet it owns its rootfs, binds port 80 on the bridge
/// and keeps its address over a stop and start, as a root container does.
#[test]
fn userns_auto_gives_each_container_ids_of_its_own_and_none_of_the_hosts() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    ok(hoist_in(
        dir.path(),
        &["pull", "--quiet", "--tls-verify=false", &image],
    ));
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("secret"), "host-only\n").unwrap();
    std::fs::set_permissions(
        secrets.join("secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let scratch_path = dir.path().to_path_buf();
    hoist_e2e::in_private_network(move || {
        let dir = scratch_path.as_path();
        let (first, second) = (unique_id("userns-a"), unique_id("userns-b"));
        let volume = format!("{}:/host", secrets.display());
        for (name, userns) in [(&first, "auto"), (&second, "auto:size=1024")] {
            ok(hoist_in(
                dir,
                &[
                    "run",
                    "-d",
                    "--network",
                    "bridge",
                    "--userns",
                    userns,
                    "--name",
                    name,
                    "-v",
                    &volume,
                    &image,
                    "sh",
                    "-c",
                    WAIT_FOR_TERM,
                ],
            ));
        }
        let (a, b) = (id_block(dir, &first), id_block(dir, &second));
        assert_eq!((a.1, b.1), (65536, 1024));
        assert!(a.0 > 0 && b.0 > 0, "root of the host inside: {a:?} {b:?}");
        assert!(
            a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0,
            "two containers share ids: {a:?} {b:?}"
        );
        let pid = ok(hoist_in(
            dir,
            &["inspect", "--format", "{{.State.Pid}}", &first],
        ));
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|id| id == a.0.to_string()),
            "the container's root is not its block's first id on the host: {uid_line}"
        );

        let stolen = hoist_in(dir, &["exec", &first, "cat", "/host/secret"]);
        assert!(!stolen.status.success(), "read: {}", stdout(&stolen));
        assert!(
            stderr(&stolen).contains("Permission denied"),
            "{}",
            stderr(&stolen)
        );

        let served = ok(hoist_in(
            dir,
            &[
                "exec",
                &first,
                "sh",
                "-c",
                // nc keeps no stream of exec's open: exec would wait for it.
                "touch /owned && (nc -l -p 80 </dev/null >/dev/null 2>&1 &) && sleep 0.5 && netstat -ltn",
            ],
        ));
        assert!(served.contains(":80 "), "{served}");
        let address = |name: &str| {
            ok(hoist_in(
                dir,
                &["exec", name, "ip", "-4", "-o", "addr", "show", "eth0"],
            ))
            .split_whitespace()
            .nth(3)
            .map(str::to_string)
            .expect("an address on eth0")
        };
        let before = address(&first);
        ok(hoist_in(dir, &["stop", "-t", "1", &first]));
        ok(hoist_in(dir, &["start", &first]));
        assert_eq!(address(&first), before, "the address moved over a restart");
        assert_eq!(id_block(dir, &first), a, "the ids moved over a restart");

        ok(hoist_in(dir, &["rm", "-f", &first, &second]));
        let third = unique_id("userns-c");
        ok(hoist_in(
            dir,
            &[
                "run",
                "-d",
                "--network",
                "none",
                "--userns",
                "auto",
                "--name",
                &third,
                &image,
                "sh",
                "-c",
                WAIT_FOR_TERM,
            ],
        ));
        assert_eq!(
            id_block(dir, &third).0,
            a.0.min(b.0),
            "the blocks of removed containers are free again"
        );
        ok(hoist_in(dir, &["rm", "-f", &third]));
    });
}

/// `--dns`, `--dns-search`, `--dns-option` replace what they name in the container's
/// resolv.conf, `--add-host` adds to its /etc/hosts, and what would write a broken file is
/// refused by name.
#[test]
fn dns_flags_and_host_entries_reach_the_containers_name_files() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let image = format!("{}/busybox:latest", env.registry);
    let files = ok(hoist_run(
        dir.path(),
        &[
            "--rm",
            "--dns",
            "192.0.2.1",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:3",
            "--add-host",
            "db:198.51.100.7",
            &image,
            "cat",
            "/etc/resolv.conf",
            "/etc/hosts",
        ],
    ));
    let lines: Vec<&str> = files.lines().collect();
    for expected in [
        "nameserver 192.0.2.1",
        "search example.test",
        "options ndots:3",
        "198.51.100.7\tdb",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in:\n{files}");
    }
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("nameserver")).count(),
        1,
        "the host's servers stayed:\n{files}"
    );
    for (flag, value) in [("--dns", "resolver.example"), ("--add-host", "db")] {
        let refused = hoist_run(dir.path(), &["--rm", flag, value, &image, "true"]);
        assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
        assert!(stderr(&refused).contains(flag), "{}", stderr(&refused));
    }
}
