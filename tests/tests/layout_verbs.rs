//! umoci's verbs on image layouts, against umoci and skopeo: `repack` (a bundle's changes as a
//! new layer), `config`, `insert`, `tag`, `ls`, `gc`; podman's `tag` in the store.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use hoist_e2e::{
    copy_fixtures, env, expect_ok, hoist, is_root, run, scratch, stderr, stdout, tree_summary,
};
use serde_json::Value;

fn skopeo_config(layout: &Path, tag: &str) -> Value {
    let output = expect_ok(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}:{tag}", layout.display())),
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn layers(layout: &Path, tag: &str) -> usize {
    skopeo_config(layout, tag)["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn repack_makes_a_layer_umoci_unpacks_to_the_bundles_tree() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    copy_fixtures(&env, &layout);
    let bundle = dir.path().join("bundle");
    expect_ok(
        hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:busybox-latest", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    std::fs::write(rootfs.join("added.txt"), "new content\n").unwrap();
    std::fs::remove_file(rootfs.join("etc/passwd")).unwrap_or(());
    std::fs::create_dir_all(rootfs.join("srv/app")).unwrap();
    symlink("/etc/shadow", rootfs.join("srv/app/host-secret")).unwrap();
    std::fs::set_permissions(rootfs.join("srv"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(rootfs.join("added.txt"), Some(1234), Some(5678)).unwrap();

    let repacked = run(hoist(dir.path())
        .arg("repack")
        .arg("--image")
        .arg(format!("{}:v2", layout.display()))
        .arg(&bundle));
    assert!(repacked.status.success(), "{}", stderr(&repacked));
    assert_eq!(layers(&layout, "v2"), layers(&layout, "busybox-latest") + 1);

    // umoci and hoist unpack the new image to the tree the bundle has.
    let by_umoci = dir.path().join("by-umoci");
    expect_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:v2", layout.display()))
            .arg(&by_umoci),
    );
    let by_hoist = dir.path().join("by-hoist");
    expect_ok(
        hoist(dir.path())
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:v2", layout.display()))
            .arg(&by_hoist),
    );
    let expected = tree_summary(&rootfs);
    assert_eq!(tree_summary(&by_hoist.join("rootfs")), expected);
    assert_eq!(tree_summary(&by_umoci.join("rootfs")), expected);
    // The container's symlink went in as a symlink: the host file it names was never read.
    assert_eq!(
        std::fs::read_link(by_hoist.join("rootfs/srv/app/host-secret")).unwrap(),
        Path::new("/etc/shadow")
    );

    // The bundle's origin stays the first image unless refreshed: repacking again holds the
    // same changes; after --refresh-bundle, only later ones.
    let again = |tag: &str, extra: &[&str]| {
        let output = run(hoist(dir.path())
            .arg("repack")
            .args(extra)
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle));
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output)
    };
    let same = again("v3", &["--refresh-bundle"]);
    let first = stderr(&repacked);
    let changes = |said: &str| {
        said.split(" changes")
            .next()
            .unwrap()
            .rsplit('(')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(changes(&same), changes(&first));
    let nothing_new = again("v4", &[]);
    assert_eq!(changes(&nothing_new), "0", "{nothing_new}");

    let tags = stdout(&expect_ok(
        hoist(dir.path()).arg("ls").arg("--layout").arg(&layout),
    ));
    for tag in ["busybox-latest", "v2", "v3", "v4"] {
        assert!(tags.lines().any(|t| t == tag), "{tags}");
    }
}

#[test]
fn a_bundle_without_an_origin_is_refused_and_the_layout_unchanged() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("layout");
    copy_fixtures(&env, &layout);
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let before = std::fs::read(layout.join("index.json")).unwrap();
    let output = run(hoist(dir.path())
        .arg("repack")
        .arg("--image")
        .arg(format!("{}:v2", layout.display()))
        .arg(&bundle));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("hoist-origin.json"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), before);
}

#[test]
fn config_changes_what_umoci_config_changes() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    copy_fixtures(&env, &ours);
    copy_fixtures(&env, &theirs);
    let edits = [
        "--config.entrypoint=/bin/sh",
        "--config.entrypoint=-c",
        "--config.cmd=echo hi",
        "--config.env=GREETING=hello",
        "--config.env=PATH=/opt/bin:/bin",
        "--config.label=org.example.team=images",
        "--config.exposedports=8080/tcp",
        "--config.volume=/data",
        "--config.user=1000:1000",
        "--config.workingdir=/srv",
        "--config.stopsignal=SIGINT",
        "--author=tests",
    ];
    expect_ok(
        hoist(dir.path())
            .arg("config")
            .arg("--image")
            .arg(format!("{}:busybox-latest", ours.display()))
            .args(["--tag", "edited"])
            .args(edits),
    );
    expect_ok(
        Command::new("umoci")
            .arg("config")
            .arg("--image")
            .arg(format!("{}:busybox-latest", theirs.display()))
            .args(["--tag", "edited"])
            .args(edits),
    );
    let (a, b) = (
        skopeo_config(&ours, "edited"),
        skopeo_config(&theirs, "edited"),
    );
    assert_eq!(a["config"], b["config"]);
    assert_eq!(a["author"], b["author"]);
    assert_eq!(
        a["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c"])
    );
    // The original tag still names the original image; the history says what changed.
    assert!(skopeo_config(&ours, "busybox-latest")["config"]["WorkingDir"] != "/srv");
    let history = a["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["empty_layer"], true);

    let refused = run(hoist(dir.path())
        .arg("config")
        .arg("--image")
        .arg(format!("{}:busybox-latest", ours.display()))
        .args(["--clear", "config.everything"]));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("config.labels"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn insert_adds_a_tree_and_a_whiteout_removes_a_path() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("layout");
    copy_fixtures(&env, &layout);
    let source = dir.path().join("app");
    std::fs::create_dir_all(source.join("conf")).unwrap();
    std::fs::write(source.join("conf/app.toml"), "port = 8080\n").unwrap();
    let image = format!("{}:busybox-latest", layout.display());
    expect_ok(
        hoist(dir.path())
            .args([
                "insert",
                "--rootless",
                "--tag",
                "with-app",
                "--image",
                &image,
            ])
            .arg(&source)
            .arg("/opt/app"),
    );
    expect_ok(
        hoist(dir.path())
            .args(["insert", "--whiteout", "--tag", "without-etc"])
            .arg("--image")
            .arg(format!("{}:with-app", layout.display()))
            .arg("/etc"),
    );
    let unpacked = dir.path().join("unpacked");
    expect_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:without-etc", layout.display()))
            .arg(&unpacked),
    );
    let rootfs = unpacked.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opt/app/conf/app.toml")).unwrap(),
        "port = 8080\n"
    );
    assert!(!rootfs.join("etc").exists());
    assert!(rootfs.join("bin").exists());
    // A target outside the rootfs is no target.
    let refused = run(hoist(dir.path())
        .args(["insert", "--image", &image])
        .arg(&source)
        .arg("../outside"));
    assert!(!refused.status.success());
}

