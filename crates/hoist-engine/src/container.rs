//! Containers of `hoist run IMAGE`: a directory each under the store's `containers/`, holding
//! the bundle (`config.json`, `rootfs/`, and with overlayfs `upper/` and `work/`), the output
//! of a detached container (`ctr.log`), and `container.json`, what hoist knows about it.

use std::fs;
use std::path::{Path, PathBuf};

use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::{LayerCache, UnpackOptions};
use rustix::fs::RenameFlags;
use serde::{Deserialize, Serialize};

use crate::keeper::{abandoned, Keeper};
use crate::name_files::NameSettings;
use crate::store::Store;
use crate::{Error, Result};

/// A container directory being claimed: made and held under this prefix, then renamed to the
/// name (never over another), so that no one ever sees the name's directory unheld.
const CLAIM_PREFIX: &str = ".claim-";

/// How a container's rootfs was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// An overlayfs mount of shared, cached layers.
    #[default]
    Overlay,
    /// A full unpack of its own (rootless, or no overlayfs).
    Copy,
}

/// `container.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// podman's 64-hex-digit id; it and its unique prefixes name the container too.
    pub id: String,
    /// The container's name: its directory's under `containers/` and its id in the runtime.
    /// (Records written before names and ids were two have the name as their id.)
    #[serde(default)]
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub created: String,
    pub driver: Driver,
    /// The cached layer directories the rootfs is made of (overlay only).
    #[serde(default)]
    pub layers: Vec<String>,
    #[serde(default)]
    pub detached: bool,
    /// It has a terminal (`-t`), hosted by its monitor for `hoist attach`.
    #[serde(default)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[serde(default)]
    pub remove: bool,
    /// Set when it has exited: its code (128+N if killed by signal N).
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub finished: Option<String>,
    /// Its places on its networks while it runs, undone when it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<hoist_net::Attachment>,
    /// Published ports, `IP:HOSTPORT:CONTAINERPORT/PROTOCOL`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// The most bytes `ctr.log` may hold (`--log-opt max-size`).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// The networks it joins when it runs (`--network bridge` or names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<crate::JoinedNetwork>,
    /// A record of an older hoist, whose containers had one network: read into `joins`.
    #[serde(default, skip_serializing)]
    pub bridged: bool,
    /// Its network namespace is connected by pasta, started at each start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pasta: bool,
    /// The named volumes it mounts.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `--restart`: on-failure[:N], always or unless-stopped, carried out by its monitor.
    #[serde(default)]
    pub restart: Option<String>,
    /// How many times its monitor has started it again.
    #[serde(default)]
    pub restarts: u32,
    /// Made by `hoist create`: it waits for `hoist start`.
    #[serde(default)]
    pub unstarted: bool,
    /// Why the runtime could not start it (podman's `State.Error`).
    #[serde(default)]
    pub error: Option<String>,
    /// `--label KEY=VALUE`s.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The signal `stop` sends first (`--stop-signal`, else the image's `StopSignal`).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`).
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// The container whose network namespace it joins (`--network container:NAME`): found
    /// again at each start, since that container's process may have changed.
    #[serde(default)]
    pub joins_network_of: Option<String>,
    /// `--dns`, `--dns-search`, `--dns-option`, `--add-host`: written again at each start.
    #[serde(default, skip_serializing_if = "NameSettings::is_empty")]
    pub names: NameSettings,
}

pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
    /// Held by the process that makes or runs the container (see `keeper`).
    pub keeper: Option<Keeper>,
}

/// Refuses what is not a container name (podman's rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`): a name
/// becomes a directory under the store, and `../x` or `a/b` must never reach another.
pub fn check_name(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && id.len() <= 253;
    if !valid {
        return Err(Error::InvalidName(id.to_string()));
    }
    Ok(())
}

