//! `hoist unpack` applies every kind of entry exactly: devices, xattrs, long names, whiteouts in
//! any order within a layer, and stops a decompression bomb.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use hoist_e2e::image::{write_image, write_image_with_config, Lies, Tar};
use hoist_e2e::xattr;
use hoist_e2e::{expect_ok, hoist, is_root, run, scratch, stderr};

fn unpack_layers(scratch: &Path, layers: &[Vec<u8>]) -> std::path::PathBuf {
    let layout = scratch.join("layout");
    write_image(&layout, "t", layers, Lies::default());
    let bundle = scratch.join("bundle");
    expect_ok(
        hoist(scratch)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:t", layout.display()))
            .arg(&bundle),
    );
    bundle.join("rootfs")
}

#[test]
fn device_nodes_keep_their_numbers() {
    if !is_root() {
        return;
    }
    let dir = scratch();
    let rootfs = unpack_layers(
        dir.path(),
        &[Tar::default()
            .dir("dev")
            .device("dev/null", 'c', 1, 3)
            .device("dev/loop9", 'b', 7, 9)
            .finish()],
    );
    let null = rootfs.join("dev/null").symlink_metadata().unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
    assert_eq!(null.mode() & 0o7777, 0o640);
    let loop9 = rootfs.join("dev/loop9").symlink_metadata().unwrap();
    assert!(loop9.file_type().is_block_device());
    assert_eq!(
        (libc::major(loop9.rdev()), libc::minor(loop9.rdev())),
        (7, 9)
    );
}

#[test]
fn xattrs_including_file_capabilities_are_set() {
    if !is_root() {
        return;
    }
    let dir = scratch();
    // security.capability v2: cap_net_raw+ep.
    let capability: &[u8] = &[
        0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let rootfs = unpack_layers(
        dir.path(),
        &[Tar::default()
            .file_with_xattrs(
                "ping",
                b"#!/bin/sh\n",
                &[("security.capability", capability), ("user.note", b"hello")],
            )
            .finish()],
    );
    assert_eq!(
        xattr(&rootfs.join("ping"), "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr(&rootfs.join("ping"), "security.capability").as_deref(),
        Some(capability)
    );
}

#[test]
fn long_names_and_long_link_targets_survive() {
    let dir = scratch();
    let deep = format!("{}/{}", "d".repeat(90), "f".repeat(120));
    let target = format!("/{}", "t".repeat(150));
    let rootfs = unpack_layers(
        dir.path(),
        &[Tar::default()
            .long_file(&deep, b"deep")
            .long_symlink("link", &target)
            .finish()],
    );
    assert_eq!(std::fs::read(rootfs.join(&deep)).unwrap(), b"deep");
    assert_eq!(
        std::fs::read_link(rootfs.join("link")).unwrap(),
        Path::new(&target)
    );
}

#[test]
fn whiteouts_in_the_same_layer_hide_only_lower_layers_in_any_order() {
    let dir = scratch();
    let lower = Tar::default()
        .dir("a")
        .file("a/before", b"lower")
        .file("a/after", b"lower")
        .file("a/gone", b"lower")
        .dir("o")
        .file("o/old", b"lower")
        .finish();
    let upper = Tar::default()
        .whiteout("a/before")
        .file("a/before", b"upper")
        .file("a/after", b"upper")
        .whiteout("a/after")
        .whiteout("a/gone")
        .file("o/new", b"upper")
        .opaque("o")
        .finish();
    let rootfs = unpack_layers(dir.path(), &[lower, upper]);
    assert_eq!(
        std::fs::read(rootfs.join("a/before")).unwrap(),
        b"upper",
        "whiteout first, then the file"
    );
    assert_eq!(
        std::fs::read(rootfs.join("a/after")).unwrap(),
        b"upper",
        "the file first, then its whiteout"
    );
    assert!(!rootfs.join("a/gone").exists());
    assert_eq!(
        std::fs::read(rootfs.join("o/new")).unwrap(),
        b"upper",
        "an opaque marker after the layer's own entry"
    );
    assert!(!rootfs.join("o/old").exists());
}

#[test]
fn a_file_replaces_a_directory_and_a_directory_a_file() {
    let dir = scratch();
    let lower = Tar::default()
        .dir("x")
        .file("x/inside", b"1")
        .file("y", b"file")
        .finish();
    let upper = Tar::default()
        .file("x", b"now a file")
        .dir("y")
        .file("y/inside", b"2")
        .finish();
    let rootfs = unpack_layers(dir.path(), &[lower, upper]);
    assert_eq!(std::fs::read(rootfs.join("x")).unwrap(), b"now a file");
    assert_eq!(std::fs::read(rootfs.join("y/inside")).unwrap(), b"2");
}

#[test]
fn a_decompression_bomb_stops_at_the_size_limit_and_leaves_nothing() {
    let dir = scratch();
    let layout = dir.path().join("layout");
    let zeros = vec![0u8; 4 << 20];
    write_image(
        &layout,
        "bomb",
        &[Tar::default().file("zeros", &zeros).finish()],
        Lies::default(),
    );
    let bundle = dir.path().join("bundle");
    let output = run(hoist(dir.path())
        .args(["unpack", "--max-size", "1M", "--image"])
        .arg(format!("{}:bomb", layout.display()))
        .arg(&bundle));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--max-size"),
        "{}",
        stderr(&output)
    );
    assert!(!bundle.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".hoist-unpack")
        })
        .collect();
    assert!(leftovers.is_empty());
    // The same image within a generous limit unpacks.
    expect_ok(
        hoist(dir.path())
            .args(["unpack", "--max-size", "64M", "--image"])
            .arg(format!("{}:bomb", layout.display()))
            .arg(&bundle),
    );
}

