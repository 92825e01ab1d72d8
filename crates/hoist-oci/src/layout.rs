use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use tempfile::NamedTempFile;

use crate::verify::VerifiedReader;
use crate::{BlobFeeds, Digest, Error, Result};

/// The annotation that names an image in an OCI layout's `index.json` (`oci:DIR:TAG`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
/// The largest JSON document (manifest, index, config, `index.json`) read into memory.
pub const DOCUMENT_LIMIT: u64 = 8 << 20;
const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout on disk: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
///
/// Blobs appear only by atomic rename after verification; `index.json` is rewritten by atomic
/// rename under an exclusive lock on the layout directory, so concurrent writers each see the
/// other's refs and readers never see a torn file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub(crate) root: PathBuf,
    /// Where this handle's blob writers publish their progress (see [`Layout::with_feeds`]).
    pub(crate) feeds: Option<Arc<BlobFeeds>>,
}

impl Layout {
    /// Opens an existing layout.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.join(LAYOUT_FILE).is_file() {
            return Err(Error::NotALayout(root));
        }
        Ok(Layout { root, feeds: None })
    }

    /// Opens a layout, creating an empty one (and its parent directories) where none exists.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let blobs = root.join("blobs").join(Digest::ALGORITHM);
        fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
        let layout = Layout { root, feeds: None };
        let _lock = layout.lock()?;
        if !layout.root.join(LAYOUT_FILE).exists() {
            layout.write_atomically(LAYOUT_FILE, LAYOUT_VERSION.as_bytes())?;
        }
        if !layout.root.join(INDEX_FILE).exists() {
            layout.write_index(&empty_index())?;
        }
        Ok(layout)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// This layout, with the blobs its writers write followable through `feeds` while they
    /// grow.
    pub fn with_feeds(&self, feeds: Arc<BlobFeeds>) -> Layout {
        Layout {
            root: self.root.clone(),
            feeds: Some(feeds),
        }
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Whether a blob with this digest and size is present. The content is not re-hashed here;
    /// it was verified on the way in, and every read verifies it again.
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Writes a small blob (manifest, config) held in memory, checked against its descriptor.
    pub fn write_blob(&self, bytes: &[u8], expected: &Descriptor) -> Result<()> {
        let digest = descriptor_digest(expected)?;
        match self.begin_blob(&digest, expected.size())? {
            None => Ok(()),
            Some(writer) => writer.write_all_from(&mut &bytes[..], &self.blob_path(&digest)),
        }
    }

    /// Opens a blob for reading through a verifier of its descriptor's digest and size.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifiedReader<File>> {
        let digest = descriptor_digest(descriptor)?;
        let path = self.blob_path(&digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob(digest.clone()),
            _ => Error::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        Ok(VerifiedReader::new(file, digest, descriptor.size()))
    }

    /// Reads a whole blob into memory, verified, refusing one larger than `limit` before reading.
    pub fn read_blob(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
        limit: u64,
    ) -> Result<Vec<u8>> {
        if descriptor.size() > limit {
            return Err(Error::TooLarge {
                what,
                actual: descriptor.size(),
                limit,
            });
        }
        let digest = descriptor_digest(descriptor)?;
        let mut bytes = Vec::with_capacity(descriptor.size() as usize);
        self.open_blob(descriptor)?
            .read_to_end(&mut bytes)
            .map_err(Error::io(self.blob_path(&digest)))?;
        Ok(bytes)
    }

    /// Reads and parses a JSON blob (manifest, index, config).
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<T> {
        let bytes = self.read_blob(descriptor, what, DOCUMENT_LIMIT)?;
        let digest = descriptor_digest(descriptor)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::BadJson {
            path: self.blob_path(&digest),
            what,
            source,
        })
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join(INDEX_FILE);
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .and_then(|file| file.take(DOCUMENT_LIMIT + 1).read_to_end(&mut bytes))
            .map_err(Error::io(&path))?;
        if bytes.len() as u64 > DOCUMENT_LIMIT {
            return Err(Error::TooLarge {
                what: "index.json",
                actual: fs::metadata(&path).map_or(bytes.len() as u64, |m| m.len()),
                limit: DOCUMENT_LIMIT,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::BadJson {
            path,
            what: "index.json",
            source,
        })
    }

    /// Points `name` at `descriptor` in `index.json`, replacing what it named before.
    pub fn set_ref(&self, name: &str, descriptor: &Descriptor) -> Result<()> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) != Some(name))
            .cloned()
            .collect();
        manifests.push(named(descriptor, name));
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// Finds the descriptor `name` refers to; with no name, the layout's only image (which may
    /// be listed under several names).
    pub fn resolve(&self, name: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let manifests = index.manifests();
        let found = match name {
            _ if manifests.is_empty() => {
                return Err(Error::NoImages {
                    path: self.root.clone(),
                })
            }
            Some(name) => manifests.iter().find(|d| ref_name(d) == Some(name)),
            None if manifests
                .iter()
                .all(|d| d.digest() == manifests[0].digest()) =>
            {
                manifests.first()
            }
            None => {
                return Err(Error::WhichImage {
                    path: self.root.clone(),
                    available: self.ref_names(&index),
                })
            }
        };
        found.cloned().ok_or_else(|| Error::UnknownTag {
            path: self.root.clone(),
            tag: name.unwrap_or("").to_string(),
            available: self.ref_names(&index),
        })
    }

    fn ref_names(&self, index: &ImageIndex) -> String {
        let names: Vec<&str> = index.manifests().iter().filter_map(ref_name).collect();
        if names.is_empty() {
            "no tagged images".to_string()
        } else {
            names.join(", ")
        }
    }

    pub(crate) fn lock(&self) -> Result<LayoutLock> {
        let dir = File::open(&self.root).map_err(Error::io(&self.root))?;
        rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(&self.root)(e.into()))?;
        Ok(LayoutLock { _dir: dir })
    }

    pub(crate) fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec(index).expect("an ImageIndex always serialises");
        self.write_atomically(INDEX_FILE, &bytes)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.root.join(name);
        let mut file = NamedTempFile::new_in(&self.root).map_err(Error::io(&self.root))?;
        file.write_all(bytes).map_err(Error::io(&target))?;
        file.as_file().sync_all().map_err(Error::io(&target))?;
        file.persist(&target)
            .map_err(|e| Error::io(&target)(e.error))?;
        sync_dir(&self.root)
    }
}

