//! What a bundle was unpacked from, kept beside its rootfs (as umoci keeps `umoci.json`): the
//! image manifest, and how its layers were applied. `repack` diffs the rootfs against that
//! image unpacked afresh the same way.

use std::fs;
use std::path::Path;

use hoist_oci::Digest;
use serde::{Deserialize, Serialize};

use crate::{Error, IdMap, IdRange, Result};

/// The file's name in the bundle.
pub const ORIGIN_FILE: &str = "hoist-origin.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleOrigin {
    /// The platform's image manifest the rootfs was made from.
    pub manifest: String,
    pub rootless: bool,
    /// `CONTAINER:HOST:SIZE` ranges, as `--uid-map` takes them.
    #[serde(default)]
    pub uid_map: Vec<String>,
    #[serde(default)]
    pub gid_map: Vec<String>,
}

impl BundleOrigin {
    pub(crate) fn new(manifest: &Digest, rootless: bool, uid_map: &IdMap, gid_map: &IdMap) -> Self {
        let shown = |map: &IdMap| map.0.iter().map(IdRange::to_string).collect();
        BundleOrigin {
            manifest: manifest.to_string(),
            rootless,
            uid_map: shown(uid_map),
            gid_map: shown(gid_map),
        }
    }

    pub fn read(bundle: &Path) -> Result<BundleOrigin> {
        let path = bundle.join(ORIGIN_FILE);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => Error::NoOrigin(bundle.to_path_buf()),
            _ => Error::io(&path)(source),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::BadOrigin {
            path,
            reason: e.to_string(),
        })
    }

    pub(crate) fn write(&self, bundle: &Path) -> Result<()> {
        let path = bundle.join(ORIGIN_FILE);
        let json = serde_json::to_vec_pretty(self).expect("plain data serialises");
        fs::write(&path, json).map_err(Error::io(&path))
    }

    pub fn manifest_digest(&self, bundle: &Path) -> Result<Digest> {
        self.manifest.parse().map_err(|_| Error::BadOrigin {
            path: bundle.join(ORIGIN_FILE),
            reason: format!("{:?} is not a digest", self.manifest),
        })
    }

    /// The uid and gid maps, parsed.
    pub(crate) fn maps(&self, bundle: &Path) -> Result<(IdMap, IdMap)> {
        let parse = |ranges: &[String]| {
            ranges
                .iter()
                .map(|r| r.parse::<IdRange>())
                .collect::<std::result::Result<Vec<_>, String>>()
                .map(IdMap)
                .map_err(|reason| Error::BadOrigin {
                    path: bundle.join(ORIGIN_FILE),
                    reason,
                })
        };
        Ok((parse(&self.uid_map)?, parse(&self.gid_map)?))
    }
}
