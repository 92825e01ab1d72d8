//! Images as graphs of blobs in a layout: choosing a platform's image, walking everything an
//! image needs, copying it to another layout, and removing what no name reaches any more.

use std::collections::HashSet;
use std::fs;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rustix::fs::FlockOperation;

use crate::media_type::{self, ManifestKind};
use crate::{descriptor_digest, Digest, Error, Layout, Platform, Result};

impl Layout {
    /// The image manifest for `platform`: `top` itself, or its entry if `top` is an index.
    pub fn choose_image(&self, top: &Descriptor, platform: &Platform) -> Result<Descriptor> {
        match kind(top)? {
            ManifestKind::Image => Ok(top.clone()),
            ManifestKind::Index => {
                let index: ImageIndex = self.read_json(top, "image index")?;
                let entry = platform
                    .choose(&index)
                    .ok_or_else(|| Error::NoMatchingPlatform {
                        wanted: platform.to_string(),
                        available: Platform::listed(&index),
                    })?;
                self.choose_image(entry, platform)
            }
        }
    }

    /// Every descriptor `top` reaches, itself included, each after everything it refers to:
    /// the order a copy must write them in.
    pub fn walk(&self, top: &Descriptor) -> Result<Vec<Descriptor>> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        self.walk_into(top, &mut order, &mut seen)?;
        Ok(order)
    }

    fn walk_into(
        &self,
        descriptor: &Descriptor,
        order: &mut Vec<Descriptor>,
        seen: &mut HashSet<String>,
    ) -> Result<()> {
        if !seen.insert(descriptor.digest().to_string()) {
            return Ok(());
        }
        match media_type::manifest_kind(descriptor.media_type().as_ref()) {
            Some(ManifestKind::Index) => {
                let index: ImageIndex = self.read_json(descriptor, "image index")?;
                for child in index.manifests() {
                    self.walk_into(child, order, seen)?;
                }
            }
            Some(ManifestKind::Image) => {
                let manifest: ImageManifest = self.read_json(descriptor, "image manifest")?;
                for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
                    if seen.insert(blob.digest().to_string()) {
                        order.push(blob.clone());
                    }
                }
            }
            None => {}
        }
        order.push(descriptor.clone());
        Ok(())
    }

    /// Copies `top` and all it reaches from `source` into this layout (verifying every blob on
    /// the way) and names it `name`. Returns how many blobs were copied.
    pub fn copy_image_from(&self, source: &Layout, top: &Descriptor, name: &str) -> Result<usize> {
        let mut copied = 0;
        for descriptor in source.walk(top)? {
            let digest = descriptor_digest(&descriptor)?;
            let Some(writer) = self.begin_blob(&digest, descriptor.size())? else {
                continue;
            };
            let mut reader = source.open_blob(&descriptor)?;
            writer.write_all_from(&mut reader, &source.blob_path(&digest))?;
            copied += 1;
        }
        self.set_ref(name, top)?;
        Ok(copied)
    }

    /// Removes the name `name` from `index.json`. Returns whether it was there.
    pub fn remove_ref(&self, name: &str) -> Result<bool> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let before = index.manifests().len();
        let kept: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| crate::layout::ref_name(d) != Some(name))
            .cloned()
            .collect();
        let removed = kept.len() != before;
        if removed {
            index.set_manifests(kept);
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// Deletes every blob that no entry of `index.json` reaches, and partial files no writer
    /// holds. Returns the bytes freed. A writer that has committed blobs but not yet named its
    /// image would lose them: callers keep pulls and collection apart (hoist's store does it
    /// with a lock of its own).
    pub fn collect_garbage(&self) -> Result<u64> {
        let _lock = self.lock()?;
        let mut reachable = HashSet::new();
        for top in self.index()?.manifests() {
            for descriptor in self.walk(top)? {
                reachable.insert(descriptor.digest().to_string());
            }
        }
        let dir = self.root.join("blobs").join(Digest::ALGORITHM);
        let mut freed = 0;
        for entry in fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let entry = entry.map_err(Error::io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if let Some(hex) = name.strip_prefix(".partial-") {
                let idle = fs::File::open(&path).is_ok_and(|f| {
                    rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok()
                });
                let blob_wanted = reachable.contains(&format!("{}:{hex}", Digest::ALGORITHM));
                if idle && !blob_wanted {
                    let _ = fs::remove_file(&path);
                    freed += size;
                }
                continue;
            }
            if !reachable.contains(&format!("{}:{name}", Digest::ALGORITHM)) {
                fs::remove_file(&path).map_err(Error::io(&path))?;
                freed += size;
            }
        }
        Ok(freed)
    }
}

fn kind(descriptor: &Descriptor) -> Result<ManifestKind> {
    let media_type = descriptor.media_type().to_string();
    media_type::manifest_kind(&media_type).ok_or(Error::WrongDocument {
        media_type,
        expected: "an image manifest or index",
    })
}
