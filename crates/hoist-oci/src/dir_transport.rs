//! The `dir:` transport of containers tools (skopeo's directory format): `manifest.json` (the
//! top document), `version`, every blob in a file named by its digest, and, below an index,
//! each instance manifest in `<hex>.manifest.json`. One image per directory.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::layout::{descriptor_of, DOCUMENT_LIMIT};
use crate::media_type::{self, ManifestKind};
use crate::{descriptor_digest, Digest, Error, Layout, Result};

const VERSION_FILE: &str = "version";
const VERSION_PREFIX: &str = "Directory Transport Version: ";
/// What hoist writes: sha256 digests only, so 1.1 (1.2 marks other algorithms).
const VERSION: &str = "Directory Transport Version: 1.1\n";
const MANIFEST: &str = "manifest.json";

/// The file a blob or instance manifest lives in: the bare hex (hoist's digests are all
/// sha256; other algorithms would be `ALGO-HEX`, version 1.2).
fn file_name(digest: &Digest, suffix: &str) -> String {
    format!("{}{suffix}", digest.hex())
}

fn bad(dir: &Path, reason: impl Into<String>) -> Error {
    Error::BadArchive {
        path: dir.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes `top` of `layout`, with all it reaches, into `dir`. The image is built in a directory
/// beside `dir` and swapped in whole; a `dir` that exists must be empty or hold a `dir:` image
/// (which is replaced, as skopeo replaces it): anything else is not overwritten.
pub fn write_dir_image(layout: &Layout, top: &Descriptor, dir: &Path) -> Result<()> {
    let replaced = check_destination(dir)?;
    let parent = crate::archive::parent_dir(dir);
    fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let building = tempfile::Builder::new()
        .prefix(".hoist-dir-")
        .tempdir_in(parent)
        .map_err(Error::io(parent))?;
    let top_is_index = kind(top)? == ManifestKind::Index;
    for descriptor in layout.walk(top)? {
        let digest = descriptor_digest(&descriptor)?;
        let name = if descriptor.digest() == top.digest() {
            MANIFEST.to_string()
        } else if top_is_index && kind(&descriptor).is_ok() {
            file_name(&digest, ".manifest.json")
        } else {
            file_name(&digest, "")
        };
        let target = building.path().join(name);
        let mut reader = layout.open_blob(&descriptor)?;
        let mut file = File::create(&target).map_err(Error::io(&target))?;
        io::copy(&mut reader, &mut file).map_err(Error::io(layout.blob_path(&digest)))?;
        file.sync_all().map_err(Error::io(&target))?;
    }
    let version = building.path().join(VERSION_FILE);
    fs::write(&version, VERSION).map_err(Error::io(&version))?;
    // The temporary directory is private; the image is as readable as skopeo leaves it.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(building.path(), fs::Permissions::from_mode(0o755))
        .map_err(Error::io(building.path()))?;
    let built = building.keep();
    let swapped = if replaced {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &built,
            rustix::fs::CWD,
            dir,
            rustix::fs::RenameFlags::EXCHANGE,
        )
    } else {
        rustix::fs::rename(&built, dir)
    };
    // After an exchange, `built` holds the old image; after a failure, the new one.
    let cleaned = fs::remove_dir_all(&built);
    swapped.map_err(|e| Error::io(dir)(e.into()))?;
    if replaced {
        cleaned.map_err(Error::io(&built))?;
    }
    Ok(())
}

/// Whether `dir` holds an image to replace (true), or is free (false); refuses anything else.
fn check_destination(dir: &Path) -> Result<bool> {
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    if entries.next().is_none() {
        // An empty directory: replaced by the one built, as if it held an image.
        return Ok(true);
    }
    match fs::read_to_string(dir.join(VERSION_FILE)) {
        Ok(text) if text.starts_with(VERSION_PREFIX) => Ok(true),
        _ => Err(bad(
            dir,
            "it is not empty and holds no dir: image (no version file): hoist will not \
             overwrite it; name an empty or new directory",
        )),
    }
}

/// Copies the `dir:` image at `dir` into `into` (every blob checked against its digest as it is
/// written) and names it `name`. Returns its top descriptor.
pub fn read_dir_image(dir: &Path, into: &Layout, name: &str) -> Result<Descriptor> {
    match fs::read_to_string(dir.join(VERSION_FILE)) {
        Ok(text) if text.starts_with(VERSION_PREFIX) => {}
        Ok(_) => return Err(bad(dir, "its version file is not a dir: transport's")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(bad(
                dir,
                "it holds no dir: image (no version file; skopeo copy ... dir:PATH writes one)",
            ))
        }
        Err(e) => return Err(Error::io(dir.join(VERSION_FILE))(e)),
    }
    let (top_bytes, top) = read_document(&dir.join(MANIFEST), None)?;
    match kind(&top)? {
        ManifestKind::Image => copy_image(dir, into, &top_bytes, &top)?,
        ManifestKind::Index => {
            let index: ImageIndex = parse(&top_bytes, &dir.join(MANIFEST), "image index")?;
            for child in index.manifests() {
                let digest = descriptor_digest(child)?;
                let path = dir.join(file_name(&digest, ".manifest.json"));
                let (bytes, child) = read_document(&path, Some(child))?;
                if kind(&child)? == ManifestKind::Index {
                    return Err(bad(dir, "an index inside an index is not supported"));
                }
                copy_image(dir, into, &bytes, &child)?;
            }
            into.write_blob(&top_bytes, &top)?;
        }
    }
    into.set_ref(name, &top)?;
    Ok(top)
}

/// Copies an image manifest's config and layers, then the manifest itself.
fn copy_image(dir: &Path, into: &Layout, bytes: &[u8], descriptor: &Descriptor) -> Result<()> {
    let manifest: ImageManifest = parse(bytes, &dir.join(MANIFEST), "image manifest")?;
    for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
        let digest = descriptor_digest(blob)?;
        let Some(writer) = into.begin_blob(&digest, blob.size())? else {
            continue;
        };
        let path = dir.join(file_name(&digest, ""));
        let mut file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob(digest.clone()),
            _ => Error::io(&path)(e),
        })?;
        writer.write_all_from(&mut file, &path)?;
    }
    into.write_blob(bytes, descriptor)
}

