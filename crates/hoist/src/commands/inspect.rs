//! `hoist inspect`: skopeo inspect's JSON for an image in a registry, a layout, an archive or
//! the store, or its raw manifest or config.

use std::io::Write;

use anyhow::Context;
use hoist_engine::{fetch_documents, Documents, Location, Store};
use hoist_oci::{ImageConfiguration, ImageManifest};
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::commands::{pull, registry};

/// A container of `hoist run IMAGE` by that name or id is podman's `inspect`; anything else
/// is an image, as `skopeo inspect` has it.
pub fn inspect(runtime: &hoist_runtime::Runtime, args: InspectArgs) -> anyhow::Result<()> {
    if !args.raw && !args.config {
        if let Ok(container) = hoist_engine::Container::find(&Store::locate(), &args.image) {
            return crate::commands::containers::inspect(
                runtime,
                &container,
                args.format.as_deref(),
            );
        }
    }
    let location = Location::parse(&args.image)?;
    let platform = pull::platform(&args.registry.transfer)?;
    let registry = registry::options(&args.registry, 1)?;
    let documents = fetch_documents(&Store::locate(), &location, &platform, &registry)?;
    let mut out = crate::output::stdout();
    if args.raw || args.config {
        let document = if args.raw {
            &documents.raw
        } else {
            &documents.config
        };
        out.write_all(document)?;
        // Now, through the wrapper: a closed stdout found at exit would go unsaid.
        out.flush()?;
        return Ok(());
    }
    let summary = summary(&documents)?;
    match crate::format::Format::parse(args.format.as_deref()) {
        crate::format::Format::Template { text, .. } => {
            writeln!(out, "{}", crate::format::apply(&text, &summary)?)?
        }
        _ => writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?,
    }
    Ok(())
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
