//! Containers of `hoist run IMAGE`: a directory each under the store's `containers/`, holding
//! the bundle (`config.json`, `rootfs/`, and with overlayfs `upper/` and `work/`), the output
//! of a detached container (`ctr.log`), and `container.json`, what hoist knows about it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::{LayerCache, UnpackOptions};
use serde::{Deserialize, Serialize};

use crate::store::Store;

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
pub fn check_name(id: &str) -> anyhow::Result<()> {
    let mut chars = id.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && id.len() <= 253;
    if !valid {
        bail!("{id:?} is not a valid container name: names are letters, digits, '_', '.' and '-', starting with a letter or digit");
    }
    Ok(())
}

impl Container {
    /// Claims the name: the directory is made, or the name is in use.
    pub fn claim(store: &Store, id: &str) -> anyhow::Result<PathBuf> {
        check_name(id)?;
        let parent = store.containers();
        // Root's only, like the store around it: a container's rootfs may hold setuid files.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir = parent.join(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "the name {id:?} is already in use by a container; choose another --name, or remove it with `hoist rm {id}`"
            ),
            Err(e) => Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }

    pub fn open(store: &Store, id: &str) -> anyhow::Result<Container> {
        check_name(id)?;
        let dir = store.containers().join(id);
        let path = dir.join("container.json");
        let bytes =
            fs::read(&path).with_context(|| format!("no container {id:?} (see `hoist ps -a`)"))?;
        let record = serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Container { dir, record })
    }

    pub fn all(store: &Store) -> anyhow::Result<Vec<Container>> {
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
    pub fn save(&self) -> anyhow::Result<()> {
        let path = self.dir.join("container.json");
        let temp = self.dir.join(".container.json.tmp");
        fs::write(&temp, serde_json::to_vec_pretty(&self.record)?)
            .with_context(|| format!("writing {}", temp.display()))?;
        fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))
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
    pub fn remove_files(dir: &Path) -> anyhow::Result<()> {
        hoist_unpack::unmount_rootfs(dir)?;
        match fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
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
) -> anyhow::Result<(ImageConfiguration, Driver, Vec<String>)> {
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
                    spec.save(dir.join("config.json"))
                        .with_context(|| format!("writing {}/config.json", dir.display()))?;
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
) -> anyhow::Result<Vec<oci_spec::runtime::Mount>> {
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
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
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
}
