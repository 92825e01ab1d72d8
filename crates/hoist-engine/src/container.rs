//! Containers of `hoist run IMAGE`: a directory each under the store's `containers/`, holding
//! the bundle (`config.json`, `rootfs/`, and with overlayfs `upper/` and `work/`), the output
//! of a detached container (`ctr.log`), and `container.json`, what hoist knows about it.

use std::fs;
use std::path::{Path, PathBuf};

use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::{LayerCache, UnpackOptions};
use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{Error, Result};

/// How a container's rootfs was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// An overlayfs mount of shared, cached layers.
    Overlay,
    /// A full unpack of its own (rootless, or no overlayfs).
    Copy,
}

/// `container.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
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
    /// Its place on the bridge (`--network bridge`), undone when it ends.
    #[serde(default)]
    pub network: Option<hoist_net::Attachment>,
    /// Published ports, `[IP:]HOSTPORT:CONTAINERPORT`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// The most bytes `ctr.log` may hold (`--log-opt max-size`).
    #[serde(default)]
    pub log_max_size: Option<u64>,
}

pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
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
    /// Claims the name: the directory is made, or the name is in use.
    pub fn claim(store: &Store, id: &str) -> Result<PathBuf> {
        check_name(id)?;
        let parent = store.containers();
        // Root's only, like the store around it: a container's rootfs may hold setuid files.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&parent)
            .map_err(Error::io("creating", &parent))?;
        let dir = parent.join(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::NameInUse(id.to_string()))
            }
            Err(e) => Err(Error::io("creating", &dir)(e)),
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
        let record = serde_json::from_slice(&bytes)
            .map_err(|source| Error::DamagedRecord { path, source })?;
        Ok(Container { dir, record })
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

    /// Takes the container off the bridge, if it is on it.
    pub fn release_network(&self, store: &Store) {
        if let Some(attachment) = &self.record.network {
            if let Err(error) =
                hoist_net::detach(&bridge_config(store), &self.record.id, attachment)
            {
                tracing::warn!(%error, "taking the container off the bridge");
            }
        }
    }

    /// Unmounts and deletes everything of the container.
    pub fn remove_files(dir: &Path) -> Result<()> {
        hoist_unpack::unmount_rootfs(dir)?;
        match fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing", dir)(e)),
        }
    }
}

/// Makes the container's bundle in `dir`: over the layer cache with overlayfs where this
/// process can mount it, a full unpack otherwise. Returns the image config, the driver used
/// and the cached layers it rests on.
pub fn make_bundle(
    store: &Store,
    layout: &Layout,
    image: &Descriptor,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<(ImageConfiguration, Driver, Vec<String>)> {
    if hoist_unpack::overlay_supported() && !options.rootless {
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

/// The bridge containers join: `$HOIST_BRIDGE` (default hoist0) with `$HOIST_BRIDGE_SUBNET`
/// (default 10.89.0.0/24), address leases in the store.
pub fn bridge_config(store: &Store) -> hoist_net::BridgeConfig {
    let subnet = std::env::var("HOIST_BRIDGE_SUBNET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "10.89.0.0/24".parse().expect("a valid default subnet"));
    hoist_net::BridgeConfig {
        bridge: std::env::var("HOIST_BRIDGE").unwrap_or_else(|_| "hoist0".to_string()),
        subnet,
        state_dir: store.root().join("network"),
    }
}

/// `/etc/hosts` and `/etc/resolv.conf` for the container, bind-mounted from its directory.
pub fn name_files(
    dir: &Path,
    hostname: &str,
    address: Option<std::net::Ipv4Addr>,
) -> Result<Vec<oci_spec::runtime::Mount>> {
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    hosts.push_str(&format!(
        "{}\t{hostname}\n",
        address.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string())
    ));
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut mounts = Vec::new();
    for (name, content, target) in [
        ("hosts", hosts, "/etc/hosts"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
    ] {
        let path = dir.join(name);
        fs::write(&path, content).map_err(Error::io("writing", &path))?;
        let mut mount = oci_spec::runtime::Mount::default();
        mount.set_destination(target.into());
        mount.set_typ(Some("bind".to_string()));
        mount.set_source(Some(path));
        mount.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
        mounts.push(mount);
    }
    Ok(mounts)
}

/// Whether this machine's containers use overlayfs, for `hoist info`.
pub fn driver_in_use() -> Driver {
    if hoist_unpack::overlay_supported() {
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
            layers: Vec::new(),
            detached: true,
            tty: false,
            remove: false,
            exit_code: None,
            finished: None,
            network: None,
            ports: Vec::new(),
            log_max_size: Some(4096),
        }
    }

    #[test]
    fn a_claimed_name_is_saved_reopened_and_listed_and_cannot_be_claimed_twice() {
        let temp = tempfile::tempdir().unwrap();
        let store = store_in(temp.path());
        let dir = Container::claim(&store, "web").unwrap();
        assert!(matches!(Container::claim(&store, "web"), Err(Error::NameInUse(n)) if n == "web"));
        let container = Container {
            dir,
            record: record("web"),
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
        let dir = Container::claim(&store, "broken").unwrap();
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
