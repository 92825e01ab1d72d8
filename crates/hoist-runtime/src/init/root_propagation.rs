//! `linux.rootfsPropagation`, made to work with `pivot_root`, which refuses a shared new root
//! or a new root under a shared mount. The namespace's copies of the host's mounts first get a
//! propagation that lets the rootfs be bound and entered; the new root gets what was asked
//! once it is `/` (crun and runc do the same).

use nix::mount::MsFlags;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootPropagation {
    /// The default, as runc's: the host's mount events reach the container, none go back.
    Slave,
    /// Mounts under the new root propagate to its own peers (a bind of `/` inside), and the
    /// host's still arrive; a bind mount that asks for `rshared` stays the host's peer.
    Shared,
    Private,
    Unbindable,
}

impl RootPropagation {
    /// The config's value (`spec_values` has refused names it does not know); the recursive
    /// names (`rslave`, ...) mean the same: the whole tree is set either way.
    pub(crate) fn from_spec(name: Option<&str>) -> RootPropagation {
        match name.map(|n| n.trim_start_matches('r')) {
            Some("shared") => RootPropagation::Shared,
            Some("private") => RootPropagation::Private,
            Some("unbindable") => RootPropagation::Unbindable,
            _ => RootPropagation::Slave,
        }
    }

    /// Set on `/` of the new namespace (recursively) before anything is mounted: its copies of
    /// the host's mounts. A shared root keeps them the host's peers, so that bind mounts made
    /// from them can be too; an unbindable one starts private, or the rootfs could not be bound.
    pub(crate) fn of_the_copies(self) -> MsFlags {
        MsFlags::MS_REC
            | match self {
                RootPropagation::Slave => MsFlags::MS_SLAVE,
                RootPropagation::Shared => MsFlags::MS_SHARED,
                RootPropagation::Private | RootPropagation::Unbindable => MsFlags::MS_PRIVATE,
            }
    }

    /// Whether the mount holding the rootfs must be made a slave before the rootfs is bound:
    /// while it is shared, the bind would appear on the host too, and pivot_root refuses a new
    /// root whose parent is shared.
    pub(crate) fn holder_becomes_slave(self) -> bool {
        self == RootPropagation::Shared
    }

    /// Set on the new root (recursively) once everything is mounted in it, if the bound rootfs
    /// does not have it already.
    pub(crate) fn after_entering(self) -> Option<MsFlags> {
        match self {
            RootPropagation::Shared => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            RootPropagation::Unbindable => Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            RootPropagation::Slave | RootPropagation::Private => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_spec_names_one_kind_and_none_is_slave() {
        for (name, kind) in [
            (None, RootPropagation::Slave),
            (Some("slave"), RootPropagation::Slave),
            (Some("rslave"), RootPropagation::Slave),
            (Some("shared"), RootPropagation::Shared),
            (Some("rshared"), RootPropagation::Shared),
            (Some("private"), RootPropagation::Private),
            (Some("unbindable"), RootPropagation::Unbindable),
        ] {
            assert_eq!(RootPropagation::from_spec(name), kind, "{name:?}");
        }
    }
}
