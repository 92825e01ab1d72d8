//! `hoist run IMAGE`'s security: podman's defaults (its eleven capabilities, its seccomp
//! profile), and the options that change them (`--cap-add/--cap-drop`, `--privileged`,
//! `--security-opt`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capabilities, Capability, LinuxDeviceCgroup, LinuxDeviceType, Spec};

use super::RunOptions;
use crate::{Error, Result};

/// podman's `default_capabilities` (containers.conf): what a container's root keeps.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Where podman's seccomp profile lives when containers.conf names none (containers-common).
const SYSTEM_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// `--security-opt` values, parsed.
#[derive(Debug, Default, PartialEq)]
struct SecurityOpts {
    seccomp: Seccomp,
    no_new_privileges: bool,
    apparmor: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
enum Seccomp {
    #[default]
    Default,
    Unconfined,
    Profile(PathBuf),
}

fn parse(options: &[String]) -> Result<SecurityOpts> {
    let mut parsed = SecurityOpts::default();
    for option in options {
        let (key, value) = option.split_once(['=', ':']).unwrap_or((option, ""));
        match (key, value) {
            ("seccomp", "unconfined") => parsed.seccomp = Seccomp::Unconfined,
            ("seccomp", file) if !file.is_empty() => {
                parsed.seccomp = Seccomp::Profile(PathBuf::from(file))
            }
            ("no-new-privileges", "" | "true") => parsed.no_new_privileges = true,
            ("no-new-privileges", "false") => parsed.no_new_privileges = false,
            ("label", "disable") => {}
            ("label", _) if !Path::new("/sys/fs/selinux/enforce").exists() => {
                return Err(refuse(option, "this host has no SELinux (label=disable is the only label option here)"))
            }
            ("label", _) => return Err(refuse(option, "SELinux labels are not supported by hoist yet")),
            ("apparmor", "unconfined") => parsed.apparmor = None,
            ("apparmor", profile) if !profile.is_empty() => {
                if !Path::new("/sys/kernel/security/apparmor").exists() {
                    return Err(refuse(option, "this host has no AppArmor"));
                }
                parsed.apparmor = Some(profile.to_string());
            }
            _ => return Err(refuse(option, "is not known: use seccomp=unconfined|FILE, no-new-privileges, label=disable or apparmor=unconfined|PROFILE")),
        }
    }
    Ok(parsed)
}

fn refuse(option: &str, reason: &str) -> Error {
    Error::bad_option(format!("--security-opt {option:?}"), reason)
}

/// Sets the process's capabilities, seccomp filter, no_new_privileges and AppArmor profile,
/// and with `--privileged` lifts the masks and gives the host's devices.
pub fn apply(spec: &mut Spec, args: &RunOptions) -> Result<()> {
    let options = parse(&args.security_opt)?;
    let mut bounding: Capabilities = if args.privileged {
        available_capabilities()
    } else {
        let configured = crate::ContainersConf::get()?
            .default_capabilities
            .as_deref();
        let defaults: Vec<&str> = match configured {
            Some(names) => names.iter().map(String::as_str).collect(),
            None => DEFAULT_CAPABILITIES.to_vec(),
        };
        defaults
            .iter()
            .map(|name| parse_capability(name))
            .collect::<Result<_>>()?
    };
    apply_capabilities(&mut bounding, &args.cap_add, &args.cap_drop)?;
    let names: Vec<String> = bounding
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(str::to_string))
        .collect();

    let mut process = spec.process().clone().unwrap_or_default();
    let mut caps = process.capabilities().clone().unwrap_or_default();
    caps.set_bounding(Some(bounding.clone()));
    caps.set_effective(Some(bounding.clone()));
    caps.set_permitted(Some(bounding));
    caps.set_inheritable(None);
    caps.set_ambient(None);
    process.set_capabilities(Some(caps));
    // podman's default (setuid programs work), unless asked for.
    process.set_no_new_privileges(Some(options.no_new_privileges));
    if let Some(profile) = &options.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    spec.set_process(Some(process));

    let mut linux = spec.linux().clone().unwrap_or_default();
    let seccomp = match (&options.seccomp, args.privileged) {
        (Seccomp::Unconfined, _) | (Seccomp::Default, true) => None,
        (Seccomp::Profile(file), _) => Some(profile_from(file, &names)?),
        (Seccomp::Default, false) => Some(default_profile(&names)?),
    };
    linux.set_seccomp(seccomp);
    if args.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_devices(Some(host_devices()));
        let mut resources = linux.resources().clone().unwrap_or_default();
        let mut allow_all = LinuxDeviceCgroup::default();
        allow_all.set_allow(true);
        allow_all.set_typ(Some(LinuxDeviceType::A));
        allow_all.set_access(Some("rwm".into()));
        resources.set_devices(Some(vec![allow_all]));
        linux.set_resources(Some(resources));
        writable_kernel_file_systems(spec);
    }
    spec.set_linux(Some(linux));
    Ok(())
}

