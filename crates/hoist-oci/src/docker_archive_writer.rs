//! Writing `docker-archive` files as `podman save` and `skopeo copy ... docker-archive:` write
//! them: `manifest.json` naming each image's config (`<hex>.json`), its layers as plain tars
//! named by their diff_ids (`<hex>.tar`), and its tags in full (`docker.io/library/app:1`).
//! Docker's legacy per-layer directories and `repositories` file are not written: every
//! reader since Docker 1.10 goes by `manifest.json`.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use crate::archive::{parent_dir, TarBeside};
use crate::media_type::{self, decompressing, layer_compression, ManifestKind};
use crate::{
    descriptor_digest, image_name, Digest, DigestingReader, Error, Layout, Reference, Result,
};

/// Writes every named image of `layout` into the docker-archive `file`, which appears whole
/// or not at all. Each must be a single platform's image: the format has no index.
pub fn write_docker_archive(layout: &Layout, file: &Path) -> Result<()> {
    let mut tar = TarBeside::new(file)?;
    let builder = &mut tar.builder;
    let mut written = HashSet::new();
    let mut entries = Vec::new();
    for (manifest, tags) in images_with_tags(layout)? {
        entries.push(write_image(
            layout,
            &manifest,
            tags,
            builder,
            &mut written,
            file,
        )?);
    }
    let listing = serde_json::to_vec(&entries).expect("JSON values serialize");
    append_bytes(builder, "manifest.json", &listing, file)?;
    tar.finish()
}

/// The layout's images, each with the tags its names spell (a name that is no tagged
/// reference, such as a bare layout tag, gives none).
fn images_with_tags(layout: &Layout) -> Result<Vec<(Descriptor, Vec<String>)>> {
    let mut images: BTreeMap<String, (Descriptor, Vec<String>)> = BTreeMap::new();
    for descriptor in layout.index()?.manifests() {
        let media_type = descriptor.media_type().to_string();
        if media_type::manifest_kind(&media_type) != Some(ManifestKind::Image) {
            return Err(Error::WrongDocument {
                media_type,
                expected: "one platform's image manifest (a docker-archive holds no index: \
                           leave out --all-platforms)",
            });
        }
        let tag = image_name(descriptor)
            .and_then(|name| name.parse::<Reference>().ok())
            .filter(|reference| reference.tag().is_some())
            .map(|reference| reference.to_string());
        let entry = images
            .entry(descriptor.digest().to_string())
            .or_insert_with(|| (descriptor.clone(), Vec::new()));
        entry.1.extend(tag);
    }
    Ok(images.into_values().collect())
}

/// Appends one image's config and the layers not yet written; returns its `manifest.json` entry.
fn write_image(
    layout: &Layout,
    manifest: &Descriptor,
    tags: Vec<String>,
    builder: &mut tar::Builder<impl Write>,
    written: &mut HashSet<String>,
    file: &Path,
) -> Result<serde_json::Value> {
    let manifest: ImageManifest = layout.read_json(manifest, "image manifest")?;
    let config_digest = descriptor_digest(manifest.config())?;
    let config_bytes = layout.read_blob(
        manifest.config(),
        "image config",
        crate::layout::DOCUMENT_LIMIT,
    )?;
    let config: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|source| Error::BadJson {
            path: layout.blob_path(&config_digest),
            what: "image config",
            source,
        })?;
    let config_name = format!("{}.json", config_digest.hex());
    if written.insert(config_name.clone()) {
        append_bytes(builder, &config_name, &config_bytes, file)?;
    }
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::BadArchive {
            path: file.to_path_buf(),
            reason: format!(
                "the image has {} layers but its config lists {} diff_ids",
                manifest.layers().len(),
                diff_ids.len()
            ),
        });
    }
    let mut layer_names = Vec::new();
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let diff_id: Digest = diff_id.parse()?;
        let name = format!("{}.tar", diff_id.hex());
        if written.insert(name.clone()) {
            append_layer(layout, layer, &diff_id, &name, builder, file)?;
        }
        layer_names.push(name);
    }
    Ok(serde_json::json!({ "Config": config_name, "RepoTags": tags, "Layers": layer_names }))
}

/// Appends a layer as a plain tar, checked against its diff_id. It is decompressed into a
/// temporary file first: a tar entry's size comes before its content.
fn append_layer(
    layout: &Layout,
    layer: &Descriptor,
    diff_id: &Digest,
    name: &str,
    builder: &mut tar::Builder<impl Write>,
    file: &Path,
) -> Result<()> {
    let media_type = layer.media_type().to_string();
    let compression = layer_compression(&media_type).ok_or_else(|| Error::WrongDocument {
        media_type: media_type.clone(),
        expected: "a layer (tar, tar+gzip, tar+zstd)",
    })?;
    let blob_path = layout.blob_path(&descriptor_digest(layer)?);
    let source = BufReader::with_capacity(1 << 20, layout.open_blob(layer)?);
    let mut plain =
        DigestingReader::new(decompressing(source, compression).map_err(Error::io(&blob_path))?);
    let dir = parent_dir(file);
    let mut staging = BufWriter::new(tempfile::tempfile_in(dir).map_err(Error::io(dir))?);
    io::copy(&mut plain, &mut staging).map_err(Error::io(&blob_path))?;
    let mut staged = staging
        .into_inner()
        .map_err(|e| Error::io(dir)(e.into_error()))?;
    let actual = plain.digest();
    if actual != *diff_id {
        return Err(Error::DigestMismatch {
            expected: diff_id.clone(),
            actual,
        });
    }
    staged.rewind().map_err(Error::io(dir))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(plain.bytes_read());
    header.set_mode(0o644);
    builder
        .append_data(&mut header, name, BufReader::new(staged))
        .map_err(Error::io(file))
}

fn append_bytes(
    builder: &mut tar::Builder<impl Write>,
    name: &str,
    bytes: &[u8],
    file: &Path,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, name, bytes)
        .map_err(Error::io(file))
}