/// Held while `index.json` is read and rewritten; dropping the fd releases the flock.
pub(crate) struct LayoutLock {
    _dir: File,
}

/// A descriptor of `size` bytes with hoist's digest `digest`.
pub fn descriptor_of(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    let digest: oci_spec::image::Digest = digest
        .to_string()
        .parse()
        .expect("hoist digests are valid OCI digests");
    Descriptor::new(oci_spec::image::MediaType::from(media_type), size, digest)
}

/// The digest of a descriptor, as hoist's own checked type.
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest> {
    Ok(descriptor.digest().to_string().parse()?)
}

/// The name an `index.json` entry gives its image (`org.opencontainers.image.ref.name`).
pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    annotation(descriptor, REF_NAME_ANNOTATION)
}

/// The image's full name where an export records it beside a ref name that is only its tag:
/// containerd's exports and Docker's (25 and later) write `ref.name: latest` and
/// `io.containerd.image.name: docker.io/library/app:latest`.
pub fn full_name(descriptor: &Descriptor) -> Option<&str> {
    annotation(descriptor, CONTAINERD_NAME_ANNOTATION)
}

/// The name to keep an image of another layout (an archive's) by: its ref name, unless that
/// is only a tag and the export recorded the full name beside it.
pub fn image_name(descriptor: &Descriptor) -> Option<&str> {
    match ref_name(descriptor) {
        Some(name) if name.contains('/') => Some(name),
        other => full_name(descriptor).or(other),
    }
}

const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

fn annotation<'a>(descriptor: &'a Descriptor, key: &str) -> Option<&'a str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// `descriptor` for `index.json`, named `name` (which replaces any full name an export
/// recorded: the image is now known by this one).
pub(crate) fn named(descriptor: &Descriptor, name: &str) -> Descriptor {
    let mut named = descriptor.clone();
    let mut annotations = named.annotations().clone().unwrap_or_default();
    annotations.remove(CONTAINERD_NAME_ANNOTATION);
    annotations.insert(REF_NAME_ANNOTATION.to_string(), name.to_string());
    named.set_annotations(Some(annotations));
    named
}

/// Where a non-distributable layer's bytes may be, when the registry does not hold them (its
/// `urls`); none for any other blob.
pub fn nondistributable_urls(descriptor: &Descriptor) -> Vec<String> {
    if !crate::media_type::is_nondistributable(descriptor.media_type().as_ref()) {
        return Vec::new();
    }
    descriptor.urls().clone().unwrap_or_default()
}

