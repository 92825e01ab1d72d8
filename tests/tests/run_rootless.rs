//! Containers run by an unprivileged user: a user namespace mapping the caller's own id (no
//! helper needed), or subordinate ids through newuidmap/newgidmap; no cgroup where the user may
//! not make one, and a clear error when the config asks for limits all the same.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use hoist_e2e::{
    assert_refused, edit_config, hoist_bin, is_root, run, scratch, set_args, stderr, stdout,
};
use serde_json::json;

/// Set up by `cargo xtask setup`, with ranges in /etc/subuid and /etc/subgid.
const ROOTLESS_USER: &str = "hoist-rootless";

/// The rootless user's uid, gid and first subordinate uid and gid.
fn rootless_user() -> Option<(u32, u32, u32, u32)> {
    let user = nix::unistd::User::from_name(ROOTLESS_USER).ok().flatten();
    let first_subordinate = |file: &str| -> Option<u32> {
        std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
            let mut fields = l.split(':');
            (fields.next()? == ROOTLESS_USER).then(|| fields.next()?.parse().ok())?
        })
    };
    let found = user.and_then(|u| {
        Some((
            u.uid.as_raw(),
            u.gid.as_raw(),
            first_subordinate("/etc/subuid")?,
            first_subordinate("/etc/subgid")?,
        ))
    });
    if found.is_none() {
        assert!(
            std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_none(),
            "no user {ROOTLESS_USER} with subordinate ids (cargo xtask setup makes one)"
        );
        eprintln!("skipped: no user {ROOTLESS_USER} with subordinate ids");
    }
    found
}

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
    let Some((uid, gid, sub_uid, sub_gid)) = rootless_user() else {
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
