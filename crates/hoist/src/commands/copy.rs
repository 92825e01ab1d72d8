//! `hoist copy SRC DEST`: any transport to any other (the work is `hoist_engine::copy_image`);
//! here, each end's registry flags.

use crate::output::outln;
use std::path::PathBuf;

use anyhow::anyhow;
use hoist_engine::{CopyRequest, Location, Store};
use hoist_registry::{Credentials, PlatformChoice, RegistryOptions};

use crate::cli::CopyArgs;
use crate::commands::{pull, registry};
use crate::progress::pull_progress;

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let source = Location::parse(&args.source)?;
    let destination = Location::parse(&args.destination)?;
    let shared = registry::transfer_options(&args.transfer, args.jobs);
    let source_registry = End {
        tls_verify: args.src_tls_verify,
        cert_dir: args.src_cert_dir.as_ref(),
        creds: args.src_creds.as_deref(),
        authfile: args.src_authfile.as_ref().or(args.authfile.as_ref()),
    }
    .options(&shared)?;
    let destination_registry = End {
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
