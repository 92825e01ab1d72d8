//! The cgroups a run of the tests or the benchmarks leaves on the host, put back as they were:
//! runtimes delete only their containers' own cgroups, never the parents they made, and hoist
//! on a pure-cgroup2 view of this host switches controllers on from the root down.

/// What the host's cgroups looked like before a run.
pub struct HostCgroups {
    parents: Vec<std::path::PathBuf>,
    enabled_in_root: Vec<String>,
}

impl HostCgroups {
    pub fn snapshot() -> Self {
        HostCgroups {
            parents: cgroup_parents(),
            enabled_in_root: root_subtree_control(),
        }
    }

    /// Removes the parent cgroups made since the snapshot, then switches off in the unified
    /// root what was switched on since (a busy controller cannot be switched off while a
    /// child cgroup still uses it, so the parents go first).
    pub fn restore(&self) {
        remove_new_cgroup_parents(&self.parents);
        restore_root_subtree_control(&self.enabled_in_root);
    }
}

/// The unified hierarchy's root (`/sys/fs/cgroup/unified` on a hybrid host).
fn unified_root() -> std::path::PathBuf {
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.subtree_control");
    if hybrid.exists() {
        "/sys/fs/cgroup/unified".into()
    } else {
        "/sys/fs/cgroup".into()
    }
}

fn root_subtree_control() -> Vec<String> {
    std::fs::read_to_string(unified_root().join("cgroup.subtree_control"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Switches off in the unified root what the run switched on there (the cgroup2 tests run hoist
/// on a pure-cgroup2 view of this host, where enabling controllers from the root down is
/// right): on a hybrid host a controller enabled there keeps its v1 hierarchy from being
/// mounted, which crun needs.
fn restore_root_subtree_control(before: &[String]) {
    let control = unified_root().join("cgroup.subtree_control");
    for controller in root_subtree_control() {
        if before.contains(&controller) {
            continue;
        }
        if let Err(e) = std::fs::write(&control, format!("-{controller}")) {
            // EBUSY: a cgroup below the root that was there before the run (a parent left by
            // a manual `hoist run`, say) enables it too. Said aloud: a controller left on in
            // the unified root keeps crun from running on this host.
            eprintln!(
                "xtask: {controller} stays switched on in {}: {e}; a cgroup below it that \
                 was there before this run uses it; remove that cgroup, then write \
                 -{controller} there",
                control.display()
            );
        }
    }
}

/// The parents of the containers the tests run: hoist's default (`/hoist/<id>`), containerd's
/// namespace (`/default/<id>`) and podman's cgroupfs parent (with conmon's cgroup in it).
const TEST_CGROUP_PARENTS: &[&str] = &["hoist", "default", "libpod_parent"];

/// Those parent cgroups, in every hierarchy, as they are now.
fn cgroup_parents() -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|hierarchy| {
            TEST_CGROUP_PARENTS
                .iter()
                .map(move |n| hierarchy.path().join(n))
        })
        .filter(|parent| parent.is_dir())
        .collect()
}

/// Removes the parent cgroups made since `before`. `rmdir` removes only empty cgroups, so
/// one that still holds something stays.
fn remove_new_cgroup_parents(before: &[std::path::PathBuf]) {
    for parent in cgroup_parents() {
        if before.contains(&parent) {
            continue;
        }
        let children = std::fs::read_dir(&parent).into_iter().flatten().flatten();
        for child in children.filter(|c| c.file_type().is_ok_and(|t| t.is_dir())) {
            let _ = std::fs::remove_dir(child.path());
        }
        let _ = std::fs::remove_dir(&parent);
    }
}
