//! `hoist copy SRC DEST`: any transport to any other. A registry source is pulled straight
//! into a layout destination, or else into a temporary layout; every other destination is
//! filled from a layout, every blob verified on the way.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use hoist_oci::{Descriptor, Layout};
use hoist_registry::{Credentials, PlatformChoice, RegistryOptions};

use crate::cli::CopyArgs;
use crate::commands::{pull, registry};
use crate::progress::pull_progress;
use hoist_engine::{LocalImage, Location, Store};

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let source = Location::parse(&args.source)?;
    let destination = Location::parse(&args.destination)?;
    let shared = registry::transfer_options(&args.transfer, args.jobs);
    let source_options = End {
        tls_verify: args.src_tls_verify,
        cert_dir: args.src_cert_dir.as_ref(),
        creds: args.src_creds.as_deref(),
        authfile: args.src_authfile.as_ref().or(args.authfile.as_ref()),
    }
    .options(&shared)?;
    let destination_options = End {
        tls_verify: args.dest_tls_verify,
        cert_dir: args.dest_cert_dir.as_ref(),
        creds: args.dest_creds.as_deref(),
        authfile: args.dest_authfile.as_ref().or(args.authfile.as_ref()),
    }
    .options(&shared)?;
    let platforms = if args.all_platforms {
        PlatformChoice::All
    } else {
        PlatformChoice::One(pull::platform(&args.transfer)?)
    };
    let tag = destination
        .tag()
        .or_else(|| source.tag())
        .unwrap_or_else(|| "latest".to_string());
    let store = Store::locate();
    let _store_lock = store.lock(false)?;

    // The source, as a layout and the descriptor to copy.
    let staging = store.staging("copy-")?;
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

/// One end of the copy as its own flags describe it: a registry's TLS settings and
/// credentials are given for that registry alone.
struct End<'a> {
    tls_verify: bool,
    cert_dir: Option<&'a PathBuf>,
    creds: Option<&'a str>,
    authfile: Option<&'a PathBuf>,
}

impl End<'_> {
    fn options(&self, shared: &RegistryOptions) -> anyhow::Result<RegistryOptions> {
        let credentials = self
            .creds
            .map(|creds| {
                let (username, password) = creds
                    .split_once(':')
                    .ok_or_else(|| anyhow!("credentials must be USER:PASSWORD"))?;
                Ok::<_, anyhow::Error>(Credentials {
                    username: username.to_string(),
                    password: password.to_string(),
                })
            })
            .transpose()?;
        Ok(RegistryOptions {
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.cloned(),
            credentials,
            authfile: self.authfile.cloned(),
            ..shared.clone()
        })
    }
}
