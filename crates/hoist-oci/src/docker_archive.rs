//! `docker-archive` files, as `docker save` and `podman save --format docker-archive` write
//! them: a `manifest.json` naming, per image, its config file, its layer files and its tags.
//!
//! The files are read in whatever order the tar has them (podman writes `manifest.json` last),
//! so each candidate file is stored as a blob of the layout being made, named by the digest
//! computed while it is written; `manifest.json` then turns into a Docker schema 2 manifest per
//! image, over those blobs. The config's diff_ids still vouch for every layer when it is
//! unpacked, as for any image.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use oci_spec::image::Descriptor;
use serde::Deserialize;

use crate::archive_path::archive_path;
use crate::layout::DOCUMENT_LIMIT;
use crate::layout::{descriptor_of, empty_index, named};
use crate::media_type::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_LAYER_ZSTD, DOCKER_MANIFEST,
};
use crate::{Digest, DigestingReader, Layout};

pub(crate) const MANIFEST: &str = "manifest.json";
/// Files and links a docker-archive may name, and how long a name may be (PATH_MAX): each is
/// kept in memory, a link with its target. A real archive has a few per layer.
const MAX_NAMES: usize = 100_000;
const MAX_NAME_BYTES: usize = 4096;
/// Links followed from one name to a file, as the kernel's own limit on symlink chains.
const MAX_LINK_DEPTH: usize = 40;

/// One image of `manifest.json` (the fields hoist uses; `LayerSources` and `Parent` are not).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchivedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What a docker-archive's entries have given so far.
#[derive(Default)]
pub(crate) struct DockerFiles {
    manifest: Option<Vec<u8>>,
    /// Archive path → the blob its content became.
    files: HashMap<String, (Digest, u64)>,
    /// Archive path of a link → the archive path it names (podman links `ID/layer.tar` to the
    /// layer file). Never made on disk.
    links: HashMap<String, String>,
    stored: usize,
}

