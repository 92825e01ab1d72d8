//! `hoist unpack`: exact trees, verified layers, hostile layers confined, nothing half-made.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use hoist_e2e::image::{write_image, Lies, Tar};
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, tree_summary, unpack_fixture};

fn unpack(scratch: &Path, image: &str, bundle: &Path) -> std::process::Output {
    run(hoist(scratch)
        .arg("unpack")
        .arg("--image")
        .arg(image)
        .arg(bundle))
}

#[test]
fn whiteouts_opaque_dirs_and_links_are_applied_like_overlayfs() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let bundle = dir.path().join("bundle");
    unpack_fixture(&env, dir.path(), "layers-latest", &bundle);
    let rootfs = bundle.join("rootfs");
    let exists = |p: &str| rootfs.join(p).symlink_metadata().is_ok();
    assert!(exists("data/keep"));
    assert!(
        !exists("data/remove-me"),
        "a whiteout removes the lower file"
    );
    assert!(
        !exists("data/remove-dir"),
        "a whiteout removes a lower directory with its contents"
    );
    assert!(
        !exists("opq/old") && !exists("opq/old-dir"),
        "an opaque whiteout empties the lower directory"
    );
    assert!(
        exists("opq/new"),
        "the opaque directory keeps its own layer's entries"
    );
    assert!(
        !exists("opq/.wh..wh..opq") && !exists("data/.wh.remove-me"),
        "whiteout markers are not files"
    );

    let ino = |p: &str| rootfs.join(p).metadata().unwrap().ino();
    assert_eq!(ino("links/hard"), ino("links/target"));
    assert_eq!(
        ino("links/hard-to-lower"),
        ino("lower/target"),
        "a hardlink to a lower layer's file"
    );
    assert_eq!(rootfs.join("links/target").metadata().unwrap().nlink(), 2);
    assert_eq!(
        std::fs::read_link(rootfs.join("links/relative")).unwrap(),
        Path::new("target")
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("links/absolute")).unwrap(),
        Path::new("/links/target")
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("links/dangling")).unwrap(),
        Path::new("/nowhere")
    );
    assert!(rootfs
        .join("links/fifo")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_fifo_like());

    let lower = rootfs.join("lower/target").metadata().unwrap();
    assert_eq!(
        (lower.uid(), lower.gid(), lower.mode() & 0o7777),
        (1000, 1000, 0o640)
    );
    assert_eq!(
        rootfs.join("bin/setuid-tool").metadata().unwrap().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert_eq!(
        rootfs.join("tmp").metadata().unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        rootfs.join("links/target").metadata().unwrap().mtime(),
        1_700_000_000
    );
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn the_tree_is_the_one_umoci_makes() {
    let Some(env) = env() else { return };
    if !hoist_e2e::is_root() {
        return;
    }
    let dir = scratch();
    for image in ["busybox-latest", "layers-latest", "zstd-latest"] {
        let ours = dir.path().join(format!("hoist-{image}"));
        unpack_fixture(&env, dir.path(), image, &ours);
        let theirs = dir.path().join(format!("umoci-{image}"));
        let output = run(Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{image}", env.fixtures.display()))
            .arg(&theirs));
        if image == "zstd-latest" && !output.status.success() {
            // umoci 0.4.7 predates zstd layers; hoist's own zstd test covers those.
            continue;
        }
        assert!(output.status.success(), "umoci: {}", stderr(&output));
        let (ours, theirs) = (
            tree_summary(&ours.join("rootfs")),
            tree_summary(&theirs.join("rootfs")),
        );
        let differences: Vec<String> = ours
            .keys()
            .chain(theirs.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|path| ours.get(*path) != theirs.get(*path))
            .map(|path| {
                format!(
                    "{}:\n  hoist: {:?}\n  umoci: {:?}",
                    path.display(),
                    ours.get(path),
                    theirs.get(path)
                )
            })
            .collect();
        assert!(
            differences.is_empty(),
            "{image}: hoist and umoci differ:\n{}",
            differences.join("\n")
        );
    }
}

#[test]
fn unpacks_the_layout_skopeo_writes() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("skopeo-layout");
    expect_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/layers:latest", env.registry))
            .arg(format!("oci:{}:layers", layout.display())),
    );
    let bundle = dir.path().join("bundle");
    expect_ok(
        hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(format!("oci:{}:layers", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("opq/new").is_file() && !rootfs.join("opq/old").exists());
    assert!(!rootfs.join("data/remove-me").exists() && rootfs.join("data/keep").is_file());
}

#[test]
fn zstd_layers_and_platform_choice() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let bundle = dir.path().join("zstd");
    unpack_fixture(&env, dir.path(), "zstd-latest", &bundle);
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/compression")).unwrap(),
        "zstd\n"
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    let arm = dir.path().join("arm");
    let image = format!("{}:multiarch-latest", env.fixtures.display());
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--platform", "linux/arm/v7", "--image", &image])
            .arg(&arm),
    );
    assert_eq!(
        std::fs::read_to_string(arm.join("rootfs/platform")).unwrap(),
        "linux/arm/v7\n"
    );
    let missing = run(hoist(dir.path())
        .args(["unpack", "--platform", "linux/s390x", "--image", &image])
        .arg(dir.path().join("none")));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("linux/arm64"),
        "the error lists the platforms: {}",
        stderr(&missing)
    );
    assert!(!dir.path().join("none").exists());
}

