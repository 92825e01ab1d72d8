use anyhow::{anyhow, Context};
use hoist_oci::{Layout, Platform, Reference};
use hoist_registry::PlatformChoice;

use crate::cli::{PullArgs, TransferArgs};
use crate::commands::registry;
use crate::progress::pull_progress;
use hoist_engine::{split_layout_arg, Store};

pub fn pull(args: PullArgs) -> anyhow::Result<()> {
    let reference: Reference = args.reference.parse()?;
    let store = Store::locate();
    let mut _store_lock = None;
    let (layout, ref_name, destination) = match &args.dest {
        Some(dest) => {
            let rest = dest
                .strip_prefix("oci:")
                .ok_or_else(|| anyhow!("--dest {dest:?} is not supported: use oci:DIR[:TAG], or `hoist copy` for other destinations"))?;
            let (dir, tag) = split_layout_arg(rest);
            let tag = tag.or_else(|| reference.tag().map(str::to_string)).ok_or_else(|| {
                anyhow!("{reference} has no tag to name it by in the layout: give one, as --dest oci:{}:TAG", dir.display())
            })?;
            let layout = Layout::create(&dir)
                .with_context(|| format!("creating the layout {}", dir.display()))?;
            let destination = format!("oci:{}:{tag}", dir.display());
            (layout, tag, destination)
        }
        None => {
            _store_lock = Some(store.lock(false)?);
            let layout = store.images()?;
            (layout, reference.to_string(), "hoist's store".to_string())
        }
    };
    let platforms = if args.all_platforms {
        PlatformChoice::All
    } else {
        PlatformChoice::One(platform(&args.registry.transfer)?)
    };
    let options = registry::options(&args.registry, args.jobs)?;
    let quiet = args.quiet || args.json;
    let pulled = hoist_engine::pull_into(
        &reference,
        &layout,
        &ref_name,
        &platforms,
        &options,
        pull_progress(quiet),
    )?;
    if args.json {
        let summary = serde_json::json!({
            "reference": reference.to_string(),
            "destination": destination,
            "digest": pulled.digest.to_string(),
            "mediaType": pulled.manifest.media_type().to_string(),
            "blobsFetched": pulled.blobs_fetched,
        });
        println!("{summary}");
        return Ok(());
    }
    if !args.quiet {
        eprintln!("Pulled {reference} into {destination}");
    }
    println!("{}", pulled.digest);
    Ok(())
}

/// `--platform`, or this host's.
pub fn platform(args: &TransferArgs) -> anyhow::Result<Platform> {
    match &args.platform {
        Some(p) => p.parse::<Platform>().map_err(|e| anyhow!(e)),
        None => Ok(Platform::host()),
    }
}
