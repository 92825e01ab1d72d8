//! runc's `features` document (the runtime spec's features.md): what a config may ask for and
//! have honoured, built from the tables the runtime itself enforces, so it cannot drift from
//! them.

use std::collections::HashMap;

use oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, Features, FeaturesBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, SeccompBuilder, SelinuxBuilder,
};

use crate::namespaces::NAMESPACES;

/// The document `hoist features` prints.
pub fn features() -> Features {
    let mut mount_options: Vec<String> = crate::init::mount_options::known()
        .map(str::to_string)
        .collect();
    mount_options.sort();
    let mut namespaces: Vec<_> = NAMESPACES.iter().map(|(kind, _, _)| *kind).collect();
    namespaces.sort_by_key(|kind| kind.to_string());
    let mut capabilities = capability_names();
    capabilities.sort();
    let seccomp = SeccompBuilder::default()
        .enabled(true)
        .actions(crate::seccomp::ACTIONS.to_vec())
        .operators(
            crate::seccomp::OPERATORS
                .iter()
                .map(spec_name)
                .collect::<Vec<_>>(),
        )
        .known_flags(
            crate::seccomp::FILTER_FLAGS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>(),
        )
        .supported_flags(
            crate::seccomp::FILTER_FLAGS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>(),
        )
        .build();
    let cgroup = CgroupBuilder::default()
        .v1(true)
        .v2(true)
        .systemd(false)
        .systemd_user(false)
        .rdma(false)
        .build();
    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(capabilities)
        .cgroup(cgroup.expect("every field set"))
        .seccomp(seccomp.expect("every field set"))
        .apparmor(
            ApparmorBuilder::default()
                .enabled(false)
                .build()
                .expect("set"),
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .expect("set"),
        )
        .intel_rdt(
            IntelRdtBuilder::default()
                .enabled(false)
                .build()
                .expect("set"),
        )
        .build()
        .expect("every field set");
    FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(crate::state::OCI_VERSION)
        .hooks(
            crate::hooks::KINDS
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
        )
        .mount_options(mount_options)
        .linux(linux)
        .annotations(HashMap::from([(
            "org.opencontainers.runtime-spec.features.hoist".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]))
        .build()
        .expect("every field set")
}

/// The name the runtime spec gives a value (its serde form).
fn spec_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Every capability Linux has (that the `caps` crate knows), in bit order, as `CAP_*` names.
pub fn capability_names() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|cap| cap.index());
    all.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_what_the_tables_hold() {
        let document = serde_json::to_value(features()).unwrap();
        let options = document["mountOptions"].as_array().unwrap();
        for option in ["ro", "rbind", "rslave", "nosuid", "defaults"] {
            assert!(options.iter().any(|o| o == option), "{option}");
        }
        assert_eq!(document["linux"]["namespaces"].as_array().unwrap().len(), 8);
        assert_eq!(
            document["linux"]["seccomp"]["actions"]
                .as_array()
                .unwrap()
                .len(),
            9
        );
        assert_eq!(document["ociVersionMax"], "1.1.0");
    }

    #[test]
    fn capabilities_are_in_bit_order() {
        let names = capability_names();
        assert_eq!(names[0], "CAP_CHOWN");
        assert_eq!(names[21], "CAP_SYS_ADMIN");
        assert!(names.len() >= 41, "{names:?}");
    }
}
