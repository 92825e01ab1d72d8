//! The namespaces hoist handles: the one table that creating, joining and `features` read;
//! what a config asks for at `create`, and what `exec` joins.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{self as rfs, Mode, OFlags};

use crate::spec::Bundle;
use crate::{Error, Result};

/// Every namespace type, with its name under `/proc/PID/ns` and its clone flag, in the order
/// `exec` joins them: the user namespace first (it grants the rights to join the others), the
/// mount namespace last (after it, host paths are gone).
pub(crate) const NAMESPACES: &[(LinuxNamespaceType, &str, CloneFlags)] = &[
    (LinuxNamespaceType::User, "user", CloneFlags::CLONE_NEWUSER),
    (LinuxNamespaceType::Ipc, "ipc", CloneFlags::CLONE_NEWIPC),
    (LinuxNamespaceType::Uts, "uts", CloneFlags::CLONE_NEWUTS),
    (LinuxNamespaceType::Network, "net", CloneFlags::CLONE_NEWNET),
    (
        LinuxNamespaceType::Cgroup,
        "cgroup",
        CloneFlags::CLONE_NEWCGROUP,
    ),
    (
        LinuxNamespaceType::Time,
        "time",
        CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    ),
    (LinuxNamespaceType::Pid, "pid", CloneFlags::CLONE_NEWPID),
    (LinuxNamespaceType::Mount, "mnt", CloneFlags::CLONE_NEWNS),
];

/// An open namespace to enter: a config's `path`, or the container's own for `exec`.
pub(crate) struct NamespaceFd {
    pub fd: OwnedFd,
    pub flag: CloneFlags,
    /// Its name under /proc/PID/ns, which errors use.
    pub name: &'static str,
    pub path: PathBuf,
}

impl NamespaceFd {
    /// Opens `path` and checks that it is a namespace of `kind`: a wrong file is refused at
    /// create, naming both, rather than failing in the init with EINVAL.
    fn open(kind: LinuxNamespaceType, path: &Path) -> Result<NamespaceFd> {
        let (_, name, flag) = entry(kind);
        let fd = rfs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
            Error::sys(format!(
                "opening the {name} namespace {} to join",
                path.display()
            )),
        )?;
        // A bind-mounted namespace (/run/netns/x) reads back as its path, not "net:[…]": ask
        // the kernel for its type.
        let found = crate::sys::namespace_type(&fd);
        if found.as_ref().ok() != Some(&flag.bits()) {
            let found = match found {
                Ok(bits) => NAMESPACES
                    .iter()
                    .find(|(_, _, f)| f.bits() == bits)
                    .map_or("another kind of namespace".to_string(), |(_, other, _)| {
                        format!("a {other} namespace")
                    }),
                Err(_) => "not a namespace".to_string(),
            };
            return Err(Error::InvalidSpec(format!(
                "linux.namespaces: the {name} namespace to join, {}, is {found}",
                path.display(),
            )));
        }
        Ok(NamespaceFd {
            fd,
            flag,
            name,
            path: path.to_path_buf(),
        })
    }

    /// Whether this is the namespace the runtime is in already (setns refuses to enter one's
    /// own user namespace again).
    pub(crate) fn is_current(&self) -> bool {
        let current = std::fs::metadata(format!("/proc/self/ns/{}", self.name));
        match (rfs::fstat(&self.fd), current) {
            (Ok(joined), Ok(current)) => {
                joined.st_dev == current.dev() && joined.st_ino == current.ino()
            }
            _ => false,
        }
    }

    /// Enters the namespace, unless this process is in it already (a helper joined it
    /// before; setns would need rights the process no longer has, or refuse outright).
    pub(crate) fn enter(&self) -> Result<()> {
        if self.is_current() {
            return Ok(());
        }
        nix::sched::setns(&self.fd, self.flag).map_err(Error::sys(format!(
            "joining the {} namespace {}",
            self.name,
            self.path.display()
        )))
    }
}

