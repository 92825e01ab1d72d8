//! Fixture images from `fixtures/images.toml`, built deterministically into an OCI layout and
//! pushed to the local registries with skopeo.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use hoist_oci::{media_type, Digest, Layout};
use oci_spec::image::{Descriptor, MediaType};
use serde::Deserialize;
use serde_json::json;

use crate::registry::{Registries, AUTH_PASSWORD, AUTH_USER};
use crate::shell::{self, target_dir, workspace_root};

/// Fixed times, so that the same recipe and the same busybox give the same digests.
const EPOCH: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";
const BUSYBOX: &str = "/usr/bin/busybox";

#[derive(Deserialize)]
struct Recipes {
    image: Vec<ImageRecipe>,
    #[serde(default)]
    index: Vec<IndexRecipe>,
}

#[derive(Deserialize)]
struct ImageRecipe {
    name: String,
    #[serde(default = "default_tag")]
    tag: String,
    #[serde(default = "default_architecture")]
    architecture: String,
    variant: Option<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default = "yes")]
    publish: bool,
    /// Large images only `cargo xtask bench` builds.
    #[serde(default)]
    bench: bool,
    layer: Vec<LayerRecipe>,
}

#[derive(Deserialize)]
struct LayerRecipe {
    compression: String,
    #[serde(default)]
    busybox: bool,
    #[serde(default)]
    entries: Vec<Entry>,
    /// Directories of this machine, copied in at the same paths (a distribution-like tree).
    #[serde(default)]
    host_dirs: Vec<String>,
    /// This many small files (64 bytes to 2 KiB), spread over 100 directories.
    #[serde(default)]
    small_files: u32,
    /// One file of this many MiB of incompressible bytes.
    #[serde(default)]
    random_mib: u32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Dir {
        dir: String,
        mode: Option<u32>,
    },
    File {
        file: String,
        content: String,
        mode: Option<u32>,
        uid: Option<u64>,
        gid: Option<u64>,
    },
    Symlink {
        symlink: String,
        target: String,
    },
    Hardlink {
        hardlink: String,
        target: String,
    },
    Whiteout {
        whiteout: String,
    },
    Opaque {
        opaque: String,
    },
    Fifo {
        fifo: String,
    },
}

#[derive(Deserialize)]
struct IndexRecipe {
    name: String,
    #[serde(default = "default_tag")]
    tag: String,
    images: Vec<String>,
}

fn default_tag() -> String {
    "latest".into()
}
fn default_architecture() -> String {
    hoist_oci::Platform::host().architecture
}
fn yes() -> bool {
    true
}

/// Where the fixtures were built, and what was pushed.
pub struct Fixtures {
    pub layout: PathBuf,
    pub repositories: Vec<String>,
}

/// Which recipes to build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// What the tests use.
    Tests,
    /// Those and the large benchmark images.
    WithBench,
}

pub fn build_and_push(registries: &Registries, selection: Selection) -> anyhow::Result<Fixtures> {
    let fixtures = build(
        &target_dir().join("fixtures").join(&registries.instance),
        selection,
    )?;
    push(&fixtures, registries)?;
    Ok(fixtures)
}

