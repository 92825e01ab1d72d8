//! The transports of containers tools, both ways against skopeo and podman: `dir:`,
//! `docker-archive:` written by hoist, `load` from standard input, and transports hoist does
//! not serve refused by name.

use std::path::Path;
use std::process::{Command, Stdio};

use hoist_e2e::podman::podman_with_runtime;
use hoist_e2e::{env, expect_ok, hoist, run, scratch, stderr, stdout};
use serde_json::Value;

fn copy(scratch: &Path, from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    run(hoist(scratch)
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .args(extra)
        .args([from, to]))
}

fn skopeo_inspect(transport_and_path: &str) -> Value {
    let output = expect_ok(Command::new("skopeo").args(["inspect", transport_and_path]));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn dir_images_go_both_ways_with_skopeo() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let source = format!("docker://{}/busybox:latest", env.registry);

    // hoist writes, skopeo reads.
    let written = dir.path().join("by-hoist");
    let output = copy(
        dir.path(),
        &source,
        &format!("dir:{}", written.display()),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let digest = stdout(&output).trim().to_string();
    let seen = skopeo_inspect(&format!("dir:{}", written.display()));
    assert_eq!(seen["Digest"], digest.as_str());

    // skopeo writes, hoist reads: into a layout, the same manifest.
    let by_skopeo = dir.path().join("by-skopeo");
    expect_ok(
        Command::new("skopeo")
            .args(["copy", "-q", "--src-tls-verify=false", &source])
            .arg(format!("dir:{}", by_skopeo.display())),
    );
    let layout = dir.path().join("layout");
    let output = copy(
        dir.path(),
        &format!("dir:{}", by_skopeo.display()),
        &format!("oci:{}:v1", layout.display()),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), digest);

    // Every platform: the index in manifest.json, each instance beside it; skopeo reads it.
    let all = dir.path().join("all");
    let output = copy(
        dir.path(),
        &format!("docker://{}/multiarch:latest", env.registry),
        &format!("dir:{}", all.display()),
        &["--all-platforms"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let instances = std::fs::read_dir(&all)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".manifest.json")
        })
        .count();
    assert_eq!(instances, 3);
    let raw = expect_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("dir:{}", all.display())),
    );
    let index: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
    let back = dir.path().join("all-back");
    let output = copy(
        dir.path(),
        &format!("dir:{}", all.display()),
        &format!("oci:{}:all", back.display()),
        &["--all-platforms"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_dir_destination_holding_other_files_is_left_alone() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("notes.txt"), "mine").unwrap();
    let output = copy(
        dir.path(),
        &format!("docker://{}/busybox:latest", env.registry),
        &format!("dir:{}", home.display()),
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("will not overwrite"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(home.join("notes.txt")).unwrap(),
        "mine"
    );
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(
        entries, 2,
        "nothing staged is left beside it (home and hoist-root)"
    );
}

#[test]
fn docker_archives_hoist_writes_load_in_skopeo_podman_and_hoist() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let archive = dir.path().join("app.tar");
    let name = "localhost/transports/app:v1";
    let output = copy(
        dir.path(),
        &format!("docker://{}/busybox:latest", env.registry),
        &format!("docker-archive:{}:{name}", archive.display()),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    // The layers are plain tars named by their diff_ids, as `docker save` writes them.
    let seen = skopeo_inspect(&format!("docker-archive:{}", archive.display()));
    let config = expect_ok(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("docker-archive:{}", archive.display())),
    );
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(seen["Layers"], config["rootfs"]["diff_ids"]);

    // podman loads it under its name.
    let podman_dir = dir.path().join("podman");
    expect_ok(
        podman_with_runtime(&podman_dir, "runc")
            .args(["load", "-q", "-i"])
            .arg(&archive),
    );
    expect_ok(podman_with_runtime(&podman_dir, "runc").args(["image", "exists", name]));
    expect_ok(podman_with_runtime(&podman_dir, "runc").args(["rmi", "-a", "-f"]));

    // And hoist loads it back from standard input, into a store of its own.
    let other = dir.path().join("other");
    let mut load = hoist(&other)
        .arg("load")
        .stdin(Stdio::from(std::fs::File::open(&archive).unwrap()))
        .output()
        .unwrap();
    assert!(load.status.success(), "{}", stderr(&load));
    assert_eq!(stdout(&load).trim(), format!("Loaded image: {name}"));
    let listed = expect_ok(hoist(&other).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(stdout(&listed).contains(name), "{}", stdout(&listed));

    // `save --format docker-archive` writes the store's image the same way.
    let saved = other.join("saved.tar");
    load = run(hoist(&other)
        .args(["save", "-q", "--format", "docker-archive", "-o"])
        .arg(&saved)
        .arg(name));
    assert!(load.status.success(), "{}", stderr(&load));
    let resaved = skopeo_inspect(&format!("docker-archive:{}:{name}", saved.display()));
    assert_eq!(resaved["Layers"], seen["Layers"]);
}

#[test]
fn transports_hoist_does_not_serve_are_refused_by_name() {
    let dir = scratch();
    for source in [
        "containers-storage:busybox",
        "docker-daemon:busybox:latest",
        "ftp://x/y",
    ] {
        let layout = dir.path().join("never");
        let output = run(hoist(dir.path())
            .args(["copy", source])
            .arg(format!("oci:{}:v1", layout.display())));
        assert!(!output.status.success(), "{source}");
        let said = stderr(&output);
        assert!(
            said.contains("is a transport hoist does not serve") && said.contains("dir:"),
            "{source}: {said}"
        );
        assert!(!layout.exists());
    }
}

/// What skopeo writes in each archive format, hoist reads: the same image config, whichever
/// way it travelled.
#[test]
fn archives_skopeo_writes_are_read_by_hoist() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let source = format!("docker://{}/busybox:latest", env.registry);
    let expected = expect_ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--tls-verify=false",
        &source,
    ]));
    let expected: Value = serde_json::from_slice(&expected.stdout).unwrap();
    for transport in ["oci-archive", "docker-archive"] {
        let archive = dir.path().join(format!("{transport}.tar"));
        let name = "localhost/transports/skopeo:v1";
        expect_ok(
            Command::new("skopeo")
                .args(["copy", "-q", "--src-tls-verify=false", &source])
                .arg(format!("{transport}:{}:{name}", archive.display())),
        );
        let layout = dir.path().join(format!("{transport}-layout"));
        let copied = copy(
            dir.path(),
            &format!("{transport}:{}:{name}", archive.display()),
            &format!("oci:{}:v1", layout.display()),
            &[],
        );
        assert!(copied.status.success(), "{transport}: {}", stderr(&copied));
        let config = expect_ok(
            hoist(dir.path())
                .args(["inspect", "--config"])
                .arg(format!("{}:v1", layout.display())),
        );
        let config: Value = serde_json::from_slice(&config.stdout).unwrap();
        assert_eq!(config["rootfs"], expected["rootfs"], "{transport}");
        assert_eq!(config["config"], expected["config"], "{transport}");
    }
}

