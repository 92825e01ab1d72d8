//! `oci-archive:` files: an OCI image layout as one tar, as skopeo and podman write them.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Component, Path};

use crate::{Error, Layout, Result};

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

/// Extracts an archive into the empty directory `dir` and opens it as a layout. Only plain
/// files and directories with plain relative names are accepted; blobs are verified whenever
/// they are read, as in any layout.
pub fn read_archive(file: &Path, dir: &Path) -> Result<Layout> {
    let bad = |reason: String| Error::BadArchive {
        path: file.to_path_buf(),
        reason,
    };
    let opened = File::open(file).map_err(Error::io(file))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, opened));
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        let name = entry.path().map_err(Error::io(file))?.into_owned();
        if name
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!(
                "the entry {} leaves the archive",
                name.display()
            )));
        }
        // A join is safe here: `dir` starts empty and only directories and plain files are
        // ever made in it, so no symlink can redirect a later entry.
        let target = dir.join(&name);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(Error::io(&target))?;
            }
            tar::EntryType::Regular => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(Error::io(parent))?;
                }
                let mut out = File::create_new(&target).map_err(Error::io(&target))?;
                std::io::copy(&mut entry, &mut out).map_err(Error::io(&target))?;
                out.flush().map_err(Error::io(&target))?;
            }
            other => {
                return Err(bad(format!(
                "the entry {} is a {other:?}; an image archive holds only files and directories",
                name.display()
            )))
            }
        }
    }
    Layout::open(dir).map_err(|_| bad("it does not hold an OCI image layout".into()))
}
