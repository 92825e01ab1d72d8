//! podman's `run` options that add to the container's file system and devices: `-v` (host
//! paths and named volumes), `--mount`, `--tmpfs`, `--shm-size`, `--device`, and `--ulimit`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount, PosixRlimitBuilder, PosixRlimitType,
    Spec,
};

use super::RunOptions;
use crate::{parse_size, Error, Result, Store};

/// podman's options for a `--tmpfs` that names none of its own.
const TMPFS_DEFAULTS: [&str; 4] = ["rw", "noexec", "nosuid", "nodev"];

/// The mounts `-v`, `--mount` and `--tmpfs` ask for, and the named volumes among them (made
/// now if new).
pub fn requested(store: &Store, args: &RunOptions) -> Result<(Vec<Mount>, Vec<String>)> {
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for volume in &args.volume {
        mounts.push(volume_flag(store, volume, &mut volumes)?);
    }
    for spec in &args.mount {
        mounts.push(mount_flag(store, spec, &mut volumes)?);
    }
    for tmpfs in &args.tmpfs {
        let (target, options) = tmpfs.split_once(':').unwrap_or((tmpfs, ""));
        check_target("--tmpfs", tmpfs, target)?;
        let mut all: Vec<String> = TMPFS_DEFAULTS.iter().map(|o| o.to_string()).collect();
        all.extend(
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string),
        );
        mounts.push(tmpfs_mount(target, all));
    }
    Ok((mounts, volumes))
}

fn check_target(flag: &str, value: &str, target: &str) -> Result<()> {
    if !target.starts_with('/') {
        return Err(Error::bad_option(
            format!("{flag} {value:?}"),
            "needs an absolute path in the container",
        ));
    }
    Ok(())
}

fn tmpfs_mount(target: &str, options: Vec<String>) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(target.into());
    mount.set_typ(Some("tmpfs".into()));
    mount.set_source(Some("tmpfs".into()));
    mount.set_options(Some(options));
    mount
}

fn bind(source: &Path, target: &str, options: Vec<String>) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(target.into());
    mount.set_typ(Some("bind".into()));
    mount.set_source(Some(source.to_path_buf()));
    mount.set_options(Some(options));
    mount
}