/// The profile containers.conf names (`[containers] seccomp_profile`), else containers-common's,
/// else hoist's own.
fn default_profile(capabilities: &[String]) -> Result<oci_spec::runtime::LinuxSeccomp> {
    if let Some(file) = &crate::ContainersConf::get()?.seccomp_profile {
        return profile_from(file, capabilities);
    }
    if Path::new(SYSTEM_PROFILE).is_file() {
        return profile_from(Path::new(SYSTEM_PROFILE), capabilities);
    }
    hoist_runtime::seccomp_profile::seccomp_for(
        hoist_runtime::seccomp_profile::BUILTIN_PROFILE,
        capabilities,
    )
    .map_err(|source| Error::SeccompProfile {
        profile: "hoist's built-in profile".into(),
        source,
    })
}

fn profile_from(file: &Path, capabilities: &[String]) -> Result<oci_spec::runtime::LinuxSeccomp> {
    let text =
        std::fs::read_to_string(file).map_err(Error::io("reading the seccomp profile", file))?;
    hoist_runtime::seccomp_profile::seccomp_for(&text, capabilities).map_err(|source| {
        Error::SeccompProfile {
            profile: file.display().to_string(),
            source,
        }
    })
}

/// Every device node under the host's /dev (not its pts, shm or mqueue), as podman gives a
/// privileged container.
fn host_devices() -> Vec<oci_spec::runtime::LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut devices = Vec::new();
    let mut pending = vec![PathBuf::from("/dev")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                if !matches!(
                    path.to_str(),
                    Some("/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev/.udev")
                ) {
                    pending.push(path);
                }
                continue;
            }
            let typ = if kind.is_char_device() {
                LinuxDeviceType::C
            } else if kind.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = meta.rdev();
            let mut device = oci_spec::runtime::LinuxDevice::default();
            device.set_path(path);
            device.set_typ(typ);
            device.set_major(rustix::fs::major(rdev) as i64);
            device.set_minor(rustix::fs::minor(rdev) as i64);
            device.set_file_mode(Some(meta.mode() & 0o777));
            device.set_uid(Some(meta.uid()));
            device.set_gid(Some(meta.gid()));
            devices.push(device);
        }
    }
    devices.sort_by(|a, b| a.path().cmp(b.path()));
    devices
}

/// A privileged container's /sys and cgroup file systems are writable, as under podman.
fn writable_kernel_file_systems(spec: &mut Spec) {
    let Some(mut mounts) = spec.mounts().clone() else {
        return;
    };
    for mount in &mut mounts {
        if matches!(mount.typ().as_deref(), Some("sysfs" | "cgroup" | "cgroup2")) {
            let options: Vec<String> = mount
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o != "ro")
                .collect();
            mount.set_options(Some(options));
        }
    }
    spec.set_mounts(Some(mounts));
}

/// "All" capabilities: those of hoist's own bounding set, which the container can be given (a
/// host's root may lack some, as this project's CI machine lacks CAP_SYS_RESOURCE).
pub(crate) fn available_capabilities() -> Capabilities {
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(u64::MAX);
    hoist_runtime::capability_names()
        .iter()
        .enumerate()
        .filter(|(bit, _)| own & (1 << bit) != 0)
        .filter_map(|(_, name)| parse_capability(name).ok())
        .collect()
}

fn parse_capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| Error::UnknownCapability(name.to_string()))
}

/// `--cap-drop` first, then `--cap-add` (either may say ALL), as podman applies them.
fn apply_capabilities(set: &mut Capabilities, add: &[String], drop: &[String]) -> Result<()> {
    for name in drop {
        if name.eq_ignore_ascii_case("all") {
            set.clear();
        } else {
            set.remove(&parse_capability(name)?);
        }
    }
    for name in add {
        if name.eq_ignore_ascii_case("all") {
            set.extend(available_capabilities());
        } else {
            set.insert(parse_capability(name)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options_parse_as_podman_spells_them() {
        let opts = |list: &[&str]| parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            opts(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            opts(&["seccomp=/p.json"]).unwrap().seccomp,
            Seccomp::Profile("/p.json".into())
        );
        assert!(opts(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(opts(&["label=disable", "apparmor=unconfined"]).is_ok());
        assert!(opts(&["bogus=1"]).is_err());
        assert!(opts(&["seccomp="]).is_err());
    }

    #[test]
    fn capabilities_are_podmans_eleven_changed_by_drop_then_add() {
        let mut set: Capabilities = DEFAULT_CAPABILITIES
            .iter()
            .map(|n| parse_capability(n).unwrap())
            .collect();
        assert_eq!(set.len(), 11);
        apply_capabilities(&mut set, &["net_admin".into()], &["ALL".into()]).unwrap();
        assert_eq!(set.len(), 1);
        apply_capabilities(&mut set, &["ALL".into()], &[]).unwrap();
        assert_eq!(set, available_capabilities());
        assert!(apply_capabilities(&mut set, &["NOT_A_CAP".into()], &[]).is_err());
    }
}
