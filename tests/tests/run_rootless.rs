//! Containers run by an unprivileged user: a user namespace mapping the caller's own id (no
//! helper needed), or subordinate ids through newuidmap/newgidmap; no cgroup where the user may
//! not make one, and a clear error when the config asks for limits all the same.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use hoist_e2e::rootless::{Home, RootlessUser};
use hoist_e2e::{
    assert_refused, edit_config, hoist_bin, is_root, run, scratch, set_args, stderr, stdout,
    unique_id, wait_for,
};
use serde_json::json;

/// `hoist` as `uid:gid`, with everything it writes under `work`.
fn hoist_as(uid: u32, gid: u32, work: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid",
            &uid.to_string(),
            "--regid",
            &gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(hoist_bin())
        .env("HOIST_ROOT", work.join("store"))
        .env("XDG_RUNTIME_DIR", work.join("xdg"))
        .env_remove("HOIST_LOG")
        .arg("--root")
        .arg(work.join("run"));
    command
}

/// A scratch directory the user owns, with a busybox bundle it unpacked itself (rootless).
/// `hoist run --bundle BUNDLE ID` as `uid:gid`.
fn run_bundle_as(uid: u32, gid: u32, work: &Path, bundle: &Path, id: &str) -> Output {
    run(hoist_as(uid, gid, work)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id))
}

fn rootless_bundle(uid: u32, gid: u32) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let env = hoist_e2e::env()?;
    let dir = scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::chown(&work, Some(uid), Some(gid)).unwrap();
    // The fixtures layout may sit where the user cannot read: hand it a copy.
    let layout = work.join("layout");
    hoist_e2e::copy_fixtures(&env, &layout);
    let chowned = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&layout)
        .status()
        .unwrap();
    assert!(chowned.success());
    let bundle = work.join("bundle");
    let output = run(hoist_as(uid, gid, &work)
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:busybox-latest", layout.display()))
        .arg(&bundle));
    assert!(output.status.success(), "{}", stderr(&output));
    Some((dir, bundle))
}

#[test]
fn an_unprivileged_user_runs_a_container_as_root_in_its_own_user_namespace() {
    if !is_root() {
        return;
    }
    const NOBODY: u32 = 65534;
    let Some((dir, bundle)) = rootless_bundle(NOBODY, NOBODY) else {
        return;
    };
    let work = dir.path().join("work");
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo hi > /tmp/made",
        ],
    );
    let output = run_bundle_as(NOBODY, NOBODY, &work, &bundle, "rootless-own");
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", &NOBODY.to_string(), "1"],
        "only the caller's own id is mapped"
    );
    let made = bundle.join("rootfs/tmp/made").metadata().unwrap();
    assert_eq!(
        made.uid(),
        NOBODY,
        "the container's root is the caller outside"
    );
    assert!(
        !work.join("run/rootless-own").exists(),
        "the state is removed after the run"
    );

    // Limits need a cgroup, which this user may not make: a clear error, nothing left.
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["pids"] = json!({ "limit": 10 })
    });
    let output = run_bundle_as(NOBODY, NOBODY, &work, &bundle, "rootless-limits");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("may not make cgroups"),
        "{}",
        stderr(&output)
    );
    assert!(!work.join("run/rootless-limits").exists());
}

#[test]
fn subordinate_ids_are_mapped_through_newuidmap() {
    if !is_root() {
        return;
    }
    let Some(RootlessUser {
        uid,
        gid,
        sub_uid,
        sub_gid,
    }) = RootlessUser::find()
    else {
        return;
    };
    let Some((dir, bundle)) = rootless_bundle(uid, gid) else {
        return;
    };
    let work = dir.path().join("work");
    edit_config(&bundle, |c| {
        c["linux"]["uidMappings"] = json!([
            { "containerID": 0, "hostID": uid, "size": 1 },
            { "containerID": 1, "hostID": sub_uid, "size": 65536 }
        ]);
        c["linux"]["gidMappings"] = json!([
            { "containerID": 0, "hostID": gid, "size": 1 },
            { "containerID": 1, "hostID": sub_gid, "size": 65536 }
        ]);
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "wc -l < /proc/self/uid_map; touch /tmp/f && ls -n /tmp/f",
        ],
    );
    let output = run_bundle_as(uid, gid, &work, &bundle, "rootless-sub");
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(
        out.lines().next(),
        Some("2"),
        "both ranges are mapped: {out}"
    );
    assert!(
        out.contains(" 1000 ") && out.contains("/tmp/f"),
        "inside, the program is 1000 and so is its file: {out}"
    );
    let made = bundle.join("rootfs/tmp/f").metadata().unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (sub_uid + 999, sub_gid + 999),
        "outside, to the subordinate ids it maps to"
    );

    // A range that is not the user's is refused by the helper, and said so.
    edit_config(&bundle, |c| {
        c["linux"]["uidMappings"][1]["hostID"] = json!(sub_uid + 1_000_000);
    });
    set_args(&bundle, &["true"]);
    let output = run_bundle_as(uid, gid, &work, &bundle, "rootless-foreign");
    assert_refused(&output, "newuidmap refused");
    assert!(
        stderr(&output).contains("/etc/subuid"),
        "{}",
        stderr(&output)
    );
    assert!(!work.join("run/rootless-foreign").exists());
}