#[test]
fn uid_and_gid_maps_shift_ownership() {
    if !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(1000);
    header.set_gid(1000);
    header.set_size(2);
    tar.append_data(&mut header, "owned", &b"hi"[..]).unwrap();
    write_image(&layout, "t", &[tar.into_inner().unwrap()], Lies::default());
    let bundle = dir.path().join("bundle");
    expect_ok(
        hoist(dir.path())
            .args([
                "unpack",
                "--uid-map",
                "0:100000:65536",
                "--gid-map",
                "0:200000:65536",
                "--image",
            ])
            .arg(format!("{}:t", layout.display()))
            .arg(&bundle),
    );
    let meta = bundle.join("rootfs/owned").metadata().unwrap();
    assert_eq!((meta.uid(), meta.gid()), (101000, 201000));
    // An owner outside the map is an error, not a silent root-owned file.
    let output = run(hoist(dir.path())
        .args(["unpack", "--uid-map", "0:100000:10", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(dir.path().join("unmapped")));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("uid 1000"), "{}", stderr(&output));
}

#[test]
fn the_image_user_is_resolved_in_the_rootfs_and_bad_ids_are_refused() {
    let dir = scratch();
    let etc = Tar::default()
        .dir("etc")
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .file("etc/group", b"root:x:0:\napp:x:1001:\nextra:x:2000:app\n")
        .finish();
    let cases = [
        ("named", "app", Some((1000, 1001, vec![2000]))),
        ("numeric", "4242:7", Some((4242, 7, vec![]))),
        ("unknown", "nobody-here", None),
        ("out-of-range", "4294967296", None),
        ("minus-one", "4294967295", None),
    ];
    for (name, user, expected) in cases {
        let layout = dir.path().join(format!("layout-{name}"));
        let config = serde_json::json!({ "User": user, "Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "WorkingDir": "/srv", "Env": ["A=1"] });
        write_image_with_config(
            &layout,
            "t",
            std::slice::from_ref(&etc),
            Lies::default(),
            config,
        );
        let bundle = dir.path().join(format!("bundle-{name}"));
        let output = run(hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:t", layout.display()))
            .arg(&bundle));
        match expected {
            Some((uid, gid, additional)) => {
                assert!(output.status.success(), "{user}: {}", stderr(&output));
                let config: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap())
                        .unwrap();
                let process = &config["process"];
                assert_eq!(process["user"]["uid"], uid, "{user}");
                assert_eq!(process["user"]["gid"], gid, "{user}");
                let got: Vec<u64> = process["user"]["additionalGids"]
                    .as_array()
                    .map_or(vec![], |a| a.iter().map(|g| g.as_u64().unwrap()).collect());
                assert_eq!(got, additional, "{user}");
                assert_eq!(
                    process["args"],
                    serde_json::json!(["/bin/app", "--serve"]),
                    "args are Entrypoint + Cmd"
                );
                assert_eq!(process["cwd"], "/srv");
                let env: Vec<&str> = process["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect();
                assert!(
                    env.contains(&"A=1") && env.iter().any(|e| e.starts_with("PATH=")),
                    "{env:?}"
                );
            }
            None => {
                assert_eq!(output.status.code(), Some(1), "{user} must be refused");
                assert!(stderr(&output).contains(user), "{}", stderr(&output));
                assert!(!bundle.exists());
            }
        }
    }
}

/// Small files are written by a second thread while the stream is read on; what the layer says
/// happens in its order all the same: a later entry at a file's path replaces it, a file or a
/// symlink replaces a directory of files written just before, a hardlink finds its target,
/// modes and times are the entries' (hundreds of files, more than the writer queues at once).
#[test]
fn small_files_written_aside_keep_the_streams_order() {
    if !is_root() {
        return;
    }
    let dir = scratch();
    let mut layer = Tar::default();
    for d in 0..3 {
        layer = layer.dir(&format!("d{d}"));
        for f in 0..150 {
            layer = layer.file(&format!("d{d}/f{f}"), format!("{d}/{f}").as_bytes());
        }
    }
    // A directory of files just handed over, replaced by a symlink.
    layer = layer.dir("z");
    for f in 0..100 {
        layer = layer.file(&format!("z/f{f}"), b"gone with z");
    }
    let layer = layer
        .symlink("z", "d0")
        .file("dup", b"one")
        .file("dup", b"two")
        .file("x/inner", b"inside")
        .file("x", b"x is a file now")
        .file("y", b"y was a file")
        .dir("y")
        .file("y/in-y", b"in y")
        .file_mode("setuid", b"#!/bin/sh\n", 0o4755)
        .file("target", b"linked")
        .hardlink("link", "target")
        .finish();
    let rootfs = unpack_layers(dir.path(), &[layer]);
    for d in 0..3 {
        for f in [0, 77, 149] {
            let file = rootfs.join(format!("d{d}/f{f}"));
            assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{d}/{f}"));
            let meta = file.metadata().unwrap();
            assert_eq!((meta.mode() & 0o7777, meta.mtime()), (0o644, 1_700_000_000));
        }
        assert_eq!(
            std::fs::read_dir(rootfs.join(format!("d{d}")))
                .unwrap()
                .count(),
            150
        );
        let times = rootfs.join(format!("d{d}")).metadata().unwrap().mtime();
        assert_eq!(times, 1_700_000_000, "d{d}'s time is its entry's");
    }
    assert_eq!(
        std::fs::read_link(rootfs.join("z")).unwrap(),
        Path::new("d0")
    );
    assert_eq!(std::fs::read_to_string(rootfs.join("dup")).unwrap(), "two");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("x")).unwrap(),
        "x is a file now"
    );
    assert!(rootfs.join("y").is_dir());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("y/in-y")).unwrap(),
        "in y"
    );
    let setuid = rootfs.join("setuid").metadata().unwrap();
    assert_eq!(setuid.mode() & 0o7777, 0o4755);
    let (target, link) = (
        rootfs.join("target").metadata().unwrap(),
        rootfs.join("link").metadata().unwrap(),
    );
    assert_eq!(target.ino(), link.ino());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("link")).unwrap(),
        "linked"
    );
}
