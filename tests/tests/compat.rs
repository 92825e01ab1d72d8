//! The compatibility corpus: images made at test time by the ecosystem's tools (umoci, podman
//! build and save, buildah) and by hand at the edges of what hoist tolerates (tars without
//! end-of-archive blocks or final padding, empty layers, every layer media type, up to 128
//! layers). Each runs under hoist and under podman (with runc as its runtime), and both must
//! print what the image holds. What hoist always refuses is in hostile_image.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use hoist_e2e::image::{write_image_of, Layer, Lies, Tar};
use hoist_e2e::podman::{buildah, podman_with_runtime, storage_conf, RemoveScratch};
use hoist_e2e::{env, expect_ok, hoist, is_root, run, scratch, stderr, stdout, TestEnv};
use hoist_oci::{media_type, Layout};
use serde_json::json;

/// Where a corpus image is, for hoist and podman alike.
enum Source<'a> {
    /// `oci:DIR:TAG`, which both run directly.
    Layout(&'a Path, &'a str),
    /// An archive both `load`; its image is then run by this name.
    Archive(&'a Path, &'a str),
}

/// One test's corpus: its scratch directory (hoist's store and the images made), and the
/// reference runs' podman (with runc) whose state lives in `scratch/podman`.
struct Corpus {
    env: TestEnv,
    dir: tempfile::TempDir,
    podman_dir: PathBuf,
}

