//! The image config's `User` resolved against the rootfs's own `/etc/passwd` and `/etc/group`.

use std::path::Path;

use hoist_fs::Root;

use crate::{Error, Result};

const DB_LIMIT: u64 = 4 << 20;

/// A resolved process user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Resolves `user[:group]`, where each side is a name or a number, the way docker and podman
/// do: a name must exist in the rootfs; a number need not, and its group defaults to the
/// passwd entry's or 0. Numbers beyond the 32-bit id range (and -1) are refused, never wrapped.
pub(crate) fn resolve_user(root: &Root, spec: &str) -> Result<ResolvedUser> {
    if spec.is_empty() {
        return Ok(ResolvedUser::default());
    }
    let bad = |reason: String| Error::BadUser {
        user: spec.to_string(),
        reason,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_db(root, "/etc/passwd");
    let groups = read_db(root, "/etc/group");

    let (uid, name, primary_gid) = match parse_id(user).map_err(&bad)? {
        Some(uid) => {
            let entry = passwd
                .iter()
                .find(|f| f.get(2).and_then(|s| s.parse().ok()) == Some(uid));
            (
                uid,
                entry.map(|f| f[0].clone()),
                entry.and_then(|f| f.get(3)?.parse().ok()),
            )
        }
        None => {
            let entry = passwd
                .iter()
                .find(|f| f[0] == user)
                .ok_or_else(|| bad(format!("no user {user:?} in the image's /etc/passwd")))?;
            let uid = entry
                .get(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("/etc/passwd entry for {user:?} has no valid uid")))?;
            (
                uid,
                Some(user.to_string()),
                entry.get(3).and_then(|s| s.parse().ok()),
            )
        }
    };
    let gid = match group {
        Some(group) => match parse_id(group).map_err(&bad)? {
            Some(gid) => gid,
            None => groups
                .iter()
                .find(|f| f[0] == group)
                .and_then(|f| f.get(2)?.parse().ok())
                .ok_or_else(|| bad(format!("no group {group:?} in the image's /etc/group")))?,
        },
        None => primary_gid.unwrap_or(0),
    };
    let additional_gids = match (&name, group) {
        (Some(name), None) => groups
            .iter()
            .filter(|f| {
                f.get(3)
                    .is_some_and(|members| members.split(',').any(|m| m == name))
            })
            .filter_map(|f| f.get(2)?.parse().ok())
            .filter(|g| *g != gid)
            .collect(),
        _ => Vec::new(),
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// A number, `None` for a name, or an error for a number that is not a valid id.
fn parse_id(s: &str) -> std::result::Result<Option<u32>, String> {
    if s.is_empty() {
        return Err("empty user or group".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        if s.starts_with('-') {
            return Err(format!("{s} is not a valid id"));
        }
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(id) if id != u32::MAX => Ok(Some(id)),
        _ => Err(format!(
            "{s} is out of the range of user and group ids (0 to 4294967294)"
        )),
    }
}

fn read_db(root: &Root, path: &str) -> Vec<Vec<String>> {
    let Ok(bytes) = root.read_file(Path::new(path), DB_LIMIT) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .filter(|fields| !fields[0].is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\n",
        )
        .unwrap();
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn names_and_numbers_resolve_like_docker() {
        let (_d, root) = rootfs();
        let r = |s| resolve_user(&root, s).unwrap();
        assert_eq!(
            r("app"),
            ResolvedUser {
                uid: 1000,
                gid: 1001,
                additional_gids: vec![10]
            }
        );
        assert_eq!(
            r("app:wheel"),
            ResolvedUser {
                uid: 1000,
                gid: 10,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            r("1000"),
            ResolvedUser {
                uid: 1000,
                gid: 1001,
                additional_gids: vec![10]
            }
        );
        assert_eq!(
            r("4242:7"),
            ResolvedUser {
                uid: 4242,
                gid: 7,
                additional_gids: vec![]
            }
        );
        assert_eq!(r("4242").gid, 0);
    }

    #[test]
    fn unknown_names_and_out_of_range_ids_are_refused() {
        let (_d, root) = rootfs();
        for bad in [
            "nobody",
            "app:nogroup",
            "4294967295",
            "99999999999",
            "-1",
            "app:",
        ] {
            assert!(resolve_user(&root, bad).is_err(), "{bad} should be refused");
        }
    }
}
