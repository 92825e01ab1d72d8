//! The unprivileged user the rootless tests run hoist as (made by `cargo xtask setup`, with
//! subordinate ids), and a home of that user's own in a scratch directory, where hoist finds
//! its store and runtime state the way it does for any user: `$HOME/.local/share/hoist` and
//! `$XDG_RUNTIME_DIR/hoist`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hoist_bin;

/// Set up by `cargo xtask setup`, with ranges in /etc/subuid and /etc/subgid.
pub const ROOTLESS_USER: &str = "hoist-rootless";

/// The rootless user's uid and gid and its first subordinate uid and gid.
#[derive(Debug, Clone, Copy)]
pub struct RootlessUser {
    pub uid: u32,
    pub gid: u32,
    pub sub_uid: u32,
    pub sub_gid: u32,
}

impl RootlessUser {
    /// The user, or `None` (a test then skips, unless every test must run).
    pub fn find() -> Option<RootlessUser> {
        let user = nix::unistd::User::from_name(ROOTLESS_USER).ok().flatten();
        let first_subordinate = |file: &str| -> Option<u32> {
            std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
                let mut fields = l.split(':');
                (fields.next()? == ROOTLESS_USER).then(|| fields.next()?.parse().ok())?
            })
        };
        let found = user.and_then(|u| {
            Some(RootlessUser {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                sub_uid: first_subordinate("/etc/subuid")?,
                sub_gid: first_subordinate("/etc/subgid")?,
            })
        });
        if found.is_none() {
            assert!(
                std::env::var_os("HOIST_TEST_REQUIRE_ALL").is_none(),
                "no user {ROOTLESS_USER} with subordinate ids (cargo xtask setup makes one)"
            );
            eprintln!("skipped: no user {ROOTLESS_USER} with subordinate ids");
        }
        found
    }

    /// Gives `path` (and everything under it) to the user.
    pub fn give(&self, path: &Path) {
        let chowned = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(path)
            .status()
            .unwrap();
        assert!(chowned.success(), "chown {}", path.display());
    }
}

/// A home of the user's in `scratch` (which it makes reachable): `home/` and a runtime
/// directory `xdg/` (mode 0700), both the user's. Its containers, and whatever still names the
/// scratch directory (pasta, port proxies), go when it is dropped, as a test that failed
/// midway leaves them.
pub struct Home {
    pub user: RootlessUser,
    pub home: PathBuf,
    pub xdg: PathBuf,
    scratch: PathBuf,
    /// A scratch directory of its own (`in_scratch`), removed after the containers.
    _owned: Option<tempfile::TempDir>,
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.hoist(&["rm", "--force", "--all"]).output();
        for pid in Home::processes_naming(&self.scratch) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Home {
    pub fn new(user: RootlessUser, scratch: &Path) -> Home {
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (home, xdg) = (scratch.join("home"), scratch.join("xdg"));
        for dir in [&home, &xdg] {
            std::fs::create_dir(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            user.give(dir);
        }
        Home {
            user,
            home,
            xdg,
            scratch: scratch.to_path_buf(),
            _owned: None,
        }
    }

    /// A home in a scratch directory of its own.
    pub fn in_scratch(user: RootlessUser) -> Home {
        let dir = crate::scratch();
        let mut home = Home::new(user, dir.path());
        home._owned = Some(dir);
        home
    }

    /// The scratch directory it is in.
    pub fn dir(&self) -> &Path {
        &self.scratch
    }

    /// The user's store (`$HOME/.local/share/hoist`).
    pub fn store(&self) -> PathBuf {
        self.home.join(".local/share/hoist")
    }

    /// `hoist ARGS` as the user, with only `HOME` and `XDG_RUNTIME_DIR` saying where things go.
    pub fn hoist(&self, args: &[&str]) -> Command {
        let mut command = self.as_user(hoist_bin());
        command.args(args);
        command
    }

    /// `program` run as the user, in its home.
    pub fn as_user(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid",
                &self.user.uid.to_string(),
                "--regid",
                &self.user.gid.to_string(),
                "--clear-groups",
                "--",
            ])
            .arg(program)
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .env_remove("XDG_DATA_HOME")
            .env_remove("HOIST_ROOT")
            .env_remove("HOIST_LOG");
        command
    }

    /// The pids of processes whose command line names something in `scratch` (monitors,
    /// pastas, containers' inits) that are still there.
    pub fn processes_naming(scratch: &Path) -> Vec<i32> {
        let needle = scratch.as_os_str().as_encoded_bytes();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                cmdline
                    .windows(needle.len())
                    .any(|w| w == needle)
                    .then_some(pid)
            })
            .collect()
    }
}