impl Corpus {
    /// `None` outside `cargo xtask test`, or without root (podman's storage uses overlay
    /// mounts here, and hoist's containers need root too).
    fn new() -> Option<Corpus> {
        let env = env()?;
        if !is_root() {
            return None;
        }
        let dir = scratch();
        let podman_dir = dir.path().join("podman");
        Some(Corpus {
            env,
            dir,
            podman_dir,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn podman(&self) -> Command {
        podman_with_runtime(&self.podman_dir, "runc")
    }

    /// Copies `layout:tag` into podman's store, named `name` (podman's own `oci:` transport
    /// names the image by the layout's path, which must then be lowercase).
    fn import(&self, layout: &Path, tag: &str, name: &str) {
        expect_ok(
            Command::new("skopeo")
                .env("CONTAINERS_STORAGE_CONF", storage_conf(&self.podman_dir))
                .args(["copy", "-q"])
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("containers-storage:{name}")),
        );
    }

    /// Runs `command` in the image under hoist and under podman: both succeed and print
    /// `expected`.
    fn runs_alike(&self, source: &Source, command: &[&str], expected: &str) {
        let (image, podman_image) = match source {
            Source::Layout(dir, tag) => {
                let name = format!("localhost/compat/{tag}:latest");
                self.import(dir, tag, &name);
                (format!("oci:{}:{tag}", dir.display()), name)
            }
            Source::Archive(file, name) => {
                expect_ok(hoist(self.path()).args(["load", "--input"]).arg(file));
                expect_ok(self.podman().args(["load", "-q", "--input"]).arg(file));
                (name.to_string(), name.to_string())
            }
        };
        let hoist_run = run(hoist(self.path())
            .args(["run", "--rm", "--network", "none", &image])
            .args(command));
        let podman_run = run(self
            .podman()
            .args(["run", "--rm", "--network", "none", "--pull=never"])
            .arg(&podman_image)
            .args(command));
        for (who, output) in [("hoist", &hoist_run), ("podman", &podman_run)] {
            assert!(
                output.status.success(),
                "{who} failed to run {image}: {}",
                stderr(output)
            );
            assert_eq!(stdout(output), expected, "{who} running {image}");
        }
    }
}

impl Drop for Corpus {
    /// podman's state goes first: conmon may still be using it.
    fn drop(&mut self) {
        drop(RemoveScratch(&self.podman_dir));
    }
}

/// The fixtures' busybox image copied into a layout of its own at `dir`, tagged `tag`.
fn busybox_layout(env: &TestEnv, dir: &Path, tag: &str) {
    expect_ok(
        Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci:{}:busybox-latest", env.fixtures.display()))
            .arg(format!("oci:{}:{tag}", dir.display())),
    );
}

/// The fixtures' busybox layer, to put under hand-made layers.
fn busybox_layer(env: &TestEnv) -> Layer {
    let layout = Layout::open(&env.fixtures).unwrap();
    let manifest = manifest(&layout, "busybox-latest");
    let config: serde_json::Value =
        serde_json::from_slice(&blob(&layout, &manifest["config"]).1).unwrap();
    let (descriptor, bytes) = blob(&layout, &manifest["layers"][0]);
    Layer {
        blob: bytes,
        diff_id: config["rootfs"]["diff_ids"][0]
            .as_str()
            .unwrap()
            .to_string(),
        media_type: descriptor.media_type().to_string(),
    }
}

/// The image manifest `tag` names in `layout`.
fn manifest(layout: &Layout, tag: &str) -> serde_json::Value {
    let top = serde_json::to_value(layout.resolve(Some(tag)).unwrap()).unwrap();
    serde_json::from_slice(&blob(layout, &top).1).unwrap()
}

/// A descriptor of `layout` (as JSON), and its blob.
fn blob(layout: &Layout, descriptor: &serde_json::Value) -> (hoist_oci::Descriptor, Vec<u8>) {
    let descriptor: hoist_oci::Descriptor = serde_json::from_value(descriptor.clone()).unwrap();
    let digest = hoist_oci::descriptor_digest(&descriptor).unwrap();
    let bytes = std::fs::read(layout.blob_path(&digest)).unwrap();
    (descriptor, bytes)
}

/// How a hand-made tar ends.
#[derive(Clone, Copy)]
enum Ending {
    /// Padding and the two zero blocks, as tar(1) writes.
    Whole,
    /// Padding, no end-of-archive blocks.
    NoEndBlocks,
    /// The last entry's data, then nothing (what `umoci insert` writes).
    NoPadding,
}

/// A tar of one file at `path`, ending as told.
fn one_file_tar(path: &str, content: &[u8], ending: Ending) -> Vec<u8> {
    let mut tar = Tar::default().file(path, content).finish();
    match ending {
        Ending::Whole => {}
        Ending::NoEndBlocks => tar.truncate(tar.len() - 1024),
        Ending::NoPadding => tar.truncate(512 + content.len()),
    }
    tar
}

#[test]
fn layers_umoci_inserts_and_repacks_run_alike() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let layout = corpus.path().join("umoci");
    busybox_layout(&corpus.env, &layout, "base");
    let source = corpus.path().join("greeting");
    std::fs::write(&source, "inserted by umoci\n").unwrap();
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    expect_ok(
        Command::new("umoci")
            .args(["insert", "--image", &image("base"), "--tag", "inserted"])
            .arg(&source)
            .arg("/etc/greeting"),
    );
    // What makes this layer a case: its tar stops right after the file's data.
    let inserted = last_layer_tar(&layout, "inserted");
    assert_ne!(
        inserted.len() % 512,
        0,
        "umoci's layer ends without padding"
    );

    let bundle = corpus.path().join("bundle");
    expect_ok(
        Command::new("umoci")
            .args(["unpack", "--image", &image("inserted")])
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    std::fs::write(rootfs.join("added"), "repacked\n").unwrap();
    std::fs::remove_file(rootfs.join("bin/vi")).unwrap();
    expect_ok(
        Command::new("umoci")
            .args(["repack", "--image", &image("repacked")])
            .arg(&bundle),
    );
    let check = [
        "sh",
        "-c",
        "cat /etc/greeting /added; test -e /bin/vi || echo vi-removed",
    ];
    corpus.runs_alike(
        &Source::Layout(&layout, "repacked"),
        &check,
        "inserted by umoci\nrepacked\nvi-removed\n",
    );
}

/// The uncompressed stream of the top layer of `layout:tag`.
fn last_layer_tar(layout: &Path, tag: &str) -> Vec<u8> {
    let layout = Layout::open(layout).unwrap();
    let manifest = manifest(&layout, tag);
    let (_, gzip) = blob(
        &layout,
        manifest["layers"].as_array().unwrap().last().unwrap(),
    );
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut tar).unwrap();
    tar
}

#[test]
fn images_podman_builds_run_alike_from_both_save_formats() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let context = corpus.path().join("context");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(
        context.join("Containerfile"),
        format!(
            "FROM oci:{}:busybox-latest\n\
             RUN mkdir -p /data && echo built > /data/file && rm /bin/vi \\\n \
             && echo 'app:x:1234:1234::/data:/bin/sh' >> /etc/passwd\n\
             RUN rm -r /data/file && echo second > /data/second\n\
             USER app\n\
             WORKDIR /data\n\
             CMD [\"sh\", \"-c\", \"id -u; pwd; ls; test -e /bin/vi || echo vi-removed\"]\n",
            corpus.env.fixtures.display()
        ),
    )
    .unwrap();
    let name = "localhost/compat/built:1";
    expect_ok(
        corpus
            .podman()
            .args([
                "build",
                "-q",
                "--pull=never",
                "--network",
                "none",
                "-t",
                name,
            ])
            .arg(&context),
    );
    let expected = "1234\n/data\nsecond\nvi-removed\n";
    let podman_run = run(corpus
        .podman()
        .args(["run", "--rm", "--network", "none", name]));
    assert_eq!(stdout(&podman_run), expected, "{}", stderr(&podman_run));
    let archives = ["docker-archive", "oci-archive"].map(|format| {
        let archive = corpus.path().join(format!("{format}.tar"));
        expect_ok(
            corpus
                .podman()
                .args(["save", "-q", "--format", format, "-o"])
                .arg(&archive)
                .arg(name),
        );
        (format, archive)
    });
    for (format, archive) in archives {
        // podman is to read the archive, not find the image it built.
        expect_ok(corpus.podman().args(["rmi", name]));
        corpus.runs_alike(&Source::Archive(&archive, name), &[], expected);
        // Run straight from the file, as `podman run docker-archive:FILE` does.
        let direct = run(hoist(corpus.path())
            .args(["run", "--rm", "--network", "none"])
            .arg(format!("{format}:{}:{name}", archive.display())));
        assert_eq!(stdout(&direct), expected, "{format}: {}", stderr(&direct));
    }
}

