//! `hoist unpack --rootless` run by an unprivileged user: no privileges needed, ownership kept
//! in xattrs, modes that would lock the unpacker out handled, devices left out and said so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use hoist_e2e::image::{write_image, Lies, Tar};
use hoist_e2e::xattr;
use hoist_e2e::{hoist_bin, is_root, run, scratch, stderr};

const NOBODY: u32 = 65534;

fn owned_by(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

#[test]
fn an_unprivileged_user_unpacks_with_ownership_recorded() {
    // Root is needed only to become another user for the test.
    if !is_root() {
        return;
    }
    let dir = scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let layout = dir.path().join("layout");
    let mut owned = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o640);
    header.set_uid(1000);
    header.set_gid(1001);
    header.set_mtime(1_700_000_000);
    header.set_size(5);
    owned
        .append_data(&mut header, "home/owned", &b"owned"[..])
        .unwrap();
    let lower = Tar::default()
        .dir_mode("ro", 0o555)
        .file("ro/inside", b"lower")
        .file("ro/gone", b"lower")
        .file_mode("secret", b"s3cret", 0o000)
        .dir("dev")
        .device("dev/null", 'c', 1, 3)
        .device("dev/weird", 'c', 250, 7)
        .dir("home")
        .finish();
    let upper = Tar::default()
        .whiteout("ro/gone")
        .file("ro/new", b"upper")
        .finish();
    write_image(
        &layout,
        "t",
        &[lower, owned.into_inner().unwrap(), upper],
        Lies::default(),
    );
    for entry in walk(&layout) {
        std::fs::set_permissions(
            &entry,
            std::fs::Permissions::from_mode(if entry.is_dir() { 0o755 } else { 0o644 }),
        )
        .unwrap();
    }
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    owned_by(&work, NOBODY);

    let bundle = work.join("bundle");
    let output = run(Command::new("setpriv")
        .args([
            "--reuid",
            &NOBODY.to_string(),
            "--regid",
            &NOBODY.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(hoist_bin())
        .env("HOIST_ROOT", work.join("store"))
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle));
    assert!(
        output.status.success(),
        "rootless unpack failed: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("dev/weird"),
        "skipped devices are reported: {}",
        stderr(&output)
    );

    let rootfs = bundle.join("rootfs");
    let owned = rootfs.join("home/owned").metadata().unwrap();
    assert_eq!(owned.uid(), NOBODY, "files belong to the unpacking user");
    assert_eq!(
        xattr(&rootfs.join("home/owned"), "user.rootlesscontainers").as_deref(),
        Some(&[0x08, 0xe8, 0x07, 0x10, 0xe9, 0x07][..]),
        "the image's owner 1000:1001 is recorded as umoci records it"
    );
    assert_eq!(
        rootfs.join("ro").metadata().unwrap().mode() & 0o7777,
        0o555,
        "the read-only dir ends read-only"
    );
    assert_eq!(
        std::fs::read(rootfs.join("ro/new")).unwrap(),
        b"upper",
        "yet a later layer wrote into it"
    );
    assert!(!rootfs.join("ro/gone").exists(), "and removed from it");
    assert_eq!(rootfs.join("secret").metadata().unwrap().mode() & 0o7777, 0);
    assert_eq!(std::fs::read(rootfs.join("secret")).unwrap(), b"s3cret");
    assert!(
        !rootfs.join("dev/null").exists() && !rootfs.join("dev/weird").exists(),
        "no device nodes"
    );

    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let namespaces: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        namespaces.contains(&"user") && !namespaces.contains(&"network"),
        "{namespaces:?}"
    );
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], NOBODY);
    assert_eq!(config["linux"]["uidMappings"][0]["containerID"], 0);
    let mounts = config["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/dev/null" && m["source"] == "/dev/null"),
        "the host's null device stands in"
    );
    assert!(config["annotations"][hoist_unpack_annotation()]
        .as_str()
        .unwrap()
        .contains("/dev/weird"));
    assert!(mounts
        .iter()
        .any(|m| m["destination"] == "/sys" && m["type"] == "bind"));
}

fn hoist_unpack_annotation() -> &'static str {
    "org.hoist.unpack.skipped-devices"
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![root.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            let children: Vec<_> = std::fs::read_dir(&all[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            all.extend(children);
        }
        i += 1;
    }
    all
}