pub(crate) fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .annotations(HashMap::new())
        .build()
        .expect("an empty index has every required field")
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media_type;

    fn descriptor(bytes: &[u8]) -> Descriptor {
        let digest: oci_spec::image::Digest = Digest::of(bytes).to_string().parse().unwrap();
        Descriptor::new(
            MediaType::Other(media_type::OCI_LAYER_TAR.into()),
            bytes.len() as u64,
            digest,
        )
    }

    /// Every name in the layout's blob directory, partial files included.
    pub(crate) fn blob_dir_names(layout: &Layout) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(layout.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn create_makes_a_layout_that_open_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("l")).unwrap();
        assert_eq!(
            fs::read_to_string(layout.path().join("oci-layout")).unwrap(),
            LAYOUT_VERSION
        );
        assert!(layout.index().unwrap().manifests().is_empty());
        Layout::open(layout.path()).unwrap();
        assert!(matches!(
            Layout::open(dir.path()),
            Err(Error::NotALayout(_))
        ));
    }

    #[test]
    fn mismatched_blob_leaves_nothing_visible() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let good = Digest::of(b"good");
        let mut w = layout.begin_blob(&good, 4).unwrap().unwrap();
        w.append(b"evil").unwrap();
        let err = w.commit().unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        let mut w = layout.begin_blob(&good, 4).unwrap().unwrap();
        w.append(b"goo").unwrap();
        assert!(matches!(w.commit(), Err(Error::SizeMismatch { .. })));
        assert!(
            blob_dir_names(&layout).is_empty(),
            "{:?}",
            blob_dir_names(&layout)
        );
    }

    #[test]
    fn a_writer_that_cannot_resume_starts_over_a_left_partial() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let content = b"complete".to_vec();
        let digest = Digest::of(&content);
        let mut killed = layout.begin_blob(&digest, 8).unwrap().unwrap();
        killed.append(b"compl").unwrap();
        killed.flush().unwrap();
        drop(killed);

        // Copies from a whole source (a layout, bytes in memory) start at its first byte.
        let descriptor = descriptor(&content);
        layout.write_blob(&content, &descriptor).unwrap();
        assert_eq!(fs::read(layout.blob_path(&digest)).unwrap(), content);
    }

    #[test]
    fn blobs_round_trip_and_reads_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let desc = descriptor(b"layer bytes");
        layout.write_blob(b"layer bytes", &desc).unwrap();
        assert_eq!(
            layout.read_blob(&desc, "layer", 1024).unwrap(),
            b"layer bytes"
        );
        // Corrupt the stored blob: the next read must fail instead of returning bad bytes.
        let path = layout.blob_path(&descriptor_digest(&desc).unwrap());
        fs::write(&path, b"layer bytez").unwrap();
        assert!(layout.read_blob(&desc, "layer", 1024).is_err());
        assert!(matches!(
            layout.read_blob(&desc, "layer", 3),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn refs_replace_and_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let (a, b) = (descriptor(b"a"), descriptor(b"b"));
        layout.set_ref("v1", &a).unwrap();
        layout.set_ref("v2", &a).unwrap();
        layout.set_ref("v1", &b).unwrap();
        assert_eq!(layout.index().unwrap().manifests().len(), 2);
        assert_eq!(layout.resolve(Some("v1")).unwrap().digest(), b.digest());
        let err = layout.resolve(Some("v3")).unwrap_err().to_string();
        assert!(err.contains("v1") && err.contains("v2"), "{err}");
    }

    #[test]
    fn concurrent_ref_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let layout = layout.clone();
                s.spawn(move || layout.set_ref(&format!("t{i}"), &descriptor(&[i])).unwrap());
            }
        });
        assert_eq!(layout.index().unwrap().manifests().len(), 8);
    }

    #[test]
    fn resolve_finds_the_only_image_however_listed() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::create(temp.path()).unwrap();
        assert!(matches!(layout.resolve(None), Err(Error::NoImages { .. })));
        let one = descriptor(b"one");
        layout.set_ref("1", &one).unwrap();
        layout.set_ref("other-name", &one).unwrap();
        for name in [None, Some("1"), Some("other-name")] {
            assert_eq!(
                layout.resolve(name).unwrap().digest(),
                one.digest(),
                "{name:?}"
            );
        }
        assert!(matches!(
            layout.resolve(Some("2")),
            Err(Error::UnknownTag { .. })
        ));
        layout.set_ref("two", &descriptor(b"two")).unwrap();
        assert!(matches!(
            layout.resolve(None),
            Err(Error::WhichImage { .. })
        ));
    }

    #[test]
    fn an_exports_full_name_names_the_image_until_it_is_renamed() {
        let mut exported = descriptor(b"one");
        exported.set_annotations(Some(
            [
                (REF_NAME_ANNOTATION.to_string(), "1".to_string()),
                (
                    CONTAINERD_NAME_ANNOTATION.to_string(),
                    "docker.io/library/app:1".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        ));
        assert_eq!(image_name(&exported), Some("docker.io/library/app:1"));
        let renamed = named(&exported, "localhost/mine:2");
        assert_eq!(image_name(&renamed), Some("localhost/mine:2"));
        assert_eq!(full_name(&renamed), None);
    }
}