impl Container {
    /// Claims the name: the directory is made and held for its container, or the name is in
    /// use. What a process that died while making a container of that name left is removed
    /// first.
    pub fn claim(store: &Store, id: &str) -> Result<(PathBuf, Keeper)> {
        check_name(id)?;
        let parent = store.containers();
        // Root's only, like the store around it: a container's rootfs may hold setuid files.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&parent)
            .map_err(Error::io("creating", &parent))?;
        let dir = parent.join(id);
        remove_half_made(store, &dir)?;
        let staging = tempfile::Builder::new()
            .prefix(CLAIM_PREFIX)
            .tempdir_in(&parent)
            .map_err(Error::io("creating a directory in", &parent))?;
        let keeper = Keeper::hold(staging.path())?;
        let cwd = rustix::fs::CWD;
        match rustix::fs::renameat_with(cwd, staging.path(), cwd, &dir, RenameFlags::NOREPLACE) {
            Ok(()) => {
                // Renamed away: nothing is left for the guard to remove.
                let _ = staging.keep();
                Ok((dir, keeper))
            }
            Err(rustix::io::Errno::EXIST) => Err(Error::NameInUse(id.to_string())),
            Err(e) => Err(Error::io("creating", &dir)(e.into())),
        }
    }

    pub fn open(store: &Store, id: &str) -> Result<Container> {
        check_name(id)?;
        let dir = store.containers().join(id);
        let path = dir.join("container.json");
        let bytes = fs::read(&path).map_err(|source| Error::NoContainer {
            name: id.to_string(),
            source,
        })?;
        let mut record: Record = serde_json::from_slice(&bytes)
            .map_err(|source| Error::DamagedRecord { path, source })?;
        if record.name.is_empty() {
            record.name = id.to_string();
        }
        if std::mem::take(&mut record.bridged) && record.joins.is_empty() {
            record.joins.push(crate::JoinedNetwork::default_network());
        }
        Ok(Container {
            dir,
            record,
            keeper: None,
        })
    }

    /// The container a user named: by its name, its id, or a prefix of its id that no other
    /// container's id shares (podman's rules, in that order).
    pub fn find(store: &Store, reference: &str) -> Result<Container> {
        if check_name(reference).is_ok() {
            match Container::open(store, reference) {
                Err(Error::NoContainer { .. }) => {}
                found => return found,
            }
        }
        let lowercase_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if reference.is_empty() || !lowercase_hex(reference) {
            check_name(reference)?;
            return Err(Error::NoSuchContainer(reference.to_string()));
        }
        let mut matches: Vec<Container> = Container::all(store)?
            .into_iter()
            .filter(|c| c.record.id.starts_with(reference))
            .collect();
        if let Some(exact) = matches.iter().position(|c| c.record.id == reference) {
            return Ok(matches.swap_remove(exact));
        }
        match matches.len() {
            0 => Err(Error::NoSuchContainer(reference.to_string())),
            1 => Ok(matches.remove(0)),
            _ => Err(Error::AmbiguousId(reference.to_string())),
        }
    }

    pub fn all(store: &Store) -> Result<Vec<Container>> {
        let mut containers = Vec::new();
        let Ok(entries) = fs::read_dir(store.containers()) else {
            return Ok(containers);
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if let Ok(container) = Container::open(store, &id) {
                containers.push(container);
            }
        }
        containers.sort_by(|a, b| a.record.created.cmp(&b.record.created));
        Ok(containers)
    }