impl DockerFiles {
    /// Takes a regular file of the archive: `manifest.json` into memory (within
    /// [`DOCUMENT_LIMIT`]), anything else a config or layer may be into `blobs` under its digest.
    /// Docker's legacy per-layer metadata (`ID/json`, `ID/VERSION`, `repositories`) is skipped.
    pub(crate) fn take_file(
        &mut self,
        parts: &[&str],
        entry: &mut impl Read,
        size: u64,
        blobs: &Path,
    ) -> Result<(), String> {
        match parts {
            [MANIFEST] if size > DOCUMENT_LIMIT => Err(format!(
                "its {MANIFEST} is {size} bytes, more than the {DOCUMENT_LIMIT}-byte limit"
            )),
            [MANIFEST] => {
                let mut bytes = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("{MANIFEST}: {e}"))?;
                self.manifest = Some(bytes);
                Ok(())
            }
            ["repositories"] | [_, "json" | "VERSION"] => Ok(()),
            _ => {
                let name = parts.join("/");
                self.count_name(&[Path::new(&name)])?;
                let stored = self
                    .store(entry, blobs)
                    .map_err(|e| format!("{name}: {e}"))?;
                self.files.insert(name, stored);
                Ok(())
            }
        }
    }

    /// Room for one more name (and a link's target) of at most [`MAX_NAME_BYTES`].
    fn count_name(&self, names: &[&Path]) -> Result<(), String> {
        if self.files.len() + self.links.len() >= MAX_NAMES {
            return Err(format!(
                "it names more than {MAX_NAMES} files and links, more than a docker-archive holds"
            ));
        }
        if let Some(long) = names.iter().find(|n| n.as_os_str().len() > MAX_NAME_BYTES) {
            return Err(format!(
                "it names a file of {} bytes ({}…), longer than a path may be",
                long.as_os_str().len(),
                long.display()
                    .to_string()
                    .chars()
                    .take(40)
                    .collect::<String>()
            ));
        }
        Ok(())
    }

    /// Records a symbolic or hard link: `target` as the tar gives it, relative to the link's
    /// directory for a symbolic link and to the archive's root for a hard one. A target outside
    /// the archive names nothing, and is dropped.
    pub(crate) fn take_link(
        &mut self,
        parts: &[&str],
        target: &Path,
        symbolic: bool,
    ) -> Result<(), String> {
        self.count_name(&[Path::new(&parts.join("/")), target])?;
        let mut resolved: Vec<String> = if symbolic {
            parts[..parts.len().saturating_sub(1)]
                .iter()
                .map(|p| p.to_string())
                .collect()
        } else {
            Vec::new()
        };
        for component in target.components() {
            match component {
                std::path::Component::Normal(part) => {
                    resolved.push(part.to_string_lossy().into_owned())
                }
                std::path::Component::ParentDir if resolved.pop().is_some() => {}
                std::path::Component::CurDir => {}
                // Out of the archive, or absolute: it names nothing an image may use.
                _ => return Ok(()),
            }
        }
        self.links.insert(parts.join("/"), resolved.join("/"));
        Ok(())
    }

    pub(crate) fn has_manifest(&self) -> bool {
        self.manifest.is_some()
    }

    /// Writes the content through a hash into a temporary file of `blobs`, then names it by
    /// its digest.
    fn store(&mut self, entry: &mut impl Read, blobs: &Path) -> io::Result<(Digest, u64)> {
        fs::create_dir_all(blobs)?;
        self.stored += 1;
        let temp = blobs.join(format!(".docker-archive-{}", self.stored));
        let mut hashing = DigestingReader::new(entry);
        let mut out = File::create_new(&temp)?;
        io::copy(&mut hashing, &mut out)?;
        out.flush()?;
        let digest = hashing.digest();
        fs::rename(&temp, blobs.join(digest.hex()))?;
        Ok((digest, hashing.bytes_read()))
    }

    /// The blob an archive path (or a chain of links to one) became: one of the archive's
    /// files, or a blob it holds in layout form (Docker 25 names `blobs/sha256/<hex>`).
    fn blob_of(&self, layout: &Layout, name: &str) -> Result<(Digest, u64), String> {
        let missing = || format!("{MANIFEST} names {name:?}, which the archive does not hold");
        let parts = archive_path(Path::new(name)).ok_or_else(missing)?;
        let mut name = parts.join("/");
        for _ in 0..=MAX_LINK_DEPTH {
            if let Some(found) = self.files.get(&name) {
                return Ok(found.clone());
            }
            if let ["blobs", algorithm, hex] = name.split('/').collect::<Vec<_>>()[..] {
                let digest: Digest = format!("{algorithm}:{hex}")
                    .parse()
                    .map_err(|_| missing())?;
                let size = fs::metadata(layout.blob_path(&digest))
                    .map_err(|_| missing())?
                    .len();
                return Ok((digest, size));
            }
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => break,
            }
        }
        Err(missing())
    }

    /// Makes the layout at `dir` (whose blobs are already written) list a Docker schema 2
    /// manifest per image of `manifest.json`, named by each of its tags (or unnamed, as
    /// `docker save IMAGE-ID` leaves it).
    pub(crate) fn into_layout(self, dir: &Path) -> Result<Layout, String> {
        let images = self.images()?;
        let layout = Layout::create(dir).map_err(|e| e.to_string())?;
        let mut unnamed = Vec::new();
        // A tag names the last image that has it, as `docker load` leaves it.
        let mut tagged: Vec<Descriptor> = Vec::new();
        let mut tag_at: HashMap<String, usize> = HashMap::new();
        for image in &images {
            let manifest = self.write_manifest(&layout, image)?;
            let tags = image.repo_tags.clone().unwrap_or_default();
            if tags.is_empty() {
                unnamed.push(manifest.clone());
            }
            for tag in tags {
                let named = named(&manifest, &tag);
                match tag_at.get(&tag) {
                    Some(&at) => tagged[at] = named,
                    None if tag_at.len() >= MAX_NAMES => {
                        return Err(format!("{MANIFEST} gives more than {MAX_NAMES} tags"))
                    }
                    None => {
                        tag_at.insert(tag, tagged.len());
                        tagged.push(named);
                    }
                }
            }
        }
        // The index lists what manifest.json does, whatever index.json the archive also had.
        let mut index = empty_index();
        index.set_manifests(unnamed.into_iter().chain(tagged).collect());
        layout.write_index(&index).map_err(|e| e.to_string())?;
        Ok(layout)
    }

    /// The names `manifest.json` gives its images, in its order, as skopeo's `list-tags
    /// docker-archive:FILE` lists them: each tag as written, and `@N` for the Nth image when
    /// it has none.
    pub(crate) fn names(&self) -> Result<Vec<String>, String> {
        let images = self.images()?;
        let names = images.into_iter().enumerate().flat_map(|(at, image)| {
            match image.repo_tags.filter(|tags| !tags.is_empty()) {
                Some(tags) => tags,
                None => vec![format!("@{at}")],
            }
        });
        Ok(names.collect())
    }

    fn images(&self) -> Result<Vec<ArchivedImage>, String> {
        let manifest = self.manifest.as_deref().unwrap_or_default();
        serde_json::from_slice(manifest).map_err(|e| format!("{MANIFEST}: {e}"))
    }

    /// Writes the Docker schema 2 manifest of one image of `manifest.json`.
    fn write_manifest(&self, layout: &Layout, image: &ArchivedImage) -> Result<Descriptor, String> {
        let (digest, size) = self.blob_of(layout, &image.config)?;
        let config = descriptor_of(DOCKER_CONFIG, &digest, size);
        let layers = image
            .layers
            .iter()
            .map(|name| {
                let (digest, size) = self.blob_of(layout, name)?;
                let media_type = layer_media_type(&layout.blob_path(&digest))
                    .map_err(|e| format!("{name}: {e}"))?;
                Ok(descriptor_of(media_type, &digest, size))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let document = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config,
            "layers": layers,
        }))
        .map_err(|e| e.to_string())?;
        let manifest = descriptor_of(
            DOCKER_MANIFEST,
            &Digest::of(&document),
            document.len() as u64,
        );
        layout
            .write_blob(&document, &manifest)
            .map_err(|e| e.to_string())?;
        Ok(manifest)
    }
}

