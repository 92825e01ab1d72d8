//! The `options` of a runtime-spec mount, split into mount(2) flags, propagation, and data.

use nix::mount::MsFlags;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MountOptions {
    pub flags: MsFlags,
    /// Flags to clear when a bind mount is remounted (`rw`, `suid`, `dev`, `exec`).
    pub cleared: MsFlags,
    pub propagation: MsFlags,
    pub bind: bool,
    pub recursive: bool,
    /// Everything that is not a flag, passed to the file system (`mode=755`, `size=64k`).
    pub data: Vec<String>,
}

/// The options that are mount(2) flags: each sets some and clears others.
const FLAGS: &[(&str, MsFlags, MsFlags)] = &[
    // fstab's placeholder: nothing to set (and not data for the file system).
    ("defaults", MsFlags::empty(), MsFlags::empty()),
    ("ro", MsFlags::MS_RDONLY, MsFlags::empty()),
    ("rw", MsFlags::empty(), MsFlags::MS_RDONLY),
    ("nosuid", MsFlags::MS_NOSUID, MsFlags::empty()),
    ("suid", MsFlags::empty(), MsFlags::MS_NOSUID),
    ("nodev", MsFlags::MS_NODEV, MsFlags::empty()),
    ("dev", MsFlags::empty(), MsFlags::MS_NODEV),
    ("noexec", MsFlags::MS_NOEXEC, MsFlags::empty()),
    ("exec", MsFlags::empty(), MsFlags::MS_NOEXEC),
    ("sync", MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
    ("async", MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
    ("dirsync", MsFlags::MS_DIRSYNC, MsFlags::empty()),
    ("remount", MsFlags::MS_REMOUNT, MsFlags::empty()),
    ("mand", MsFlags::MS_MANDLOCK, MsFlags::empty()),
    ("nomand", MsFlags::empty(), MsFlags::MS_MANDLOCK),
    ("atime", MsFlags::empty(), MsFlags::MS_NOATIME),
    ("noatime", MsFlags::MS_NOATIME, MsFlags::empty()),
    ("diratime", MsFlags::empty(), MsFlags::MS_NODIRATIME),
    ("nodiratime", MsFlags::MS_NODIRATIME, MsFlags::empty()),
    ("relatime", MsFlags::MS_RELATIME, MsFlags::empty()),
    ("norelatime", MsFlags::empty(), MsFlags::MS_RELATIME),
    ("strictatime", MsFlags::MS_STRICTATIME, MsFlags::empty()),
    ("nostrictatime", MsFlags::empty(), MsFlags::MS_STRICTATIME),
];

/// The propagation options (every recursive one is its plain name with an `r` in front).
const PROPAGATION: &[&str] = &[
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Every option name `parse` understands (anything else is file-system data): for `features`.
pub(crate) fn known() -> impl Iterator<Item = &'static str> {
    FLAGS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(["bind", "rbind"])
        .chain(PROPAGATION.iter().copied())
}

pub(crate) fn parse(options: &[String]) -> MountOptions {
    let mut parsed = MountOptions {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: MsFlags::empty(),
        bind: false,
        recursive: false,
        data: Vec::new(),
    };
    for option in options {
        let option = option.as_str();
        let Some(&(_, set, clear)) = FLAGS.iter().find(|(name, _, _)| *name == option) else {
            match option {
                "bind" => parsed.bind = true,
                "rbind" => (parsed.bind, parsed.recursive) = (true, true),
                _ if PROPAGATION.contains(&option) => parsed.propagation |= propagation(option),
                _ => parsed.data.push(option.to_string()),
            }
            continue;
        };
        parsed.flags |= set;
        parsed.flags &= !clear;
        parsed.cleared |= clear;
    }
    parsed
}

pub(crate) fn propagation(name: &str) -> MsFlags {
    // Every recursive variant is the plain name with an `r` in front.
    let recursive = if name.starts_with('r') {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    let kind = match name.trim_start_matches('r') {
        "private" => MsFlags::MS_PRIVATE,
        "shared" => MsFlags::MS_SHARED,
        "slave" => MsFlags::MS_SLAVE,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => MsFlags::empty(),
    };
    kind | recursive
}

/// `MOUNT_ATTR_*` bits of mount_setattr(2): what to set and what to clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MountAttributes {
    pub set: u64,
    pub clear: u64,
}

/// mount(2) per-mount flags as mount_setattr's (`MOUNT_ATTR_*`): what to set and to clear.
/// Superblock flags (sync, dirsync, mand) have no per-mount meaning and are left out, as a
/// bind remount ignores them.
pub(crate) fn mount_attributes(flags: MsFlags) -> MountAttributes {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const ATIME_MASK: u64 = 0x70;
    const NOATIME: u64 = 0x10;
    const STRICTATIME: u64 = 0x20;
    const NODIRATIME: u64 = 0x80;
    let mut attributes = MountAttributes::default();
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, RDONLY),
        (MsFlags::MS_NOSUID, NOSUID),
        (MsFlags::MS_NODEV, NODEV),
        (MsFlags::MS_NOEXEC, NOEXEC),
        (MsFlags::MS_NODIRATIME, NODIRATIME),
    ] {
        if flags.contains(flag) {
            attributes.set |= attr;
        }
    }
    // The access-time mode is one field: relatime is its zero.
    for (flag, attr) in [
        (MsFlags::MS_NOATIME, NOATIME),
        (MsFlags::MS_STRICTATIME, STRICTATIME),
        (MsFlags::MS_RELATIME, 0),
    ] {
        if flags.contains(flag) {
            attributes.set |= attr;
            attributes.clear |= ATIME_MASK;
        }
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_data_and_propagation_are_told_apart() {
        let o = parse(
            &[
                "nosuid",
                "strictatime",
                "mode=755",
                "size=65536k",
                "rbind",
                "rprivate",
                "ro",
            ]
            .map(String::from),
        );
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        let rw = parse(&["ro", "rw"].map(String::from));
        assert!(!rw.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(propagation("slave"), MsFlags::MS_SLAVE);
        assert_eq!(
            propagation("runbindable"),
            MsFlags::MS_UNBINDABLE | MsFlags::MS_REC
        );
    }

    #[test]
    fn per_mount_flags_become_mount_attributes() {
        let attributes = |flags| {
            let MountAttributes { set, clear } = mount_attributes(flags);
            (set, clear)
        };
        assert_eq!(attributes(MsFlags::empty()), (0, 0));
        assert_eq!(
            attributes(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
            (0x7, 0)
        );
        assert_eq!(attributes(MsFlags::MS_NOATIME), (0x10, 0x70));
        assert_eq!(attributes(MsFlags::MS_RELATIME), (0, 0x70));
        assert_eq!(
            attributes(MsFlags::MS_SYNCHRONOUS | MsFlags::MS_NOEXEC),
            (0x8, 0),
            "superblock flags have no per-mount attribute"
        );
    }
}
