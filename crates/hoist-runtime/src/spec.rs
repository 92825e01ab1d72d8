//! The bundle's `config.json`, loaded and checked before anything is created.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::{Error, Result};

pub(crate) struct Bundle {
    pub path: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// The config's process, checked present (args, an absolute cwd) when the bundle loaded.
    pub process: Process,
}

impl Bundle {
    pub(crate) fn load(path: &Path) -> Result<Bundle> {
        let path = path
            .canonicalize()
            .map_err(Error::io("opening the bundle", path))?;
        let config = path.join("config.json");
        let spec = Spec::load(&config).map_err(|source| Error::BadSpec {
            path: config.clone(),
            source,
        })?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::InvalidSpec("it has no root.path".into()))?;
        let rootfs = path.join(root.path());
        let rootfs = rootfs
            .canonicalize()
            .map_err(Error::io("opening the rootfs", &rootfs))?;
        if !rootfs.is_dir() {
            return Err(Error::InvalidSpec(format!(
                "root.path {} is not a directory",
                rootfs.display()
            )));
        }
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::InvalidSpec("it has no process".into()))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec("process.args is empty".into()));
        }
        if !process.cwd().is_absolute() {
            return Err(Error::InvalidSpec(format!(
                "process.cwd {} is not an absolute path",
                process.cwd().display()
            )));
        }
        Ok(Bundle {
            path,
            rootfs,
            spec,
            process,
        })
    }
}
