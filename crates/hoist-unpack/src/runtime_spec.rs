//! The runtime `config.json` made from an image config, after the image spec's conversion
//! (`conversion.md`) on top of the same defaults `runc spec` writes.

use std::collections::HashMap;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use hoist_fs::Root;
use hoist_oci::ImageConfiguration;
use oci_spec::runtime::{
    LinuxDeviceCgroupBuilder, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Mount,
    MountBuilder, Process, Root as SpecRoot, Spec, User,
};

use crate::apply::SkippedDevice;
use crate::user::resolve_user;
use crate::Result;

/// The annotation that lists the image config's `Volumes`.
pub const VOLUMES_ANNOTATION: &str = "org.opencontainers.image.volumes";

/// The annotation that lists device nodes a rootless unpack could not create and could not
/// bind-mount from the host either.
pub const SKIPPED_DEVICES_ANNOTATION: &str = "org.hoist.unpack.skipped-devices";

/// What makes a rootless config: the caller's ids (mapped to root in a user namespace) and the
/// device nodes the unpack left out.
pub(crate) struct RootlessSpec {
    pub uid: u32,
    pub gid: u32,
    pub skipped_devices: Vec<SkippedDevice>,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds the runtime spec for an image whose rootfs is at `root`, with `rootfs` as the bundle-
/// relative root path; a rootless one (as `runc spec --rootless` shapes it) when asked.
/// `USER[:GROUP]` (names or numbers) resolved against the rootfs's own user and group
/// databases, as the process user of a runtime config.
pub fn process_user(root: &Root, spec: &str) -> Result<User> {
    let resolved = resolve_user(root, spec)?;
    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    if !resolved.additional_gids.is_empty() {
        user.set_additional_gids(Some(resolved.additional_gids));
    }
    Ok(user)
}

pub(crate) fn runtime_spec(
    image: &ImageConfiguration,
    root: &Root,
    rootless: Option<&RootlessSpec>,
    labels: LabelPolicy,
) -> Result<Spec> {
    let empty = Default::default();
    let config = image.config().as_ref().unwrap_or(&empty);

    let mut args: Vec<String> = config.entrypoint().clone().unwrap_or_default();
    args.extend(config.cmd().clone().unwrap_or_default());
    if args.is_empty() {
        args.push("sh".to_string());
    }

    let mut env: Vec<String> = config.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }

    let user = process_user(root, config.user().as_deref().unwrap_or(""))?;

    let mut process = Process::default();
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(
        config
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string())
            .into(),
    );
    process.set_user(user);

    let mut spec = base_spec();
    spec.set_process(Some(process));
    spec.set_annotations(Some(annotations(image, labels)));
    if let Some(rootless) = rootless {
        make_rootless(&mut spec, rootless);
    }
    Ok(spec)
}

/// What `runc spec` writes (and `hoist spec`): runc's defaults, a shell on a terminal.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = base_spec();
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_terminal(Some(true));
    spec.set_process(Some(process));
    if rootless {
        let ids = RootlessSpec {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            skipped_devices: Vec::new(),
        };
        make_rootless(&mut spec, &ids);
    }
    spec
}

/// The defaults every generated config starts from.
fn base_spec() -> Spec {
    let mut spec_root = SpecRoot::default();
    spec_root.set_path("rootfs".into());
    spec_root.set_readonly(Some(false));

    let mut spec = Spec::default();
    // 1.1.0, not newer: crun 1.8 (Debian 12) refuses versions it does not know.
    spec.set_version("1.1.0".to_string());
    spec.set_hostname(Some("hoist".to_string()));
    spec.set_root(Some(spec_root));
    // As `runc spec`: the device cgroup denies everything the config does not allow.
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    resources.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .expect("a complete device rule")]));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    spec
}

