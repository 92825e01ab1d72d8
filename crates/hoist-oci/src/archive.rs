//! Image archives: `oci-archive:` files (an OCI image layout as one tar, as skopeo and podman
//! write them), and the docker-archives of `docker save` and `podman save` read as layouts.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::archive_path::archive_path;
use crate::docker_archive::DockerFiles;
use crate::layout::DOCUMENT_LIMIT;
use crate::{Error, GuardedTarReader, Layout, Result, VerifiedReader, REF_NAME_ANNOTATION};

/// Writes the layout at `layout` into the tar file `file`, which appears whole or not at all.
pub fn write_archive(layout: &Layout, file: &Path) -> Result<()> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".hoist-archive-")
        .tempfile_in(dir)
        .map_err(Error::io(dir))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, temp));
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    let io_error = Error::io(file);
    for name in ["oci-layout", "index.json"] {
        builder
            .append_path_with_name(layout.path().join(name), name)
            .map_err(Error::io(file))?;
    }
    builder
        .append_dir("blobs", layout.path().join("blobs"))
        .map_err(Error::io(file))?;
    let blobs = layout.path().join("blobs");
    let mut algorithms: Vec<_> = fs::read_dir(&blobs)
        .map_err(Error::io(&blobs))?
        .filter_map(|e| e.ok())
        .collect();
    algorithms.sort_by_key(|e| e.file_name());
    for algorithm in algorithms {
        let algorithm_name = Path::new("blobs").join(algorithm.file_name());
        builder
            .append_dir(&algorithm_name, algorithm.path())
            .map_err(Error::io(file))?;
        let mut entries: Vec<_> = fs::read_dir(algorithm.path())
            .map_err(Error::io(algorithm.path()))?
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            builder
                .append_path_with_name(entry.path(), algorithm_name.join(entry.file_name()))
                .map_err(Error::io(file))?;
        }
    }
    let writer = builder.into_inner().map_err(Error::io(file))?;
    let temp = writer
        .into_inner()
        .map_err(|e| Error::io(file)(e.into_error()))?;
    temp.as_file().sync_all().map_err(Error::io(file))?;
    temp.persist(file).map_err(|e| io_error(e.error))?;
    Ok(())
}

/// Extracts an archive into the empty directory `dir` and opens it as a layout: an
/// `oci-archive` (a layout in a tar) or a `docker-archive` (see [`crate::docker_archive`]).
/// Only what a layout holds is written: `oci-layout` and `index.json` (each within
/// [`DOCUMENT_LIMIT`]) and `blobs/sha256/<hex>`, each blob checked against its name as it is
/// written, or a docker-archive's other files (its configs and layers) under the digest
/// computed as they are written. Links are only recorded, as a docker-archive's names for its
/// files (never made, and refused where a layout file would be), devices are refused, and tar
/// headers are kept within [`crate::MAX_HEADER_BODY`]. Nothing is read whole before its size
/// is known.
pub fn read_archive(file: &Path, dir: &Path) -> Result<Layout> {
    let bad = |reason: String| Error::BadArchive {
        path: file.to_path_buf(),
        reason,
    };
    let opened = File::open(file).map_err(Error::io(file))?;
    let mut archive = tar::Archive::new(GuardedTarReader::new(BufReader::with_capacity(
        1 << 20,
        opened,
    )));
    let mut docker = DockerFiles::default();
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        take_entry(&mut entry, dir, &mut docker, file)?;
    }
    match Layout::open(dir) {
        Ok(layout) => {
            name_images_in_full(&layout)?;
            Ok(layout)
        }
        Err(_) if docker.has_manifest() => docker.into_layout(dir).map_err(bad),
        Err(_) => Err(bad(
            "it holds neither an OCI image layout nor a docker-archive's manifest.json".into(),
        )),
    }
}

