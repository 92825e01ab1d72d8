//! Image archives: `oci-archive:` files (an OCI image layout as one tar, as skopeo and podman
//! write them), and the docker-archives of `docker save` and `podman save` read as layouts.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path};

use crate::docker_archive::DockerFiles;
use crate::layout::DOCUMENT_LIMIT;
use crate::{Error, GuardedTarReader, Layout, Result, VerifiedReader};

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
/// written, or a docker-archive's files named by the digest computed as they are written;
/// other files are passed over, links only recorded (a docker-archive's names for its
/// files), devices refused, and tar headers kept within [`crate::MAX_HEADER_BODY`]. Nothing
/// is read whole before its size is known.
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
    let blobs = dir.join("blobs").join(crate::Digest::ALGORITHM);
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        let name = entry.path().map_err(Error::io(file))?.into_owned();
        let parts = archive_path(&name)
            .ok_or_else(|| bad(format!("the entry {} leaves the archive", name.display())))?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Regular => {
                let size = entry.size();
                let Some(kind) = LayoutFile::of(&parts) else {
                    docker
                        .take_file(&parts, &mut entry, size, &blobs)
                        .map_err(bad)?;
                    continue;
                };
                if kind != LayoutFile::Blob && size > DOCUMENT_LIMIT {
                    return Err(bad(format!(
                        "its {} is {size} bytes, more than the {DOCUMENT_LIMIT}-byte limit",
                        name.display()
                    )));
                }
                let target = dir.join(parts.join("/"));
                extract(&mut entry, kind, &parts, size, &target)
                    .map_err(|e| bad(format!("{}: {e}", name.display())))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name().map_err(Error::io(file))? {
                    docker.take_link(&parts, &target, kind == tar::EntryType::Symlink);
                }
            }
            other => {
                return Err(bad(format!(
                "the entry {} is a {other:?}; an image archive holds only files, directories and links",
                name.display()
            )))
            }
        }
    }
    match Layout::open(dir) {
        Ok(layout) => Ok(layout),
        Err(_) if docker.has_manifest() => docker.into_layout(dir).map_err(bad),
        Err(_) => Err(bad(
            "it holds neither an OCI image layout nor a docker-archive's manifest.json".into(),
        )),
    }
}

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

/// An entry's name as plain components (`.` dropped); `None` if any would leave the archive.
fn archive_path(name: &Path) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts)
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
    let mut out = File::create_new(target)?;
    match kind {
        LayoutFile::Document => {
            std::io::copy(entry, &mut out)?;
        }
        LayoutFile::Blob => {
            let digest: crate::Digest = format!("{}:{}", parts[1], parts[2])
                .parse()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            std::io::copy(&mut VerifiedReader::new(entry, digest, size), &mut out)?;
        }
    }
    out.flush()
}
