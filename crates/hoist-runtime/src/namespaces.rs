//! The namespaces hoist handles: the one table that creating, joining and `features` read;
//! what a config asks for at `create`, and what `exec` joins.

use std::os::fd::OwnedFd;

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

/// The clone flag that makes a new namespace of `kind`.
pub(crate) fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    NAMESPACES
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, flag)| *flag)
        .expect("NAMESPACES lists every namespace type")
}

/// The config's namespaces, as clone flags for the new ones and fds for those to join.
pub(crate) struct Namespaces {
    pub clone_flags: CloneFlags,
    pub join: Vec<(OwnedFd, CloneFlags)>,
    pub join_pid: Option<OwnedFd>,
    pub new_user: bool,
    pub new_cgroup: bool,
    /// A new time namespace, with its clock offsets (clock name, seconds, nanoseconds).
    pub new_time: Option<Vec<(String, i64, u32)>>,
}

impl Namespaces {
    /// What the config asks for: new namespaces (less cgroup and time, which the init
    /// unshares itself) and the fds of those to join, the user namespace first.
    pub(crate) fn from_spec(bundle: &Bundle) -> Result<Namespaces> {
        let mut ns = Namespaces {
            clone_flags: CloneFlags::empty(),
            join: Vec::new(),
            join_pid: None,
            new_user: false,
            new_cgroup: false,
            new_time: None,
        };
        let linux = bundle.spec.linux().clone().unwrap_or_default();
        for namespace in linux.namespaces().as_deref().unwrap_or_default() {
            let flag = clone_flag(namespace.typ());
            match namespace.path() {
                None => ns.clone_flags |= flag,
                Some(path) => {
                    let fd = rfs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                        .map_err(|e| Error::io("opening the namespace to join", path)(e.into()))?;
                    if flag == CloneFlags::CLONE_NEWPID {
                        ns.join_pid = Some(fd);
                    } else if flag == CloneFlags::CLONE_NEWUSER {
                        // The user namespace decides what the others may do: join it first.
                        ns.join.insert(0, (fd, flag));
                    } else {
                        ns.join.push((fd, flag));
                    }
                }
            }
        }
        if !ns.clone_flags.contains(CloneFlags::CLONE_NEWNS)
            && ns.join.iter().all(|(_, f)| *f != CloneFlags::CLONE_NEWNS)
        {
            return Err(Error::InvalidSpec(
                "the config has no mount namespace; hoist needs one to set up the rootfs".into(),
            ));
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
}

/// The namespaces of the container's init (`pid`) that `exec` joins, opened, in join order.
pub(crate) fn open_to_join(pid: i32, bundle: &Bundle) -> Result<Vec<(OwnedFd, CloneFlags)>> {
    to_join(bundle)
        .into_iter()
        .map(|(_, name, flag)| {
            let path = format!("/proc/{pid}/ns/{name}");
            rfs::open(
                path.as_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(|fd| (fd, flag))
            .map_err(|e| Error::io("opening the container's namespace", &path)(e.into()))
        })
        .collect()
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
        let joined: Vec<CloneFlags> = ns.join.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            joined,
            [CloneFlags::CLONE_NEWUSER, CloneFlags::CLONE_NEWNET]
        );
    }

    #[test]
    fn a_config_without_a_mount_namespace_or_with_offsets_but_no_time_namespace_is_refused() {
        let refused = |linux| match Namespaces::from_spec(&bundle(linux)) {
            Err(Error::InvalidSpec(message)) => message,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(
            refused(serde_json::json!({"namespaces": [{"type": "pid"}]}))
                .contains("no mount namespace")
        );
        assert!(refused(serde_json::json!({
            "namespaces": [{"type": "mount"}],
            "timeOffsets": {"boottime": {"secs": 1}},
        }))
        .contains("timeOffsets"));
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
            assert!(!clone_flag(kind).is_empty(), "{kind:?}");
        }
    }
}
