//! `hoist images`, `hoist rmi` and `hoist system prune`: what the store holds, and taking it
//! out again.

use std::collections::HashSet;

use anyhow::bail;
use hoist_oci::{media_type, ImageConfiguration, ImageManifest, Layout, Platform, Reference};
use hoist_unpack::LayerCache;
use serde_json::json;

use crate::cli::{ImagesArgs, RmiArgs};
use hoist_engine::{Container, Store};

struct Row {
    name: String,
    id: String,
    digest: String,
    created: Option<String>,
    size: u64,
}

pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let _lock = store.lock(false)?;
    let layout = store.images()?;
    let mut rows = Vec::new();
    for top in layout.index()?.manifests() {
        let Some(name) = hoist_oci::ref_name(top) else {
            continue;
        };
        rows.push(row(&layout, top, name)?);
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| json!({"name": r.name, "id": r.id, "digest": r.digest, "created": r.created, "size": r.size}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if args.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
    } else {
        println!(
            "{:<50} {:<12} {:<20} {:>10}",
            "IMAGE", "ID", "CREATED", "SIZE"
        );
        for r in &rows {
            println!(
                "{:<50} {:<12} {:<20} {:>10}",
                r.name,
                r.id,
                r.created.as_deref().unwrap_or("-"),
                human_size(r.size)
            );
        }
    }
    Ok(())
}

fn row(layout: &Layout, top: &hoist_oci::Descriptor, name: &str) -> anyhow::Result<Row> {
    let image = layout.choose_image(top, &Platform::host()).ok();
    let manifest: Option<ImageManifest> = image
        .as_ref()
        .and_then(|d| layout.read_json(d, "manifest").ok());
    let config: Option<ImageConfiguration> = manifest
        .as_ref()
        .and_then(|m| layout.read_json(m.config(), "config").ok());
    let size = manifest.as_ref().map_or(0, |m| {
        m.config().size() + m.layers().iter().map(|l| l.size()).sum::<u64>()
    });
    let id = manifest.as_ref().map_or_else(String::new, |m| {
        let digest = m.config().digest().to_string();
        digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect()
    });
    Ok(Row {
        name: name.to_string(),
        id,
        digest: top.digest().to_string(),
        created: config.and_then(|c| c.created().clone()),
        size,
    })
}

/// Removes cached layers that no image in the store and no container rests on. The caller
/// holds the store's lock exclusively, so no container is being set up meanwhile.
pub fn prune_layers(store: &Store, layout: &Layout) -> anyhow::Result<usize> {
    if !store.layers().is_dir() {
        return Ok(0);
    }
    let mut keep = HashSet::new();
    for top in layout.index()?.manifests() {
        for descriptor in layout.walk(top)? {
            if media_type::manifest_kind(descriptor.media_type().as_ref())
                != Some(media_type::ManifestKind::Image)
            {
                continue;
            }
            let manifest: ImageManifest = layout.read_json(&descriptor, "image manifest")?;
            let config: ImageConfiguration = layout.read_json(manifest.config(), "image config")?;
            keep.extend(LayerCache::layer_names(&config)?);
        }
    }
    for container in Container::all(store)? {
        keep.extend(container.record.layers);
    }
    Ok(LayerCache::open(store.layers())?.prune(&keep)?)
}

/// `hoist system prune`: stopped containers, then layers and blobs nothing uses.
pub fn system_prune(runtime: &hoist_runtime::Runtime) -> anyhow::Result<()> {
    let store = Store::locate();
    let _lock = store.lock(true)?;
    let mut containers = 0;
    for container in Container::all(&store)? {
        if container.record.exit_code.is_some() {
            let _ = runtime.delete(
                &container.record.id,
                hoist_runtime::DeleteOptions { force: true },
            );
            Container::remove_files(&container.dir)?;
            containers += 1;
        }
    }
    let layout = store.images()?;
    let freed = layout.collect_garbage()?;
    let layers = prune_layers(&store, &layout)?;
    println!(
        "Removed {containers} stopped container(s), {layers} unused layer(s), {} of unused blobs",
        human_size(freed)
    );
    Ok(())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn rmi(args: RmiArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let _lock = store.lock(true)?;
    let layout = store.images()?;
    let mut missing = Vec::new();
    for image in &args.images {
        let name = image
            .parse::<Reference>()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| image.clone());
        if layout.remove_ref(&name)? {
            println!("Untagged: {name}");
        } else {
            missing.push(name);
        }
    }
    let freed = layout.collect_garbage()?;
    let layers = prune_layers(&store, &layout)?;
    if freed > 0 || layers > 0 {
        eprintln!(
            "Freed {} of blobs and {layers} unpacked layer(s)",
            human_size(freed)
        );
    }
    if !missing.is_empty() {
        bail!(
            "no such image in hoist's store: {} (see `hoist images`)",
            missing.join(", ")
        );
    }
    Ok(())
}