    /// Writes `container.json` whole, by rename.
    pub fn save(&self) -> Result<()> {
        let path = self.dir.join("container.json");
        let temp = self.dir.join(".container.json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.record).expect("a record serializes");
        fs::write(&temp, bytes).map_err(Error::io("writing", &temp))?;
        fs::rename(&temp, &path).map_err(Error::io("writing", &path))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }

    /// Takes the container off its networks, if it is on any.
    pub fn release_network(&self, store: &Store) {
        if self.is_on_networks() {
            release_network_of(store, &self.record.name);
        }
    }

    /// Whether it has (or may have, when it was killed) places on networks to undo.
    pub(crate) fn is_on_networks(&self) -> bool {
        !self.record.networks.is_empty() || !self.record.joins.is_empty() || self.record.pasta
    }

    /// Unmounts and deletes everything of the container.
    pub fn remove_files(dir: &Path) -> Result<()> {
        hoist_unpack::unmount_rootfs(dir)?;
        crate::rootless::remove_dir_all(dir)
    }
}

/// Takes container `id` off its networks, whatever of its places there exists.
pub(crate) fn release_network_of(store: &Store, id: &str) {
    crate::rootless::pasta::disconnect(&store.containers().join(id));
    // An unprivileged user is on no hoist network: those are root's.
    if crate::rootless::is_rootless() {
        return;
    }
    if let Err(error) = hoist_net::detach(&crate::networks(store), id) {
        tracing::warn!(%error, "taking the container off its networks");
    }
}

/// Removes the container directory `dir` if a process died while making it: nobody keeps it
/// and it has no record. Returns whether it did.
pub(crate) fn remove_half_made(store: &Store, dir: &Path) -> Result<bool> {
    if !dir.is_dir() || dir.join("container.json").exists() {
        return Ok(false);
    }
    let Some(_cleaning) = abandoned(dir) else {
        return Ok(false);
    };
    // Checked again under the hold: the maker may have finished just before it.
    if dir.join("container.json").exists() {
        return Ok(false);
    }
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    if check_name(&name).is_ok() {
        release_network_of(store, &name);
    }
    Container::remove_files(dir)?;
    Ok(true)
}

/// Removes every directory in the store's `containers/` that a process died making (claimed,
/// or named but without a record). Returns how many.
pub(crate) fn remove_all_half_made(store: &Store) -> Result<usize> {
    let Ok(entries) = fs::read_dir(store.containers()) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if remove_half_made(store, &entry.path())? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Makes the container's bundle in `dir`: over the layer cache with overlayfs where this
/// process can mount it, a full unpack otherwise. Returns the image config, the driver used
/// and the cached layers it rests on. An unprivileged user with subordinate ids has it made
/// by the storage helper; without them, gets a copy of files the user owns (`rootless`).
pub fn make_bundle(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<(ImageConfiguration, Driver, Vec<String>)> {
    if crate::rootless::uses_helper() {
        return crate::rootless::make_bundle(store, layout, image, dir, options);
    }
    make_bundle_here(store, layout, image, dir, options)
}

/// `make_bundle` in this process.
pub(crate) fn make_bundle_here(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<(ImageConfiguration, Driver, Vec<String>)> {
    // The layer cache keeps the image's owners; a container with ids of its own gets a copy
    // owned by them.
    let shifted = !options.uid_map.0.is_empty() || !options.gid_map.0.is_empty();
    if hoist_unpack::overlay_supported() && !options.rootless && !shifted {
        let cache = LayerCache::open(store.layers())?;
        let cached = match cache.prepare(layout, image, options) {
            Err(error @ hoist_unpack::Error::TooManyLayers { .. }) => {
                tracing::warn!(%error, "unpacking a full copy instead");
                None
            }
            prepared => Some(prepared?),
        };
        if let Some(cached) = cached {
            match hoist_unpack::mount_rootfs(&cached, dir) {
                Ok(spec) => {
                    let path = dir.join("config.json");
                    spec.save(&path)
                        .map_err(|source| Error::Config { path, source })?;
                    return Ok((cached.config, Driver::Overlay, cached.names));
                }
                Err(error) => {
                    tracing::warn!(%error, "overlayfs unavailable; unpacking a full copy instead");
                    for sub in ["rootfs", "upper", "work"] {
                        let _ = fs::remove_dir_all(dir.join(sub));
                    }
                }
            }
        }
    }
    let unpacked = hoist_unpack::unpack(layout, image, dir, options)?;
    Ok((unpacked.config, Driver::Copy, Vec::new()))
}

/// Whether this user's containers use overlayfs, for `hoist info`: root's where it can mount
/// it; an unprivileged user's where it has subordinate ids and the kernel allows the
/// container's user namespace to mount it (5.11).
pub fn driver_in_use() -> Driver {
    let overlay = match crate::rootless::is_rootless() {
        false => hoist_unpack::overlay_supported(),
        true => crate::rootless::uses_helper() && hoist_unpack::overlay_in_user_namespaces(),
    };
    if overlay {
        Driver::Overlay
    } else {
        Driver::Copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_names_not_paths() {
        for good in ["web", "my_app.1", "a-b", "0abc"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../images",
            "a/b",
            ".hidden",
            "-x",
            "x y",
            "ä",
            "..",
            "/abs",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    fn store_in(dir: &Path) -> Store {
        Store::at(dir.join("store"))
    }

    fn record(id: &str) -> Record {
        Record {
            id: id.to_string(),
            image: "busybox".into(),
            command: vec!["true".into()],
            created: "2026-01-01T00:00:00Z".into(),
            driver: Driver::Copy,
            detached: true,
            log_max_size: Some(4096),
            ..Record::default()
        }
    }

    /// A saved container named `name` with id `id`.
    fn saved(store: &Store, name: &str, id: &str) {
        let (dir, _keeper) = Container::claim(store, name).unwrap();
        let container = Container {
            dir,
            record: Record {
                name: name.into(),
                ..record(id)
            },
            keeper: None,
        };
        container.save().unwrap();
    }

    #[test]
    fn containers_are_found_by_name_id_or_a_prefix_no_other_id_shares() {
        let temp = tempfile::tempdir().unwrap();
        let store = store_in(temp.path());
        saved(&store, "web", "abc123");
        saved(&store, "db", "abd456");
        saved(&store, "abc", "ffff00");
        let found = |reference: &str| Container::find(&store, reference).map(|c| c.record.name);
        assert_eq!(found("web").unwrap(), "web");
        assert_eq!(found("abc123").unwrap(), "web");
        assert_eq!(found("abd").unwrap(), "db");
        assert_eq!(
            found("abc").unwrap(),
            "abc",
            "a name goes before an id prefix"
        );
        assert_eq!(found("ff").unwrap(), "abc");
        assert!(matches!(found("ab"), Err(Error::AmbiguousId(_))));
        assert!(matches!(found("0"), Err(Error::NoSuchContainer(_))));
        assert!(matches!(found("nosuch"), Err(Error::NoSuchContainer(_))));
        assert!(matches!(found("../web"), Err(Error::InvalidName(_))));
        assert!(matches!(found(""), Err(Error::InvalidName(_))));
    }

    #[test]
    fn a_claimed_name_is_saved_reopened_and_listed_and_cannot_be_claimed_twice() {
        let temp = tempfile::tempdir().unwrap();
        let store = store_in(temp.path());
        let (dir, keeper) = Container::claim(&store, "web").unwrap();
        assert!(matches!(Container::claim(&store, "web"), Err(Error::NameInUse(n)) if n == "web"));
        let container = Container {
            dir,
            record: record("web"),
            keeper: Some(keeper),
        };
        container.save().unwrap();
        let reopened = Container::open(&store, "web").unwrap();
        assert_eq!(reopened.record.log_max_size, Some(4096));
        assert_eq!(Container::all(&store).unwrap().len(), 1);
        Container::remove_files(&container.dir).unwrap();
        assert!(matches!(
            Container::open(&store, "web"),
            Err(Error::NoContainer { .. })
        ));
    }

    #[test]
    fn a_damaged_record_is_named_as_such() {
        let temp = tempfile::tempdir().unwrap();
        let store = store_in(temp.path());
        let (dir, _keeper) = Container::claim(&store, "broken").unwrap();
        fs::write(dir.join("container.json"), b"{not json").unwrap();
        assert!(matches!(
            Container::open(&store, "broken"),
            Err(Error::DamagedRecord { .. })
        ));
    }

    #[test]
    fn a_name_that_is_a_path_is_refused_before_any_file_is_touched() {
        let temp = tempfile::tempdir().unwrap();
        let store = store_in(temp.path());
        assert!(matches!(
            Container::claim(&store, "../images"),
            Err(Error::InvalidName(_))
        ));
        assert!(!temp.path().join("store").exists());
    }
}