#[test]
fn images_buildah_makes_from_scratch_run_alike() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let buildah = || buildah(&corpus.podman_dir);
    let container = stdout(&expect_ok(buildah().args(["from", "scratch"])));
    let container = container.trim();
    expect_ok(buildah().args(["copy", container, "/usr/bin/busybox", "/bin/busybox"]));
    expect_ok(buildah().args([
        "config",
        "--cmd",
        r#"["/bin/busybox", "sh", "-c", "echo from-scratch; /bin/busybox id -u; pwd; echo $GREETING"]"#,
        "--user",
        "42:42",
        "--workingdir",
        "/srv",
        "--env",
        "GREETING=hello",
        container,
    ]));
    let layout = corpus.path().join("buildah");
    let archive = corpus.path().join("buildah-docker.tar");
    expect_ok(
        buildah()
            .args(["commit", "-q", container])
            .arg(format!("oci:{}:oci", layout.display())),
    );
    expect_ok(
        buildah()
            .args(["commit", "-q", "--format", "docker", container])
            .arg(format!(
                "docker-archive:{}:localhost/compat/scratch:1",
                archive.display()
            )),
    );
    expect_ok(buildah().args(["rm", container]));
    let expected = "from-scratch\n42\n/srv\nhello\n";
    corpus.runs_alike(&Source::Layout(&layout, "oci"), &[], expected);
    corpus.runs_alike(
        &Source::Archive(&archive, "localhost/compat/scratch:1"),
        &[],
        expected,
    );
}

