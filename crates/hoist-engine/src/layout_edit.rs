//! umoci's verbs on an image layout: `repack` a bundle, edit an image's `config`, `insert`
//! files, `tag`, list (`ls`) and `gc`. Each new image is written beside the old one and named
//! only when complete; the old tag stays unless the same tag is given.

use std::path::Path;

use hoist_oci::{array_at, object_at, Descriptor, Digest, HistoryNote, Layout, Platform};
use hoist_unpack::{InsertOptions, RepackOptions, Repacked};
use serde_json::{json, Map, Value};

use crate::store::split_layout_arg;
use crate::{Error, Result};

/// A layout and the image its `DIR[:TAG]` names (no tag: its only image), resolved to this
/// platform's manifest.
fn layout_image(image: &str) -> Result<(Layout, Option<String>, Descriptor)> {
    let (dir, tag) = split_layout_arg(image);
    let layout = Layout::open(&dir)?;
    let top = layout.resolve(tag.as_deref())?;
    let manifest = layout.choose_image(&top, &Platform::host())?;
    Ok((layout, tag, manifest))
}

/// Now, as image configs write times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `repack --image DIR:TAG BUNDLE`: the bundle's changes as a new layer, tagged TAG.
pub fn repack_bundle(image: &str, bundle: &Path, mut options: RepackOptions) -> Result<Repacked> {
    let (dir, tag) = split_layout_arg(image);
    options.tag = tag.ok_or_else(|| Error::NoNewTag(image.to_string()))?;
    let layout = Layout::open(&dir)?;
    hoist_unpack::repack(&layout, bundle, &options).map_err(|source| Error::Repacking {
        bundle: bundle.to_path_buf(),
        source: Box::new(source),
    })
}

/// `insert --image DIR[:TAG] [--tag NEW] SOURCE TARGET` (no source: a whiteout at TARGET).
pub fn insert_files(
    image: &str,
    new_tag: Option<&str>,
    source: Option<&Path>,
    target: &Path,
    options: &InsertOptions,
) -> Result<Digest> {
    let (layout, tag, manifest) = layout_image(image)?;
    let made =
        hoist_unpack::insert(&layout, &manifest, source, target, options).map_err(|source| {
            Error::Repacking {
                bundle: target.to_path_buf(),
                source: Box::new(source),
            }
        })?;
    name_new_image(&layout, image, new_tag.map(str::to_string).or(tag), &made)
}

/// What `config` changes (umoci's `--config.*` and friends).
#[derive(Debug, Default, Clone)]
pub struct ConfigEdit {
    pub user: Option<String>,
    /// `KEY=VALUE`, each replacing the variable of that name.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    /// `KEY=VALUE`.
    pub labels: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    /// Fields emptied before the rest is applied: `config.labels`, `config.env`,
    /// `config.entrypoint`, `config.cmd`, `config.exposedports`, `config.volume`.
    pub clear: Vec<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub author: Option<String>,
}

const CLEARABLE: &[(&str, &str)] = &[
    ("config.labels", "Labels"),
    ("config.env", "Env"),
    ("config.entrypoint", "Entrypoint"),
    ("config.cmd", "Cmd"),
    ("config.exposedports", "ExposedPorts"),
    ("config.volume", "Volumes"),
];

/// `config --image DIR[:TAG] [--tag NEW] ...`: a new config, tagged NEW (or TAG again).
pub fn edit_config(
    image: &str,
    new_tag: Option<&str>,
    edit: &ConfigEdit,
    history: &HistoryNote,
) -> Result<Digest> {
    for field in &edit.clear {
        if !CLEARABLE.iter().any(|(name, _)| name == field) {
            return Err(Error::UnknownConfigField {
                field: field.clone(),
                known: CLEARABLE
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    for pair in edit.env.iter().chain(&edit.labels) {
        if !pair.contains('=') {
            return Err(Error::NotKeyValue(pair.clone()));
        }
    }
    let (layout, tag, manifest) = layout_image(image)?;
    let made =
        layout.write_changed_image(&manifest, |config| apply(edit, config), None, history)?;
    name_new_image(&layout, image, new_tag.map(str::to_string).or(tag), &made)
}

pub(crate) fn apply(edit: &ConfigEdit, config: &mut Map<String, Value>) {
    for (name, value) in [
        ("os", &edit.os),
        ("architecture", &edit.architecture),
        ("author", &edit.author),
    ] {
        if let Some(value) = value {
            config.insert(name.into(), json!(value));
        }
    }
    let inner = object_at(config, "config");
    for field in &edit.clear {
        if let Some((_, key)) = CLEARABLE.iter().find(|(name, _)| name == field) {
            inner.remove(*key);
        }
    }
    let strings = |key: &str, value: &Option<String>, inner: &mut Map<String, Value>| {
        if let Some(value) = value {
            inner.insert(key.into(), json!(value));
        }
    };
    strings("User", &edit.user, inner);
    strings("WorkingDir", &edit.working_dir, inner);
    strings("StopSignal", &edit.stop_signal, inner);
    if let Some(entrypoint) = &edit.entrypoint {
        inner.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(cmd) = &edit.cmd {
        inner.insert("Cmd".into(), json!(cmd));
    }
    for variable in &edit.env {
        let name = variable.split('=').next().unwrap_or_default();
        let env = array_at(inner, "Env");
        // In its place if it was set (as umoci does), else at the end.
        match env
            .iter_mut()
            .find(|v| v.as_str().and_then(|v| v.split('=').next()) == Some(name))
        {
            Some(slot) => *slot = json!(variable),
            None => env.push(json!(variable)),
        }
    }
    for label in &edit.labels {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        object_at(inner, "Labels").insert(key.into(), json!(value));
    }
    for port in &edit.exposed_ports {
        object_at(inner, "ExposedPorts").insert(port.clone(), json!({}));
    }
    for volume in &edit.volumes {
        object_at(inner, "Volumes").insert(volume.clone(), json!({}));
    }
}

/// Names the new image: by the tag asked for, which is required when the layout's image was
/// named by none (it would otherwise be unreachable, and gone at the next gc).
fn name_new_image(
    layout: &Layout,
    image: &str,
    tag: Option<String>,
    made: &Descriptor,
) -> Result<Digest> {
    let tag = tag.ok_or_else(|| Error::NoNewTag(image.to_string()))?;
    layout.set_ref(&tag, made)?;
    Ok(hoist_oci::descriptor_digest(made)?)
}

/// `tag --image DIR[:TAG] NEW`: another name for the same image.
pub fn tag_in_layout(image: &str, new_tag: &str) -> Result<()> {
    let (dir, tag) = split_layout_arg(image);
    let layout = Layout::open(&dir)?;
    let top = layout.resolve(tag.as_deref())?;
    layout.set_ref(new_tag, &top)?;
    Ok(())
}

/// `ls --layout DIR`: the layout's tags, sorted.
pub fn layout_tags(dir: &Path) -> Result<Vec<String>> {
    let layout = Layout::open(dir)?;
    let mut tags: Vec<String> = layout
        .index()?
        .manifests()
        .iter()
        .filter_map(|d| hoist_oci::ref_name(d).map(str::to_string))
        .collect();
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// `gc --layout DIR`: removes blobs no tag reaches; returns the bytes freed.
pub fn layout_gc(dir: &Path) -> Result<u64> {
    Ok(Layout::open(dir)?.collect_garbage()?)
}
