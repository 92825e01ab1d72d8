//! Images built as attacks on whoever unpacks and runs them, and what hoist must do with each
//! (PAX header bombs are in `hostile_memory.rs`, a binary of their own, so its memory is not
//! shared with these): overlayfs xattrs that would reach the layer cache,
//! an owner record forged for rootless unpacks, labels that would steer the next runtime, a
//! store other users could read, a cache entry a crash left half-written, more layers than a
//! mount's options hold, and archives that lie about their blobs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hoist_e2e::image::{write_image, write_image_with_config, Lies, Tar};
use hoist_e2e::{
    env, expect_ok, hoist, is_root, run, run_detached, scratch, stderr, stdout, unpack_command,
    xattr,
};
use serde_json::json;

/// `hoist run --rm --network=none oci:LAYOUT:TAG ARGS...` with the scratch store.
fn run_image(scratch: &Path, layout: &Path, tag: &str, args: &[&str]) -> std::process::Output {
    run(hoist(scratch)
        .args(["run", "--rm", "--network=none"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .args(args))
}

/// A layer holding the host's static busybox as /bin/busybox, so images made here can run.
fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    Tar::default()
        .dir("bin")
        .file_mode("bin/busybox", &busybox, 0o755)
        .finish()
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            }
            if !kind.is_symlink() {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn overlay_xattrs_from_a_layer_never_reach_the_disk() {
    if env().is_none() || !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let layer = Tar::default()
        .dir("d")
        .file_with_xattrs(
            "d/file",
            b"content",
            &[
                ("trusted.overlay.redirect", b"/etc"),
                ("trusted.overlay.opaque", b"y"),
                ("user.overlay.whiteout", b"y"),
                ("user.kept", b"benign"),
            ],
        )
        .finish();
    write_image(
        &layout,
        "xattrs",
        &[busybox_layer(), layer],
        Lies::default(),
    );

    // A full unpack into a bundle.
    let bundle = dir.path().join("bundle");
    expect_ok(&mut unpack_command(dir.path(), &layout, "xattrs", &bundle));
    let file = bundle.join("rootfs/d/file");
    assert_eq!(xattr(&file, "user.kept").as_deref(), Some(&b"benign"[..]));
    for name in [
        "trusted.overlay.redirect",
        "trusted.overlay.opaque",
        "user.overlay.whiteout",
    ] {
        assert_eq!(xattr(&file, name), None, "{name} reached the bundle");
    }

    // The layer cache that `run IMAGE` builds and mounts as overlay lower directories.
    let output = run_image(
        dir.path(),
        &layout,
        "xattrs",
        &["/bin/busybox", "cat", "/d/file"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "content");
    let cache = dir.path().join("hoist-root/layers");
    for path in files_under(&cache) {
        for name in ["trusted.overlay.redirect", "user.overlay.whiteout"] {
            assert_eq!(xattr(&path, name), None, "{name} on {}", path.display());
        }
    }
}

#[test]
fn a_forged_rootless_owner_record_does_not_replace_the_one_hoist_writes() {
    if env().is_none() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    // The image claims, in the xattr a rootless runtime trusts, that the file is uid 5's; its
    // tar header says uid 0 — which is what hoist records (no record, for root).
    let layer = Tar::default()
        .file_with_xattrs(
            "claimed",
            b"x",
            &[("user.rootlesscontainers", &[0x08, 0x05][..])],
        )
        .finish();
    write_image(&layout, "forged", &[layer], Lies::default());
    let bundle = dir.path().join("bundle");
    expect_ok(unpack_command(dir.path(), &layout, "forged", &bundle).arg("--rootless"));
    assert_eq!(
        xattr(&bundle.join("rootfs/claimed"), "user.rootlesscontainers"),
        None,
        "the image's own owner record was kept"
    );
}

#[test]
fn labels_that_steer_runtimes_stay_out_of_the_bundle_unless_asked_for() {
    if env().is_none() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let labels = json!({
        "org.systemd.property.CPUQuota": "1%",
        "org.systemd.property.ExecStopPost": "/bin/sh -c 'touch /tmp/owned'",
        "run.oci.keep_original_groups": "1",
        "com.example.harmless": "yes",
    });
    write_image_with_config(
        &layout,
        "labels",
        &[Tar::default().file("f", b"x").finish()],
        Lies::default(),
        json!({ "Cmd": ["sh"], "Labels": labels }),
    );
    let annotations = |bundle: &Path| -> serde_json::Value {
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        config["annotations"].clone()
    };

    let bundle = dir.path().join("default");
    expect_ok(&mut unpack_command(dir.path(), &layout, "labels", &bundle));
    let kept = annotations(&bundle);
    assert_eq!(kept["com.example.harmless"], "yes");
    for key in [
        "org.systemd.property.CPUQuota",
        "org.systemd.property.ExecStopPost",
        "run.oci.keep_original_groups",
    ] {
        assert!(kept.get(key).is_none(), "{key} reached config.json: {kept}");
    }

    let bundle = dir.path().join("asked");
    expect_ok(unpack_command(dir.path(), &layout, "labels", &bundle).arg("--runtime-labels"));
    let all = annotations(&bundle);
    assert_eq!(all["org.systemd.property.CPUQuota"], "1%");
    assert_eq!(all["run.oci.keep_original_groups"], "1");
}

#[test]
fn another_local_user_cannot_reach_the_store_or_a_container_rootfs() {
    if env().is_none() || !is_root() {
        return;
    }
    let dir = scratch();
    // Every directory above the store is open to all, and the store itself was made open
    // (by hand, or by an older hoist): hoist must close it, not trust its parent.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("hoist-root");
    std::fs::create_dir(&store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
    let layout = dir.path().join("layout");
    // A setuid-root copy of busybox, as a container could leave in its rootfs.
    let setuid = Tar::default()
        .file_mode(
            "bin/suid-busybox",
            &std::fs::read("/bin/busybox").unwrap(),
            0o4755,
        )
        .finish();
    write_image(&layout, "suid", &[busybox_layer(), setuid], Lies::default());
    let name = hoist_e2e::unique_id("private");
    let (status, err) = run_detached(
        hoist(dir.path())
            .args(["run", "-d", "--network=none", "--name", &name])
            .arg(format!("oci:{}:suid", layout.display()))
            .args(["/bin/busybox", "sleep", "30"]),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let _cleanup = RemoveOnDrop(dir.path().to_path_buf(), name.clone());

    let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the store is {mode:o}");
    let suid = store.join(format!("containers/{name}/rootfs/bin/suid-busybox"));
    assert!(
        suid.exists(),
        "the container's rootfs is where hoist keeps it"
    );
    let as_nobody = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&suid)
        .args(["true"]));
    assert!(
        !as_nobody.status.success(),
        "nobody ran a container's setuid file through the host's path"
    );
    let listing = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ls"])
        .arg(store.join("images/blobs/sha256")));
    assert!(!listing.status.success(), "nobody listed the store's blobs");
}

/// Removes a detached container when dropped.
struct RemoveOnDrop(PathBuf, String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = hoist(&self.0)
            .args(["rm", "-f", &self.1])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_cache_entry_a_crash_left_half_written_is_rebuilt_not_trusted() {
    if env().is_none() || !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let data = Tar::default().file("data", b"every byte\n").finish();
    write_image(&layout, "crash", &[busybox_layer(), data], Lies::default());
    let cat = ["/bin/busybox", "cat", "/data"];
    let first = run_image(dir.path(), &layout, "crash", &cat);
    assert_eq!(stdout(&first), "every byte\n", "{}", stderr(&first));

    // What a power cut after an unsynced rename leaves: the entries are there, their files
    // empty, and (where hoist keeps one) no completion marker.
    let cache = dir.path().join("hoist-root/layers");
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(entries.len(), 2, "one cache entry per layer");
    for entry in &entries {
        let _ = std::fs::remove_file(entry.join("complete"));
        for path in files_under(entry) {
            if path.is_file() {
                std::fs::File::create(&path).unwrap(); // truncated
            }
        }
    }

    let second = run_image(dir.path(), &layout, "crash", &cat);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second), "every byte\n");
}

#[test]
fn an_image_of_128_layers_runs_over_overlayfs() {
    if env().is_none() || !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let mut layers = vec![busybox_layer()];
    layers.extend((1..128).map(|n| {
        Tar::default()
            .file(&format!("layer-{n}"), format!("{n}\n").as_bytes())
            .finish()
    }));
    write_image(&layout, "tall", &layers, Lies::default());
    let output = run_image(
        dir.path(),
        &layout,
        "tall",
        &["/bin/busybox", "cat", "/layer-1", "/layer-64", "/layer-127"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "1\n64\n127\n");
    let cached = std::fs::read_dir(dir.path().join("hoist-root/layers"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(cached, 128, "every layer was cached, none copied");
}

/// An archive (an OCI layout in a tar, as skopeo writes `oci-archive:`) made from `layout`.
fn archive_of(layout: &Path, file: &Path) {
    expect_ok(
        Command::new("tar")
            .arg("-C")
            .arg(layout)
            .arg("-cf")
            .arg(file)
            .args(["oci-layout", "index.json", "blobs"]),
    );
}

#[test]
fn an_archive_whose_blob_lies_about_its_digest_is_refused_and_staged_off_tmpdir() {
    if env().is_none() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let manifest = write_image(
        &layout,
        "docker.io/library/liar:1",
        &[Tar::default().file("f", b"honest").finish()],
        Lies::default(),
    );
    let good = dir.path().join("good.tar");
    archive_of(&layout, &good);
    // Loading stages under the store: a $TMPDIR that cannot be used does not matter.
    let loaded = run(hoist(dir.path())
        .env("TMPDIR", dir.path().join("no-such-dir"))
        .args(["load", "-i"])
        .arg(&good));
    assert!(loaded.status.success(), "{}", stderr(&loaded));

    // The same archive with the manifest's bytes changed under its name.
    let manifest_path = layout.join("blobs/sha256").join(
        manifest
            .digest()
            .to_string()
            .strip_prefix("sha256:")
            .unwrap(),
    );
    let mut bytes = std::fs::read(&manifest_path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&manifest_path, bytes).unwrap();
    let lying = dir.path().join("lying.tar");
    archive_of(&layout, &lying);
    let other = scratch();
    let refused = run(hoist(other.path()).args(["load", "-i"]).arg(&lying));
    assert_eq!(refused.status.code(), Some(125));
    assert!(
        stderr(&refused).contains("does not match its digest"),
        "{}",
        stderr(&refused)
    );
    let images = run(hoist(other.path()).args(["images", "-q"]));
    assert_eq!(stdout(&images).trim(), "", "nothing was loaded");
    let staging = other.path().join("hoist-root/tmp");
    assert_eq!(
        std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0),
        0,
        "the extraction was removed"
    );
}

/// A docker-archive names its files in `manifest.json`; links in it (podman links
/// `ID/layer.tar` to the layer) are names within the archive, never followed on the host. One
/// that points outside, absolute or by `..`, names nothing, and the archive is refused.
#[test]
fn a_docker_archive_cannot_make_a_layer_of_a_host_file() {
    let dir = scratch();
    let secret = dir.path().join("secret.tar");
    std::fs::write(
        &secret,
        Tar::default().file("stolen", b"host secret").finish(),
    )
    .unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": hoist_oci::Platform::host().architecture, "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [hoist_oci::Digest::of(&std::fs::read(&secret).unwrap()).to_string()] }
    }))
    .unwrap();
    let up = "../".repeat(20) + secret.to_str().unwrap().trim_start_matches('/');
    for (case, target) in [
        ("absolute", secret.to_str().unwrap()),
        ("dotdot", up.as_str()),
    ] {
        let manifest = serde_json::to_vec(&json!([{
            "Config": "config.json",
            "RepoTags": [format!("localhost/stolen:{case}")],
            "Layers": ["abc/layer.tar"],
        }]))
        .unwrap();
        let archive = dir.path().join(format!("{case}.tar"));
        let tar = Tar::default()
            .file("config.json", &config)
            .symlink("abc/layer.tar", target)
            .file("manifest.json", &manifest)
            .finish();
        std::fs::write(&archive, tar).unwrap();
        let output = run(hoist(dir.path()).args(["load", "-i"]).arg(&archive));
        assert_eq!(output.status.code(), Some(125), "{case}");
        assert!(
            stderr(&output).contains("\"abc/layer.tar\", which the archive does not hold"),
            "{case}: {}",
            stderr(&output)
        );
    }
    let images = run(hoist(dir.path()).args(["images", "-q"]));
    assert_eq!(stdout(&images).trim(), "", "nothing was loaded");
}

/// In an OCI archive a blob is a file: one that is a link (to a host file, say) is refused at
/// its entry, as before docker-archives were read.
#[test]
fn an_oci_archive_whose_blob_is_a_link_is_refused() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    write_image(
        &layout,
        "docker.io/library/linked:1",
        &[Tar::default().file("f", b"x").finish()],
        Lies::default(),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .replace(':', "/");
    let path = layout.join("blobs").join(&manifest);
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
    let archive = dir.path().join("linked.tar");
    archive_of(&layout, &archive);
    let output = run(hoist(dir.path()).args(["load", "-i"]).arg(&archive));
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("is a Symlink; an image archive holds only files"),
        "{}",
        stderr(&output)
    );
}