#[test]
fn layers_without_end_blocks_or_padding_empty_ones_and_every_media_type_run_alike() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let file = |n: usize, ending| {
        one_file_tar(&format!("edge/{n:02}"), format!("{n}\n").as_bytes(), ending)
    };
    let layers = vec![
        busybox_layer(&corpus.env).typed(media_type::DOCKER_LAYER_GZIP),
        Layer::plain(&file(1, Ending::NoPadding)),
        Layer::gzip(&file(2, Ending::NoPadding)).typed(media_type::OCI_NONDISTRIBUTABLE_GZIP),
        Layer::zstd(&file(3, Ending::NoEndBlocks)),
        Layer::plain(&file(4, Ending::Whole)).typed(media_type::DOCKER_LAYER_TAR),
        Layer::zstd(&file(5, Ending::NoPadding)).typed(media_type::DOCKER_LAYER_ZSTD),
        Layer::plain(&file(6, Ending::NoEndBlocks)).typed(media_type::OCI_NONDISTRIBUTABLE_TAR),
        Layer::zstd(&file(7, Ending::Whole)).typed(media_type::OCI_NONDISTRIBUTABLE_ZSTD),
        Layer::gzip(&file(8, Ending::NoEndBlocks)).typed(media_type::DOCKER_FOREIGN_LAYER_GZIP),
        // Empty layers: only the end-of-archive blocks, and no bytes at all.
        Layer::gzip(&[0; 1024]),
        Layer::gzip(&[]),
        Layer::plain(&[]),
    ];
    let layout = corpus.path().join("edges");
    write_image_of(&layout, "edges", layers, Lies::default(), json!({}));
    corpus.runs_alike(
        &Source::Layout(&layout, "edges"),
        &["sh", "-c", "cat /edge/*"],
        "1\n2\n3\n4\n5\n6\n7\n8\n",
    );
}

#[test]
fn images_of_1_64_and_128_layers_run_alike() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let layout = corpus.path().join("many");
    for count in [1, 64, 128] {
        let mut layers = vec![busybox_layer(&corpus.env)];
        layers.extend((1..count).map(|n| {
            let tar = Tar::default()
                .file(&format!("layers/{n:03}"), b"")
                .file("layers/top", format!("{n}\n").as_bytes())
                .finish();
            Layer::gzip(&tar)
        }));
        let tag = format!("layers-{count}");
        write_image_of(&layout, &tag, layers, Lies::default(), json!({}));
        let top = if count == 1 {
            "none".to_string()
        } else {
            (count - 1).to_string()
        };
        corpus.runs_alike(
            &Source::Layout(&layout, &tag),
            &[
                "sh",
                "-c",
                "ls /layers 2>/dev/null | wc -l; cat /layers/top 2>/dev/null || echo none",
            ],
            &format!("{}\n{top}\n", if count == 1 { 0 } else { count }),
        );
    }
}

/// Docker 25 and later save an OCI layout beside `manifest.json`, naming each image in
/// `index.json` by its tag alone (`ref.name`) and in full by `io.containerd.image.name`.
#[test]
fn archives_in_docker_25s_shape_load_by_their_full_names() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let dir = corpus.path().join("docker25");
    busybox_layout(&corpus.env, &dir, "1");
    let layout = Layout::open(&dir).unwrap();
    let name = "localhost/compat/docker25:1";
    let manifest = manifest(&layout, "1");
    let blob_name = |descriptor: &serde_json::Value| {
        let digest = descriptor["digest"].as_str().unwrap().replace(':', "/");
        format!("blobs/{digest}")
    };
    let layer = blob_name(&manifest["layers"][0]);
    // The config named by its blob's path, the layer through the legacy directory's link.
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&json!([{
            "Config": blob_name(&manifest["config"]),
            "RepoTags": [name],
            "Layers": ["0123abcd/layer.tar"],
        }]))
        .unwrap(),
    )
    .unwrap();
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["annotations"]["io.containerd.image.name"] = json!(name);
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    // The legacy layer directory: a link to the blob.
    std::fs::create_dir(dir.join("0123abcd")).unwrap();
    std::os::unix::fs::symlink(format!("../{layer}"), dir.join("0123abcd/layer.tar")).unwrap();
    let archive = corpus.path().join("docker25.tar");
    expect_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-cf")
            .arg(&archive)
            .arg("."),
    );
    corpus.runs_alike(
        &Source::Archive(&archive, name),
        &["echo", "loaded"],
        "loaded\n",
    );
    // Straight from the file: by manifest.json as a docker-archive, by index.json's tag as an
    // OCI archive.
    for from_file in [
        format!("docker-archive:{}:{name}", archive.display()),
        format!("docker-archive:{}", archive.display()),
        format!("oci-archive:{}:1", archive.display()),
    ] {
        let output = run(hoist(corpus.path())
            .args(["run", "--rm", "--network", "none", &from_file])
            .args(["echo", "direct"]));
        assert_eq!(
            stdout(&output),
            "direct\n",
            "{from_file}: {}",
            stderr(&output)
        );
    }
}