/// `-v HOST:CONTAINER[:OPTIONS]`, where HOST is an absolute path or a volume's name.
pub fn volume_flag(store: &Store, volume: &str, volumes: &mut Vec<String>) -> Result<Mount> {
    let flag = || format!("-v {volume:?}");
    let parts: Vec<&str> = volume.split(':').collect();
    let (host, container, options) = match parts.as_slice() {
        [host, container] => (*host, *container, ""),
        [host, container, options] => (*host, *container, *options),
        _ => return Err(Error::bad_option(flag(), "is not HOST:CONTAINER[:ro]")),
    };
    if !container.starts_with('/') {
        return Err(Error::bad_option(
            flag(),
            "needs an absolute path in the container",
        ));
    }
    let source = match host.starts_with('/') {
        true => std::fs::canonicalize(host).map_err(|source| Error::VolumeSource {
            volume: volume.to_string(),
            source,
        })?,
        false => {
            volumes.push(host.to_string());
            crate::volumes::create(store, host)?.mountpoint
        }
    };
    let mut mount_options = vec!["rbind".to_string(), "rprivate".to_string()];
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" | "rw" | "nosuid" | "nodev" | "noexec" => mount_options.push(option.to_string()),
            "z" | "Z" => {} // SELinux relabelling: this host has no SELinux
            other => {
                return Err(Error::bad_option(
                    flag(),
                    format!("has an unknown option {other:?} (use ro or rw)"),
                ))
            }
        }
    }
    Ok(bind(&source, container, mount_options))
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,...]`.
fn mount_flag(store: &Store, spec: &str, volumes: &mut Vec<String>) -> Result<Mount> {
    let flag = || format!("--mount {spec:?}");
    let (mut kind, mut source, mut target) = ("volume", None, None);
    let mut options = Vec::new();
    for field in spec.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => kind = value,
            "source" | "src" => source = Some(value),
            "target" | "destination" | "dst" => target = Some(value),
            "readonly" | "ro" if matches!(value, "" | "true" | "1") => {
                options.push("ro".to_string())
            }
            "readonly" | "ro" if matches!(value, "false" | "0") => {}
            "bind-propagation" => options.push(value.to_string()),
            "tmpfs-size" => options.push(format!(
                "size={}",
                parse_size(value).map_err(|source| Error::BadSize {
                    flag: "--mount tmpfs-size",
                    source,
                })?
            )),
            "tmpfs-mode" => options.push(format!("mode={value}")),
            "nosuid" | "nodev" | "noexec" | "exec" | "suid" | "dev" => {
                options.push(key.to_string())
            }
            other => {
                return Err(Error::bad_option(
                    flag(),
                    format!("has an unknown field {other:?}"),
                ))
            }
        }
    }
    let target = target.ok_or_else(|| Error::bad_option(flag(), "needs target=PATH"))?;
    check_target("--mount", spec, target)?;
    match kind {
        "tmpfs" => {
            let mut all: Vec<String> = TMPFS_DEFAULTS.iter().map(|o| o.to_string()).collect();
            all.extend(options);
            Ok(tmpfs_mount(target, all))
        }
        "bind" | "volume" => {
            let source = source.ok_or_else(|| Error::bad_option(flag(), "needs source=..."))?;
            let ro = if options.iter().any(|o| o == "ro") {
                ":ro"
            } else {
                ""
            };
            if kind == "bind" && !source.starts_with('/') {
                return Err(Error::bad_option(
                    flag(),
                    "needs an absolute source for type=bind",
                ));
            }
            if kind == "volume" && source.starts_with('/') {
                return Err(Error::bad_option(
                    flag(),
                    "names a volume, not a path, for type=volume",
                ));
            }
            let mut mount = volume_flag(store, &format!("{source}:{target}{ro}"), volumes)?;
            let mut all = mount.options().clone().unwrap_or_default();
            all.extend(options.into_iter().filter(|o| o != "ro"));
            mount.set_options(Some(all));
            Ok(mount)
        }
        other => Err(Error::bad_option(
            flag(),
            format!("has type {other:?}: use bind, volume or tmpfs"),
        )),
    }
}

/// `--shm-size`: the size of the container's `/dev/shm`.
pub fn set_shm_size(spec: &mut Spec, size: &str) -> Result<()> {
    let bytes = parse_size(size).map_err(|source| Error::BadSize {
        flag: "--shm-size",
        source,
    })?;
    if bytes == 0 {
        return Err(Error::bad_option("--shm-size", "must be above 0"));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for mount in mounts
        .iter_mut()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
    {
        let mut options: Vec<String> = mount.options().clone().unwrap_or_default();
        options.retain(|o| !o.starts_with("size="));
        options.push(format!("size={bytes}"));
        mount.set_options(Some(options));
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`: the host's device node, made in the container
/// and allowed by its device cgroup.
pub fn add_device(spec: &mut Spec, device: &str) -> Result<()> {
    let flag = || format!("--device {device:?}");
    let parts: Vec<&str> = device.split(':').collect();
    let (host, container, access) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, perms] if !perms.starts_with('/') => (*host, *host, *perms),
        [host, container] => (*host, *container, "rwm"),
        [host, container, perms] => (*host, *container, *perms),
        _ => return Err(Error::bad_option(flag(), "is not HOST[:CONTAINER][:rwm]")),
    };
    if !access.chars().all(|c| "rwm".contains(c)) || access.is_empty() {
        return Err(Error::bad_option(
            flag(),
            "has permissions other than r, w and m",
        ));
    }
    check_target("--device", device, container)?;
    let meta = std::fs::metadata(host).map_err(Error::io("looking at the device", host))?;
    let typ = match meta.file_type() {
        t if t.is_char_device() => LinuxDeviceType::C,
        t if t.is_block_device() => LinuxDeviceType::B,
        _ => return Err(Error::bad_option(flag(), "is not a device node")),
    };
    let (major, minor) = (
        rustix::fs::major(meta.rdev()) as i64,
        rustix::fs::minor(meta.rdev()) as i64,
    );
    let mut node = LinuxDevice::default();
    node.set_path(container.into());
    node.set_typ(typ);
    node.set_major(major);
    node.set_minor(minor);
    node.set_file_mode(Some(meta.mode() & 0o777));
    node.set_uid(Some(0));
    node.set_gid(Some(0));
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(typ));
    rule.set_major(Some(major));
    rule.set_minor(Some(minor));
    rule.set_access(Some(access.to_string()));
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut devices = linux.devices().clone().unwrap_or_default();
    devices.push(node);
    linux.set_devices(Some(devices));
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    rules.push(rule);
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    Ok(())
}

