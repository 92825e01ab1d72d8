//! Image archives: `oci-archive:` files (an OCI image layout as one tar, as skopeo and podman
//! write them), and the docker-archives of `docker save` and `podman save` read as layouts.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::archive_path::archive_path;
use crate::docker_archive::{DockerFiles, MANIFEST};
use crate::layout::DOCUMENT_LIMIT;
use crate::{Error, GuardedTarReader, Layout, Result, VerifiedReader};

const NO_DOCKER_MANIFEST: &str = "it holds no manifest.json, as a docker-archive does";

/// The directory a file is in (`.` for a bare name): where its temporary twin is built.
pub fn parent_dir(file: &Path) -> &Path {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A tar written into a temporary file beside `file`, which becomes `file` only when finished.
pub(crate) struct TarBeside<'a> {
    pub(crate) builder: tar::Builder<BufWriter<tempfile::NamedTempFile>>,
    file: &'a Path,
}

impl<'a> TarBeside<'a> {
    pub(crate) fn new(file: &'a Path) -> Result<Self> {
        let dir = parent_dir(file);
        let temp = tempfile::Builder::new()
            .prefix(".hoist-archive-")
            .tempfile_in(dir)
            .map_err(Error::io(dir))?;
        let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, temp));
        builder.follow_symlinks(false);
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(TarBeside { builder, file })
    }

    /// Completes the tar, syncs it, and renames it into place.
    pub(crate) fn finish(self) -> Result<()> {
        let file = self.file;
        let writer = self.builder.into_inner().map_err(Error::io(file))?;
        let temp = writer
            .into_inner()
            .map_err(|e| Error::io(file)(e.into_error()))?;
        temp.as_file().sync_all().map_err(Error::io(file))?;
        temp.persist(file).map_err(|e| Error::io(file)(e.error))?;
        Ok(())
    }
}

/// Writes the layout at `layout` into the tar file `file`, which appears whole or not at all.
pub fn write_archive(layout: &Layout, file: &Path) -> Result<()> {
    let mut tar = TarBeside::new(file)?;
    let builder = &mut tar.builder;
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
    tar.finish()
}

/// Which kind of image archive a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI image layout in a tar (`skopeo copy … oci-archive:`, `podman save --format
    /// oci-archive`, `hoist save`).
    Oci,
    /// `docker save` and `podman save`: `manifest.json` names each image's config and layers
    /// (Docker 25 and later add an OCI layout beside it).
    Docker,
}

impl ArchiveFormat {
    /// The transport's name in containers-transports(5).
    pub fn transport(self) -> &'static str {
        match self {
            ArchiveFormat::Oci => "oci-archive",
            ArchiveFormat::Docker => "docker-archive",
        }
    }
}

/// Extracts an archive into the empty directory `dir` and opens it as a layout, read as
/// `format` says or, with none, as whichever it holds (an OCI layout first, as podman's
/// `load` tries it first). Only what a layout holds is written: `oci-layout` and `index.json`
/// (each within [`DOCUMENT_LIMIT`]) and `blobs/sha256/<hex>`, each blob checked against its
/// name as it is written; and, unless read as an OCI archive, a docker-archive's other files
/// (its configs and layers) under the digest computed as they are written. Links are only
/// recorded, as a docker-archive's names for its files (never made, and refused where a
/// layout file would be), devices are refused, and tar headers are kept within
/// [`crate::MAX_HEADER_BODY`]. Nothing is read whole before its size is known.
pub fn read_archive(file: &Path, dir: &Path, format: Option<ArchiveFormat>) -> Result<Layout> {
    let opened = File::open(file).map_err(Error::io(file))?;
    let mut archive = tar::Archive::new(GuardedTarReader::new(BufReader::with_capacity(
        1 << 20,
        opened,
    )));
    let mut docker = (format != Some(ArchiveFormat::Oci)).then(DockerFiles::default);
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        take_entry(&mut entry, dir, docker.as_mut(), file)?;
    }
    let has_layout = dir.join("oci-layout").is_file() && dir.join("index.json").is_file();
    match docker.filter(DockerFiles::has_manifest) {
        // podman and Docker read a docker-archive by its manifest.json, whatever else it holds.
        Some(docker) if format == Some(ArchiveFormat::Docker) || !has_layout => {
            docker.into_layout(dir).map_err(|reason| bad(file, reason))
        }
        _ if has_layout && format != Some(ArchiveFormat::Docker) => Layout::open(dir),
        _ => Err(bad(
            file,
            match format {
                Some(ArchiveFormat::Oci) => {
                    "it holds no OCI image layout (oci-layout and index.json)"
                }
                Some(ArchiveFormat::Docker) => NO_DOCKER_MANIFEST,
                None => "it holds neither an OCI image layout nor a docker-archive's manifest.json",
            }
            .into(),
        )),
    }
}

