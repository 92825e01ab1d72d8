//! The namespaces hoist handles: the one table that creating, joining and `features` read.

use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;

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

#[cfg(test)]
mod tests {
    use super::*;

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