/// `docker save IMAGE-ID` names no image: it runs from the file, and loads under a name given.
#[test]
fn an_image_saved_by_id_runs_from_its_archive_and_loads_by_a_name_given() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let busybox = busybox_layer(&corpus.env);
    let config = serde_json::to_vec(&json!({
        "architecture": hoist_oci::Platform::host().architecture, "os": "linux",
        "config": { "Cmd": ["echo", "by id"] },
        "rootfs": { "type": "layers", "diff_ids": [busybox.diff_id] },
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([{
        "Config": "config.json", "RepoTags": null, "Layers": ["layer.tar"],
    }]))
    .unwrap();
    let archive = corpus.path().join("by-id.tar");
    let tar = Tar::default()
        .file("config.json", &config)
        .file("layer.tar", &busybox.blob)
        .file("manifest.json", &manifest)
        .finish();
    std::fs::write(&archive, tar).unwrap();
    let from_file = format!("docker-archive:{}", archive.display());
    let output = run(hoist(corpus.path()).args(["run", "--rm", "--network", "none", &from_file]));
    assert_eq!(stdout(&output), "by id\n", "{}", stderr(&output));
    let loaded = run(hoist(corpus.path()).args(["load", "-i"]).arg(&archive));
    assert_eq!(loaded.status.code(), Some(125));
    assert!(
        stderr(&loaded).contains("saved by id"),
        "{}",
        stderr(&loaded)
    );
    expect_ok(hoist(corpus.path()).args(["copy", &from_file, "localhost/named:1"]));
    let output =
        run(hoist(corpus.path()).args(["run", "--rm", "--network", "none", "localhost/named:1"]));
    assert_eq!(stdout(&output), "by id\n", "{}", stderr(&output));
}

/// Past overlayfs's 500 lower layers, hoist runs the image from a full copy (podman 4.3 stops
/// at "max depth exceeded", so hoist's output is checked alone).
#[test]
fn an_image_of_501_layers_runs_from_a_full_copy() {
    let Some(corpus) = Corpus::new() else {
        return;
    };
    let layout = corpus.path().join("very-many");
    let mut layers = vec![busybox_layer(&corpus.env)];
    layers.extend((1..501).map(|n| {
        let tar = Tar::default()
            .file("layers/top", format!("{n}\n").as_bytes())
            .finish();
        Layer::gzip(&tar)
    }));
    write_image_of(&layout, "layers-501", layers, Lies::default(), json!({}));
    // The root is no overlay mount: a copy.
    let output = run(hoist(corpus.path())
        .args(["run", "--rm", "--network", "none"])
        .arg(format!("oci:{}:layers-501", layout.display()))
        .args([
            "sh",
            "-c",
            "cat /layers/top; grep -c '^overlay / ' /proc/self/mounts",
        ]));
    assert_eq!(stdout(&output), "500\n0\n", "{}", stderr(&output));
}
