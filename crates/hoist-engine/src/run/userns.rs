//! `--userns auto[:size=N]`: a container of root's in a user namespace of its own, its root a
//! block of host ids no other container holds (podman's `auto`). Root in it is nobody on the
//! host: a process that escapes its namespaces owns none of the host's files. The blocks come
//! from `/etc/subuid` and `/etc/subgid`'s `containers` entry, as podman's do, or else from
//! hoist's own range, the upper half of the 32-bit ids (which no distribution hands out).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hoist_unpack::{IdMap, IdRange};
use oci_spec::runtime::{LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Spec};

use crate::{Error, Result, Store};

/// The ids a container of `--userns auto` gets by default: 0 to 65535, as an image expects.
const DEFAULT_SIZE: u32 = 65536;
/// hoist's own range when `/etc/subuid` has no `containers` entry.
const OWN_RANGE: IdRange = IdRange {
    container: 0,
    host: 1 << 31,
    size: 1 << 30,
};
/// The file in a container's directory naming the block it holds.
const HELD: &str = "userns";

/// What `--userns` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Userns {
    /// root's: the host's user namespace; an unprivileged user's: root is the user, the rest
    /// subordinate ids (podman's rootless default, which it also calls host).
    Host,
    Auto {
        size: u32,
    },
    /// An unprivileged user's own uid and gid are themselves inside.
    KeepId,
}

impl Userns {
    pub fn parse(option: Option<&str>, rootless: bool) -> Result<Userns> {
        let bad = |reason: &str| {
            Error::bad_option(
                format!("--userns {:?}", option.unwrap_or("")),
                reason.to_string(),
            )
        };
        let Some(value) = option.filter(|v| !v.is_empty()) else {
            return Ok(Userns::Host);
        };
        let (mode, settings) = value.split_once(':').unwrap_or((value, ""));
        match mode {
            "host" if settings.is_empty() => Ok(Userns::Host),
            "auto" if rootless => Err(bad("is for root: an unprivileged user's containers already run in a user namespace of their own, mapped to the user's subordinate ids (host, the default), or keep the user's own id (keep-id)")),
            "auto" => {
                let mut size = DEFAULT_SIZE;
                for setting in settings.split(',').filter(|s| !s.is_empty()) {
                    size = match setting.split_once('=') {
                        Some(("size", n)) => n
                            .parse()
                            .ok()
                            .filter(|n| (1..=OWN_RANGE.size).contains(n))
                            .ok_or_else(|| bad("size= must be a number of ids from 1 to 2^30"))?,
                        _ => return Err(bad("auto takes size=N (uidmapping= and gidmapping= are not supported)")),
                    };
                }
                Ok(Userns::Auto { size })
            }
            "keep-id" if rootless && settings.is_empty() => Ok(Userns::KeepId),
            "keep-id" => Err(bad("maps the calling user's own uid into the container, which means something to an unprivileged user only: root's containers run in the host's user namespace (host) or one of their own (auto)")),
            _ => Err(bad("is not supported: hoist runs root's containers in the host's user namespace (host) or one of their own (auto)")),
        }
    }
}

/// A block of host ids, `size` of them from `host`, mapped to 0.. in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBlock {
    pub host: u32,
    pub size: u32,
}

impl IdBlock {
    /// Container ids to host ids, for the unpack's file owners.
    pub fn id_map(&self) -> IdMap {
        IdMap(vec![IdRange {
            container: 0,
            host: self.host,
            size: self.size,
        }])
    }

    /// Once the container's bundle is made in `dir`: its rootfs's top directory, which no
    /// layer need name, becomes the container root's, and the directory names its block.
    pub fn own_rootfs(&self, dir: &Path) -> Result<()> {
        let rootfs = dir.join("rootfs");
        let id = Some(rustix::process::Uid::from_raw(self.host));
        let group = Some(rustix::process::Gid::from_raw(self.host));
        rustix::fs::chown(&rootfs, id, group)
            .map_err(|e| Error::io("giving the container's root", &rootfs)(e.into()))?;
        // Whole or not at all: a reservation reading it meanwhile must never see it empty.
        let note = dir.join(HELD);
        let partial = dir.join(format!(".{HELD}.partial"));
        fs::write(&partial, format!("{}\n", self.host)).map_err(Error::io("writing", &partial))?;
        fs::rename(&partial, &note).map_err(Error::io("writing", &note))
    }

    /// A user namespace of the container's own, with the block as its uid and gid maps.
    pub fn apply(&self, spec: &mut Spec) {
        let mut linux = spec.linux().clone().unwrap_or_default();
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::User);
        let mut user = LinuxNamespace::default();
        user.set_typ(LinuxNamespaceType::User);
        namespaces.push(user);
        linux.set_namespaces(Some(namespaces));
        let map = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(self.host)
            .size(self.size)
            .build()
            .expect("a complete id mapping");
        linux.set_uid_mappings(Some(vec![map]));
        linux.set_gid_mappings(Some(vec![map]));
        spec.set_linux(Some(linux));
        fit_ping_groups(spec, self.size);
    }
}

