//! A full disk: pull, copy and unpack fail saying so and what to do, keep nothing half-written,
//! and the same commands succeed once there is room.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hoist_e2e::{
    busybox_bundle, edit_config, env, expect_ok, hoist, is_root, run, run_bundle, scratch, stderr,
    unique_id,
};

/// A tmpfs of a chosen size, mounted for one test and unmounted when dropped.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: PathBuf, size: &str) -> SmallFs {
        std::fs::create_dir_all(&dir).unwrap();
        expect_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&dir),
        );
        SmallFs { dir }
    }

    fn resize(&self, size: &str) {
        expect_ok(
            Command::new("mount")
                .args(["-o", &format!("remount,size={size}")])
                .arg(&self.dir),
        );
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A failure of `what` (exit `code`: podman's 125, or 1 for skopeo's and umoci's verbs) that
/// says the disk is full and what to do.
fn assert_full_disk_failure(output: &Output, what: &str, code: i32) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{what}: {message}");
    assert!(
        message.contains("No space left on device") && message.contains("free space"),
        "{what} should say the disk is full and what to do: {message}"
    );
}

/// Files under `dir` whose names mark them unfinished.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".partial-") || name.starts_with(".hoist-") {
                found.push(entry.path());
            } else if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    found
}

fn manifests(layout: &Path) -> usize {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_full_disk_fails_cleanly_and_the_same_commands_succeed_after() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    // Smaller than busybox's one layer (~1 MiB compressed, ~2 MiB unpacked).
    let small = SmallFs::mount(dir.path().join("small"), "512k");
    let pulled = small.dir.join("pulled");
    let copied = small.dir.join("copied");
    let bundle = small.dir.join("bundle");
    let reference = format!("{}/busybox:latest", env.registry);
    let fixture = format!("oci:{}:busybox-latest", env.fixtures.display());
    let pull = || {
        run(hoist(dir.path())
            .args([
                "pull",
                "--tls-verify=false",
                "--quiet",
                &reference,
                "--dest",
            ])
            .arg(format!("oci:{}", pulled.display())))
    };
    let copy = || {
        run(hoist(dir.path())
            .args(["copy", "--quiet", &fixture])
            .arg(format!("oci:{}", copied.display())))
    };
    let unpack = || {
        run(hoist(dir.path())
            .args(["unpack", "--image"])
            .arg(format!("{}:busybox-latest", env.fixtures.display()))
            .arg(&bundle))
    };

    assert_full_disk_failure(&pull(), "pull", 125);
    assert_eq!(manifests(&pulled), 0, "a failed pull names no image");
    assert_full_disk_failure(&copy(), "copy", 1);
    assert_eq!(manifests(&copied), 0, "a failed copy names no image");
    assert_full_disk_failure(&unpack(), "unpack", 1);
    assert!(!bundle.exists(), "a failed unpack leaves no bundle");
    assert_eq!(leftovers(&small.dir), Vec::<PathBuf>::new());

    small.resize("32m");
    for (what, output) in [("pull", pull()), ("copy", copy()), ("unpack", unpack())] {
        assert!(output.status.success(), "{what}: {}", stderr(&output));
    }
    assert_eq!(manifests(&pulled), 1);
    assert_eq!(manifests(&copied), 1);
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert_eq!(leftovers(&small.dir), Vec::<PathBuf>::new());
}

/// A writer killed mid-blob leaves its partial file for a pull to resume; a copy from a whole
/// source (another layout, a manifest in memory) must start that blob over, not append to it.
#[test]
fn a_partial_blob_left_behind_does_not_break_a_later_copy() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let copied = dir.path().join("copied");
    let fixture = format!("oci:{}:busybox-latest", env.fixtures.display());
    let copy = || {
        expect_ok(
            hoist(dir.path())
                .args(["copy", "--quiet", &fixture])
                .arg(format!("oci:{}", copied.display())),
        )
    };
    copy();
    let blobs = copied.join("blobs/sha256");
    let names: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 3, "manifest, config and layer: {names:?}");
    // Each blob turned back into the beginning of itself, as a killed writer leaves it.
    for name in &names {
        let path = blobs.join(name);
        let content = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(
            blobs.join(format!(".partial-{name}")),
            &content[..content.len() / 2],
        )
        .unwrap();
    }
    copy();
    for name in &names {
        let content = std::fs::read(blobs.join(name)).unwrap();
        assert_eq!(
            hoist_oci::Digest::of(&content).hex(),
            name,
            "{name} was rebuilt whole"
        );
    }
    assert_eq!(leftovers(&copied), Vec::<PathBuf>::new());
}

/// A container's init that runs out of room (making a mount point in a rootfs with no inode
/// left) reports the system error across the fork, so the runtime's caller gets the same advice
/// as from any other command, found by its errno rather than by reading the message.
#[test]
fn a_full_rootfs_fails_the_container_with_the_full_disk_advice() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let rootfs = dir.path().join("full-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    expect_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,nr_inodes=8", "tmpfs"])
            .arg(&rootfs),
    );
    let _small = SmallFs {
        dir: rootfs.clone(),
    };
    for i in 0.. {
        if std::fs::write(rootfs.join(format!("filler-{i}")), b"x").is_err() {
            break;
        }
    }
    edit_config(&bundle, |c| c["root"]["path"] = serde_json::json!(rootfs));
    let output = run_bundle(dir.path(), &bundle, &unique_id("full"));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("No space left on device") && message.contains("free space"),
        "the error should say the disk is full and what to do: {message}"
    );
}
