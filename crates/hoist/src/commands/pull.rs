use crate::output::outln;
use anyhow::anyhow;
use hoist_oci::{Platform, Reference};
use hoist_registry::PlatformChoice;

use crate::cli::{PullArgs, TransferArgs};
use crate::commands::registry;
use crate::progress::pull_progress;
use hoist_engine::Store;

pub fn pull(args: PullArgs) -> anyhow::Result<()> {
    // `docker://NAME` is skopeo's, always read as Docker Hub's for a short name; a bare name is
    // podman's, resolved through registries.conf.
    let candidates: Vec<Reference> = match args.reference.strip_prefix("docker://") {
        Some(_) => vec![args.reference.parse()?],
        None => hoist_engine::RegistriesConf::load()?.candidates(&args.reference)?,
    };
    let mut last_failure = None;
    for reference in candidates {
        match pull_one(&args, &reference) {
            Ok(()) => {
                hoist_engine::RegistriesConf::remember_choice(&reference);
                return Ok(());
            }
            Err(failure) => last_failure = Some(failure),
        }
    }
    Err(last_failure.expect("a name has at least one candidate"))
}

fn pull_one(args: &PullArgs, reference: &Reference) -> anyhow::Result<()> {
    let reference = reference.clone();
    let platforms = if args.all_platforms {
        PlatformChoice::All
    } else {
        PlatformChoice::One(platform(&args.registry.transfer)?)
    };
    let options = registry::options(&args.registry, args.jobs)?;
    let quiet = args.quiet || args.wants_json();
    let hoist_engine::PulledTo {
        pulled,
        destination,
    } = hoist_engine::pull_image(
        &Store::locate(),
        &reference,
        args.dest.as_deref(),
        &platforms,
        &options,
        pull_progress(quiet),
    )?;
    if args.wants_json() {
        let summary = serde_json::json!({
            "reference": reference.to_string(),
            "destination": destination,
            "digest": pulled.digest.to_string(),
            "mediaType": pulled.manifest.media_type().to_string(),
            "blobsFetched": pulled.blobs_fetched,
        });
        outln!("{summary}");
        return Ok(());
    }
    if !args.quiet {
        eprintln!("Pulled {reference} into {destination}");
    }
    outln!("{}", pulled.digest);
    Ok(())
}

/// `--platform`, or this host's.
pub fn platform(args: &TransferArgs) -> anyhow::Result<Platform> {
    match &args.platform {
        Some(p) => p.parse::<Platform>().map_err(|e| anyhow!(e)),
        None => Ok(Platform::host()),
    }
}
