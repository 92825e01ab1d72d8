//! `hoist inspect`: skopeo inspect's JSON for an image in a registry, a layout, an archive or
//! the store, or its raw manifest or config.

use std::io::Write;

use anyhow::Context;
use hoist_engine::{fetch_documents, Documents, Location, Store};
use hoist_oci::{ImageConfiguration, ImageManifest};
use serde_json::{json, Value};

use crate::cli::{DeleteArgs, InspectArgs, ListTagsArgs};
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
    let documents = fetch_documents(
        &Store::locate(),
        &location,
        &platform,
        &registry,
        !args.no_tags,
    )?;
    if documents.tags_refused {
        eprintln!("warning: the registry refuses to list the repository's tags; RepoTags is left empty (pass -n to not ask)");
    }
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

/// Whether `inspect` is asked skopeo's way, of an image outside the store (`docker://`,
/// `oci:`, …), rather than podman's, of a container or an image of the store.
pub fn names_a_transport(args: &InspectArgs) -> bool {
    Location::parse(&args.image).is_ok_and(|location| location.transport().is_some())
}

/// `list-tags`: skopeo's JSON (`Repository`, `Tags`; only `Tags` for a docker-archive),
/// indented as skopeo indents it.
pub fn list_tags(args: ListTagsArgs) -> anyhow::Result<()> {
    let location = Location::parse(&args.repository)?;
    let registry = registry::options(&args.registry, 1)?;
    let found = hoist_engine::list_tags(&location, &registry)?;
    let listing = match found.repository {
        Some(repository) => json!({ "Repository": repository, "Tags": found.tags }),
        None => json!({ "Tags": found.tags }),
    };
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    serde::Serialize::serialize(
        &listing,
        &mut serde_json::Serializer::with_formatter(&mut text, formatter),
    )?;
    let mut out = crate::output::stdout();
    out.write_all(&text)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `delete docker://REF`: the image's manifest, deleted from its registry.
pub fn delete_image(args: DeleteArgs) -> anyhow::Result<()> {
    let location = Location::parse(&args.id)?;
    let registry = registry::options(&args.registry, 1)?;
    hoist_engine::delete_image(&location, &registry)?;
    Ok(())
}

/// `manifest-digest FILE`: the digest of the file's bytes, as a registry names the manifest.
pub fn manifest_digest(file: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    crate::output::outln!("{}", hoist_oci::Digest::of(&bytes));
    Ok(())
}
