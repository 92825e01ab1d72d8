//! Hand-made images for tests: layers from tar entries (hostile ones included, which the tar
//! crate's own path checks would refuse to write), written into an OCI layout.

use std::io::Write;
use std::path::Path;

use hoist_oci::{media_type, Digest, Layout};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::json;

/// A tar stream built entry by entry, names written verbatim.
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }
}

impl Tar {
    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.entry(path, tar::EntryType::Regular, 0o644, content, None);
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.entry(path, tar::EntryType::Directory, 0o755, b"", None);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entry(path, tar::EntryType::Symlink, 0o777, b"", Some(target));
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entry(path, tar::EntryType::Link, 0o644, b"", Some(target));
        self
    }

    pub fn file_mode(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        self.entry(path, tar::EntryType::Regular, mode, content, None);
        self
    }

    pub fn dir_mode(mut self, path: &str, mode: u32) -> Self {
        self.entry(path, tar::EntryType::Directory, mode, b"", None);
        self
    }

    /// A character (`'c'`) or block (`'b'`) device node.
    pub fn device(mut self, path: &str, kind: char, major: u32, minor: u32) -> Self {
        let entry_type = if kind == 'b' {
            tar::EntryType::Block
        } else {
            tar::EntryType::Char
        };
        let mut header = self.header(path, entry_type, 0o640, 0, None);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        header.set_cksum();
        self.builder.append(&header, &b""[..]).unwrap();
        self
    }

    /// A file with extended attributes, carried in a PAX header as `SCHILY.xattr.NAME`.
    pub fn file_with_xattrs(
        mut self,
        path: &str,
        content: &[u8],
        xattrs: &[(&str, &[u8])],
    ) -> Self {
        let records: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        self.entry(path, tar::EntryType::Regular, 0o644, content, None);
        self
    }

    /// A file whose path is longer than a tar header holds (written with a GNU long name).
    pub fn long_file(mut self, path: &str, content: &[u8]) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(content.len() as u64);
        self.builder
            .append_data(&mut header, path, content)
            .unwrap();
        self
    }

    /// A symlink whose target is longer than a tar header holds.
    pub fn long_symlink(mut self, path: &str, target: &str) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(0);
        self.builder.append_link(&mut header, path, target).unwrap();
        self
    }

    /// `.wh.NAME` beside NAME: hides NAME of the layers below.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, b"")
    }

    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("tar in memory")
    }

    fn entry(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        content: &[u8],
        link: Option<&str>,
    ) {
        let header = self.header(path, kind, mode, content.len(), link);
        self.builder
            .append(&header, content)
            .expect("tar in memory");
    }

    /// A header with the name written verbatim (the tar crate's own setters refuse `..`).
    fn header(
        &self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        size: usize,
        link: Option<&str>,
    ) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(size as u64);
        let gnu = header.as_gnu_mut().expect("gnu header");
        assert!(path.len() < gnu.name.len(), "test paths are short");
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        header
    }
}

/// How to lie about a layer, for tests of what the unpacker must catch.
#[derive(Default, Clone, Copy)]
pub struct Lies {
    /// Record a diff_id that does not match the layer.
    pub wrong_diff_id: bool,
    /// Cut this many bytes off the end of the stored (compressed) blob, keeping the
    /// descriptor's size and digest of the whole.
    pub truncate_blob: usize,
}

/// A layer's stored bytes, its diff_id and its media type.
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
    pub media_type: String,
}

impl Layer {
    pub fn gzip(tar: &[u8]) -> Layer {
        Layer::gzip_from(|out| out.write_all(tar).unwrap())
    }

    /// A layer whose tar `write` streams: only the compressed bytes are ever held whole.
    pub fn gzip_from(write: impl FnOnce(&mut dyn Write)) -> Layer {
        struct Hashing {
            hasher: sha2::Sha256,
            gz: flate2::write::GzEncoder<Vec<u8>>,
        }
        impl Write for Hashing {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                sha2::Digest::update(&mut self.hasher, bytes);
                self.gz.write_all(bytes)?;
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.gz.flush()
            }
        }
        let mut out = Hashing {
            hasher: sha2::Digest::new(),
            gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()),
        };
        write(&mut out);
        Layer {
            blob: out.gz.finish().unwrap(),
            diff_id: format!("sha256:{:x}", sha2::Digest::finalize(out.hasher)),
            media_type: media_type::OCI_LAYER_GZIP.to_string(),
        }
    }

    /// An uncompressed layer.
    pub fn plain(tar: &[u8]) -> Layer {
        Layer {
            blob: tar.to_vec(),
            diff_id: Digest::of(tar).to_string(),
            media_type: media_type::OCI_LAYER_TAR.to_string(),
        }
    }

    /// A zstd-compressed layer.
    pub fn zstd(tar: &[u8]) -> Layer {
        Layer {
            blob: zstd::encode_all(tar, 3).unwrap(),
            diff_id: Digest::of(tar).to_string(),
            media_type: media_type::OCI_LAYER_ZSTD.to_string(),
        }
    }

    /// The same bytes under another media type (one of the same compression, or a lie).
    pub fn typed(self, media_type: &str) -> Layer {
        Layer {
            media_type: media_type.to_string(),
            ..self
        }
    }
}

