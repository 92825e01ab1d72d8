//! A new user namespace's uid and gid maps, written by the runtime once the init exists.

use std::fs;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::IdMapError;
use crate::spec::Bundle;
use crate::{Error, Result};

/// Writes the new user namespace's uid and gid maps. Root writes them directly. Another user
/// may write only a map of its own id, and only with setgroups denied; anything wider goes
/// through the setuid helpers `newuidmap`/`newgidmap`, which check it against /etc/subuid and
/// /etc/subgid, as podman and runc do.
pub(crate) fn write_id_maps(pid: i32, bundle: &Bundle) -> Result<()> {
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let uid_maps = linux.uid_mappings().clone().unwrap_or_default();
    let gid_maps = linux.gid_mappings().clone().unwrap_or_default();
    for (maps, field) in [(&uid_maps, "uidMappings"), (&gid_maps, "gidMappings")] {
        if maps.is_empty() {
            return Err(Error::InvalidSpec(format!(
                "the config asks for a user namespace but gives no {field}"
            )));
        }
    }
    map_user_namespace(pid, &uid_maps, &gid_maps)
}

/// Writes the uid and gid maps of the user namespace process `pid` has just made (see
/// `write_id_maps` for who may write which).
pub fn map_user_namespace(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<()> {
    let only_own = |maps: &[LinuxIdMapping], own: u32| {
        maps.len() == 1 && maps[0].host_id() == own && maps[0].size() == 1
    };
    if nix::unistd::geteuid().is_root() {
        write_map(pid, "uid_map", uid_maps)?;
        write_map(pid, "gid_map", gid_maps)
    } else if only_own(uid_maps, nix::unistd::geteuid().as_raw())
        && only_own(gid_maps, nix::unistd::getegid().as_raw())
    {
        let setgroups = format!("/proc/{pid}/setgroups");
        fs::write(&setgroups, "deny").map_err(Error::io("denying setgroups", &setgroups))?;
        write_map(pid, "uid_map", uid_maps)?;
        write_map(pid, "gid_map", gid_maps)
    } else {
        run_map_helper("newuidmap", pid, uid_maps)?;
        run_map_helper("newgidmap", pid, gid_maps)
    }
}

fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    fs::write(&path, text).map_err(Error::io("writing the id map", &path))
}

fn run_map_helper(helper: &'static str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut command = std::process::Command::new(helper);
    command.arg(pid.to_string());
    for map in maps {
        command.args([
            map.container_id().to_string(),
            map.host_id().to_string(),
            map.size().to_string(),
        ]);
    }
    let output = command
        .output()
        .map_err(|source| IdMapError::HelperMissing { helper, source })?;
    if !output.status.success() {
        return Err(IdMapError::Refused {
            helper,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            kind: if helper == "newuidmap" { "u" } else { "g" },
        }
        .into());
    }
    Ok(())
}