/// Enters `namespaces`. With a user namespace to join, the others are tried first, while the
/// process still has the host's rights (once in the user namespace it has none over the
/// host's namespaces); then the user namespace; then again those that refused, which need
/// its rights (as runc does).
pub(crate) fn enter_all<'a>(namespaces: impl IntoIterator<Item = &'a NamespaceFd>) -> Result<()> {
    let (user, others): (Vec<&NamespaceFd>, Vec<&NamespaceFd>) = namespaces
        .into_iter()
        .partition(|ns| ns.flag == CloneFlags::CLONE_NEWUSER);
    let Some(user) = user.first().filter(|user| !user.is_current()) else {
        return others.iter().try_for_each(|ns| ns.enter());
    };
    let refused: Vec<&NamespaceFd> = others
        .into_iter()
        .filter(|ns| ns.enter().is_err())
        .collect();
    user.enter()?;
    refused.iter().try_for_each(|ns| ns.enter())
}

fn entry(kind: LinuxNamespaceType) -> (LinuxNamespaceType, &'static str, CloneFlags) {
    *NAMESPACES
        .iter()
        .find(|(k, _, _)| *k == kind)
        .expect("NAMESPACES lists every namespace type")
}

/// The config's namespaces, as clone flags for the new ones and fds for those to join.
pub(crate) struct Namespaces {
    pub clone_flags: CloneFlags,
    pub join: Vec<NamespaceFd>,
    pub join_pid: Option<NamespaceFd>,
    pub new_user: bool,
    pub new_cgroup: bool,
    /// A new time namespace, with its clock offsets (clock name, seconds, nanoseconds).
    pub new_time: Option<Vec<(String, i64, u32)>>,
    /// A mount namespace of the container's (new or joined); without one the container shares
    /// the runtime's and is only chrooted into its rootfs.
    pub own_mount: bool,
}

impl Namespaces {
    /// What the config asks for: new namespaces (less cgroup and time, which the init
    /// unshares itself) and the namespaces to join, in `NAMESPACES` order.
    pub(crate) fn from_spec(bundle: &Bundle) -> Result<Namespaces> {
        let mut ns = Namespaces {
            clone_flags: CloneFlags::empty(),
            join: Vec::new(),
            join_pid: None,
            new_user: false,
            new_cgroup: false,
            new_time: None,
            own_mount: false,
        };
        let linux = bundle.spec.linux().clone().unwrap_or_default();
        let listed = linux.namespaces().clone().unwrap_or_default();
        for (kind, _, flag) in NAMESPACES {
            let Some(namespace) = listed.iter().find(|n| n.typ() == *kind) else {
                continue;
            };
            match namespace.path() {
                None => ns.clone_flags |= *flag,
                Some(path) => {
                    let joined = NamespaceFd::open(*kind, path)?;
                    if *flag == CloneFlags::CLONE_NEWPID {
                        ns.join_pid = Some(joined);
                    } else {
                        ns.join.push(joined);
                    }
                }
            }
        }
        ns.own_mount = ns.clone_flags.contains(CloneFlags::CLONE_NEWNS)
            || ns.join.iter().any(|j| j.flag == CloneFlags::CLONE_NEWNS);
        if !ns.own_mount {
            crate::validate::fields_needing_a_mount_namespace(&bundle.spec)?;
        }
        ns.new_user = ns.clone_flags.contains(CloneFlags::CLONE_NEWUSER);
        // The init unshares its cgroup namespace itself, once it is in its cgroup.
        ns.new_cgroup = ns.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP);
        ns.clone_flags.remove(CloneFlags::CLONE_NEWCGROUP);
        // And its time namespace: the clocks' offsets can only be written before any process
        // is in it, so the init unshares (which leaves itself outside), writes them, and
        // enters it with the exec.
        let new_time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        let offsets = linux.time_offsets().clone().unwrap_or_default();
        if ns.clone_flags.contains(new_time) {
            ns.clone_flags.remove(new_time);
            ns.new_time = Some(
                offsets
                    .iter()
                    .map(|(clock, offset)| {
                        (
                            clock.clone(),
                            offset.secs().unwrap_or(0),
                            offset.nanosecs().unwrap_or(0),
                        )
                    })
                    .collect(),
            );
        } else if !offsets.is_empty() {
            return Err(Error::InvalidSpec(
                "linux.timeOffsets needs a new time namespace; add {\"type\": \"time\"} to linux.namespaces".into(),
            ));
        }
        Ok(ns)
    }

    /// A user namespace joined by path that is not the runtime's own: the init is cloned
    /// from inside it (see ops::init_clone), so that what the clone makes is its.
    pub(crate) fn foreign_user(&self) -> Option<&NamespaceFd> {
        self.join
            .iter()
            .find(|j| j.flag == CloneFlags::CLONE_NEWUSER && !j.is_current())
    }
}