/// Builds the selected recipes into a fresh OCI layout at `dir`.
pub fn build(dir: &Path, selection: Selection) -> anyhow::Result<Fixtures> {
    let path = workspace_root().join("fixtures/images.toml");
    let recipes: Recipes = toml::from_str(&fs::read_to_string(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let _ = fs::remove_dir_all(dir);
    let layout = Layout::create(dir.join("layout"))?;
    let mut built: BTreeMap<String, (Descriptor, &ImageRecipe)> = BTreeMap::new();
    let mut repositories = Vec::new();
    for recipe in recipes
        .image
        .iter()
        .filter(|r| !r.bench || selection == Selection::WithBench)
    {
        let descriptor = build_image(&layout, recipe)
            .with_context(|| format!("building fixture image {}", recipe.name))?;
        if recipe.publish {
            layout.set_ref(&format!("{}-{}", recipe.name, recipe.tag), &descriptor)?;
            repositories.push(format!("{}:{}", recipe.name, recipe.tag));
        }
        built.insert(recipe.name.clone(), (descriptor, recipe));
    }
    for index in &recipes.index {
        let mut manifests = Vec::new();
        for name in &index.images {
            let (descriptor, recipe) = built
                .get(name)
                .with_context(|| format!("index {} names unknown image {name}", index.name))?;
            let mut entry = serde_json::to_value(descriptor)?;
            entry["platform"] = json!({ "os": "linux", "architecture": recipe.architecture });
            if let Some(variant) = &recipe.variant {
                entry["platform"]["variant"] = json!(variant);
            }
            manifests.push(entry);
        }
        let document = json!({ "schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests });
        let descriptor = write_json(&layout, &document, media_type::OCI_INDEX)?;
        layout.set_ref(&format!("{}-{}", index.name, index.tag), &descriptor)?;
        repositories.push(format!("{}:{}", index.name, index.tag));
    }
    Ok(Fixtures {
        layout: layout.path().to_path_buf(),
        repositories,
    })
}

/// Pushes every published fixture to the plain registry, and busybox to the authenticated one.
fn push(fixtures: &Fixtures, registries: &Registries) -> anyhow::Result<()> {
    for repository in &fixtures.repositories {
        let (name, tag) = repository.split_once(':').expect("name:tag");
        let source = format!("oci:{}:{name}-{tag}", fixtures.layout.display());
        skopeo_copy(
            &source,
            &format!("docker://{}/{repository}", registries.plain.address),
            None,
        )?;
        if name == "busybox" {
            let creds = format!("{AUTH_USER}:{AUTH_PASSWORD}");
            skopeo_copy(
                &source,
                &format!("docker://{}/{repository}", registries.auth.address),
                Some(&creds),
            )?;
        }
    }
    eprintln!(
        "xtask: pushed {} fixture images to {}",
        fixtures.repositories.len(),
        registries.plain.address
    );
    Ok(())
}

fn skopeo_copy(source: &str, destination: &str, creds: Option<&str>) -> anyhow::Result<()> {
    let mut command = Command::new("skopeo");
    command.args([
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
    ]);
    if let Some(creds) = creds {
        command.args(["--dest-creds", creds]);
    }
    shell::output(command.arg(source).arg(destination)).map(|_| ())
}

fn build_image(layout: &Layout, recipe: &ImageRecipe) -> anyhow::Result<Descriptor> {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in &recipe.layer {
        let tar = layer_tar(layer)?;
        diff_ids.push(Digest::of(&tar).to_string());
        let (bytes, media) = match layer.compression.as_str() {
            "gzip" => {
                let mut encoder = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::default());
                encoder.write_all(&tar)?;
                (encoder.finish()?, media_type::OCI_LAYER_GZIP)
            }
            "zstd" => (zstd::encode_all(&tar[..], 3)?, media_type::OCI_LAYER_ZSTD),
            "none" => (tar, media_type::OCI_LAYER_TAR),
            other => bail!("unknown compression {other:?} (gzip, zstd or none)"),
        };
        layers.push(write_blob(layout, &bytes, media)?);
    }
    let mut config = json!({
        "created": CREATED,
        "architecture": recipe.architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": recipe.cmd,
            "Labels": { "org.opencontainers.image.title": recipe.name },
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": recipe.layer.iter().map(|_| json!({ "created": CREATED, "created_by": "cargo xtask fixtures" })).collect::<Vec<_>>(),
    });
    if let Some(variant) = &recipe.variant {
        config["variant"] = json!(variant);
    }
    write_image_documents(layout, &config, &layers)
}

/// Writes an image's config and its manifest naming `layers`; returns the manifest's descriptor.
pub(crate) fn write_image_documents(
    layout: &Layout,
    config: &serde_json::Value,
    layers: &[Descriptor],
) -> anyhow::Result<Descriptor> {
    let config = write_json(layout, config, media_type::OCI_CONFIG)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    write_json(layout, &manifest, media_type::OCI_MANIFEST)
}

pub(crate) fn write_json(
    layout: &Layout,
    value: &serde_json::Value,
    media: &str,
) -> anyhow::Result<Descriptor> {
    write_blob(layout, &serde_json::to_vec(value)?, media)
}

pub(crate) fn write_blob(layout: &Layout, bytes: &[u8], media: &str) -> anyhow::Result<Descriptor> {
    let digest: oci_spec::image::Digest = Digest::of(bytes).to_string().parse()?;
    let descriptor = Descriptor::new(MediaType::from(media), bytes.len() as u64, digest);
    layout.write_blob(bytes, &descriptor)?;
    Ok(descriptor)
}

/// The layer's tar stream: entries in recipe order (busybox's first), with fixed metadata.
fn layer_tar(layer: &LayerRecipe) -> anyhow::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    if layer.busybox {
        append_busybox(&mut builder)?;
    }
    builder.follow_symlinks(false);
    for dir in &layer.host_dirs {
        let inside = dir.trim_start_matches('/');
        builder
            .append_dir_all(inside, dir)
            .with_context(|| format!("copying {dir} into a fixture layer"))?;
    }
    append_small_files(&mut builder, layer.small_files)?;
    if layer.random_mib > 0 {
        let bytes = pseudo_random(
            layer.random_mib as usize * (1 << 20),
            layer.random_mib as u64,
        );
        append(
            &mut builder,
            &format!("random-{}m", layer.random_mib),
            tar::EntryType::Regular,
            0o644,
            &bytes,
            None,
            (0, 0),
        )?;
    }
    for entry in &layer.entries {
        match entry {
            Entry::Dir { dir, mode } => append(
                &mut builder,
                dir,
                tar::EntryType::Directory,
                mode.unwrap_or(0o755),
                b"",
                None,
                (0, 0),
            )?,
            Entry::File {
                file,
                content,
                mode,
                uid,
                gid,
            } => append(
                &mut builder,
                file,
                tar::EntryType::Regular,
                mode.unwrap_or(0o644),
                content.as_bytes(),
                None,
                (uid.unwrap_or(0), gid.unwrap_or(0)),
            )?,
            Entry::Symlink { symlink, target } => append(
                &mut builder,
                symlink,
                tar::EntryType::Symlink,
                0o777,
                b"",
                Some(target),
                (0, 0),
            )?,
            Entry::Hardlink { hardlink, target } => append(
                &mut builder,
                hardlink,
                tar::EntryType::Link,
                0o644,
                b"",
                Some(target),
                (0, 0),
            )?,
            Entry::Whiteout { whiteout } => {
                let path = Path::new(whiteout);
                let name = path
                    .file_name()
                    .context("whiteout needs a file name")?
                    .to_string_lossy();
                let wh = path.with_file_name(format!(".wh.{name}"));
                append(
                    &mut builder,
                    &wh.to_string_lossy(),
                    tar::EntryType::Regular,
                    0o644,
                    b"",
                    None,
                    (0, 0),
                )?
            }
            Entry::Opaque { opaque } => append(
                &mut builder,
                &format!("{}/.wh..wh..opq", opaque.trim_end_matches('/')),
                tar::EntryType::Regular,
                0o644,
                b"",
                None,
                (0, 0),
            )?,
            Entry::Fifo { fifo } => append(
                &mut builder,
                fifo,
                tar::EntryType::Fifo,
                0o644,
                b"",
                None,
                (0, 0),
            )?,
        }
    }
    Ok(builder.into_inner()?)
}

fn append_small_files(builder: &mut tar::Builder<Vec<u8>>, count: u32) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let dirs = 100;
    for d in 0..dirs {
        append(
            builder,
            &format!("small/{d:03}"),
            tar::EntryType::Directory,
            0o755,
            b"",
            None,
            (0, 0),
        )?;
    }
    let mut seed = 1u64;
    for i in 0..count {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = 64 + (seed >> 33) as usize % 1985;
        let line = format!("file {i}\n");
        let content = line.repeat(size.div_ceil(line.len()));
        append(
            builder,
            &format!("small/{:03}/f{i:05}", i % dirs),
            tar::EntryType::Regular,
            0o644,
            &content.as_bytes()[..size],
            None,
            (0, 0),
        )?;
    }
    Ok(())
}

/// Deterministic bytes that do not compress (xorshift64*).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545F4914F6CDD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn append_busybox(builder: &mut tar::Builder<Vec<u8>>) -> anyhow::Result<()> {
    let binary = fs::read(BUSYBOX).with_context(|| {
        format!("reading {BUSYBOX} (install busybox-static with `cargo xtask setup`)")
    })?;
    let list = shell::output(Command::new(BUSYBOX).arg("--list-full"))?.stdout;
    let mut applets: Vec<String> = String::from_utf8(list)?
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != "bin/busybox")
        .collect();
    applets.sort();
    applets.dedup();
    for dir in [
        "bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin",
        "usr/sbin", "var",
    ] {
        let mode = match dir {
            "tmp" => 0o1777,
            "root" => 0o700,
            _ => 0o755,
        };
        append(
            builder,
            dir,
            tar::EntryType::Directory,
            mode,
            b"",
            None,
            (0, 0),
        )?;
    }
    append(
        builder,
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        &binary,
        None,
        (0, 0),
    )?;
    for applet in &applets {
        append(
            builder,
            applet,
            tar::EntryType::Symlink,
            0o777,
            b"",
            Some("/bin/busybox"),
            (0, 0),
        )?;
    }
    let passwd =
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    let group = "root:x:0:\nnogroup:x:65534:\n";
    append(
        builder,
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        passwd.as_bytes(),
        None,
        (0, 0),
    )?;
    append(
        builder,
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        group.as_bytes(),
        None,
        (0, 0),
    )?;
    Ok(())
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    content: &[u8],
    link: Option<&str>,
    (uid, gid): (u64, u64),
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(EPOCH);
    header.set_size(content.len() as u64);
    if matches!(
        kind,
        tar::EntryType::Fifo | tar::EntryType::Char | tar::EntryType::Block
    ) {
        header.set_device_major(0)?;
        header.set_device_minor(0)?;
    }
    if let Some(link) = link {
        header.set_link_name(link)?;
    }
    builder.append_data(&mut header, path, content)?;
    Ok(())
}