/// The names of a docker-archive's images (see `DockerFiles::names`), read from its
/// `manifest.json` alone: the other entries are passed over, never written anywhere.
pub fn docker_archive_names(file: &Path) -> Result<Vec<String>> {
    let opened = File::open(file).map_err(Error::io(file))?;
    let mut archive = tar::Archive::new(GuardedTarReader::new(BufReader::new(opened)));
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        let name = entry.path().map_err(Error::io(file))?.into_owned();
        let parts = archive_path(&name).unwrap_or_default();
        if parts != [MANIFEST] || entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let mut docker = DockerFiles::default();
        let size = entry.size();
        return docker
            .take_file(&parts, &mut entry, size, Path::new(""))
            .and_then(|()| docker.names())
            .map_err(|reason| bad(file, reason));
    }
    Err(bad(file, NO_DOCKER_MANIFEST.into()))
}

fn bad(file: &Path, reason: String) -> Error {
    Error::BadArchive {
        path: file.to_path_buf(),
        reason,
    }
}

/// Writes (or records) one entry of the archive `file` being extracted into `dir`; the
/// docker-archive's files go to `docker`, or are passed over when there is none.
fn take_entry(
    entry: &mut tar::Entry<impl Read>,
    dir: &Path,
    docker: Option<&mut DockerFiles>,
    file: &Path,
) -> Result<()> {
    let name = entry.path().map_err(Error::io(file))?.into_owned();
    let parts = archive_path(&name).ok_or_else(|| {
        bad(
            file,
            format!("the entry {} leaves the archive", name.display()),
        )
    })?;
    let kind = entry.header().entry_type();
    match (kind, LayoutFile::of(&parts), docker) {
        (tar::EntryType::Directory, _, _) => Ok(()),
        (tar::EntryType::Regular, None, Some(docker)) => {
            let blobs = dir.join("blobs").join(crate::Digest::ALGORITHM);
            let size = entry.size();
            docker
                .take_file(&parts, entry, size, &blobs)
                .map_err(|reason| bad(file, reason))
        }
        (tar::EntryType::Regular, Some(kind), _) => {
            let size = entry.size();
            if kind != LayoutFile::Blob && size > DOCUMENT_LIMIT {
                return Err(bad(
                    file,
                    format!(
                        "its {} is {size} bytes, more than the {DOCUMENT_LIMIT}-byte limit",
                        name.display()
                    ),
                ));
            }
            let target = dir.join(parts.join("/"));
            extract(entry, kind, &parts, size, &target)
                .map_err(|e| bad(file, format!("{}: {e}", name.display())))
        }
        (tar::EntryType::Symlink | tar::EntryType::Link, None, Some(docker)) => {
            if let Some(target) = entry.link_name().map_err(Error::io(file))? {
                docker
                    .take_link(&parts, &target, kind == tar::EntryType::Symlink)
                    .map_err(|reason| bad(file, reason))?;
            }
            Ok(())
        }
        // Not part of a layout, and no docker-archive is being read: nothing reads it.
        (tar::EntryType::Regular | tar::EntryType::Symlink | tar::EntryType::Link, None, None) => {
            Ok(())
        }
        (other, _, _) => Err(bad(
            file,
            format!(
                "the entry {} is a {other:?}; an image archive holds only files and \
                 directories (and, in a docker-archive, links between its own files)",
                name.display()
            ),
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

/// Writes one file of the layout; a blob goes through a verifier of the digest its name gives.
fn extract(
    entry: &mut impl Read,
    kind: LayoutFile,
    parts: &[&str],
    size: u64,
    target: &Path,
) -> std::io::Result<()> {
    let digest: Option<crate::Digest> = match kind {
        LayoutFile::Document => None,
        LayoutFile::Blob => Some(
            format!("{}:{}", parts[1], parts[2])
                .parse()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
        ),
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    // A join is safe here: `dir` starts empty and only directories and plain files are
    // ever made in it, so no symlink can redirect a later entry.
    let mut out: Box<dyn Write> = match File::create_new(target) {
        Ok(file) => Box::new(file),
        // The blob is there already (a second entry of it, or a docker-archive file that
        // became it under its computed digest): this entry is checked all the same.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && digest.is_some() => {
            Box::new(std::io::sink())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(std::io::Error::new(e.kind(), "the archive holds it twice"))
        }
        Err(e) => return Err(e),
    };
    match digest {
        None => std::io::copy(entry, &mut out)?,
        Some(digest) => std::io::copy(&mut VerifiedReader::new(entry, digest, size), &mut out)?,
    };
    out.flush()
}