/// `--ulimit NAME=SOFT[:HARD]` (-1: unlimited), replacing the config's limit of that name.
pub fn set_ulimit(spec: &mut Spec, ulimit: &str) -> Result<()> {
    let flag = || format!("--ulimit {ulimit:?}");
    let (name, values) = ulimit
        .split_once('=')
        .ok_or_else(|| Error::bad_option(flag(), "is not NAME=SOFT[:HARD]"))?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let number = |text: &str| match text {
        "-1" | "unlimited" => Ok(u64::MAX),
        _ => text
            .parse::<u64>()
            .map_err(|_| Error::bad_option(flag(), "needs numbers (or -1 for unlimited)")),
    };
    let (soft, hard) = (number(soft)?, number(hard)?);
    if soft > hard {
        return Err(Error::bad_option(
            flag(),
            "has a soft limit above its hard limit",
        ));
    }
    let typ: PosixRlimitType = format!("RLIMIT_{}", name.to_ascii_uppercase())
        .parse()
        .map_err(|_| {
            Error::bad_option(
                flag(),
                format!("names no limit {name:?} (nofile, nproc, core, memlock, stack, ...)"),
            )
        })?;
    let mut process = spec.process().clone().unwrap_or_default();
    let mut limits = process.rlimits().clone().unwrap_or_default();
    limits.retain(|l| l.typ() != typ);
    let limit = PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| Error::bad_option(flag(), e.to_string()))?;
    limits.push(limit);
    process.set_rlimits(Some(limits));
    spec.set_process(Some(process));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("store"));
        (dir, store)
    }

    #[test]
    fn volumes_are_absolute_existing_paths_or_names() {
        let (_dir, store) = store();
        let mut volumes = Vec::new();
        let mount = volume_flag(&store, "/tmp:/data:ro", &mut volumes).unwrap();
        assert_eq!(mount.destination(), Path::new("/data"));
        assert_eq!(
            mount.options().as_deref().unwrap(),
            ["rbind", "rprivate", "ro"]
        );
        assert!(volume_flag(&store, "/tmp:data", &mut volumes).is_err());
        assert!(volume_flag(&store, "/tmp:/data:exec-everything", &mut volumes).is_err());
        assert!(matches!(
            volume_flag(&store, "/surely/not/here:/data", &mut volumes),
            Err(Error::VolumeSource { .. })
        ));
        assert!(volumes.is_empty());
        let named = volume_flag(&store, "cache:/cache", &mut volumes).unwrap();
        assert_eq!(volumes, ["cache"]);
        assert!(named
            .source()
            .as_ref()
            .unwrap()
            .ends_with("volumes/cache/_data"));
        assert!(
            volume_flag(&store, "../up:/x", &mut volumes).is_err(),
            "a name is a name"
        );
    }

    #[test]
    fn mount_flags_read_as_podmans() {
        let (_dir, store) = store();
        let mut volumes = Vec::new();
        let tmpfs = mount_flag(
            &store,
            "type=tmpfs,target=/scratch,tmpfs-size=1m",
            &mut volumes,
        )
        .unwrap();
        assert_eq!(tmpfs.typ().as_deref(), Some("tmpfs"));
        assert!(tmpfs
            .options()
            .as_ref()
            .unwrap()
            .contains(&format!("size={}", 1 << 20)));
        let bind = mount_flag(&store, "type=bind,src=/tmp,dst=/t,readonly", &mut volumes).unwrap();
        assert!(bind.options().as_ref().unwrap().contains(&"ro".to_string()));
        let volume = mount_flag(&store, "type=volume,source=data,target=/d", &mut volumes).unwrap();
        assert!(volume
            .source()
            .as_ref()
            .unwrap()
            .ends_with("volumes/data/_data"));
        for bad in [
            "type=tmpfs",
            "type=bind,src=rel,dst=/x",
            "type=nfs,dst=/x",
            "type=tmpfs,dst=/x,color=red",
        ] {
            assert!(mount_flag(&store, bad, &mut volumes).is_err(), "{bad}");
        }
    }

    #[test]
    fn ulimits_replace_the_configs_and_refuse_nonsense() {
        let mut spec = Spec::default();
        set_ulimit(&mut spec, "nofile=100:200").unwrap();
        set_ulimit(&mut spec, "nofile=300").unwrap();
        let limits = spec.process().as_ref().unwrap().rlimits().clone().unwrap();
        let nofile: Vec<_> = limits
            .iter()
            .filter(|l| l.typ() == PosixRlimitType::RlimitNofile)
            .collect();
        assert_eq!(
            (nofile.len(), nofile[0].soft(), nofile[0].hard()),
            (1, 300, 300)
        );
        assert!(set_ulimit(&mut spec, "nofile=2:1").is_err());
        assert!(set_ulimit(&mut spec, "colour=1").is_err());
        assert!(set_ulimit(&mut spec, "nofile").is_err());
    }
}
