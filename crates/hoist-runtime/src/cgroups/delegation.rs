//! The cgroup2 subtree delegated to an unprivileged user (cgroups(7), "Cgroup delegation":
//! systemd's `Delegate=` on `user@UID.service`, or an administrator's `chown` of a cgroup and
//! its `cgroup.procs`). It is the one place such a user may make cgroups, and so the one place
//! their containers can have limits.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::layout::{Hierarchies, Hierarchy};

/// The top of the subtree delegated to the caller, found from the caller's own cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Its path from the hierarchy's root (`/user.slice/user-1000.slice/user@1000.service`).
    pub cgroup: PathBuf,
    /// Where it is in the file system.
    pub dir: PathBuf,
    /// The user it is delegated to.
    uid: u32,
}

/// Why the caller has no delegated cgroup2 subtree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoDelegation {
    #[error(
        "this host's {} controllers are cgroup v1 hierarchies, and an unprivileged user's \
         containers get limits only through cgroup v2 delegation (a host booted with cgroup v2 \
         alone has it: systemd.unified_cgroup_hierarchy=1)",
        .0.join(", ")
    )]
    V1(Vec<String>),
    #[error("this host has no cgroup2 hierarchy")]
    NoCgroup2,
    #[error(
        "your cgroup {} is not delegated to you (it is not yours){}",
        .cgroup.display(),
        .hint.as_ref().map(|d| format!(
            "; systemd delegates {} to you: run hoist inside it, with `systemd-run --user --scope hoist ...`",
            d.display()
        )).unwrap_or_default()
    )]
    NotDelegated {
        cgroup: PathBuf,
        /// systemd's `user@UID.service`, when the user has one.
        hint: Option<PathBuf>,
    },
}

impl Delegation {
    /// The subtree delegated to the calling user, on a host whose cgroups are cgroup2 alone.
    pub fn find() -> Result<Delegation, NoDelegation> {
        let hierarchies = Hierarchies::detect().map_err(|_| NoDelegation::NoCgroup2)?;
        Self::find_in(&hierarchies, rustix::process::geteuid().as_raw())
    }

    pub(crate) fn find_in(hierarchies: &Hierarchies, uid: u32) -> Result<Delegation, NoDelegation> {
        let v1: Vec<String> = hierarchies
            .0
            .iter()
            .filter(|h| !h.unified)
            .flat_map(|h| h.controllers.iter().cloned())
            .collect();
        if !v1.is_empty() {
            return Err(NoDelegation::V1(v1));
        }
        let unified = hierarchies.0.first().ok_or(NoDelegation::NoCgroup2)?;
        let own = unified.dir_for(&unified.own);
        if own == unified.mountpoint || !delegated_to(&own, uid) {
            return Err(NoDelegation::NotDelegated {
                cgroup: unified.own.clone(),
                hint: systemd_user_service(unified, uid),
            });
        }
        let mut top = own;
        while let Some(parent) = top.parent() {
            if parent == unified.mountpoint || !delegated_to(parent, uid) {
                break;
            }
            top = parent.to_path_buf();
        }
        let cgroup = Path::new("/").join(top.strip_prefix(&unified.mountpoint).unwrap_or(&top));
        Ok(Delegation {
            cgroup,
            dir: top,
            uid,
        })
    }

    /// The path from the hierarchy's root a container's cgroup takes: `hoist/<id>` below the
    /// delegated cgroup, so hoist's cgroups sit apart from the user's own processes.
    pub fn container_cgroup(&self, id: &str) -> PathBuf {
        self.cgroup.join("hoist").join(id)
    }

    /// The controllers containers below this subtree can have limits of.
    pub fn controllers(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .filter(|c| self.lacks(c).is_none())
            .map(str::to_string)
            .collect()
    }

