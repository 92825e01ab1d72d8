//! Config fields whose effect would reach the host unless a namespace of the container's own
//! holds it, checked before anything is created (runc's validator has the same rules).
//! Nothing in a config is trusted: a container with the host's ipc namespace must not set the
//! host's `kernel.shmmax`, one with the host's uts namespace must not rename the host.

use std::os::unix::fs::MetadataExt;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// Sysctls of the ipc namespace (besides `fs.mqueue.*`).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Refuses a config that would change the host through sysctls, a hostname or a domain name,
/// or (for a runtime that is root) mount a rootfs overlay of directories its annotation names.
pub(crate) fn host_facing_fields(spec: &Spec) -> Result<()> {
    // An annotation is no caller's word (engines pass pods' annotations on), and an init that
    // is root would mount whatever it names, the host's / with it: only an unprivileged
    // runtime, whose init can reach no more than its caller, takes one.
    if crate::rootfs_overlay::RootfsOverlay::from_spec(spec)?.is_some()
        && nix::unistd::geteuid().is_root()
    {
        return Err(Error::InvalidSpec(format!(
            "annotation {}: a rootfs overlay is mounted by an unprivileged runtime only; root mounts the rootfs before it calls the runtime",
            crate::rootfs_overlay::ROOTFS_OVERLAY_ANNOTATION
        )));
    }
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let has_own = |kind: LinuxNamespaceType| {
        namespaces.iter().filter(|n| n.typ() == kind).any(|n| {
            n.path()
                .as_ref()
                .is_none_or(|path| !is_runtime_namespace(path, kind))
        })
    };
    for key in linux.sysctl().clone().unwrap_or_default().keys() {
        let name = key.replace('/', ".");
        let needed = sysctl_namespace(&name).ok_or_else(|| {
            Error::InvalidSpec(format!(
                "sysctl {key} is not namespaced: setting it in a container would change the host \
                 (allowed: kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* with an ipc \
                 namespace, net.* with a network namespace, kernel.hostname and \
                 kernel.domainname with a uts namespace)"
            ))
        })?;
        if !has_own(needed) {
            return Err(Error::InvalidSpec(format!(
                "sysctl {key} would change the host's: the config gives the container no {} namespace of its own",
                namespace_name(needed)
            )));
        }
    }
    for (field, set) in [
        ("hostname", spec.hostname().is_some()),
        ("domainname", spec.domainname().is_some()),
    ] {
        if set && !has_own(LinuxNamespaceType::Uts) {
            return Err(Error::InvalidSpec(format!(
                "the config sets a {field} but has no uts namespace of its own: it would rename the host"
            )));
        }
    }
    Ok(())
}

/// Refuses, naming them, the fields that would mount (or write under /proc) in the runtime's
/// own mount namespace when the config gives the container none: the container then shares
/// the host's mounts and is only chrooted into its rootfs.
pub(crate) fn fields_needing_a_mount_namespace(spec: &Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    let set = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    let named = |text: &Option<String>| text.as_ref().is_some_and(|t| !t.is_empty());
    let process = spec.process().clone().unwrap_or_default();
    let needing = [
        // The console is the image's /dev/ptmx, bind-mounted on /dev/console.
        ("process.terminal", process.terminal().unwrap_or(false)),
        // Labels are written under the container's /proc, which it would not have.
        ("process.apparmorProfile", named(process.apparmor_profile())),
        ("process.selinuxLabel", named(process.selinux_label())),
        (
            "mounts",
            spec.mounts().as_ref().is_some_and(|m| !m.is_empty()),
        ),
        ("linux.maskedPaths", set(linux.masked_paths())),
        ("linux.readonlyPaths", set(linux.readonly_paths())),
        (
            "linux.devices",
            linux.devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        (
            "linux.sysctl",
            linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()),
        ),
        (
            "linux.rootfsPropagation",
            linux.rootfs_propagation().is_some(),
        ),
        (
            crate::rootfs_overlay::ROOTFS_OVERLAY_ANNOTATION,
            crate::rootfs_overlay::RootfsOverlay::from_spec(spec)?.is_some(),
        ),
        (
            "root.readonly",
            spec.root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        ),
    ];
    match needing.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(Error::InvalidSpec(format!(
            "{field} needs a mount namespace, and the config gives the container none (it would \
             change the host's mounts); add {{\"type\": \"mount\"}} to linux.namespaces or drop {field}"
        ))),
        None => Ok(()),
    }
}