/// The ping sockets' groups must be ids of the container's user namespace, which maps
/// `count` of them from 0.
pub(crate) fn fit_ping_groups(spec: &mut Spec, count: u32) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(sysctl) = linux.sysctl().as_ref() {
        let mut sysctl = sysctl.clone();
        if let Some(range) = sysctl.get_mut("net.ipv4.ping_group_range") {
            *range = format!("0 {}", count.saturating_sub(1));
        }
        linux.set_sysctl(Some(sysctl));
    }
    spec.set_linux(Some(linux));
}

/// The hidden verb of the hook that moves a container's place on the bridge into its own
/// network namespace: `network-hook NAME`, the OCI state on stdin.
pub const NETWORK_HOOK_VERB: &str = "network-hook";

/// For a container on the bridge: a network namespace of its own user namespace's instead of
/// the one `hoist_net::attach` made, so that its root may set its sysctls (ping's groups) and
/// bind ports below 1024. The runtime makes it; a createRuntime hook, run between the init's
/// birth and its setup at every start, moves the container's address and veth into it
/// (podman configures a user namespace's network after creation too). A container on pasta
/// gets its network from the same hook: pasta and the port proxy need its namespaces made.
pub fn own_network(spec: &mut Spec, store: &Store, name: &str) -> Result<()> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    for ns in namespaces.iter_mut() {
        if ns.typ() == LinuxNamespaceType::Network {
            ns.set_path(None);
        }
    }
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    // The runtime runs the hook from hoist itself (the monitor, or a foreground run), whose
    // own executable this names: never a path that may have changed since.
    let exe = PathBuf::from("/proc/self/exe");
    let mut env = vec![format!("HOIST_ROOT={}", store.root().display())];
    // And what places its state (the hook resolves the same runtime root, as any command).
    for name in [
        "PATH",
        "HOIST_BRIDGE",
        "HOIST_BRIDGE_SUBNET",
        "HOME",
        "XDG_RUNTIME_DIR",
        "TMPDIR",
    ] {
        if let Ok(value) = std::env::var(name) {
            env.push(format!("{name}={value}"));
        }
    }
    let mut hook = oci_spec::runtime::Hook::default();
    hook.set_path(exe.clone());
    hook.set_args(Some(vec![
        "hoist".to_string(),
        NETWORK_HOOK_VERB.to_string(),
        name.to_string(),
    ]));
    hook.set_env(Some(env));
    let mut hooks = spec.hooks().clone().unwrap_or_default();
    let mut create_runtime = hooks.create_runtime().clone().unwrap_or_default();
    create_runtime.push(hook);
    hooks.set_create_runtime(Some(create_runtime));
    spec.set_hooks(Some(hooks));
    Ok(())
}

/// For a container that joins another's network namespace: that one's sysctls are not its
/// root's to set (and the ping groups would name ids of the wrong user namespace).
pub fn leave_joined_network_alone(spec: &mut Spec) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(mut sysctl) = linux.sysctl().clone() {
        sysctl.remove("net.ipv4.ping_group_range");
        linux.set_sysctl(Some(sysctl));
    }
    spec.set_linux(Some(linux));
}

/// The hook `own_network` adds: container `name`'s address and veth into the network namespace
/// of the init whose OCI state is `state`, or pasta and the port proxy connected to it.
pub fn network_hook(store: &Store, name: &str, state: impl std::io::Read) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct State {
        pid: i32,
    }
    let state: State = serde_json::from_reader(state).map_err(|e| {
        Error::bad_option(NETWORK_HOOK_VERB, format!("the OCI state on stdin: {e}"))
    })?;
    let container = crate::Container::open(store, name)?;
    if container.record.pasta {
        return crate::rootless::pasta::connect(&container.dir, state.pid, &container.record.ports);
    }
    if container.record.networks.is_empty() {
        return Err(Error::bad_option(
            NETWORK_HOOK_VERB,
            format!("container {name} is on no network"),
        ));
    }
    hoist_net::reattach(
        &crate::networks(store),
        name,
        &container.record.networks,
        state.pid,
    )
    .map_err(Error::JoiningBridge)
}

/// Reserves a block of `size` ids for the container whose directory is `container`: the
/// first one free, in blocks of 65536. A block is held while that directory is there and
/// names no other block (`own_rootfs` writes the name once the bundle is made).
pub fn reserve(store: &Store, container: &Path, size: u32) -> Result<IdBlock> {
    let dir = store.root().join(HELD);
    fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
    let _lock = lock(&dir)?;
    let range = configured_range()?;
    let blocks = size.div_ceil(DEFAULT_SIZE);
    let span = blocks * DEFAULT_SIZE;
    let mut host = range.host;
    while host
        .checked_add(span)
        .is_some_and(|end| end <= range.host + range.size)
    {
        if let Some(taken) = first_taken(&dir, host, span)? {
            host = taken;
            continue;
        }
        let block = IdBlock { host, size };
        let entry = dir.join(format!("{host}-{span}"));
        let mut file = fs::File::create(&entry).map_err(Error::io("writing", &entry))?;
        file.write_all(container.as_os_str().as_encoded_bytes())
            .map_err(Error::io("writing", &entry))?;
        return Ok(block);
    }
    Err(Error::bad_option(
        "--userns auto",
        format!(
            "every block of {span} ids from {} to {} is held by a container: remove some, or give the containers user more ids in /etc/subuid and /etc/subgid",
            range.host,
            (range.host as u64 + range.size as u64).saturating_sub(1)
        ),
    ))
}

