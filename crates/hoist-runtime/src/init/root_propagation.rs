//! `linux.rootfsPropagation`, made to work with `pivot_root`, which refuses a shared new root
//! or a new root under a shared mount. The namespace's copies of the host's mounts first get a
//! propagation that lets the rootfs be bound and entered; the new root gets what was asked
//! once it is `/` (crun and runc do the same).

use nix::mount::MsFlags;

/// What the config asks of the new root: a kind, and whether for its whole tree (`rshared`)
/// or the root mount alone (`shared`, as runc reads it: mounts below keep their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RootPropagation {
    pub kind: Kind,
    pub recursive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The default, as runc's: the host's mount events reach the container, none go back.
    Slave,
    /// Mounts under the new root propagate to its own peers (a bind of `/` inside), and the
    /// host's still arrive. A bind mount that asks for `rshared` stays the host's peer (a
    /// Kubernetes "Bidirectional" volume); one that names no propagation is made a slave, so
    /// nothing the runtime mounts below it reaches the host.
    Shared,
    Private,
    Unbindable,
}

impl RootPropagation {
    /// The config's value (`spec_values` has refused names it does not know).
    pub(crate) fn from_spec(name: Option<&str>) -> RootPropagation {
        let recursive = name.is_none_or(|n| n.starts_with('r'));
        let kind = match name.map(|n| n.trim_start_matches('r')) {
            Some("shared") => Kind::Shared,
            Some("private") => Kind::Private,
            Some("unbindable") => Kind::Unbindable,
            _ => Kind::Slave,
        };
        RootPropagation { kind, recursive }
    }

    /// Set on `/` of the new namespace (recursively: all of it is the host's) before anything
    /// is mounted. A shared root keeps the copies the host's peers, so that bind mounts made
    /// from them can be too; an unbindable one starts private, or the rootfs could not be
    /// bound.
    pub(crate) fn of_the_copies(self) -> MsFlags {
        MsFlags::MS_REC
            | match self.kind {
                Kind::Slave => MsFlags::MS_SLAVE,
                Kind::Shared => MsFlags::MS_SHARED,
                Kind::Private | Kind::Unbindable => MsFlags::MS_PRIVATE,
            }
    }

    /// The propagation for a detached copy of a host mount (see `MountSources`), which starts
    /// as the host mount's peer when that is shared. Never left so: a container in a user
    /// namespace must not mount onto the host, and its own namespace's copies would have been
    /// made slaves too (an `rshared` bind then shares inside the container only).
    pub(crate) fn of_detached_binds(self) -> MsFlags {
        match self.kind {
            Kind::Slave | Kind::Shared => MsFlags::MS_SLAVE,
            Kind::Private | Kind::Unbindable => MsFlags::MS_PRIVATE,
        }
    }

    /// Whether the mount holding the rootfs must be made a slave before the rootfs is bound:
    /// while it is shared, the bind would appear on the host too, and pivot_root refuses a new
    /// root whose parent is shared.
    pub(crate) fn holder_becomes_slave(self) -> bool {
        self.kind == Kind::Shared
    }

    /// The propagation a bind mount gets when it names none: under a shared root it would
    /// otherwise stay the host's peer.
    pub(crate) fn default_for_binds(self) -> MsFlags {
        match self.kind {
            Kind::Shared => MsFlags::MS_SLAVE | MsFlags::MS_REC,
            _ => MsFlags::empty(),
        }
    }

    /// Set on the new root once everything is mounted in it, if the bound rootfs does not
    /// have it already.
    pub(crate) fn after_entering(self) -> Option<MsFlags> {
        let kind = match self.kind {
            Kind::Shared => MsFlags::MS_SHARED,
            Kind::Unbindable => MsFlags::MS_UNBINDABLE,
            Kind::Slave | Kind::Private => return None,
        };
        Some(match self.recursive {
            true => kind | MsFlags::MS_REC,
            false => kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_spec_names_one_kind_and_none_is_recursive_slave() {
        for (name, kind, recursive) in [
            (None, Kind::Slave, true),
            (Some("slave"), Kind::Slave, false),
            (Some("rslave"), Kind::Slave, true),
            (Some("shared"), Kind::Shared, false),
            (Some("rshared"), Kind::Shared, true),
            (Some("private"), Kind::Private, false),
            (Some("runbindable"), Kind::Unbindable, true),
        ] {
            assert_eq!(
                RootPropagation::from_spec(name),
                RootPropagation { kind, recursive },
                "{name:?}"
            );
        }
    }
}