/// The namespace that makes a sysctl the container's own, if any does.
fn sysctl_namespace(name: &str) -> Option<LinuxNamespaceType> {
    if IPC_SYSCTLS.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if name.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

fn namespace_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// Whether the namespace at `path` is the one the runtime itself is in: joining it is sharing
/// the host's, not having one. A path that cannot be read is left to the join to refuse.
fn is_runtime_namespace(path: &std::path::Path, kind: LinuxNamespaceType) -> bool {
    let own = match kind {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Mount => "mnt",
        other => namespace_name(other),
    };
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    match (
        std::fs::metadata(path),
        std::fs::metadata(format!("/proc/self/ns/{own}")),
    ) {
        (Ok(joined), Ok(runtime)) => same(&joined, &runtime),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> Spec {
        let mut base = serde_json::to_value(Spec::default()).unwrap();
        base["hostname"] = serde_json::Value::Null; // oci-spec's default names one
        for (key, field) in value.as_object().unwrap() {
            if key == "linux" {
                for (k, v) in field.as_object().unwrap() {
                    base["linux"][k] = v.clone();
                }
            } else {
                base[key] = field.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn namespaces(types: &[&str]) -> serde_json::Value {
        serde_json::Value::Array(
            types
                .iter()
                .map(|t| serde_json::json!({ "type": t }))
                .collect(),
        )
    }

    #[test]
    fn namespaced_sysctls_need_their_namespace() {
        let with = |ns: &[&str], key: &str| {
            host_facing_fields(&spec(serde_json::json!({
                "linux": { "namespaces": namespaces(ns), "sysctl": { key: "1" } }
            })))
        };
        assert!(with(&["mount", "ipc"], "kernel.shmmax").is_ok());
        assert!(with(&["mount", "ipc"], "fs.mqueue.msg_max").is_ok());
        assert!(with(&["mount", "network"], "net.ipv4.ip_forward").is_ok());
        assert!(with(&["mount", "network"], "net/ipv4/ip_forward").is_ok());
        assert!(with(&["mount", "uts"], "kernel.hostname").is_ok());
        assert!(with(&["mount"], "kernel.shmmax").is_err());
        assert!(with(&["mount", "ipc"], "net.ipv4.ip_forward").is_err());
        let error = with(&["mount", "ipc", "network", "uts"], "vm.overcommit_memory").unwrap_err();
        assert!(error.to_string().contains("not namespaced"), "{error}");
        assert!(with(&["mount", "ipc"], "kernel.pid_max").is_err());
    }

    #[test]
    fn joining_the_runtimes_own_namespace_is_not_having_one() {
        let joined = serde_json::json!([{ "type": "mount" }, { "type": "ipc", "path": "/proc/self/ns/ipc" }]);
        let spec = spec(serde_json::json!({
            "linux": { "namespaces": joined, "sysctl": { "kernel.shmmax": "1" } }
        }));
        assert!(host_facing_fields(&spec).is_err());
    }

    #[test]
    fn without_a_mount_namespace_each_field_that_would_touch_the_hosts_mounts_is_named() {
        let bare = || {
            let mut spec = serde_json::to_value(Spec::default()).unwrap();
            spec["mounts"] = serde_json::json!([]);
            spec["linux"]["maskedPaths"] = serde_json::json!([]);
            spec["linux"]["readonlyPaths"] = serde_json::json!([]);
            spec["process"]["terminal"] = serde_json::json!(false);
            spec["root"]["readonly"] = serde_json::json!(false); // oci-spec's default is true
            spec
        };
        let spec = |spec: serde_json::Value| serde_json::from_value::<Spec>(spec).unwrap();
        fields_needing_a_mount_namespace(&spec(bare())).unwrap();
        type Edit = fn(&mut serde_json::Value);
        let cases: [(&str, Edit); 6] = [
            ("mounts", |s| {
                s["mounts"] = serde_json::json!([{"destination": "/x"}])
            }),
            ("linux.maskedPaths", |s| {
                s["linux"]["maskedPaths"] = serde_json::json!(["/x"])
            }),
            ("process.terminal", |s| {
                s["process"]["terminal"] = serde_json::json!(true)
            }),
            ("process.apparmorProfile", |s| {
                s["process"]["apparmorProfile"] = serde_json::json!("p")
            }),
            ("linux.rootfsPropagation", |s| {
                s["linux"]["rootfsPropagation"] = serde_json::json!("slave")
            }),
            ("root.readonly", |s| {
                s["root"]["readonly"] = serde_json::json!(true)
            }),
        ];
        for (field, set) in cases {
            let mut value = bare();
            set(&mut value);
            let refused = fields_needing_a_mount_namespace(&spec(value)).unwrap_err();
            assert!(
                refused
                    .to_string()
                    .contains(&format!(": {field} needs a mount namespace")),
                "{field}: {refused}"
            );
        }
    }

    #[test]
    fn a_hostname_or_domainname_needs_a_uts_namespace() {
        for field in ["hostname", "domainname"] {
            let without = spec(serde_json::json!({
                field: "x", "linux": { "namespaces": namespaces(&["mount"]) }
            }));
            assert!(host_facing_fields(&without).is_err(), "{field}");
            let with = spec(serde_json::json!({
                field: "x", "linux": { "namespaces": namespaces(&["mount", "uts"]) }
            }));
            assert!(host_facing_fields(&with).is_ok(), "{field}");
        }
    }
}
