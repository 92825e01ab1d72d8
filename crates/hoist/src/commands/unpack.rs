use anyhow::anyhow;
use hoist_oci::Platform;
use hoist_unpack::{IdMap, LabelPolicy, UnpackOptions};

use crate::cli::UnpackArgs;
use crate::progress::{pull_progress, unpack_progress};
use hoist_engine::Store;

pub fn unpack(args: UnpackArgs) -> anyhow::Result<()> {
    let mut options = UnpackOptions {
        max_size: args.max_size,
        progress: match args.quiet {
            true => hoist_unpack::Progress::default(),
            false => unpack_progress(),
        },
        ..UnpackOptions::default()
    };
    if let Some(platform) = &args.registry.transfer.platform {
        options.platform = platform.parse::<Platform>().map_err(|e| anyhow!(e))?;
    }
    options.rootless |= args.rootless;
    options.uid_map = IdMap(args.uid_map);
    options.gid_map = IdMap(args.gid_map);
    if args.runtime_labels {
        options.labels = LabelPolicy::All;
    }
    let unpacked = hoist_engine::unpack_image(
        &Store::locate(),
        &args.image,
        &args.bundle,
        &options,
        &crate::commands::registry::options(&args.registry, 6)?,
        pull_progress(args.quiet),
    )?;
    if !args.quiet {
        eprintln!(
            "Unpacked {} ({} layers) into {}",
            unpacked.manifest,
            unpacked.layers,
            unpacked.bundle.display()
        );
    }
    for device in &unpacked.skipped_devices {
        eprintln!(
            "Skipped device node {} ({} {}:{}): an unprivileged unpack cannot create it",
            device.path.display(),
            device.kind,
            device.major,
            device.minor
        );
    }
    Ok(())
}