/// Writes (or records) one entry of the archive `file` being extracted into `dir`.
fn take_entry(
    entry: &mut tar::Entry<impl Read>,
    dir: &Path,
    docker: &mut DockerFiles,
    file: &Path,
) -> Result<()> {
    let bad = |reason: String| Error::BadArchive {
        path: file.to_path_buf(),
        reason,
    };
    let name = entry.path().map_err(Error::io(file))?.into_owned();
    let parts = archive_path(&name)
        .ok_or_else(|| bad(format!("the entry {} leaves the archive", name.display())))?;
    let kind = entry.header().entry_type();
    let layout_file = LayoutFile::of(&parts);
    match (kind, layout_file) {
        (tar::EntryType::Directory, _) => Ok(()),
        (tar::EntryType::Regular, None) => {
            let blobs = dir.join("blobs").join(crate::Digest::ALGORITHM);
            let size = entry.size();
            docker.take_file(&parts, entry, size, &blobs).map_err(bad)
        }
        (tar::EntryType::Regular, Some(kind)) => {
            let size = entry.size();
            if kind != LayoutFile::Blob && size > DOCUMENT_LIMIT {
                return Err(bad(format!(
                    "its {} is {size} bytes, more than the {DOCUMENT_LIMIT}-byte limit",
                    name.display()
                )));
            }
            let target = dir.join(parts.join("/"));
            extract(entry, kind, &parts, size, &target)
                .map_err(|e| bad(format!("{}: {e}", name.display())))
        }
        (tar::EntryType::Symlink | tar::EntryType::Link, None) => {
            if let Some(target) = entry.link_name().map_err(Error::io(file))? {
                docker
                    .take_link(&parts, &target, kind == tar::EntryType::Symlink)
                    .map_err(bad)?;
            }
            Ok(())
        }
        (other, _) => Err(bad(format!(
            "the entry {} is a {other:?}; an image archive holds only files and directories \
             (and, in a docker-archive, links between its own files)",
            name.display()
        ))),
    }
}

/// containerd's exports and Docker's (25 and later) give `org.opencontainers.image.ref.name`
/// only the tag (`latest`) and the image's name in `io.containerd.image.name`: the full name
/// is the one to load the image by.
fn name_images_in_full(layout: &Layout) -> Result<()> {
    let _lock = layout.lock()?;
    let mut index = layout.index()?;
    let mut renamed = false;
    let manifests = index
        .manifests()
        .iter()
        .map(|descriptor| {
            let mut descriptor = descriptor.clone();
            let mut annotations = descriptor.annotations().clone().unwrap_or_default();
            if let Some(full) = annotations.get(CONTAINERD_NAME_ANNOTATION).cloned() {
                annotations.insert(REF_NAME_ANNOTATION.to_string(), full);
                descriptor.set_annotations(Some(annotations));
                renamed = true;
            }
            descriptor
        })
        .collect();
    if renamed {
        index.set_manifests(manifests);
        layout.write_index(&index)?;
    }
    Ok(())
}

const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// The files of an image layout that an archive's entries may become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayoutFile {
    Document,
    Blob,
}

impl LayoutFile {
    fn of(parts: &[&str]) -> Option<LayoutFile> {
        match parts {
            ["oci-layout"] | ["index.json"] => Some(LayoutFile::Document),
            ["blobs", _, _] => Some(LayoutFile::Blob),
            _ => None,
        }
    }
}

/// Writes one file of the layout; a blob goes through a verifier of the digest its name gives.
fn extract(
    entry: &mut impl Read,
    kind: LayoutFile,
    parts: &[&str],
    size: u64,
    target: &Path,
) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    // A join is safe here: `dir` starts empty and only directories and plain files are
    // ever made in it, so no symlink can redirect a later entry.
    let created = File::create_new(target);
    match kind {
        LayoutFile::Document => {
            let mut out = created?;
            std::io::copy(entry, &mut out)?;
            out.flush()
        }
        LayoutFile::Blob => {
            let digest: crate::Digest = format!("{}:{}", parts[1], parts[2])
                .parse()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut verified = VerifiedReader::new(entry, digest, size);
            match created {
                // A docker-archive file already became this blob, named by its computed
                // digest: the entry is checked all the same, and the file kept.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::io::copy(&mut verified, &mut std::io::sink())?;
                    Ok(())
                }
                created => {
                    let mut out = created?;
                    std::io::copy(&mut verified, &mut out)?;
                    out.flush()
                }
            }
        }
    }
}