/// A default credentials file the user may not read (podman's runtime directory of another
/// user, or one of their own they locked) is passed over with a warning: the pull goes on. One
/// they name with --authfile is an error.
#[test]
fn an_unreadable_default_auth_file_is_passed_over_but_a_named_one_is_an_error() {
    if !is_root() {
        return;
    }
    let Some(env) = hoist_e2e::env() else { return };
    const NOBODY: u32 = 65534;
    let dir = scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    let auth_dir = work.join("home/.config/containers");
    std::fs::create_dir_all(&auth_dir).unwrap();
    let locked = auth_dir.join("auth.json");
    std::fs::write(&locked, "{}").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let chowned = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(&work)
        .status()
        .unwrap();
    assert!(chowned.success());
    let image = format!("{}/busybox:latest", env.registry);
    let pull = |extra: &[&str]| {
        let mut command = hoist_as(NOBODY, NOBODY, &work);
        command
            .env("HOME", work.join("home"))
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .args(["pull", "--quiet", "--tls-verify=false"])
            .args(extra)
            .arg(&image);
        run(&mut command)
    };
    let pulled = pull(&[]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(
        stderr(&pulled).contains("skipping the credentials in")
            && stderr(&pulled).contains("auth.json"),
        "{}",
        stderr(&pulled)
    );
    let named = pull(&["--authfile", locked.to_str().unwrap()]);
    assert!(!named.status.success());
    assert!(
        stderr(&named).contains("Permission denied"),
        "{}",
        stderr(&named)
    );
}

/// The test environment, the rootless user and a home of its own, where both are there.
fn rootless_home() -> Option<(hoist_e2e::TestEnv, RootlessUser, Home)> {
    let user = is_root().then(RootlessUser::find).flatten()?;
    Some((hoist_e2e::env()?, user, Home::in_scratch(user)))
}

/// `hoist run IMAGE` without root, end to end as rootless podman is used: the store under the
/// user's home, containers in a user namespace of the user's subordinate ids over layers
/// shared through an overlay the container mounts itself, and nothing left after `rm`.
#[test]
fn an_unprivileged_user_pulls_and_runs_images_as_rootless_podman_does() {
    let Some((env, user, home)) = rootless_home() else {
        return;
    };
    let image = format!("{}/busybox:latest", env.registry);
    let pulled = run(&mut home.hoist(&["pull", "--quiet", "--tls-verify=false", &image]));
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(home.store().join("images/index.json").exists());

    // Root inside is the user; the other ids are the subordinate ones, through newuidmap.
    let ran = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]));
    assert!(ran.status.success(), "{}", stderr(&ran));
    let out = stdout(&ran);
    let words: Vec<&str> = out.split_whitespace().collect();
    let (uid, sub_uid) = (user.uid.to_string(), user.sub_uid.to_string());
    assert_eq!(words[..4], ["0", "0", &uid, "1"], "{out}");
    assert_eq!(words[4..6], ["1", &sub_uid], "{out}");

    // The rootfs is an overlay of the shared layers (mounted in the container: what it writes
    // lands in its upper directory), and the image's next containers skip the helper.
    let kept = unique_id("rootless-kept");
    let wrote = run(&mut home.hoist(&[
        "run",
        "--name",
        &kept,
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo x > /new-file",
    ]));
    assert!(wrote.status.success(), "{}", stderr(&wrote));
    let kept_dir = home.store().join("containers").join(&kept);
    let record = std::fs::read_to_string(kept_dir.join("container.json")).unwrap();
    assert!(record.contains("\"driver\": \"overlay\""), "{record}");
    assert!(kept_dir.join("upper/new-file").exists());
    let specs = home.store().join("specs");
    assert!(std::fs::read_dir(&specs).is_ok_and(|mut d| d.next().is_some()));
    assert!(run(&mut home.hoist(&["rm", &kept])).status.success());

    // Detached: exec, logs, stop, rm, as podman's.
    let name = unique_id("rootless-web");
    let started = run(&mut home.hoist(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo up; exec sleep 600",
    ]));
    assert!(started.status.success(), "{}", stderr(&started));
    let inside = run(&mut home.hoist(&["exec", &name, "id", "-u"]));
    assert_eq!(stdout(&inside).trim(), "0", "{}", stderr(&inside));
    wait_for("the log", || {
        stdout(&run(&mut home.hoist(&["logs", &name]))).contains("up")
    });
    let init = stdout(&run(&mut home.hoist(&[
        "inspect",
        "--format",
        "{{.State.Pid}}",
        &name,
    ])));
    let init: i32 = init.trim().parse().expect("a pid");
    // Another container in its network namespace (and so in its user namespace too).
    let beside = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{name}"),
        &image,
        "readlink",
        "/proc/self/ns/net",
    ]));
    assert!(beside.status.success(), "{}", stderr(&beside));
    let network = std::fs::read_link(format!("/proc/{init}/ns/net")).unwrap();
    assert_eq!(stdout(&beside).trim(), network.to_str().unwrap());
    assert!(run(&mut home.hoist(&["stop", "-t", "1", &name]))
        .status
        .success());
    let listed = stdout(&run(&mut home.hoist(&["ps", "-a"])));
    assert!(
        listed.contains(&name) && listed.contains("Exited"),
        "{listed}"
    );
    assert!(run(&mut home.hoist(&["rm", &name])).status.success());
    assert!(!Path::new(&format!("/proc/{init}")).exists());
    assert_eq!(hoist_e2e::monitor_of(&name), None);

    // Files of another of the container's ids are the user's subordinate ids outside; `rm`
    // removes them all the same (through the storage helper).
    let volume = home.dir().join("volume");
    std::fs::create_dir(&volume).unwrap();
    user.give(&volume);
    let litter = unique_id("rootless-litter");
    let littered = run(&mut home.hoist(&[
        "run",
        "--name",
        &litter,
        "--network",
        "none",
        "-v",
        &format!("{}:/v", volume.display()),
        &image,
        "sh",
        "-c",
        "echo x > /v/by-root && touch /v/by-1000 && chown 1000:1000 /v/by-1000 \
         && mkdir -m 700 /private && touch /private/f && chown -R 1000:1000 /private",
    ]));
    assert!(littered.status.success(), "{}", stderr(&littered));
    let owner = |p: &str| {
        let m = volume.join(p).metadata().unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(
        owner("by-root"),
        (user.uid, user.gid),
        "root's file is the user's"
    );
    assert_eq!(owner("by-1000"), (user.sub_uid + 999, user.sub_gid + 999));
    let removed = run(&mut home.hoist(&["rm", &litter]));
    assert!(removed.status.success(), "{}", stderr(&removed));
    let containers = home.store().join("containers");
    assert_eq!(std::fs::read_dir(&containers).unwrap().count(), 0);

    // --userns keep-id: the user's own ids inside.
    let kept = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns",
        "keep-id",
        &image,
        "sh",
        "-c",
        "id -u; id -g",
    ]));
    assert!(kept.status.success(), "{}", stderr(&kept));
    assert_eq!(
        stdout(&kept).split_whitespace().collect::<Vec<_>>(),
        [uid.as_str(), &user.gid.to_string()]
    );

    // Limits need a cgroup delegated to the user: refused by name, nothing made.
    let limited = run(&mut home.hoist(&["run", "--rm", "--memory", "64m", &image, "true"]));
    assert_eq!(limited.status.code(), Some(125));
    assert!(
        stderr(&limited).contains("--memory needs a cgroup"),
        "{}",
        stderr(&limited)
    );
    assert_eq!(std::fs::read_dir(&containers).unwrap().count(), 0);

    // The image gone, a prune takes its layers, which only the helper may remove.
    assert!(run(&mut home.hoist(&["rmi", &image])).status.success());
    let pruned = run(&mut home.hoist(&["system", "prune", "--force"]));
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    let layers = std::fs::read_dir(home.store().join("layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 0, "no cached layer is left");
    assert_eq!(Home::processes_naming(home.dir()), Vec::<i32>::new());
}

/// An image whose files belong to several users and groups (a distribution's /etc) shows
/// those owners inside, and its deletions and opaque directories hold in the user's overlay.
#[test]
fn a_rootless_container_sees_the_images_owners_whiteouts_and_opaque_directories() {
    let Some((env, _, home)) = rootless_home() else {
        return;
    };
    // Owners as the host's /etc has them, which debian-etc's layer copied.
    let mut expected = Vec::new();
    for entry in walkdir_etc() {
        let meta = entry.symlink_metadata().unwrap();
        if (meta.uid() != 0 || meta.gid() != 0) && meta.uid() < 65536 && meta.gid() < 65536 {
            expected.push((entry.clone(), meta.uid(), meta.gid()));
        }
    }
    assert!(
        !expected.is_empty(),
        "this host's /etc has files of other owners"
    );
    let script: String = expected
        .iter()
        .map(|(path, _, _)| format!("stat -c '%n %u %g' {};", path.display()))
        .collect();
    let image = format!("{}/debian-etc:latest", env.registry);
    let ran = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--tls-verify=false",
        &image,
        "sh",
        "-c",
        &script,
    ]));
    assert!(ran.status.success(), "{}", stderr(&ran));
    let seen = stdout(&ran);
    for (path, uid, gid) in &expected {
        let line = format!("{} {uid} {gid}", path.display());
        assert!(seen.lines().any(|l| l == line), "{line} in:\n{seen}");
    }

    let layers = format!("{}/layers:latest", env.registry);
    let ran = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--tls-verify=false",
        &layers,
        "sh",
        "-c",
        "ls /opq; ls /data; stat -c '%u %g %a' /lower/target",
    ]));
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert_eq!(
        stdout(&ran).lines().collect::<Vec<_>>(),
        ["new", "keep", "1000 1000 640"],
        "the opaque directory holds only the upper layer's file, the whiteouts hide theirs"
    );
}

