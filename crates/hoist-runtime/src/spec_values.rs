//! Values the runtime spec bounds, refused at `create` with the field named rather than
//! half-applied in the init: a config of another major version, an OOM score out of the
//! kernel's range, a propagation mode that is none, a device path or type no device can have,
//! a mount destination that is not absolute. (Unknown enum values — namespace types,
//! capabilities, rlimit types, seccomp actions — already fail to parse.)

use oci_spec::runtime::{LinuxDeviceType, Spec};

use crate::init::mount_options;
use crate::{Error, Result};

/// The kernel's range for `/proc/PID/oom_score_adj`.
const OOM_SCORE_ADJ: std::ops::RangeInclusive<i32> = -1000..=1000;

pub(crate) fn check(spec: &Spec) -> Result<()> {
    let refuse = |field: &str, why: String| Err(Error::InvalidSpec(format!("{field}: {why}")));
    let version = spec.version();
    if version.split('.').next() != Some("1") {
        return refuse(
            "ociVersion",
            format!(
                "{version:?} is not a 1.x version of the runtime spec, the one hoist implements"
            ),
        );
    }
    if let Some(score) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        if !OOM_SCORE_ADJ.contains(&score) {
            return refuse(
                "process.oomScoreAdj",
                format!("{score} is outside the kernel's range, -1000 to 1000"),
            );
        }
    }
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        if !mount.destination().is_absolute() {
            return refuse(
                "mounts",
                format!(
                    "destination {} is not absolute",
                    mount.destination().display()
                ),
            );
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(propagation) = linux.rootfs_propagation().as_deref() {
        if mount_options::propagation(propagation).is_empty() {
            return refuse(
                "linux.rootfsPropagation",
                format!(
                    "{propagation:?} is not shared, slave, private or unbindable (or an r- form)"
                ),
            );
        }
    }
    for device in linux.devices().as_deref().unwrap_or_default() {
        let path = device.path();
        if !path.is_absolute() || !path.starts_with("/dev") {
            return refuse(
                "linux.devices",
                format!("{} is not a path under /dev", path.display()),
            );
        }
        if device.typ() == LinuxDeviceType::A {
            return refuse(
                "linux.devices",
                format!(
                    "{} has type \"a\", which is for cgroup rules only",
                    path.display()
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: serde_json::Value) -> Spec {
        let mut config = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {},
        });
        for (key, value) in change.as_object().unwrap() {
            match (config.get_mut(key), value) {
                (Some(serde_json::Value::Object(base)), serde_json::Value::Object(over)) => {
                    base.extend(over.clone())
                }
                _ => config[key] = value.clone(),
            }
        }
        serde_json::from_value(config).unwrap()
    }

    #[test]
    fn values_the_spec_bounds_are_refused_with_their_field_named() {
        assert!(check(&with(serde_json::json!({}))).is_ok());
        for (change, field) in [
            (serde_json::json!({"ociVersion": "2.0.0"}), "ociVersion"),
            (serde_json::json!({"ociVersion": "0.9"}), "ociVersion"),
            (
                serde_json::json!({"process": {"oomScoreAdj": 1001}}),
                "oomScoreAdj",
            ),
            (
                serde_json::json!({"process": {"oomScoreAdj": -1001}}),
                "oomScoreAdj",
            ),
            (
                serde_json::json!({"mounts": [{"destination": "tmp", "type": "tmpfs"}]}),
                "mounts",
            ),
            (
                serde_json::json!({"linux": {"rootfsPropagation": "sideways"}}),
                "rootfsPropagation",
            ),
            (
                serde_json::json!({"linux": {"devices": [{"path": "/etc/passwd", "type": "c", "major": 1, "minor": 3}]}}),
                "linux.devices",
            ),
            (
                serde_json::json!({"linux": {"devices": [{"path": "/dev/all", "type": "a"}]}}),
                "linux.devices",
            ),
        ] {
            let refused = check(&with(change.clone())).expect_err(&change.to_string());
            assert!(refused.to_string().contains(field), "{change}: {refused}");
        }
        for fine in [
            serde_json::json!({"process": {"oomScoreAdj": -1000}}),
            serde_json::json!({"linux": {"rootfsPropagation": "rslave"}}),
            serde_json::json!({"ociVersion": "1.0.2-dev"}),
        ] {
            assert!(check(&with(fine.clone())).is_ok(), "{fine}");
        }
    }
}