#[test]
fn tag_names_images_in_layouts_and_in_the_store_and_gc_frees_the_rest() {
    let Some(env) = env() else { return };
    let dir = scratch();
    let layout = dir.path().join("layout");
    copy_fixtures(&env, &layout);
    let image = format!("{}:busybox-latest", layout.display());
    expect_ok(hoist(dir.path()).args(["tag", "--image", &image, "renamed"]));
    let tags = stdout(&expect_ok(
        hoist(dir.path()).arg("ls").arg("--layout").arg(&layout),
    ));
    assert!(tags.lines().any(|t| t == "renamed"), "{tags}");

    // gc keeps what a tag reaches and frees an orphan blob.
    let orphan = layout
        .join("blobs/sha256")
        .join(hoist_oci::Digest::of(b"orphan").hex());
    std::fs::write(&orphan, b"orphan").unwrap();
    expect_ok(hoist(dir.path()).arg("gc").arg("--layout").arg(&layout));
    assert!(!orphan.exists());
    expect_ok(
        hoist(dir.path())
            .arg("inspect")
            .arg(format!("{}:renamed", layout.display())),
    );

    // podman's form, in the store.
    expect_ok(hoist(dir.path()).args([
        "copy",
        "-q",
        &format!("oci:{image}"),
        "localhost/tagged:1",
    ]));
    expect_ok(hoist(dir.path()).args(["tag", "localhost/tagged:1", "localhost/tagged:2"]));
    let listed = stdout(&expect_ok(hoist(dir.path()).args([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])));
    assert!(
        listed.lines().any(|l| l == "localhost/tagged:2"),
        "{listed}"
    );
}

