//! Links and network namespaces: bridges made by `ip` (once per network), a container's veth
//! pairs over rtnetlink ([`crate::rtnl`]), named network namespaces made here (a thread's new
//! namespace bound at `/run/netns/NAME`, as `ip netns add` does, without its process).

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{Attachment, Error, Result, Subnet};

const NETNS_DIR: &str = "/run/netns";

/// `ip ARGS...`, failing with what it printed.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(Error::NoIp)?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Ip {
        args: args.join(" "),
        message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// The named network namespace of container `id`.
pub(crate) fn netns_name(id: &str) -> String {
    format!("hoist-{id}")
}

pub(crate) fn netns_path(id: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns_name(id))
}

/// Makes container `id`'s network namespace, bound at its path. As iproute2 does, the
/// directory is a shared mount first, so that the binding reaches mount namespaces copied
/// before it was made.
pub(crate) fn add_netns(id: &str) -> Result<()> {
    let io = |what: &str| {
        let what = format!("{what} {}", netns_path(id).display());
        move |e: nix::errno::Errno| Error::io(what)(e.into())
    };
    std::fs::create_dir_all(NETNS_DIR).map_err(Error::io(NETNS_DIR))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if let Err(error) = mount(None::<&str>, NETNS_DIR, None::<&str>, shared, None::<&str>) {
        if error != nix::errno::Errno::EINVAL {
            return Err(io("sharing")(error));
        }
        // Not a mount point yet: bind it on itself, then share it.
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some(NETNS_DIR), NETNS_DIR, None::<&str>, bind, None::<&str>)
            .map_err(io("making a mount point of"))?;
        mount(None::<&str>, NETNS_DIR, None::<&str>, shared, None::<&str>)
            .map_err(io("sharing"))?;
    }
    let path = netns_path(id);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    // unshare(CLONE_NEWNET) moves only the calling thread: a thread of its own, which ends
    // once the namespace is bound.
    let bound = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io("making a network namespace for"))?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    &path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(io("binding"))
            })
            .join()
            .expect("the namespace thread does not panic")
    });
    if bound.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    bound
}

/// Removes container `id`'s network namespace binding (the kernel takes the namespace, and
/// the veths in it, once nothing else holds it).
pub(crate) fn delete_netns(id: &str) -> Result<()> {
    let path = netns_path(id);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::io(&path)(e.into())),
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
        _ => Ok(()),
    }
}

/// One veth pair per attachment from its bridge into container `id`'s namespace, with its
/// address, `lo` up, and the default route through `routed`'s gateway.
pub(crate) fn plug(id: &str, plan: &[(&str, &Attachment)], routed: Option<usize>) -> Result<()> {
    let path = netns_path(id);
    let netns: std::os::fd::OwnedFd = std::fs::File::open(&path).map_err(Error::io(&path))?.into();
    let plan = plan
        .iter()
        .map(|(bridge, attachment)| Ok((crate::rtnl::index_of(bridge)?, *attachment)))
        .collect::<Result<Vec<_>>>()?;
    crate::rtnl::plug(&netns, &plan, routed)
}

/// The host end of container `id`'s veth on `network`, in the 15 bytes a link name has: `vh`
/// and a hash of both. FNV-1a by hand, since the name must be the same for every hoist that
/// cleans up after another (std's hasher may change between Rust releases), and 44 bits of a
/// fast non-cryptographic hash are plenty for names that only need to differ.
pub(crate) fn host_veth_name(id: &str, network: &str) -> String {
    let hash = [id.as_bytes(), b"\0", network.as_bytes()]
        .concat()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("vh{:011x}", hash & 0xfff_ffff_ffff)
}

/// Whether this network namespace has the link: its index, asked of a socket of this
/// namespace. (Not /sys/class/net: that shows the namespace of whoever mounted /sys, which
/// need not be ours.)
pub(crate) fn exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

/// Makes the bridge if this network namespace has none, with the gateway address, up.
pub(crate) fn ensure_bridge(network: &crate::Network) -> Result<()> {
    if exists(&network.bridge) {
        return Ok(());
    }
    let gateway = format!("{}/{}", network.gateway, network.subnet.prefix);
    ip(&["link", "add", &network.bridge, "type", "bridge"])?;
    ip(&["addr", "add", &gateway, "dev", &network.bridge])?;
    ip(&["link", "set", &network.bridge, "up"])
}

pub(crate) fn remove_bridge(bridge: &str) {
    if exists(bridge) {
        if let Err(error) = ip(&["link", "delete", bridge, "type", "bridge"]) {
            tracing::warn!(%error, "removing an unused bridge");
        }
    }
}

/// Waits (up to half a second: a grace period or a few) for a link the kernel is taking away
/// with its namespace, and removes it if it stays (something else holds the namespace).
pub(crate) fn wait_gone(name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while exists(name) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    remove_link(name);
}

pub(crate) fn remove_link(name: &str) {
    if exists(name) {
        let _ = ip(&["link", "delete", name]);
    }
}

/// The subnets the host has routes to, which a new network must not overlap.
pub(crate) fn routed_subnets() -> Vec<Subnet> {
    let Ok(output) = Command::new("ip")
        .args(["-4", "-o", "route", "show"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|destination| match destination.contains('/') {
            true => destination.parse().ok(),
            false => format!("{destination}/32").parse().ok(),
        })
        .collect()
}
