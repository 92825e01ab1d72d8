//! `hoist copy` between registries, layouts and archives; `hoist inspect`, `images`, `rmi`.

use std::path::Path;
use std::process::Command;

use hoist_e2e::image::Tar;
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, stdout, unique_id};
use hoist_oci::{Digest, Layout};
use serde_json::Value;

fn copy(scratch: &Path, from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    run(hoist(scratch)
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args([from, to])
        .args(extra))
}

fn digest_line(output: &std::process::Output) -> String {
    stdout(output).trim().to_string()
}

#[test]
fn an_image_goes_registry_to_archive_to_registry_unchanged() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let archive = dir.path().join("busybox.tar");
    let first = copy(
        dir.path(),
        &format!("docker://{}/busybox:latest", env.registry),
        &format!("oci-archive:{}:carried", archive.display()),
        &[],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    // skopeo reads the archive hoist wrote.
    let seen = expect_ok(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}:carried", archive.display())),
    );
    let seen: Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(seen["Digest"].as_str().unwrap(), digest_line(&first));

    let repository = unique_id("carried");
    let pushed = copy(
        dir.path(),
        &format!("oci-archive:{}:carried", archive.display()),
        &format!("docker://{}/{repository}:v1", env.registry),
        &[],
    );
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert_eq!(digest_line(&pushed), digest_line(&first));
    // The registry now serves the same manifest, byte for byte.
    let raw = expect_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{repository}:v1", env.registry)),
    );
    assert_eq!(Digest::of(&raw.stdout).to_string(), digest_line(&first));

    // Pushing again uploads nothing: every blob is there.
    let again = run(hoist(dir.path())
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci-archive:{}:carried", archive.display()))
        .arg(format!("docker://{}/{repository}:v2", env.registry)));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("Copied blob"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn all_platforms_copies_the_index_and_every_image() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("all");
    let output = copy(
        dir.path(),
        &format!("docker://{}/multiarch:latest", env.registry),
        &format!("oci:{}:all", layout.display()),
        &["--all-platforms"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let opened = Layout::open(&layout).unwrap();
    let top = opened.resolve(Some("all")).unwrap();
    assert_eq!(
        top.media_type().to_string(),
        hoist_oci::media_type::OCI_INDEX
    );
    let reached = opened.walk(&top).unwrap();
    let manifests = reached
        .iter()
        .filter(|d| d.media_type().to_string() == hoist_oci::media_type::OCI_MANIFEST)
        .count();
    assert_eq!(manifests, 3, "one image per platform");
    for descriptor in &reached {
        assert!(opened.has_blob(
            &descriptor.digest().to_string().parse().unwrap(),
            descriptor.size()
        ));
    }
    // And the layout goes on to an archive and back, platforms intact.
    let archive = dir.path().join("all.tar");
    let to_archive = copy(
        dir.path(),
        &format!("oci:{}:all", layout.display()),
        &format!("oci-archive:{}:all", archive.display()),
        &["--all-platforms"],
    );
    assert!(to_archive.status.success(), "{}", stderr(&to_archive));
    assert_eq!(digest_line(&to_archive), top.digest().to_string());
}

#[test]
fn archives_written_by_skopeo_are_read() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let archive = dir.path().join("skopeo.tar");
    expect_ok(
        Command::new("skopeo")
            .args(["copy", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{}/layers:latest", env.registry))
            .arg(format!("oci-archive:{}:layers", archive.display())),
    );
    let bundle = dir.path().join("bundle");
    let output = run(hoist(dir.path())
        .args(["unpack", "--image"])
        .arg(format!("oci-archive:{}:layers", archive.display()))
        .arg(&bundle));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(bundle.join("rootfs/bin/busybox").is_file());
}

#[test]
fn a_hostile_archive_is_refused_and_writes_nothing_outside() {
    let dir = scratch();
    let outside = dir.path().join("escaped");
    for (name, tar) in [
        (
            "dotdot",
            Tar::default()
                .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
                .file("../escaped", b"x"),
        ),
        (
            "absolute",
            Tar::default().file(&format!("{}", outside.display()), b"x"),
        ),
        (
            "symlink",
            Tar::default()
                .symlink("blobs", dir.path().to_str().unwrap())
                .file("blobs/escaped", b"x"),
        ),
    ] {
        let archive = dir.path().join(format!("{name}.tar"));
        std::fs::write(&archive, tar.finish()).unwrap();
        let output = copy(
            dir.path(),
            &format!("oci-archive:{}:x", archive.display()),
            &format!("oci:{}:x", dir.path().join("out").display()),
            &[],
        );
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(&archive.display().to_string()),
            "{name}: the error names the archive: {}",
            stderr(&output)
        );
        assert!(!outside.exists(), "{name}: an entry escaped the extraction");
    }
}

#[test]
fn inspect_reports_the_same_image_remotely_and_locally() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("l");
    let reference = format!("docker://{}/busybox:latest", env.registry);
    assert!(copy(
        dir.path(),
        &reference,
        &format!("oci:{}:v1", layout.display()),
        &[]
    )
    .status
    .success());
    let inspect = |image: &str, extra: &[&str]| {
        expect_ok(
            hoist(dir.path())
                .args(["inspect", "--tls-verify=false"])
                .args(extra)
                .arg(image),
        )
        .stdout
    };
    let remote: Value = serde_json::from_slice(&inspect(&reference, &[])).unwrap();
    let local: Value =
        serde_json::from_slice(&inspect(&format!("oci:{}:v1", layout.display()), &[])).unwrap();
    for field in [
        "Digest",
        "Layers",
        "Env",
        "Architecture",
        "Os",
        "Cmd",
        "Labels",
    ] {
        assert_eq!(remote[field], local[field], "{field}");
    }
    assert!(remote["RepoTags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("latest")));
    let raw = inspect(&reference, &["--raw"]);
    assert_eq!(
        Digest::of(&raw).to_string(),
        remote["Digest"].as_str().unwrap()
    );
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    let config = inspect(&reference, &["--config"]);
    assert_eq!(
        Digest::of(&config).to_string(),
        manifest["config"]["digest"].as_str().unwrap()
    );
}

#[test]
fn images_lists_the_store_and_rmi_frees_only_unshared_blobs() {
    let Some(env) = env() else { return };
    let dir = scratch();
    for image in ["busybox", "layers"] {
        expect_ok(
            hoist(dir.path())
                .args(["pull", "--quiet", "--tls-verify=false"])
                .arg(format!("{}/{image}:latest", env.registry)),
        );
    }
    let listed = expect_ok(hoist(dir.path()).args(["images", "--format", "json"]));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let busybox = format!("{}/busybox:latest", env.registry);
    let layers = format!("{}/layers:latest", env.registry);
    assert_eq!(names, [busybox.as_str(), layers.as_str()]);

    let store = Layout::open(dir.path().join("hoist-root/images")).unwrap();
    let layers_blobs = store.walk(&store.resolve(Some(&layers)).unwrap()).unwrap();
    expect_ok(hoist(dir.path()).args(["rmi", &busybox]));
    for blob in &layers_blobs {
        assert!(
            store.has_blob(&blob.digest().to_string().parse().unwrap(), blob.size()),
            "a blob the other image needs was removed"
        );
    }
    let unpack = run(hoist(dir.path())
        .args(["unpack", "--image", &layers])
        .arg(dir.path().join("bundle")));
    assert!(unpack.status.success(), "{}", stderr(&unpack));

    expect_ok(hoist(dir.path()).args(["rmi", &layers]));
    let left = std::fs::read_dir(dir.path().join("hoist-root/images/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "no image left, no blob left");
    let missing = run(hoist(dir.path()).args(["rmi", &layers]));
    assert_eq!(missing.status.code(), Some(125));
    assert!(
        stderr(&missing).contains("no such image"),
        "{}",
        stderr(&missing)
    );
}
