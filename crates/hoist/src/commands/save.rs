//! `hoist save` / `hoist load`: images carried between machines as one archive (OCI or
//! docker); and `hoist info`.

use crate::output::outln;
use hoist_engine::{driver_in_use, Store};
use hoist_oci::Platform;

use std::io::IsTerminal;

use hoist_oci::ArchiveFormat;

use crate::cli::{InfoArgs, LoadArgs, SaveArgs, SaveFormat};
use crate::format::{apply, Format};

pub fn save(args: SaveArgs) -> anyhow::Result<()> {
    let format = match args.format {
        SaveFormat::OciArchive => ArchiveFormat::Oci,
        SaveFormat::DockerArchive => ArchiveFormat::Docker,
    };
    hoist_engine::save_images(
        &Store::locate(),
        &args.images,
        args.all_platforms,
        format,
        &args.output,
    )?;
    if !args.quiet {
        eprintln!(
            "Saved {} image(s) to {} ({})",
            args.images.len(),
            args.output.display(),
            format.transport()
        );
    }
    Ok(())
}

pub fn load(args: LoadArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let loaded = match &args.input {
        Some(file) => hoist_engine::load_images(&store, file)?,
        None => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                anyhow::bail!(
                    "no archive to load: give one with -i FILE, or on standard input (hoist load < FILE)"
                );
            }
            hoist_engine::load_images_from(&store, &mut stdin)?
        }
    };
    for name in loaded {
        if !args.quiet {
            outln!("Loaded image: {name}");
        }
    }
    Ok(())
}

/// An unprivileged user's containers' id maps, as podman's `info` shows them (root's none).
fn id_mappings() -> serde_json::Value {
    if !hoist_engine::rootless::is_rootless() {
        return serde_json::Value::Null;
    }
    let maps = hoist_engine::rootless::UserIds::of_caller().default_maps();
    let shown = |map: &hoist_unpack::IdMap| -> Vec<serde_json::Value> {
        map.0
            .iter()
            .map(|r| serde_json::json!({ "container_id": r.container, "host_id": r.host, "size": r.size }))
            .collect()
    };
    serde_json::json!({ "uidmap": shown(&maps.uid), "gidmap": shown(&maps.gid) })
}

/// `info`: podman's shape (`host`, `store`, `version`), hoist's own paths beside; JSON, or
/// through a template, which may name fields as podman's do (`{{.Host.CgroupsVersion}}`).
pub fn info(runtime: &hoist_runtime::Runtime, args: InfoArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let containers = hoist_engine::Container::all(&store)?;
    let running = containers
        .iter()
        .filter(|c| hoist_engine::Activity::of(runtime, c).alive())
        .count();
    let uname = rustix::system::uname();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    let platform = Platform::host().to_string();
    let info = serde_json::json!({
        "host": {
            "arch": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "kernel": text(uname.release()),
            "hostname": text(uname.nodename()),
            "cgroupVersion": match std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                true => "v2",
                false => "v1",
            },
            "cgroupManager": "cgroupfs",
            "cgroupControllers": hoist_runtime::available_controllers(),
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "ociRuntime": { "name": "hoist", "path": std::env::current_exe().ok() },
            "security": { "rootless": hoist_engine::rootless::is_rootless() },
            "idMappings": id_mappings(),
        },
        "store": {
            "graphRoot": store.root(),
            "graphDriverName": driver_in_use(),
            "runRoot": runtime.root(),
            "imageStore": { "number": hoist_engine::list_images(&store)?.len() },
            "containerStore": {
                "number": containers.len(),
                "running": running,
                "stopped": containers.len() - running,
            },
            "volumePath": store.root().join("volumes"),
        },
        "version": { "Version": env!("CARGO_PKG_VERSION"), "OsArch": platform },
        "images": store.root().join("images"),
        "layers": store.layers(),
        "containers": store.containers(),
    });
    match Format::parse(args.format.as_deref()) {
        Format::Json | Format::Default => outln!("{}", serde_json::to_string_pretty(&info)?),
        Format::Template { text, .. } => {
            outln!(
                "{}",
                apply(&crate::field_spelling::respell(&text, &info), &info)?
            )
        }
    }
    Ok(())
}