/// A manifest file, within [`DOCUMENT_LIMIT`], and its descriptor: `expected` checked, or one
/// made from its own media type.
fn read_document(path: &Path, expected: Option<&Descriptor>) -> Result<(Vec<u8>, Descriptor)> {
    let file = File::open(path).map_err(Error::io(path))?;
    let mut bytes = Vec::new();
    file.take(DOCUMENT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io(path))?;
    if bytes.len() as u64 > DOCUMENT_LIMIT {
        return Err(Error::TooLarge {
            what: "manifest",
            actual: bytes.len() as u64,
            limit: DOCUMENT_LIMIT,
        });
    }
    let digest = Digest::of(&bytes);
    if let Some(expected) = expected {
        let wanted = descriptor_digest(expected)?;
        if wanted != digest {
            return Err(Error::DigestMismatch {
                expected: wanted,
                actual: digest,
            });
        }
        return Ok((bytes, expected.clone()));
    }
    let media_type = document_media_type(&bytes, path)?;
    let descriptor = descriptor_of(&media_type, &digest, bytes.len() as u64);
    Ok((bytes, descriptor))
}

/// A manifest's media type: its own `mediaType`, or for OCI documents that omit it, what their
/// fields make them.
fn document_media_type(bytes: &[u8], path: &Path) -> Result<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sniff {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let sniffed: Sniff = parse(bytes, path, "manifest")?;
    if sniffed.schema_version == Some(1) {
        return Err(bad(
            path,
            "it is a Docker schema 1 manifest, which hoist does not read",
        ));
    }
    Ok(match (sniffed.media_type, sniffed.manifests) {
        (Some(media_type), _) => media_type,
        (None, Some(_)) => media_type::OCI_INDEX.to_string(),
        (None, None) => media_type::OCI_MANIFEST.to_string(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::BadJson {
        path: PathBuf::from(path),
        what,
        source,
    })
}

fn kind(descriptor: &Descriptor) -> Result<ManifestKind> {
    let media_type = descriptor.media_type().to_string();
    media_type::manifest_kind(&media_type).ok_or(Error::WrongDocument {
        media_type,
        expected: "an image manifest or index",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_holds_something_else_is_never_overwritten() {
        let temp = tempfile::tempdir().unwrap();
        let source = Layout::create(temp.path().join("layout")).unwrap();
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_descriptor = descriptor_of(
            media_type::OCI_CONFIG,
            &Digest::of(config),
            config.len() as u64,
        );
        source.write_blob(config, &config_descriptor).unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config_descriptor,
            "layers": [],
        }))
        .unwrap();
        let top = descriptor_of(
            media_type::OCI_MANIFEST,
            &Digest::of(&manifest),
            manifest.len() as u64,
        );
        source.write_blob(&manifest, &top).unwrap();

        let precious = temp.path().join("precious");
        fs::create_dir(&precious).unwrap();
        fs::write(precious.join("thesis.txt"), "years of work").unwrap();
        assert!(matches!(
            write_dir_image(&source, &top, &precious),
            Err(Error::BadArchive { .. })
        ));
        assert!(precious.join("thesis.txt").is_file());

        // A dir: image is replaced whole, and reads back as it was written.
        let image = temp.path().join("image");
        write_dir_image(&source, &top, &image).unwrap();
        fs::write(image.join("stale"), "from an older image").unwrap();
        write_dir_image(&source, &top, &image).unwrap();
        assert!(!image.join("stale").exists());
        assert_eq!(
            fs::read(image.join(VERSION_FILE)).unwrap(),
            VERSION.as_bytes()
        );
        let back = Layout::create(temp.path().join("back")).unwrap();
        let read = read_dir_image(&image, &back, "v1").unwrap();
        assert_eq!(read.digest(), top.digest());
        assert_eq!(back.resolve(Some("v1")).unwrap().digest(), top.digest());
        let leftovers = fs::read_dir(temp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".hoist")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