#[test]
fn config_json_follows_the_image_config() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let bundle = dir.path().join("bundle");
    unpack_fixture(&env, dir.path(), "busybox-latest", &bundle);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(config["root"]["path"], "rootfs");
    assert!(config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().starts_with("PATH=")));
    assert_eq!(
        config["annotations"]["org.opencontainers.image.title"],
        "busybox"
    );
    assert_eq!(
        config["annotations"]["org.opencontainers.image.architecture"],
        hoist_oci::Platform::host().architecture
    );
    let masked = config["linux"]["maskedPaths"].as_array().unwrap();
    assert!(
        masked.iter().any(|p| p == "/proc/kcore"),
        "masks are on by default"
    );
    let namespaces: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for ns in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(
            namespaces.contains(&ns),
            "{ns} namespace missing: {namespaces:?}"
        );
    }
}

#[test]
fn a_wrong_diff_id_fails_and_leaves_no_bundle() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    write_image(
        &layout,
        "bad",
        &[Tar::default().file("hello", b"hi").finish()],
        Lies {
            wrong_diff_id: true,
            ..Lies::default()
        },
    );
    let bundle = dir.path().join("bundle");
    let output = unpack(dir.path(), &format!("{}:bad", layout.display()), &bundle);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("diff_id"), "{}", stderr(&output));
    assert_no_bundle(dir.path(), &bundle);
}

#[test]
fn a_truncated_layer_fails_and_leaves_no_bundle() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    write_image(
        &layout,
        "cut",
        &[Tar::default().file("big", &big).finish()],
        Lies {
            truncate_blob: 100,
            ..Lies::default()
        },
    );
    let bundle = dir.path().join("bundle");
    let output = unpack(dir.path(), &format!("{}:cut", layout.display()), &bundle);
    assert_eq!(output.status.code(), Some(1));
    assert_no_bundle(dir.path(), &bundle);
}

/// A tar may stop right after its last entry's data (no padding, no end-of-archive blocks, as
/// `umoci insert` writes), also when a PAX record gave that entry its size; and bytes after
/// the end-of-archive blocks are no entry. Go's archive/tar accepts all three.
#[test]
fn a_tar_cut_after_its_last_data_or_with_bytes_after_its_end_unpacks() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    let mut several = Tar::default()
        .file("a", b"abc")
        .file("b", &[b'b'; 700])
        .finish();
    several.truncate(1024 + 512 + 700);
    let mut pax_sized = tar::Builder::new(Vec::new());
    pax_sized
        .append_pax_extensions([("size", &b"600"[..])])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_path("p").unwrap();
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(0);
    header.set_cksum();
    pax_sized.append(&header, &[b'p'; 600][..]).unwrap();
    let mut pax_sized = pax_sized.into_inner().unwrap();
    pax_sized.truncate(1024 + 512 + 600);
    let mut trailing = Tar::default().file("t", b"t").finish();
    trailing.extend_from_slice(b"bytes after the end of the archive");
    for (tag, layer, file, content) in [
        ("several", several, "b", vec![b'b'; 700]),
        ("pax-sized", pax_sized, "p", vec![b'p'; 600]),
        ("trailing", trailing, "t", b"t".to_vec()),
    ] {
        write_image(&layout, tag, &[layer], Lies::default());
        let bundle = dir.path().join(tag);
        let output = unpack(dir.path(), &format!("{}:{tag}", layout.display()), &bundle);
        assert!(output.status.success(), "{tag}: {}", stderr(&output));
        assert_eq!(
            std::fs::read(bundle.join("rootfs").join(file)).unwrap(),
            content,
            "{tag}"
        );
    }
}