/// The end of a held block overlapping `host..host+span`, if one does (stale ones removed).
fn first_taken(dir: &Path, host: u32, span: u32) -> Result<Option<u32>> {
    for entry in fs::read_dir(dir).map_err(Error::io("reading", dir))? {
        let entry = entry.map_err(Error::io("reading", dir))?;
        let name = entry.file_name();
        let Some((start, size)) = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        else {
            continue;
        };
        let overlaps = start < host + span && host < start.saturating_add(size);
        if !overlaps {
            continue;
        }
        if held(&entry.path(), start) {
            return Ok(Some(start.saturating_add(size)));
        }
        let _ = fs::remove_file(entry.path());
    }
    Ok(None)
}

/// Whether the container a block's entry names still holds it: its directory is there, and
/// names this block or none yet (it is being made).
fn held(entry: &Path, start: u32) -> bool {
    let Ok(container) = fs::read(entry) else {
        return false;
    };
    let container = PathBuf::from(String::from_utf8_lossy(&container).into_owned());
    match fs::read_to_string(container.join(HELD)) {
        Ok(named) => named.trim() == start.to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => container.is_dir(),
        Err(_) => true,
    }
}

fn lock(dir: &Path) -> Result<fs::File> {
    let path = dir.join(".lock");
    let file = fs::File::create(&path).map_err(Error::io("opening", &path))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io("locking", &path)(e.into()))?;
    Ok(file)
}

/// The `containers` entry of /etc/subuid and /etc/subgid (the same range in both), or hoist's.
fn configured_range() -> Result<IdRange> {
    let entry = |file: &str| -> Option<(u32, u32)> {
        fs::read_to_string(file).ok()?.lines().find_map(|line| {
            let mut parts = line.trim().split(':');
            (parts.next()? == "containers").then_some(())?;
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
    };
    match (entry("/etc/subuid"), entry("/etc/subgid")) {
        (None, None) => Ok(OWN_RANGE),
        (Some(uids), Some(gids)) if uids == gids && uids.0.checked_add(uids.1).is_some() => {
            Ok(IdRange {
                container: 0,
                host: uids.0,
                size: uids.1,
            })
        }
        _ => Err(Error::bad_option(
            "--userns auto",
            "the containers entries of /etc/subuid and /etc/subgid differ: hoist maps the same ids for users and groups, so give them the same range",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_as_podmans() {
        assert_eq!(Userns::parse(None, false).unwrap(), Userns::Host);
        assert_eq!(Userns::parse(Some("host"), false).unwrap(), Userns::Host);
        assert_eq!(
            Userns::parse(Some("auto"), false).unwrap(),
            Userns::Auto { size: 65536 }
        );
        assert_eq!(
            Userns::parse(Some("auto:size=1024"), false).unwrap(),
            Userns::Auto { size: 1024 }
        );
        assert_eq!(
            Userns::parse(Some("keep-id"), true).unwrap(),
            Userns::KeepId
        );
        assert_eq!(Userns::parse(Some("host"), true).unwrap(), Userns::Host);
        assert!(Userns::parse(Some("auto"), true).is_err());
        for bad in [
            "auto:size=0",
            "auto:size=x",
            "auto:uidmapping=0:1:2",
            "keep-id",
            "ns:/x",
            "host:x",
        ] {
            assert!(Userns::parse(Some(bad), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn blocks_are_never_shared_and_free_again_once_their_container_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("store"));
        let container = |name: &str| {
            let path = dir.path().join(name);
            fs::create_dir_all(&path).unwrap();
            path
        };
        let (a, b) = (container("a"), container("b"));
        let first = reserve(&store, &a, 65536).unwrap();
        let second = reserve(&store, &b, 1000).unwrap();
        assert_ne!(first.host, second.host);
        assert!(second.host >= first.host + 65536 || first.host >= second.host + 1000);
        let big = reserve(&store, &container("c"), 65536 * 2 + 1).unwrap();
        for other in [first, second] {
            assert!(big.host >= other.host + 65536 || other.host >= big.host + 3 * 65536);
        }
        // Until a's bundle is made and names its block, a holds it all the same.
        fs::create_dir(a.join("rootfs")).unwrap();
        first.own_rootfs(&a).unwrap();
        let fourth = reserve(&store, &container("e"), 65536).unwrap();
        assert_ne!(fourth.host, first.host);
        fs::remove_dir_all(&a).unwrap();
        let again = reserve(&store, &container("d"), 65536).unwrap();
        assert_eq!(again.host, first.host, "a's block is free once a is gone");
    }
}
