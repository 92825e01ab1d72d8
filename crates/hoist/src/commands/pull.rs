use anyhow::{anyhow, Context};
use hoist_oci::{Layout, Platform, Reference};
use hoist_registry::{Credentials, PullRequest, Pulled, RegistryOptions};

use crate::cli::{PullArgs, TlsArgs};
use crate::progress::pull_progress;
use crate::store::{split_layout_arg, Store};

pub fn pull(args: PullArgs) -> anyhow::Result<()> {
    let reference: Reference = args.reference.parse()?;
    let (layout, ref_name, destination) = match &args.dest {
        Some(dest) => {
            let rest = dest
                .strip_prefix("oci:")
                .ok_or_else(|| anyhow!("--dest {dest:?} is not supported: use oci:DIR[:TAG]"))?;
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
            let layout = Store::locate().images()?;
            (layout, reference.to_string(), "hoist's store".to_string())
        }
    };
    let pulled = pull_into(
        &reference, &layout, &ref_name, &args.tls, args.jobs, args.quiet,
    )?;
    if !args.quiet {
        eprintln!("Pulled {reference} into {destination}");
    }
    println!("{}", pulled.digest);
    Ok(())
}

/// Pulls on an async runtime that is shut down before returning, so that a caller about to
/// clone a container's init is single-threaded again.
pub fn pull_into(
    reference: &Reference,
    layout: &Layout,
    ref_name: &str,
    tls: &TlsArgs,
    jobs: usize,
    quiet: bool,
) -> anyhow::Result<Pulled> {
    let platform = match &tls.platform {
        Some(p) => p.parse::<Platform>().map_err(|e| anyhow!(e))?,
        None => Platform::host(),
    };
    let credentials = tls
        .creds
        .as_deref()
        .map(|c| {
            let (username, password) = c
                .split_once(':')
                .ok_or_else(|| anyhow!("--creds must be USER:PASSWORD"))?;
            Ok::<_, anyhow::Error>(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            })
        })
        .transpose()?;
    let options = RegistryOptions {
        tls_verify: tls.tls_verify,
        credentials,
        jobs,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for the download")?;
    let request = PullRequest {
        reference,
        layout,
        ref_name,
        platform: &platform,
        options: &options,
    };
    let result = runtime.block_on(hoist_registry::pull(request, pull_progress(quiet)));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result.with_context(|| format!("pulling {reference}"))
}
