//! `hoist inspect`: skopeo inspect's JSON for an image in a registry, a layout, an archive or
//! the store, or its raw manifest or config.

use std::io::Write;

use anyhow::Context;
use hoist_oci::{Descriptor, Digest, ImageConfiguration, ImageManifest, Reference};
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::commands::{pull, registry};
use hoist_engine::{LocalImage, Location, Store};

/// The documents inspect reports on.
struct Documents {
    name: String,
    raw: Vec<u8>,
    digest: Digest,
    manifest: Vec<u8>,
    config: Vec<u8>,
    tags: Vec<String>,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let location = Location::parse(&args.image)?;
    let platform = pull::platform(&args.registry.transfer)?;
    let store = Store::locate();
    let documents = match &location {
        Location::Registry(reference) => remote(reference, &args, &platform)?,
        Location::Store(reference)
            if store
                .images()?
                .resolve(Some(&reference.to_string()))
                .is_err() =>
        {
            remote(reference, &args, &platform)?
        }
        _ => {
            let image = LocalImage::open(&location, &store)?;
            let chosen = image.layout.choose_image(&image.top, &platform)?;
            let read = |d: &Descriptor, what| image.layout.read_blob(d, what, 8 << 20);
            let manifest = read(&chosen, "manifest")?;
            let parsed: ImageManifest = serde_json::from_slice(&manifest)?;
            Documents {
                name: location.to_string(),
                raw: read(&image.top, "manifest")?,
                digest: hoist_oci::descriptor_digest(&image.top)?,
                config: read(parsed.config(), "config")?,
                manifest,
                tags: location.tag().into_iter().collect(),
            }
        }
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&documents.raw)?;
        return Ok(());
    }
    if args.config {
        out.write_all(&documents.config)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&summary(&documents)?)?
    )?;
    Ok(())
}

fn remote(
    reference: &Reference,
    args: &InspectArgs,
    platform: &hoist_oci::Platform,
) -> anyhow::Result<Documents> {
    let options = registry::options(&args.registry, 1)?;
    let inspected = registry::block_on(hoist_registry::inspect(reference, platform, &options))?
        .with_context(|| format!("inspecting {reference}"))?;
    Ok(Documents {
        name: reference.name(),
        raw: inspected.raw,
        digest: inspected.digest,
        manifest: inspected.manifest,
        config: inspected.config,
        tags: inspected.tags,
    })
}

/// The fields `skopeo inspect` prints, from the manifest and config.
fn summary(documents: &Documents) -> anyhow::Result<Value> {
    let manifest: ImageManifest =
        serde_json::from_slice(&documents.manifest).context("the manifest")?;
    let config: ImageConfiguration =
        serde_json::from_slice(&documents.config).context("the image config")?;
    let inner = config.config().as_ref();
    let layers: Vec<Value> = manifest
        .layers()
        .iter()
        .map(|layer| {
            json!({
                "MIMEType": layer.media_type().to_string(),
                "Digest": layer.digest().to_string(),
                "Size": layer.size(),
                "Annotations": layer.annotations(),
            })
        })
        .collect();
    Ok(json!({
        "Name": documents.name,
        "Digest": documents.digest.to_string(),
        "RepoTags": documents.tags,
        "Created": config.created(),
        "Labels": inner.and_then(|c| c.labels().clone()),
        "Architecture": config.architecture().to_string(),
        "Variant": config.variant(),
        "Os": config.os().to_string(),
        "Layers": manifest.layers().iter().map(|l| l.digest().to_string()).collect::<Vec<_>>(),
        "LayersData": layers,
        "Env": inner.and_then(|c| c.env().clone()),
        "Entrypoint": inner.and_then(|c| c.entrypoint().clone()),
        "Cmd": inner.and_then(|c| c.cmd().clone()),
        "User": inner.and_then(|c| c.user().clone()),
        "WorkingDir": inner.and_then(|c| c.working_dir().clone()),
    }))
}