/// A tar that stops inside an entry's data or inside a header lacks content, whatever its
/// digests say (they are computed here over the cut stream, so only the tar shows it). Only
/// the last entry's padding and the end-of-archive blocks may be missing (compat.rs).
#[test]
fn a_tar_cut_inside_an_entry_or_a_header_fails_though_its_digests_vouch_for_it() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    let data = Tar::default().file("data", &[7u8; 2000]).finish();
    let two = Tar::default()
        .file("first", b"1")
        .file("second", b"2")
        .finish();
    for (tag, cut, says) in [
        (
            "in-data",
            data[..512 + 1000].to_vec(),
            "inside the data of the entry \"data\"",
        ),
        (
            "in-header",
            two[..1024 + 300].to_vec(),
            "300 bytes into the 512-byte block at byte 1024",
        ),
    ] {
        write_image(&layout, tag, &[cut], Lies::default());
        let bundle = dir.path().join(tag);
        let output = unpack(dir.path(), &format!("{}:{tag}", layout.display()), &bundle);
        assert_eq!(output.status.code(), Some(1), "{tag}");
        assert!(stderr(&output).contains(says), "{tag}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("truncated"),
            "{tag}: {}",
            stderr(&output)
        );
        assert_no_bundle(dir.path(), &bundle);
    }
}

#[test]
fn an_existing_bundle_is_not_touched() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    write_image(
        &layout,
        "ok",
        &[Tar::default().file("hello", b"hi").finish()],
        Lies::default(),
    );
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("mine"), b"keep me").unwrap();
    let output = unpack(dir.path(), &format!("{}:ok", layout.display()), &bundle);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(bundle.join("mine")).unwrap(), b"keep me");
    // An empty directory is fine, as with umoci.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--image"])
            .arg(format!("{}:ok", layout.display()))
            .arg(&empty),
    );
    assert_eq!(std::fs::read(empty.join("rootfs/hello")).unwrap(), b"hi");
}

