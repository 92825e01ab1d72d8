//! Named volumes (`hoist volume create|ls|inspect|rm|prune`, `-v NAME:/path`): directories
//! under the store's `volumes/NAME/_data` (podman's layout), which outlive the containers that
//! mount them.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use serde::Serialize;

use crate::{check_name, Container, Error, Result, Store};

/// A volume, as `volume ls` and `inspect` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: &'static str,
    pub mountpoint: PathBuf,
    pub created_at: String,
}

fn dir(store: &Store, name: &str) -> PathBuf {
    store.root().join("volumes").join(name)
}

/// A name for a volume made without one: 64 hex digits, as podman's.
pub fn generated_name() -> Result<String> {
    crate::run::random_id()
}

/// Makes the volume if it is new; either way, returns it.
pub fn create(store: &Store, name: &str) -> Result<Volume> {
    check_name(name)?;
    let data = dir(store, name).join("_data");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&data)
        .map_err(Error::io("creating the volume", &data))?;
    inspect(store, name)
}

pub fn inspect(store: &Store, name: &str) -> Result<Volume> {
    check_name(name)?;
    let data = dir(store, name).join("_data");
    let meta = fs::metadata(&data).map_err(|_| Error::NoVolume(name.to_string()))?;
    let created = meta.created().or_else(|_| meta.modified()).ok();
    Ok(Volume {
        name: name.to_string(),
        driver: "local",
        mountpoint: data,
        created_at: created
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_default(),
    })
}

/// Every volume, by name.
pub fn list(store: &Store) -> Result<Vec<Volume>> {
    let Ok(entries) = fs::read_dir(store.root().join("volumes")) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| check_name(name).is_ok())
        .collect();
    names.sort();
    names.iter().map(|name| inspect(store, name)).collect()
}

/// The containers (by name) that mount the volume.
fn users(store: &Store, name: &str) -> Result<Vec<String>> {
    Ok(Container::all(store)?
        .into_iter()
        .filter(|c| c.record.volumes.iter().any(|v| v == name))
        .map(|c| c.record.name)
        .collect())
}

/// Removes a volume and what it holds; one that a container mounts only with `force`, which
/// removes those containers first (podman's `volume rm -f`).
pub fn remove(
    runtime: &hoist_runtime::Runtime,
    store: &Store,
    name: &str,
    force: bool,
) -> Result<()> {
    // No container is being made meanwhile (that holds the store shared while it does).
    let _lock = store.lock(true)?;
    remove_locked(runtime, store, name, force)
}

fn remove_locked(
    runtime: &hoist_runtime::Runtime,
    store: &Store,
    name: &str,
    force: bool,
) -> Result<()> {
    inspect(store, name)?;
    let users = users(store, name)?;
    if !users.is_empty() {
        if !force {
            return Err(Error::VolumeInUse {
                volume: name.to_string(),
                containers: users.join(", "),
            });
        }
        for container in &users {
            crate::remove(runtime, store, container, true)?;
        }
    }
    let path = dir(store, name);
    crate::rootless::remove_dir_all(&path)
}

/// Removes every volume no container mounts; returns their names.
pub fn prune(runtime: &hoist_runtime::Runtime, store: &Store) -> Result<Vec<String>> {
    let _lock = store.lock(true)?;
    let mut removed = Vec::new();
    for volume in list(store)? {
        if users(store, &volume.name)?.is_empty() {
            remove_locked(runtime, store, &volume.name, false)?;
            removed.push(volume.name);
        }
    }
    Ok(removed)
}
