//! The ids an unprivileged user's containers run as: root is the user, the rest of the image's
//! ids are the user's subordinate ranges (`/etc/subuid`, `/etc/subgid`), laid out as rootless
//! podman lays them out, so the same image file has the same owner on the host in every
//! container of the user's.

use hoist_unpack::{IdMap, IdRange};
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// The caller's own ids and the subordinate ranges (`(first host id, count)`) it may map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
    pub sub_uids: Vec<(u32, u32)>,
    pub sub_gids: Vec<(u32, u32)>,
}

/// Container ids to host ids, for users and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maps {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl UserIds {
    /// The calling user's, from `/etc/subuid` and `/etc/subgid` (entries by name or by id).
    pub fn of_caller() -> UserIds {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name);
        let read = |file: &str, id: u32| {
            parse_subordinates(
                &std::fs::read_to_string(file).unwrap_or_default(),
                name.as_deref(),
                id,
            )
        };
        UserIds {
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            sub_uids: read("/etc/subuid", uid.as_raw()),
            // subgid(5) names a range's owner by user name or uid, as newgidmap reads it.
            sub_gids: read("/etc/subgid", uid.as_raw()),
        }
    }

    /// Whether the user has subordinate ids for both users and groups.
    pub fn has_subordinates(&self) -> bool {
        !self.sub_uids.is_empty() && !self.sub_gids.is_empty()
    }

    /// rootless podman's mapping: root is the user, 1 and up the subordinate ids in order
    /// (only root when the user has none).
    pub fn default_maps(&self) -> Maps {
        let lay_out = |own: u32, subs: &[(u32, u32)]| {
            let mut ranges = vec![IdRange {
                container: 0,
                host: own,
                size: 1,
            }];
            ranges.extend(subordinate_ranges(subs, 1, None));
            IdMap(ranges)
        };
        Maps {
            uid: lay_out(self.uid, &self.sub_uids),
            gid: lay_out(self.gid, &self.sub_gids),
        }
    }

    /// `--userns keep-id`: the user's own uid and gid are themselves inside, every other id
    /// from 0 up a subordinate one (podman's meaning).
    pub fn keep_id_maps(&self) -> Result<Maps> {
        if !self.has_subordinates() {
            return Err(no_subordinates("--userns keep-id"));
        }
        let lay_out = |own: u32, subs: &[(u32, u32)]| {
            let mut ranges = subordinate_ranges(subs, 0, Some(own));
            ranges.push(IdRange {
                container: own,
                host: own,
                size: 1,
            });
            ranges.sort_by_key(|r| r.container);
            IdMap(ranges)
        };
        Ok(Maps {
            uid: lay_out(self.uid, &self.sub_uids),
            gid: lay_out(self.gid, &self.sub_gids),
        })
    }
}

/// The error for an option that needs subordinate ids the user has none of.
fn no_subordinates(option: &str) -> Error {
    Error::bad_option(
        option,
        "needs subordinate ids, and /etc/subuid or /etc/subgid gives you none: ask an administrator to run `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`",
    )
}

/// `subs`' host ids given to the container ids from `first` on, leaving `skip` out.
fn subordinate_ranges(subs: &[(u32, u32)], first: u32, skip: Option<u32>) -> Vec<IdRange> {
    let mut ranges = Vec::new();
    let mut container = first;
    for &(mut host, mut count) in subs {
        while count > 0 {
            if Some(container) == skip {
                container += 1;
                continue;
            }
            let size = match skip {
                Some(skip) if skip > container => (skip - container).min(count),
                _ => count,
            };
            ranges.push(IdRange {
                container,
                host,
                size,
            });
            container = container.saturating_add(size);
            host += size;
            count -= size;
        }
    }
    ranges
}

/// The ranges of `text` (subuid(5)) that belong to the user `name` or id `id`.
fn parse_subordinates(text: &str, name: Option<&str>, id: u32) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let ours = Some(owner) == name || owner.parse() == Ok(id);
            let range = (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
            (ours && range.1 > 0 && u32::checked_add(range.0, range.1).is_some()).then_some(range)
        })
        .collect()
}

impl Maps {
    /// How many container ids the maps give (the highest mapped id + 1), for sysctls naming
    /// group ranges.
    pub fn gid_count(&self) -> u32 {
        self.gid
            .0
            .iter()
            .map(|r| r.container + r.size)
            .max()
            .unwrap_or(1)
    }

