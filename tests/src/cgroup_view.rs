//! A v1 cgroup hierarchy this host does not mount (net_cls and net_prio, or hugetlb), for the
//! commands of one test: each runs in a new mount namespace whose /sys/fs/cgroup holds the
//! host's hierarchies plus that one. Every call sees the same hierarchy while cgroups are left
//! in it; [`ViewCleanup`] empties it and waits until the kernel lets it go, so that the host is
//! left as it was (a v1 hierarchy with cgroups in it outlives its mounts, and one of hugetlb
//! would keep hugetlb out of the unified hierarchy for good).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{expect_ok, hoist, run, stdout};

const SCRIPT: &str = r#"set -e
view=$1; hierarchy=$2; links=$3; shift 3
mkdir -p "$view"
mount -t tmpfs -o mode=755 tmpfs "$view"
for h in /sys/fs/cgroup/*; do mkdir "$view/${h##*/}"; mount --bind "$h" "$view/${h##*/}"; done
mkdir "$view/$hierarchy"
mount -t cgroup -o "$hierarchy" cgroup "$view/$hierarchy"
for link in $links; do ln -s "$hierarchy" "$view/$link"; done
mount --move "$view" /sys/fs/cgroup
exec "$@""#;

/// A v1 hierarchy of `hierarchy`'s controllers (`"net_cls,net_prio"`), each also linked by its
/// own name as systemd links them.
#[derive(Clone, Copy)]
pub struct CgroupView<'a> {
    pub scratch: &'a Path,
    pub hierarchy: &'static str,
}

impl CgroupView<'_> {
    /// `inner` (program, arguments, environment), run in the view.
    pub fn command(&self, inner: &mut Command) -> Command {
        let links: Vec<&str> = self
            .controllers()
            .filter(|c| *c != self.hierarchy)
            .collect();
        let mut outer = Command::new("unshare");
        outer
            .args(["--mount", "sh", "-c", SCRIPT, "sh"])
            .arg(self.scratch.join("cgroup-view"))
            .args([self.hierarchy, &links.join(" ")])
            .arg(inner.get_program())
            .args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => outer.env(key, value),
                None => outer.env_remove(key),
            };
        }
        outer
    }

    /// The content of `file` (relative to the hierarchy's root), read inside the view.
    pub fn read(&self, file: impl AsRef<Path>) -> String {
        stdout(&expect_ok(
            &mut self.command(Command::new("cat").arg(self.path().join(file))),
        ))
    }

    /// Where the hierarchy is inside the view.
    pub fn path(&self) -> PathBuf {
        Path::new("/sys/fs/cgroup").join(self.hierarchy)
    }

    fn controllers(&self) -> impl Iterator<Item = &'static str> {
        self.hierarchy.split(',')
    }

    /// The hierarchy (id) the first controller is bound to, and its number of cgroups, from
    /// /proc/cgroups.
    fn binding(&self) -> Option<(u32, u32)> {
        let first = self.controllers().next()?;
        let table = std::fs::read_to_string("/proc/cgroups").ok()?;
        let fields: Vec<&str> = table
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|fields| fields.first() == Some(&first))?;
        Some((fields.get(1)?.parse().ok()?, fields.get(2)?.parse().ok()?))
    }

    /// Whether the kernel has let the view's hierarchy go: its controllers are bound to no
    /// v1 hierarchy (id 0: the unified one, or none).
    pub fn released(&self) -> bool {
        self.binding().is_some_and(|(id, _)| id == 0)
    }
}

/// Deletes the container `id` and hoist's parent cgroup in the view when dropped, then lets the
/// hierarchy go: once no cgroup but its root is left, dying ones included, it is mounted and
/// unmounted once more.
pub struct ViewCleanup<'a> {
    pub view: CgroupView<'a>,
    pub id: String,
}

impl Drop for ViewCleanup<'_> {
    fn drop(&mut self) {
        let view = self.view;
        let _ = run(&mut view.command(hoist(view.scratch).args(["delete", "--force", &self.id])));
        let _ = run(&mut view.command(Command::new("rmdir").arg(view.path().join("hoist"))));
        let only_its_root = || view.binding().is_some_and(|(_, cgroups)| cgroups == 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !only_its_root() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = run(&mut view.command(&mut Command::new("true")));
    }
}