#[test]
fn hostile_entries_never_write_outside_the_rootfs() {
    let dir = scratch();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let outside_str = outside.display().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            Tar::default()
                .file(&format!("../../../../../../..{outside_str}/dotdot"), b"x")
                .finish(),
        ),
        (
            "absolute",
            Tar::default()
                .file(&format!("{outside_str}/absolute"), b"x")
                .finish(),
        ),
        (
            "symlink-then-write",
            Tar::default()
                .symlink("escape", &outside_str)
                .file("escape/through-link", b"x")
                .finish(),
        ),
        (
            "symlink-then-overwrite",
            Tar::default()
                .symlink("victim", &format!("{outside_str}/victim"))
                .file("victim", b"overwritten")
                .finish(),
        ),
        (
            "hardlink-out",
            Tar::default()
                .hardlink("stolen", &format!("{outside_str}/victim"))
                .finish(),
        ),
        (
            "hardlink-through-symlink",
            Tar::default()
                .symlink("dir", &outside_str)
                .hardlink("stolen", "dir/victim")
                .finish(),
        ),
        (
            "whiteout-out",
            Tar::default()
                .file(&format!("../../../..{outside_str}/.wh.victim"), b"")
                .finish(),
        ),
        (
            "root-becomes-symlink",
            Tar::default()
                .symlink(".", &outside_str)
                .file("after", b"x")
                .finish(),
        ),
    ];
    // Every case through the kernel's openat2(RESOLVE_IN_ROOT) and through the user-space
    // walk that stands in where openat2 is missing or blocked.
    let resolvers = [None, Some("HOIST_RESOLVE_IN_USERSPACE")];
    for ((name, layer), resolver) in cases
        .iter()
        .flat_map(|case| resolvers.iter().map(move |r| (case, r)))
    {
        let name = format!(
            "{name}{}",
            if resolver.is_some() { "-userspace" } else { "" }
        );
        let layout = dir.path().join(format!("layout-{name}"));
        write_image(
            &layout,
            "evil",
            std::slice::from_ref(layer),
            Lies::default(),
        );
        let bundle = dir.path().join(format!("bundle-{name}"));
        let mut command = hoist(dir.path());
        command
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:evil", layout.display()))
            .arg(&bundle);
        if let Some(variable) = resolver {
            command.env(variable, "1");
        }
        let output = run(&mut command);
        let mut found: Vec<String> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(
            found,
            ["victim"],
            "{name}: something was written outside the rootfs"
        );
        assert_eq!(
            std::fs::read(outside.join("victim")).unwrap(),
            b"original",
            "{name}: the victim was changed"
        );
        assert_eq!(
            outside.join("victim").metadata().unwrap().nlink(),
            1,
            "{name}: the victim was hardlinked"
        );
        // `..` and a leading `/` are clamped at the root, as if extracted with it as `/`.
        for clamped in ["dotdot", "absolute"] {
            if name.starts_with(clamped) {
                assert!(output.status.success(), "{name}: {}", stderr(&output));
                let inside = bundle
                    .join("rootfs")
                    .join(outside_str.trim_start_matches('/'))
                    .join(clamped);
                assert_eq!(std::fs::read(&inside).unwrap(), b"x", "{name}");
            }
        }
        if output.status.success() {
            // Confined: whatever the entry did, it did inside the rootfs.
            assert!(bundle.join("rootfs").is_dir(), "{name}");
        } else {
            assert_no_bundle(dir.path(), &bundle);
            let message = stderr(&output);
            assert!(
                message.contains("entry") || message.contains("layer"),
                "{name}: the error names the entry: {message}"
            );
        }
    }
}

fn assert_no_bundle(scratch: &Path, bundle: &Path) {
    assert!(
        !bundle.exists(),
        "a failed unpack left {}",
        bundle.display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(bundle.parent().unwrap())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with(".hoist-unpack").then_some(name)
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories left in {}: {leftovers:?}",
        scratch.display()
    );
}

#[test]
fn what_a_killed_unpack_left_is_removed_by_the_next_one_beside_it() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let (image, put_back) = hoist_e2e::layout_with_a_waiting_layer(&env, dir.path());
    let bundles = dir.path().join("bundles");
    std::fs::create_dir(&bundles).unwrap();
    let leftovers = || hoist_e2e::named(&bundles, ".hoist-unpack-");
    hoist_e2e::kill_at_work(
        hoist(dir.path())
            .args(["unpack", "--image", &image])
            .arg(bundles.join("first")),
        || leftovers() == 1,
    );
    put_back();
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--image", &image])
            .arg(bundles.join("second")),
    );
    assert_eq!(leftovers(), 0, "the next unpack there removed it");
    assert!(bundles.join("second/rootfs/bin/busybox").exists());
    assert!(!bundles.join("first").exists());
}

#[test]
fn what_a_killed_run_left_in_the_layer_cache_is_removed_by_the_next_run() {
    let Some(env) = env() else { return };
    if !hoist_e2e::is_root() {
        return;
    }
    let dir = scratch();
    let (image, put_back) = hoist_e2e::layout_with_a_waiting_layer(&env, dir.path());
    let image = format!("oci:{image}");
    let layers = dir.path().join("hoist-root/layers");
    let leftovers = || hoist_e2e::named(&layers, ".staging-");
    let run = |dir: &Path| {
        let mut command = hoist(dir);
        command.args(["run", "--rm", "--network=none", &image, "true"]);
        command
    };
    hoist_e2e::kill_at_work(&mut run(dir.path()), || leftovers() == 1);
    put_back();
    expect_ok(&mut run(dir.path()));
    assert_eq!(leftovers(), 0, "the next run removed it");
}