/// A layer file's media type, by its first bytes: docker-archives hold plain tars (podman,
/// Docker before 25) or compressed ones, with nothing else saying which.
fn layer_media_type(blob: &Path) -> io::Result<&'static str> {
    let mut magic = [0u8; 4];
    let read = File::open(blob)?.read(&mut magic)?;
    Ok(match &magic[..read] {
        [0x1f, 0x8b, ..] => DOCKER_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => DOCKER_LAYER_ZSTD,
        _ => DOCKER_LAYER_TAR,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_within_the_archive_only() {
        let mut files = DockerFiles::default();
        files
            .take_link(&["abc", "layer.tar"], Path::new("../x.tar"), true)
            .unwrap();
        files
            .take_link(&["up"], Path::new("../../etc/passwd"), true)
            .unwrap();
        files
            .take_link(&["abs"], Path::new("/etc/passwd"), true)
            .unwrap();
        files
            .take_link(&["hard", "layer.tar"], Path::new("y.tar"), false)
            .unwrap();
        assert_eq!(
            files.links.get("abc/layer.tar").map(String::as_str),
            Some("x.tar")
        );
        assert_eq!(
            files.links.get("hard/layer.tar").map(String::as_str),
            Some("y.tar")
        );
        assert!(!files.links.contains_key("up"));
        assert!(!files.links.contains_key("abs"));
    }

    #[test]
    fn a_link_cycle_names_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let mut files = DockerFiles::default();
        files.take_link(&["a"], Path::new("b"), true).unwrap();
        files.take_link(&["b"], Path::new("a"), true).unwrap();
        assert!(files.blob_of(&layout, "a").is_err());
    }

    #[test]
    fn names_in_the_manifest_are_normalised_and_may_name_layout_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let mut files = DockerFiles::default();
        let blobs = dir.path().join("blobs/sha256");
        let (digest, size) = files.store(&mut &b"layer"[..], &blobs).unwrap();
        files.files.insert("x.tar".into(), (digest.clone(), size));
        files
            .take_link(&["id", "layer.tar"], Path::new("../x.tar"), true)
            .unwrap();
        assert_eq!(
            files.blob_of(&layout, "./id//layer.tar").unwrap(),
            (digest.clone(), 5)
        );
        let by_path = format!("blobs/sha256/{}", digest.hex());
        assert_eq!(files.blob_of(&layout, &by_path).unwrap(), (digest, 5));
        assert!(files.blob_of(&layout, "../x.tar").is_err());
        assert!(files.blob_of(&layout, "blobs/sha256/00").is_err());
    }
}