/// Writes a tar to `out` whose first entry is a PAX header of `size` bytes (one `comment`
/// record, which every reader ignores) describing a small file at `path`: what a layer built to
/// exhaust an unpacker's memory holds. Written a MiB at a time, so the test itself stays small
/// (a child's peak memory counts its parent's, as fork copies it).
pub fn write_pax_bomb(out: &mut dyn Write, path: &str, size: usize) {
    let block =
        |out: &mut dyn Write, header: &tar::Header| out.write_all(header.as_bytes()).unwrap();
    let pad = |out: &mut dyn Write, len: usize| {
        out.write_all(&vec![0u8; (512 - len % 512) % 512]).unwrap()
    };
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_path("PaxHeaders/bomb").unwrap();
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(size as u64);
    header.set_cksum();
    block(out, &header);
    // A record is "LEN comment=VALUE\n", LEN counting the whole record.
    let prefix = format!("{size} comment=");
    out.write_all(prefix.as_bytes()).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut left = size - prefix.len() - 1;
    while left > 0 {
        let n = left.min(chunk.len());
        out.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    out.write_all(b"\n").unwrap();
    pad(out, size);
    let content = b"after the bomb\n";
    let mut file = tar::Header::new_ustar();
    file.set_path(path).unwrap();
    file.set_mode(0o644);
    file.set_uid(0);
    file.set_gid(0);
    file.set_mtime(1_700_000_000);
    file.set_size(content.len() as u64);
    file.set_cksum();
    block(out, &file);
    out.write_all(content).unwrap();
    pad(out, content.len());
    out.write_all(&[0u8; 1024]).unwrap();
}

/// Writes an image of gzip layers into a layout at `dir`, tagged `tag`.
pub fn write_image(dir: &Path, tag: &str, layers: &[Vec<u8>], lies: Lies) -> Descriptor {
    write_image_with_config(dir, tag, layers, lies, json!({ "Cmd": ["sh"] }))
}

/// Like [`write_image`], with the image config's `config` object given.
pub fn write_image_with_config(
    dir: &Path,
    tag: &str,
    layers: &[Vec<u8>],
    lies: Lies,
    runtime_config: serde_json::Value,
) -> Descriptor {
    let layers = layers.iter().map(|tar| Layer::gzip(tar)).collect();
    write_image_of(dir, tag, layers, lies, runtime_config)
}

/// Writes an image of the given layers into a layout at `dir`, tagged `tag`.
pub fn write_image_of(
    dir: &Path,
    tag: &str,
    layers: Vec<Layer>,
    lies: Lies,
    runtime_config: serde_json::Value,
) -> Descriptor {
    let layout = Layout::create(dir).expect("layout");
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for Layer {
        blob,
        diff_id,
        media_type,
    } in layers
    {
        diff_ids.push(if lies.wrong_diff_id {
            Digest::of(b"not this layer").to_string()
        } else {
            diff_id
        });
        let descriptor = descriptor(&blob, &media_type);
        let stored = &blob[..blob.len() - lies.truncate_blob.min(blob.len())];
        let path = layout.blob_path(&Digest::of(&blob));
        std::fs::write(path, stored).unwrap();
        descriptors.push(descriptor);
    }
    let config = json!({
        "architecture": hoist_oci::Platform::host().architecture,
        "os": "linux",
        "config": runtime_config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config = write_json(&layout, &config, media_type::OCI_CONFIG);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": config,
        "layers": descriptors,
    });
    let manifest = write_json(&layout, &manifest, media_type::OCI_MANIFEST);
    layout.set_ref(tag, &manifest).unwrap();
    manifest
}

pub fn descriptor(bytes: &[u8], media: &str) -> Descriptor {
    let digest: oci_spec::image::Digest = Digest::of(bytes).to_string().parse().unwrap();
    Descriptor::new(MediaType::from(media), bytes.len() as u64, digest)
}

fn write_json(layout: &Layout, value: &serde_json::Value, media: &str) -> Descriptor {
    let bytes = serde_json::to_vec(value).unwrap();
    let descriptor = descriptor(&bytes, media);
    layout.write_blob(&bytes, &descriptor).unwrap();
    descriptor
}
