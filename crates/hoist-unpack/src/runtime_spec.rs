//! The runtime `config.json` made from an image config, after the image spec's conversion
//! (`conversion.md`) on top of the same defaults `runc spec` writes.

use std::collections::HashMap;

use hoist_fs::Root;
use hoist_oci::ImageConfiguration;
use oci_spec::runtime::{Process, Root as SpecRoot, Spec, User};

use crate::user::resolve_user;
use crate::Result;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds the runtime spec for an image whose rootfs is at `root`, with `rootfs` as the bundle-
/// relative root path.
pub fn runtime_spec(image: &ImageConfiguration, root: &Root) -> Result<Spec> {
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

    let resolved = resolve_user(root, config.user().as_deref().unwrap_or(""))?;
    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    if !resolved.additional_gids.is_empty() {
        user.set_additional_gids(Some(resolved.additional_gids));
    }

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

    let mut spec_root = SpecRoot::default();
    spec_root.set_path("rootfs".into());
    spec_root.set_readonly(Some(false));

    let mut spec = Spec::default();
    // 1.1.0, not newer: crun 1.8 (Debian 12) refuses versions it does not know.
    spec.set_version("1.1.0".to_string());
    spec.set_hostname(Some("hoist".to_string()));
    spec.set_process(Some(process));
    spec.set_root(Some(spec_root));
    spec.set_annotations(Some(annotations(image)));
    Ok(spec)
}

/// The image's labels, and its own fields under the `org.opencontainers.image.*` names the
/// conversion document gives them.
fn annotations(image: &ImageConfiguration) -> HashMap<String, String> {
    let mut annotations = HashMap::new();
    if let Some(config) = image.config() {
        if let Some(labels) = config.labels() {
            annotations.extend(labels.clone());
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