/// runc's `ToRootless`: a user namespace mapping the caller to root, no network namespace
/// (an unprivileged user cannot configure one), the host's /sys bound read-only instead of a
/// new sysfs, no uid=/gid= mount options, no cgroup resources. Devices the unpack skipped are
/// bind-mounted from the host where it has the same node.
fn make_rootless(spec: &mut Spec, rootless: &RootlessSpec) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces: Vec<LinuxNamespace> = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|ns| {
            !matches!(
                ns.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::User
            )
        })
        .collect();
    let mut user_ns = LinuxNamespace::default();
    user_ns.set_typ(LinuxNamespaceType::User);
    namespaces.push(user_ns);
    linux.set_namespaces(Some(namespaces));
    let map = |host: u32| {
        LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(host)
            .size(1u32)
            .build()
            .expect("a complete id mapping")
    };
    linux.set_uid_mappings(Some(vec![map(rootless.uid)]));
    linux.set_gid_mappings(Some(vec![map(rootless.gid)]));
    linux.set_resources(None);

    let mut mounts: Vec<Mount> = Vec::new();
    for mut mount in spec.mounts().clone().unwrap_or_default() {
        if mount.destination() == std::path::Path::new("/sys") {
            mounts.push(bind_mount(
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            ));
            continue;
        }
        let options: Vec<String> = mount
            .options()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| !o.starts_with("gid=") && !o.starts_with("uid="))
            .collect();
        mount.set_options(Some(options));
        mounts.push(mount);
    }
    let mut unmatched = Vec::new();
    for device in &rootless.skipped_devices {
        let host_matches = std::fs::metadata(&device.path).is_ok_and(|m| {
            let kind_matches = if device.kind == 'b' {
                m.file_type().is_block_device()
            } else {
                m.file_type().is_char_device()
            };
            kind_matches
                && rustix::fs::major(m.rdev()) == device.major
                && rustix::fs::minor(m.rdev()) == device.minor
        });
        if host_matches {
            mounts.push(bind_mount(&device.path.to_string_lossy(), &["bind"]));
        } else {
            unmatched.push(format!(
                "{} {} {}:{}",
                device.path.display(),
                device.kind,
                device.major,
                device.minor
            ));
        }
    }
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    if !unmatched.is_empty() {
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(SKIPPED_DEVICES_ANNOTATION.to_string(), unmatched.join(", "));
        spec.set_annotations(Some(annotations));
    }
}

fn bind_mount(path: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(path)
        .typ("bind")
        .source(path)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .expect("a complete mount")
}

/// Label prefixes that runtimes act on when they find them among a bundle's annotations: runc
/// turns `org.systemd.property.*` into properties of the container's systemd unit, crun reads
/// `run.oci.*` as options. An image's author must not choose those for whoever runs it.
pub const RUNTIME_LABEL_PREFIXES: &[&str] = &["org.systemd.property.", "run.oci."];

/// Which image labels become annotations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LabelPolicy {
    /// All but those under [`RUNTIME_LABEL_PREFIXES`].
    #[default]
    LeaveOutRuntimeKeys,
    /// All of them, as the user asked (`hoist unpack --runtime-labels`).
    All,
}

impl LabelPolicy {
    fn keeps(self, key: &str) -> bool {
        self == LabelPolicy::All || !RUNTIME_LABEL_PREFIXES.iter().any(|p| key.starts_with(p))
    }
}

/// The image's labels, and its own fields under the `org.opencontainers.image.*` names the
/// conversion document gives them.
fn annotations(image: &ImageConfiguration, policy: LabelPolicy) -> HashMap<String, String> {
    let mut annotations = HashMap::new();
    if let Some(config) = image.config() {
        if let Some(labels) = config.labels() {
            annotations.extend(
                labels
                    .iter()
                    .filter(|(key, _)| policy.keeps(key))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        if let Some(signal) = config.stop_signal() {
            annotations.insert("org.opencontainers.image.stopSignal".into(), signal.clone());
        }
        if let Some(ports) = config.exposed_ports() {
            annotations.insert(
                "org.opencontainers.image.exposedPorts".into(),
                ports.join(","),
            );
        }
        // Where the image wants volumes; a runtime config has no anonymous volumes to give,
        // so the paths are recorded for whoever runs the bundle.
        if let Some(volumes) = config.volumes().as_ref().filter(|v| !v.is_empty()) {
            let mut paths = volumes.clone();
            paths.sort();
            annotations.insert(VOLUMES_ANNOTATION.into(), paths.join(","));
        }
    }
    annotations.insert("org.opencontainers.image.os".into(), image.os().to_string());
    annotations.insert(
        "org.opencontainers.image.architecture".into(),
        image.architecture().to_string(),
    );
    if let Some(author) = image.author() {
        annotations.insert("org.opencontainers.image.author".into(), author.clone());
    }
    if let Some(created) = image.created() {
        annotations.insert("org.opencontainers.image.created".into(), created.clone());
    }
    annotations
}