/// The host's /etc entries (not following symlinks), for the owners test.
fn walkdir_etc() -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/etc")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let plain_name = path
                .to_str()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_graphic() && b != b'\''));
            if plain_name {
                found.push(path.clone());
            }
            if is_dir {
                stack.push(path);
            }
        }
    }
    found
}

/// Without XDG_RUNTIME_DIR, the state goes to a directory of the user's alone in $TMPDIR; one
/// another user made there first (to read or forge the state, which names processes to
/// signal) is refused, not used.
#[test]
fn a_runtime_directory_another_user_made_first_is_refused() {
    if !is_root() {
        return;
    }
    let Some(user) = RootlessUser::find() else {
        return;
    };
    if Path::new(&format!("/run/user/{}", user.uid)).exists() {
        eprintln!("skipped: /run/user/{} exists and would be used", user.uid);
        return;
    }
    let home = Home::in_scratch(user);
    let tmp = home.dir().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let ps = || {
        let mut command = home.hoist(&["ps", "-a"]);
        command.env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &tmp);
        run(&mut command)
    };
    // The attacker's: root's here, open to everyone.
    let planted = tmp.join(format!("hoist-run-{}", user.uid));
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = ps();
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains("XDG_RUNTIME_DIR is not set, and")
            && stderr(&refused).contains("not a directory of yours alone"),
        "{}",
        stderr(&refused)
    );
    std::fs::remove_dir(&planted).unwrap();

    // A verb that runs no container makes no state directory at all.
    let mut images = home.hoist(&["images"]);
    images.env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &tmp);
    assert!(run(&mut images).status.success());
    assert!(!planted.exists(), "images made {}", planted.display());

    let listed = ps();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let made = planted.metadata().unwrap();
    assert_eq!((made.uid(), made.mode() & 0o777), (user.uid, 0o700));
}

/// `commit` of an unprivileged user's container, as rootless podman commits: the changes,
/// files of other owners among them, become a layer with the owners the container saw.
#[test]
fn an_unprivileged_user_commits_a_containers_changes() {
    let Some((env, _user, home)) = rootless_home() else {
        return;
    };
    let image = format!("{}/busybox:latest", env.registry);
    let name = unique_id("rootless-commit");
    let made = run(&mut home.hoist(&[
        "run",
        "--tls-verify=false",
        "--name",
        &name,
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo kept > /kept && chown 1000:1000 /kept && rm -r /home",
    ]));
    assert!(made.status.success(), "{}", stderr(&made));
    let committed = run(&mut home.hoist(&["commit", "-q", &name, "rootless-committed:1"]));
    assert!(committed.status.success(), "{}", stderr(&committed));
    let ran = run(&mut home.hoist(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/rootless-committed:1",
        "sh",
        "-c",
        "cat /kept; stat -c %u:%g /kept; ls -d /home",
    ]));
    assert_eq!(stdout(&ran), "kept\n1000:1000\n", "{}", stderr(&ran));
    assert!(stderr(&ran).contains("/home"), "{}", stderr(&ran));
    assert!(run(&mut home.hoist(&["rm", &name])).status.success());
}