    /// Why containers below this subtree cannot have `controller`'s limits, or `None` when
    /// they can.
    pub fn lacks(&self, controller: &str) -> Option<String> {
        let lists = |file: &str| {
            fs::read_to_string(self.dir.join(file))
                .is_ok_and(|text| text.split_whitespace().any(|c| c == controller))
        };
        if lists("cgroup.subtree_control") {
            return None;
        }
        if !lists("cgroup.controllers") {
            return Some(format!(
                "{} does not pass it down (its cgroup.subtree_control does not list {controller}; \
                 under systemd: Delegate={controller} for {})",
                self.dir.parent().unwrap_or(&self.dir).display(),
                self.dir.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        if !owned_by(&self.dir.join("cgroup.subtree_control"), self.uid) {
            return Some(format!(
                "its cgroup.subtree_control is not yours, so hoist cannot pass {controller} on to \
                 containers (a delegation gives the directory, cgroup.procs, cgroup.threads and \
                 cgroup.subtree_control)"
            ));
        }
        let has_processes = fs::read_to_string(self.dir.join("cgroup.procs"))
            .is_ok_and(|procs| !procs.trim().is_empty());
        has_processes.then(|| {
            format!(
                "processes sit in {dir} itself, and cgroup v2 passes controllers down only \
                 through cgroups that hold none: move them into a child first \
                 (`mkdir {dir}/session && echo $$ > {dir}/session/cgroup.procs`)",
                dir = self.dir.display()
            )
        })
    }
}

/// Whether `dir` is a cgroup delegated to `uid`: the directory and its `cgroup.procs` are the
/// user's, as a delegation leaves them (the files that matter to moving processes).
fn delegated_to(dir: &Path, uid: u32) -> bool {
    owned_by(dir, uid) && owned_by(&dir.join("cgroup.procs"), uid)
}

fn owned_by(path: &Path, uid: u32) -> bool {
    fs::metadata(path).is_ok_and(|m| m.uid() == uid)
}

/// systemd's delegated cgroup for `uid`, when there is one: a login shell sits in a session
/// scope that is root's, beside it.
fn systemd_user_service(unified: &Hierarchy, uid: u32) -> Option<PathBuf> {
    let service = format!("user.slice/user-{uid}.slice/user@{uid}.service");
    delegated_to(&unified.mountpoint.join(&service), uid).then(|| Path::new("/").join(service))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::chown;

    use super::*;
    use crate::cgroups::layout::Hierarchy;

    const OTHER: u32 = 4242;

    /// A cgroup2 tree under a temporary directory: `cgroups` made with a `cgroup.procs` each,
    /// `foreign` ones given to another user; the caller sits in `own`.
    fn tree(cgroups: &[&str], foreign: &[&str], own: &str) -> (tempfile::TempDir, Hierarchies) {
        let root = tempfile::tempdir().unwrap();
        for cgroup in cgroups {
            let dir = root.path().join(cgroup);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("cgroup.procs"), "").unwrap();
        }
        for cgroup in foreign {
            let dir = root.path().join(cgroup);
            chown(&dir, Some(OTHER), None).unwrap();
            chown(dir.join("cgroup.procs"), Some(OTHER), None).unwrap();
        }
        let hierarchies = Hierarchies(vec![Hierarchy {
            mountpoint: root.path().to_path_buf(),
            controllers: vec!["memory".into(), "pids".into()],
            unified: true,
            own: PathBuf::from(own),
        }]);
        (root, hierarchies)
    }

    fn me() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    #[test]
    fn the_delegation_is_the_highest_cgroup_of_the_users_above_their_own() {
        if !rustix::process::geteuid().is_root() {
            return eprintln!("skipped: giving files to another user needs root");
        }
        let (root, hierarchies) = tree(
            &[
                "u.slice",
                "u.slice/user@1.service",
                "u.slice/user@1.service/app",
                "u.slice/user@1.service/app/shell",
            ],
            &["u.slice"],
            "/u.slice/user@1.service/app/shell",
        );
        // The tree is the caller's own (made by it), but for the slice above the delegation.
        let found = Delegation::find_in(&hierarchies, me()).unwrap();
        assert_eq!(found.cgroup, Path::new("/u.slice/user@1.service"));
        assert_eq!(found.dir, root.path().join("u.slice/user@1.service"));
        assert_eq!(
            found.container_cgroup("c1"),
            Path::new("/u.slice/user@1.service/hoist/c1")
        );
    }

    #[test]
    fn a_cgroup_of_someone_elses_or_the_root_is_no_delegation() {
        if !rustix::process::geteuid().is_root() {
            return eprintln!("skipped: giving files to another user needs root");
        }
        let (_root, hierarchies) = tree(&["session.scope"], &["session.scope"], "/session.scope");
        assert_eq!(
            Delegation::find_in(&hierarchies, me()),
            Err(NoDelegation::NotDelegated {
                cgroup: "/session.scope".into(),
                hint: None
            })
        );
        let (_root, hierarchies) = tree(&[], &[], "/");
        assert!(matches!(
            Delegation::find_in(&hierarchies, me()),
            Err(NoDelegation::NotDelegated { .. })
        ));
    }

    #[test]
    fn v1_controllers_cannot_be_delegated() {
        let (_root, mut hierarchies) = tree(&["a"], &[], "/a");
        hierarchies.0.push(Hierarchy {
            mountpoint: "/sys/fs/cgroup/memory".into(),
            controllers: vec!["memory".into()],
            unified: false,
            own: "/".into(),
        });
        let error = Delegation::find_in(&hierarchies, me()).unwrap_err();
        assert_eq!(error, NoDelegation::V1(vec!["memory".into()]));
        assert!(error
            .to_string()
            .contains("memory controllers are cgroup v1"));
    }

    #[test]
    fn a_controller_is_usable_where_enabled_or_enableable() {
        let (root, hierarchies) = tree(&["d"], &[], "/d");
        let found = Delegation::find_in(&hierarchies, me()).unwrap();
        let dir = root.path().join("d");
        fs::write(dir.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(dir.join("cgroup.subtree_control"), "pids\n").unwrap();
        assert_eq!(found.lacks("pids"), None);
        assert_eq!(
            found.lacks("memory"),
            None,
            "no processes in it: hoist enables it"
        );
        assert_eq!(found.controllers(), ["cpu", "memory", "pids"]);
        if rustix::process::geteuid().is_root() {
            let control = dir.join("cgroup.subtree_control");
            chown(&control, Some(OTHER), None).unwrap();
            let not_ours = found.lacks("memory").unwrap();
            assert!(
                not_ours.contains("cgroup.subtree_control is not yours"),
                "{not_ours}"
            );
            assert_eq!(found.lacks("pids"), None, "already enabled");
            chown(&control, Some(me()), None).unwrap();
        }
        let missing = found.lacks("io").unwrap();
        assert!(missing.contains("does not pass it down"), "{missing}");
        fs::write(dir.join("cgroup.procs"), "77\n").unwrap();
        assert_eq!(found.lacks("pids"), None, "already enabled");
        let busy = found.lacks("memory").unwrap();
        assert!(busy.contains("move them into a child"), "{busy}");
        assert_eq!(found.controllers(), ["pids"]);
    }
}