/// The namespaces of the container's init (`pid`) that `exec` joins, opened, in join order.
pub(crate) fn open_to_join(pid: i32, bundle: &Bundle) -> Result<Vec<NamespaceFd>> {
    to_join(bundle)
        .into_iter()
        .map(|(kind, name, _)| {
            NamespaceFd::open(kind, Path::new(&format!("/proc/{pid}/ns/{name}")))
        })
        .collect()
}

/// The root directory of the container's init (`pid`), for an `exec` into a container that
/// has no mount namespace to join.
pub(crate) fn open_root_of(pid: i32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/root");
    rfs::open(
        path.as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening the container's root", &path)(e.into()))
}

/// The container's own namespaces (those the config asks to create or join), in the order
/// `exec` joins them.
fn to_join(bundle: &Bundle) -> Vec<(LinuxNamespaceType, &'static str, CloneFlags)> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let listed: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect();
    NAMESPACES
        .iter()
        .filter(|(t, _, _)| listed.contains(t))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(linux: serde_json::Value) -> Bundle {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": linux,
        }))
        .unwrap();
        Bundle {
            path: "/b".into(),
            rootfs: "/b/rootfs".into(),
            process: spec.process().clone().unwrap(),
            spec,
        }
    }

    #[test]
    fn cgroup_and_time_namespaces_are_left_to_the_init_and_the_user_namespace_joins_first() {
        let ns = Namespaces::from_spec(&bundle(serde_json::json!({
            "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "cgroup"},
                           {"type": "time"}, {"type": "network", "path": "/proc/self/ns/net"},
                           {"type": "user", "path": "/proc/self/ns/user"}],
            "timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}},
        })))
        .unwrap();
        assert_eq!(
            ns.clone_flags,
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID
        );
        assert!(ns.new_cgroup && !ns.new_user);
        assert_eq!(ns.new_time, Some(vec![("monotonic".to_string(), 10, 5)]));
        let joined: Vec<CloneFlags> = ns.join.iter().map(|j| j.flag).collect();
        assert_eq!(
            joined,
            [CloneFlags::CLONE_NEWUSER, CloneFlags::CLONE_NEWNET]
        );
    }

    #[test]
    fn without_a_mount_namespace_only_what_needs_one_is_refused_and_offsets_need_a_time_namespace()
    {
        let refused = |linux| match Namespaces::from_spec(&bundle(linux)) {
            Err(Error::InvalidSpec(message)) => message,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(refused(
            serde_json::json!({"namespaces": [{"type": "pid"}], "maskedPaths": ["/x"]})
        )
        .contains("linux.maskedPaths needs a mount namespace"));
        let shares_the_runtimes = Namespaces::from_spec(&bundle(serde_json::json!({}))).unwrap();
        assert!(!shares_the_runtimes.own_mount && shares_the_runtimes.clone_flags.is_empty());
        assert!(refused(serde_json::json!({
            "namespaces": [{"type": "mount"}],
            "timeOffsets": {"boottime": {"secs": 1}},
        }))
        .contains("timeOffsets"));
    }

    #[test]
    fn a_path_that_is_not_a_namespace_of_the_type_is_refused_naming_both() {
        let refused = |path: &str| match Namespaces::from_spec(&bundle(serde_json::json!({
            "namespaces": [{"type": "mount"}, {"type": "uts", "path": path}],
        }))) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{path} accepted as a uts namespace"),
        };
        let message = refused("/proc/self/ns/net");
        assert!(
            message.contains("the uts namespace to join, /proc/self/ns/net, is a net namespace"),
            "{message}"
        );
        assert!(refused("/proc/self/status").contains("/proc/self/status, is not a namespace"));
        assert!(refused("/nonexistent/ns").contains("the uts namespace /nonexistent/ns"));
    }

    #[test]
    fn exec_joins_the_listed_namespaces_user_first_mount_last() {
        let names: Vec<&str> = to_join(&bundle(serde_json::json!({
            "namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "user"}],
        })))
        .iter()
        .map(|(_, name, _)| *name)
        .collect();
        assert_eq!(names, ["user", "net", "mnt"]);
    }

    #[test]
    fn every_namespace_type_has_a_clone_flag() {
        for kind in [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::User,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Time,
        ] {
            assert!(!entry(kind).2.is_empty(), "{kind:?}");
        }
    }
}
