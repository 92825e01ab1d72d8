//! `hoist copy SRC DEST`: any transport to any other (the work is `hoist_engine::copy_image`);
//! here, each end's registry flags.

use crate::output::outln;
use std::path::PathBuf;

use anyhow::anyhow;
use hoist_engine::{
    CopyRequest, Location, Store, SyncDestination, SyncRequest, SyncSource, Synced,
};
use hoist_registry::{Credentials, PlatformChoice, RegistryOptions};

use crate::cli::{CopyArgs, EndsArgs, SyncArgs, SyncTransport, TransferArgs};
use crate::commands::{pull, registry};
use crate::progress::pull_progress;

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let source = Location::parse(&args.source)?;
    let destination = Location::parse(&args.destination)?;
    let (source_registry, destination_registry) = ends_options(
        &args.ends,
        &registry::transfer_options(&args.transfer, args.jobs),
    )?;
    let platforms = platforms(args.all_platforms, &args.transfer)?;
    let request = CopyRequest {
        source: &source,
        destination: &destination,
        platforms,
        source_registry: &source_registry,
        destination_registry: &destination_registry,
        events: pull_progress(args.quiet),
    };
    let digest = hoist_engine::copy_image(&Store::locate(), request)?;
    report(args.quiet, &source, &destination);
    outln!("{digest}");
    Ok(())
}

/// `sync`: each image found, copied or found already there, said as it happens.
pub fn sync(args: SyncArgs) -> anyhow::Result<()> {
    let (source_registry, destination_registry) = ends_options(
        &args.ends,
        &registry::transfer_options(&args.transfer, args.jobs),
    )?;
    let request = SyncRequest {
        source: match args.src {
            SyncTransport::Docker => SyncSource::Registry(strip_docker(&args.source)),
            SyncTransport::Dir => SyncSource::Dir(PathBuf::from(&args.source)),
            SyncTransport::Yaml => SyncSource::Yaml(PathBuf::from(&args.source)),
        },
        destination: match args.dest {
            SyncTransport::Docker => SyncDestination::Registry(strip_docker(&args.destination)),
            SyncTransport::Dir => SyncDestination::Dir(PathBuf::from(&args.destination)),
            SyncTransport::Yaml => anyhow::bail!("--dest yaml: a YAML file is a source only"),
        },
        scoped: args.scoped,
        platforms: platforms(args.all, &args.transfer)?,
        source_registry: &source_registry,
        destination_registry: &destination_registry,
        events: pull_progress(args.quiet),
    };
    if args.src == SyncTransport::Dir && args.dest == SyncTransport::Dir {
        anyhow::bail!(
            "sync from a directory to a directory is not supported (as in skopeo): copy the tree"
        );
    }
    let quiet = args.quiet;
    let synced = hoist_engine::sync(&Store::locate(), &request, |outcome| {
        if !quiet {
            match outcome {
                Synced::Copied { from, to } => eprintln!("Copied {from} to {to}"),
                Synced::AlreadyThere { to, .. } => eprintln!("Skipping {to}: already there"),
            }
        }
    })?;
    if !quiet {
        eprintln!("Synced {} image(s)", synced.len());
    }
    Ok(())
}

/// skopeo's sync takes names without a transport; `docker://` is accepted all the same.
fn strip_docker(name: &str) -> String {
    name.strip_prefix("docker://").unwrap_or(name).to_string()
}

fn platforms(all: bool, transfer: &TransferArgs) -> anyhow::Result<PlatformChoice> {
    Ok(match all {
        true => PlatformChoice::All,
        false => PlatformChoice::One(pull::platform(transfer)?),
    })
}

/// The source's and the destination's registry options, each from its own flags.
fn ends_options(
    ends: &EndsArgs,
    shared: &RegistryOptions,
) -> anyhow::Result<(RegistryOptions, RegistryOptions)> {
    let source = End {
        tls_verify: ends.src_tls_verify,
        cert_dir: ends.src_cert_dir.as_ref(),
        creds: ends.src_creds.as_deref(),
        authfile: ends.src_authfile.as_ref().or(ends.authfile.as_ref()),
    };
    let destination = End {
        tls_verify: ends.dest_tls_verify,
        cert_dir: ends.dest_cert_dir.as_ref(),
        creds: ends.dest_creds.as_deref(),
        authfile: ends.dest_authfile.as_ref().or(ends.authfile.as_ref()),
    };
    Ok((source.options(shared)?, destination.options(shared)?))
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