    /// A user namespace of the container's own, with these maps.
    pub fn apply(&self, spec: &mut Spec) {
        let mut linux = spec.linux().clone().unwrap_or_default();
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::User);
        let mut user = oci_spec::runtime::LinuxNamespace::default();
        user.set_typ(LinuxNamespaceType::User);
        namespaces.push(user);
        linux.set_namespaces(Some(namespaces));
        linux.set_uid_mappings(Some(to_linux(&self.uid)));
        linux.set_gid_mappings(Some(to_linux(&self.gid)));
        spec.set_linux(Some(linux));
    }

    /// These maps as seen from inside a namespace mapped by `base`: container ids to ids of
    /// that namespace (where the storage helper makes files). `None` if a host id here is not
    /// mapped there.
    pub fn within(&self, base: &Maps) -> Option<Maps> {
        Some(Maps {
            uid: compose(&self.uid, &base.uid)?,
            gid: compose(&self.gid, &base.gid)?,
        })
    }
}

/// `map` (container → host) followed by `base`'s inverse (host → base's container ids).
fn compose(map: &IdMap, base: &IdMap) -> Option<IdMap> {
    let mut ranges = Vec::new();
    for range in &map.0 {
        let mut covered = 0u64;
        for below in &base.0 {
            let start = range.host.max(below.host) as u64;
            let end =
                (range.host as u64 + range.size as u64).min(below.host as u64 + below.size as u64);
            if start < end {
                ranges.push(IdRange {
                    container: range.container + (start - range.host as u64) as u32,
                    host: below.container + (start - below.host as u64) as u32,
                    size: (end - start) as u32,
                });
                covered += end - start;
            }
        }
        if covered != range.size as u64 {
            return None;
        }
    }
    ranges.sort_by_key(|r| r.container);
    Some(IdMap(ranges))
}

fn to_linux(map: &IdMap) -> Vec<LinuxIdMapping> {
    map.0
        .iter()
        .map(|r| {
            LinuxIdMappingBuilder::default()
                .container_id(r.container)
                .host_id(r.host)
                .size(r.size)
                .build()
                .expect("a complete id mapping")
        })
        .collect()
}

/// The spec form of both maps, for the user namespace of the storage helper.
pub(crate) fn linux_maps(maps: &Maps) -> (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>) {
    (to_linux(&maps.uid), to_linux(&maps.gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserIds {
        UserIds {
            uid: 1001,
            gid: 1002,
            sub_uids: vec![(100000, 65536)],
            sub_gids: vec![(200000, 1000), (300000, 64536)],
        }
    }

    fn ranges(map: &IdMap) -> Vec<String> {
        map.0.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn subordinate_entries_are_the_users_by_name_or_id() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\nalice:5:0\nbad line\n";
        assert_eq!(
            parse_subordinates(text, Some("alice"), 1001),
            vec![(100000, 65536), (300000, 10)]
        );
        assert_eq!(parse_subordinates(text, Some("carol"), 7), vec![]);
    }

    #[test]
    fn root_is_the_user_and_the_rest_are_subordinate_ids_in_order() {
        let maps = user().default_maps();
        assert_eq!(ranges(&maps.uid), ["0:1001:1", "1:100000:65536"]);
        assert_eq!(
            ranges(&maps.gid),
            ["0:1002:1", "1:200000:1000", "1001:300000:64536"]
        );
        assert_eq!(maps.gid_count(), 65537);
        let alone = UserIds {
            sub_uids: vec![],
            ..user()
        };
        assert_eq!(ranges(&alone.default_maps().uid), ["0:1001:1"]);
    }

    #[test]
    fn keep_id_keeps_the_users_own_ids_and_maps_the_rest_around_them() {
        let maps = user().keep_id_maps().unwrap();
        assert_eq!(
            ranges(&maps.uid),
            ["0:100000:1001", "1001:1001:1", "1002:101001:64535"]
        );
        assert_eq!(
            ranges(&maps.gid),
            [
                "0:200000:1000",
                "1000:300000:2",
                "1002:1002:1",
                "1003:300002:64534"
            ]
        );
        let base = user().default_maps();
        let inside = maps.within(&base).unwrap();
        // The user's uid is the helper's root; subordinate 100000 is its uid 1.
        assert_eq!(
            ranges(&inside.uid),
            ["0:1:1001", "1001:0:1", "1002:1002:64535"]
        );
        // The default maps seen from their own namespace are the identity.
        let identity = base.within(&base).unwrap();
        assert_eq!(ranges(&identity.uid), ["0:0:1", "1:1:65536"]);
        let foreign = Maps {
            uid: IdMap(vec![IdRange {
                container: 0,
                host: 5,
                size: 1,
            }]),
            gid: base.gid.clone(),
        };
        assert_eq!(foreign.within(&base), None);
        assert!(UserIds {
            sub_gids: vec![],
            ..user()
        }
        .keep_id_maps()
        .is_err());
    }
}