#[test]
fn commit_makes_an_image_of_a_containers_changes() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let image = format!("{}/busybox:latest", env.registry);
    let name = hoist_e2e::unique_id("commit");
    let made = run(hoist(dir.path()).args([
        "run",
        "--tls-verify=false",
        "--network=none",
        "--name",
        &name,
        &image,
        "sh",
        "-c",
        "echo kept > /added && rmdir /home && rm -r /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/only && mkdir -p /srv/fresh && echo new > /srv/fresh/file",
    ]));
    assert!(made.status.success(), "{}", stderr(&made));
    let committed = run(hoist(dir.path()).args([
        "commit",
        "-q",
        "--author",
        "tests",
        "--change",
        "CMD [\"cat\", \"/added\", \"/srv/fresh/file\"]",
        &name,
        "committed:1",
    ]));
    assert!(committed.status.success(), "{}", stderr(&committed));
    let ran =
        run(hoist(dir.path()).args(["run", "--rm", "--network=none", "localhost/committed:1"]));
    assert_eq!(stdout(&ran), "kept\nnew\n", "{}", stderr(&ran));
    // A removed directory is gone; one removed and made again holds only what it got since.
    let listed = run(hoist(dir.path()).args([
        "run",
        "--rm",
        "--network=none",
        "localhost/committed:1",
        "sh",
        "-c",
        "ls -d /home; ls /usr/sbin",
    ]));
    assert_eq!(stdout(&listed), "only\n", "{}", stderr(&listed));
    assert!(stderr(&listed).contains("/home"), "{}", stderr(&listed));
    let inspected = stdout(&expect_ok(hoist(dir.path()).args([
        "inspect",
        "--config",
        "localhost/committed:1",
    ])));
    let config: Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(
        config["history"].as_array().unwrap().last().unwrap()["author"],
        "tests"
    );
    expect_ok(hoist(dir.path()).args(["rm", &name]));
}

/// `commit --pause` freezes a running container while its changes are read and thaws it
/// after; a container paused already stays paused, and `rm -f` ends it.
#[test]
fn commit_pauses_a_running_container_only_while_it_reads() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let image = format!("{}/busybox:latest", env.registry);
    let name = hoist_e2e::unique_id("paused-commit");
    expect_ok(hoist(dir.path()).args([
        "run",
        "-d",
        "--tls-verify=false",
        "--network=none",
        "--name",
        &name,
        &image,
        "sh",
        "-c",
        "echo while-running > /made; sleep 600",
    ]));
    let status = || {
        let shown =
            expect_ok(hoist(dir.path()).args(["inspect", "--format", "{{.State.Status}}", &name]));
        stdout(&shown).trim().to_string()
    };
    hoist_e2e::wait_for("the file to be made", || {
        run(hoist(dir.path()).args(["exec", &name, "test", "-f", "/made"]))
            .status
            .success()
    });
    for (before, image) in [
        ("running", "paused-commit:1"),
        ("paused", "paused-commit:2"),
    ] {
        if before == "paused" {
            expect_ok(hoist(dir.path()).args(["pause", &name]));
        }
        assert_eq!(status(), before);
        expect_ok(hoist(dir.path()).args(["commit", "-q", "--pause", &name, image]));
        assert_eq!(status(), before, "as it was before the commit");
        let ran = run(hoist(dir.path()).args([
            "run",
            "--rm",
            "--network=none",
            &format!("localhost/{image}"),
            "cat",
            "/made",
        ]));
        assert_eq!(stdout(&ran), "while-running\n", "{}", stderr(&ran));
    }
    // Paused still: `rm -f` thaws it to let SIGKILL through (a frozen task takes no signal).
    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
}
