//! `hoist images`, `hoist rmi`, `hoist system prune` and `check`: what the store holds, taking
//! it out again, and verifying it.

use crate::output::outln;
use anyhow::bail;
use hoist_engine::Store;

use crate::cli::{ImagesArgs, RmiArgs, SystemCheckArgs};
use crate::format::{render, Format};

const IMAGES_HEADERS: &[(&str, &str)] = &[("ID", "IMAGE ID"), ("CreatedAt", "CREATED AT")];

pub fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let images = hoist_engine::list_images(&Store::locate())?;
    let format = match args.json {
        true => Format::Json,
        false => Format::parse(args.format.as_deref()),
    };
    if args.quiet {
        for image in &images {
            outln!("{}", image.name);
        }
    } else if format != Format::Default {
        let json: Vec<_> = images
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        let fields: Vec<_> = images.iter().map(image_fields).collect();
        crate::output::out(&render(&format, &json, &fields, "", IMAGES_HEADERS)?)?;
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

/// The fields an `images` template sees (podman's names).
fn image_fields(image: &hoist_engine::ImageSummary) -> serde_json::Value {
    // REPOSITORY:TAG, the tag after the last colon that follows the last slash.
    let (repository, tag) = match image.name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (image.name.as_str(), "<none>"),
    };
    serde_json::json!({
        "Repository": repository,
        "Tag": tag,
        "ID": image.id,
        "Id": image.id,
        "Digest": image.digest,
        "Names": [image.name],
        "Created": image.created,
        "CreatedAt": image.created,
        "Size": human_size(image.size),
    })
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

/// `hoist system check`: the report, and 1 if anything is wrong.
pub fn system_check(runtime: &hoist_runtime::Runtime, args: SystemCheckArgs) -> anyhow::Result<u8> {
    let report = hoist_engine::check_store(runtime, &Store::locate(), args.quick)?;
    match args.format.as_deref() {
        Some("json") => outln!("{}", serde_json::to_string_pretty(&report)?),
        Some(other) => bail!("--format {other}: only `json` is known"),
        None => {
            for problem in &report.problems {
                outln!(
                    "{}: {} ({})",
                    problem.object,
                    problem.problem,
                    problem.remedy
                );
            }
            outln!(
                "Checked {} blob(s) ({}{}), {} image(s), {} cached layer(s), {} container(s): {}",
                report.blobs,
                human_size(report.blob_bytes),
                if report.hashed { ", hashed" } else { "" },
                report.images,
                report.layers,
                report.containers,
                match report.problems.len() {
                    0 => "no problems".to_string(),
                    n => format!("{n} problem(s)"),
                }
            );
        }
    }
    Ok(u8::from(!report.problems.is_empty()))
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
