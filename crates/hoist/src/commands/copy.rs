//! `hoist copy SRC DEST`: any transport to any other. A registry source is pulled straight
//! into a layout destination, or else into a temporary layout; every other destination is
//! filled from a layout, every blob verified on the way.

use anyhow::{anyhow, Context};
use hoist_oci::{Descriptor, Layout};
use hoist_registry::{Credentials, PlatformChoice, RegistryOptions};

use crate::cli::CopyArgs;
use crate::commands::{pull, registry};
use crate::progress::pull_progress;
use crate::store::Store;
use crate::transport::{LocalImage, Location};

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let source = Location::parse(&args.source)?;
    let destination = Location::parse(&args.destination)?;
    let base = registry::options(&args.registry, args.jobs)?;
    let source_options = with_creds(&base, args.src_creds.as_deref())?;
    let destination_options = with_creds(&base, args.dest_creds.as_deref())?;
    let platforms = if args.all_platforms {
        PlatformChoice::All
    } else {
        PlatformChoice::One(pull::platform(&args.registry)?)
    };
    let tag = destination
        .tag()
        .or_else(|| source.tag())
        .unwrap_or_else(|| "latest".to_string());
    let store = Store::locate();
    let _store_lock = store.lock(false)?;

    // The source, as a layout and the descriptor to copy.
    let staging = tempfile::Builder::new()
        .prefix("hoist-copy-")
        .tempdir()
        .context("making a staging directory")?;
    let local;
    let (layout, top): (Layout, Descriptor) = match &source {
        Location::Registry(reference) => {
            // Pulled straight into a layout destination: nothing is staged, or copied twice.
            let (layout, name) = match &destination {
                Location::Layout { dir, .. } => (Layout::create(dir)?, tag.clone()),
                _ => (Layout::create(staging.path())?, "staged".to_string()),
            };
            let pulled = pull::pull_into(
                reference,
                &layout,
                &name,
                &platforms,
                &source_options,
                args.quiet,
            )?;
            if matches!(destination, Location::Layout { .. }) {
                report(args.quiet, &source, &destination);
                println!("{}", pulled.digest);
                return Ok(());
            }
            (layout, pulled.manifest)
        }
        _ => {
            local = LocalImage::open(&source, &store)?;
            let top = match &platforms {
                PlatformChoice::All => local.top.clone(),
                PlatformChoice::One(platform) => local.layout.choose_image(&local.top, platform)?,
            };
            (local.layout.clone(), top)
        }
    };

    let written = (|| -> anyhow::Result<()> {
        match &destination {
            Location::Layout { dir, .. } => {
                Layout::create(dir)?.copy_image_from(&layout, &top, &tag)?;
            }
            Location::Store(reference) => {
                store
                    .images()?
                    .copy_image_from(&layout, &top, &reference.to_string())?;
            }
            Location::Archive { file, .. } => {
                let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
                let building = tempfile::Builder::new()
                    .prefix(".hoist-archive-")
                    .tempdir_in(dir.unwrap_or(std::path::Path::new(".")))
                    .context("making a directory to build the archive in")?;
                let archive_layout = Layout::create(building.path())?;
                archive_layout.copy_image_from(&layout, &top, &tag)?;
                hoist_oci::write_archive(&archive_layout, file)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            Location::Registry(reference) => {
                let events = pull_progress(args.quiet);
                registry::block_on(hoist_registry::push(
                    &layout,
                    &top,
                    reference,
                    &destination_options,
                    events,
                ))?
                .with_context(|| format!("pushing to {reference}"))?;
            }
        }
        Ok(())
    })();
    written.with_context(|| format!("copying {source} to {destination}"))?;
    report(args.quiet, &source, &destination);
    println!("{}", top.digest());
    Ok(())
}

fn report(quiet: bool, source: &Location, destination: &Location) {
    if !quiet {
        eprintln!("Copied {source} to {destination}");
    }
}

fn with_creds(base: &RegistryOptions, creds: Option<&str>) -> anyhow::Result<RegistryOptions> {
    let mut options = base.clone();
    if let Some(creds) = creds {
        let (username, password) = creds
            .split_once(':')
            .ok_or_else(|| anyhow!("credentials must be USER:PASSWORD"))?;
        options.credentials = Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    Ok(options)
}
