//! `hoist images`, `hoist rmi` and `hoist system prune`: what the store holds, and taking it
//! out again.

use crate::output::outln;
use anyhow::bail;
use hoist_engine::Store;

use crate::cli::{ImagesArgs, RmiArgs};

pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let images = hoist_engine::list_images(&Store::locate())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&images)?);
    } else if args.quiet {
        for image in &images {
            outln!("{}", image.name);
        }
    } else {
        outln!(
            "{:<50} {:<12} {:<20} {:>10}",
            "IMAGE",
            "ID",
            "CREATED",
            "SIZE"
        );
        for image in &images {
            outln!(
                "{:<50} {:<12} {:<20} {:>10}",
                image.name,
                image.id,
                image.created.as_deref().unwrap_or("-"),
                human_size(image.size)
            );
        }
    }
    Ok(())
}

/// `hoist system prune`: stopped containers, then layers and blobs nothing uses.
pub fn system_prune(runtime: &hoist_runtime::Runtime) -> anyhow::Result<()> {
    let pruned = hoist_engine::prune_system(runtime, &Store::locate())?;
    outln!(
        "Removed {} stopped container(s), {} unused layer(s), {} of unused blobs",
        pruned.containers,
        pruned.layers,
        human_size(pruned.freed)
    );
    Ok(())
}

pub fn rmi(args: RmiArgs) -> anyhow::Result<()> {
    let removed = hoist_engine::remove_images(&Store::locate(), &args.images)?;
    for name in &removed.untagged {
        outln!("Untagged: {name}");
    }
    if removed.freed > 0 || removed.layers > 0 {
        eprintln!(
            "Freed {} of blobs and {} unpacked layer(s)",
            human_size(removed.freed),
            removed.layers
        );
    }
    if !removed.missing.is_empty() {
        bail!(
            "no such image in hoist's store: {} (see `hoist images`)",
            removed.missing.join(", ")
        );
    }
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