/// `list-tags docker-archive:FILE` prints what skopeo prints: each image's names as
/// `manifest.json` writes them, and `@N` for the Nth image when it has none.
#[test]
fn list_tags_of_a_docker_archive_is_skopeos() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let made = dir.path().join("made.tar");
    expect_ok(
        Command::new("skopeo")
            .args(["copy", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{}/busybox:latest", env.registry))
            .arg(format!(
                "docker-archive:{}:localhost/made:1",
                made.display()
            )),
    );
    // The same image twice: once under two names, once under none.
    let archive = dir.path().join("two-images.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    let mut made = tar::Archive::new(std::fs::File::open(&made).unwrap());
    let mut images = Value::Null;
    for entry in made.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("manifest.json") {
            images = serde_json::from_reader(&mut entry).unwrap();
            continue;
        }
        let header = entry.header().clone();
        builder.append(&header, &mut entry).unwrap();
    }
    let mut named = images[0].clone();
    named["RepoTags"] = serde_json::json!(["example.com/a/b:1", "busybox:2"]);
    let mut unnamed = images[0].clone();
    unnamed.as_object_mut().unwrap().remove("RepoTags");
    let manifest = serde_json::to_vec(&serde_json::json!([named, unnamed])).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "manifest.json", &manifest[..])
        .unwrap();
    builder.finish().unwrap();

    let reference = format!("docker-archive:{}", archive.display());
    let listed = expect_ok(hoist(dir.path()).args(["list-tags", &reference]));
    let theirs = expect_ok(Command::new("skopeo").args(["list-tags", &reference]));
    assert_eq!(stdout(&listed), stdout(&theirs));
    let tags: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        tags,
        serde_json::json!({ "Tags": ["example.com/a/b:1", "busybox:2", "@1"] })
    );
}
