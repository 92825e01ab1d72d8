//! Which cgroup hierarchies this host has, read from /proc/self/mountinfo, and where the
//! calling process sits in each (/proc/self/cgroup).

use std::fs;
use std::path::{Path, PathBuf};

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub mountpoint: PathBuf,
    pub controllers: Vec<String>,
    pub unified: bool,
    /// The caller's own cgroup in this hierarchy (relative cgroupsPaths go below it).
    pub own: PathBuf,
}

impl Hierarchy {
    /// The directory for a container cgroup path in this hierarchy: an absolute path from its
    /// root, a relative one below the caller's own cgroup. `..` never climbs above where the
    /// path starts (a config's `cgroupsPath` is not trusted to stay in the hierarchy).
    pub(crate) fn dir_for(&self, path: &Path) -> PathBuf {
        let mut dir = self.mountpoint.clone();
        if !path.is_absolute() {
            dir.extend(confined(&self.own));
        }
        dir.extend(confined(path));
        dir
    }
}

/// `path` as plain names, `.` dropped and `..` taken back only as far as its own names go:
/// lexical, as runc's CleanPath. `None` when nothing is left.
fn confined(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(name) => clean.push(name),
            std::path::Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

/// Every hierarchy a container joins: the v1 controllers' and the unified one, or on a pure
/// cgroup2 host just the unified one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Hierarchies(pub Vec<Hierarchy>);

/// The v1 controllers a container cgroup is made in (named hierarchies like name=systemd are
/// left to their managers).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
];

impl Hierarchies {
    pub(crate) fn detect() -> std::io::Result<Hierarchies> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        let membership = fs::read_to_string("/proc/self/cgroup")?;
        Ok(Self::parse(&mountinfo, &membership))
    }

    /// The hierarchies as mounted outside `excluded`: a rootfs being set up, whose bind of the
    /// host's /sys repeats every hierarchy under it (then covered by the container's own
    /// /sys/fs/cgroup).
    pub(crate) fn detect_outside(excluded: &Path) -> std::io::Result<Hierarchies> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        let membership = fs::read_to_string("/proc/self/cgroup")?;
        let outside: Vec<&str> = mountinfo
            .lines()
            .filter(|line| {
                crate::mountinfo::parse(line)
                    .first()
                    .is_none_or(|m| !m.mount_point.starts_with(excluded))
            })
            .collect();
        Ok(Self::parse(&outside.join("\n"), &membership))
    }

    pub(crate) fn parse(mountinfo: &str, membership: &str) -> Hierarchies {
        let own = |key: &str| -> PathBuf {
            membership
                .lines()
                .find_map(|line| {
                    let mut parts = line.splitn(3, ':');
                    let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                    let matches = if key.is_empty() {
                        controllers.is_empty()
                    } else {
                        controllers.split(',').any(|c| c == key)
                    };
                    matches.then(|| PathBuf::from(path))
                })
                .unwrap_or_else(|| PathBuf::from("/"))
        };
        let mut hierarchies = Vec::new();
        for entry in crate::mountinfo::parse(mountinfo) {
            match entry.fs_type.as_str() {
                "cgroup2" => {
                    let controllers =
                        fs::read_to_string(entry.mount_point.join("cgroup.controllers"))
                            .map(|c| c.split_whitespace().map(str::to_string).collect())
                            .unwrap_or_default();
                    hierarchies.push(Hierarchy {
                        mountpoint: entry.mount_point,
                        controllers,
                        unified: true,
                        own: own(""),
                    });
                }
                "cgroup" => {
                    let controllers: Vec<String> = entry
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    let own = own(&controllers[0]);
                    hierarchies.push(Hierarchy {
                        mountpoint: entry.mount_point,
                        controllers,
                        unified: false,
                        own,
                    });
                }
                _ => {}
            }
        }
        // A hierarchy mounted more than once (bind mounts, or a new /sys/fs/cgroup moved over
        // the old one) is one hierarchy: keep its last mount, the one on top.
        let mut unique: Vec<Hierarchy> = Vec::new();
        for hierarchy in hierarchies.into_iter().rev() {
            let seen = unique.iter().any(|h| {
                h.unified == hierarchy.unified
                    && (h.unified || h.controllers == hierarchy.controllers)
            });
            if !seen {
                unique.push(hierarchy);
            }
        }
        unique.reverse();
        Hierarchies(unique)
    }

    #[cfg(test)]
    pub(crate) fn is_pure_v2(&self) -> bool {
        self.0.iter().all(|h| h.unified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn a_hybrid_host_has_v1_controllers_and_the_unified_hierarchy() {
        let membership = "9:name=systemd:/\n4:memory:/sandbox/abc\n1:cpu:/\n0::/\n";
        let found = Hierarchies::parse(HYBRID, membership);
        let names: Vec<(String, bool)> = found
            .0
            .iter()
            .map(|h| (h.mountpoint.display().to_string(), h.unified))
            .collect();
        assert_eq!(
            names,
            [
                ("/sys/fs/cgroup/cpu".to_string(), false),
                ("/sys/fs/cgroup/memory".to_string(), false),
                ("/sys/fs/cgroup/unified".to_string(), true)
            ],
            "name=systemd is not ours to use"
        );
        assert!(!found.is_pure_v2());
        let memory = &found.0[1];
        assert_eq!(
            memory.dir_for(Path::new("/hoist/c1")),
            Path::new("/sys/fs/cgroup/memory/hoist/c1")
        );
        assert_eq!(
            memory.dir_for(Path::new("hoist/c1")),
            Path::new("/sys/fs/cgroup/memory/sandbox/abc/hoist/c1")
        );
        for escaping in ["/../../../etc/c1", "/a/../../../c1"] {
            assert!(
                memory
                    .dir_for(Path::new(escaping))
                    .starts_with("/sys/fs/cgroup/memory"),
                "{escaping}"
            );
        }
        assert_eq!(
            memory.dir_for(Path::new("../../../c1")),
            Path::new("/sys/fs/cgroup/memory/sandbox/abc/c1"),
            "a relative path stays below the caller's own cgroup"
        );
    }

    #[test]
    fn a_hierarchy_mounted_twice_is_found_once_at_its_last_mount() {
        let mountinfo = "\
30 23 0:26 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
31 23 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 39 0:26 / /view/blkio rw - cgroup cgroup rw,blkio
41 39 0:40 / /view/hugetlb rw - cgroup cgroup rw,hugetlb
";
        let found = Hierarchies::parse(mountinfo, "");
        let mounts: Vec<&Path> = found.0.iter().map(|h| h.mountpoint.as_path()).collect();
        assert_eq!(
            mounts,
            [
                Path::new("/sys/fs/cgroup/memory"),
                Path::new("/view/blkio"),
                Path::new("/view/hugetlb")
            ]
        );
    }

    #[test]
    fn a_pure_v2_host_has_one_hierarchy() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let found = Hierarchies::parse(mountinfo, "0::/user.slice\n");
        assert!(found.is_pure_v2());
        assert_eq!(
            found.0[0].dir_for(Path::new("c")),
            Path::new("/sys/fs/cgroup/user.slice/c")
        );
    }
}
