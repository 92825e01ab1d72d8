//! New images made from an image of the layout: its config changed, a layer added on top, a
//! history entry saying so (umoci's `config`, `insert` and `repack`, podman's `commit`).
//!
//! The manifest and config are edited as JSON, not through typed structs: a field hoist does
//! not know (Docker's `Healthcheck`, an annotation of a newer spec) is kept as it was.

use oci_spec::image::Descriptor;
use serde_json::{json, Map, Value};

use crate::layout::DOCUMENT_LIMIT;
use crate::{descriptor_of, Digest, Error, Layout, Result};

/// The history entry a change records.
#[derive(Debug, Clone, Default)]
pub struct HistoryNote {
    /// RFC 3339; also the config's `created`.
    pub created: String,
    pub created_by: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Record no entry (umoci's `--no-history`).
    pub skip: bool,
}

/// A layer already written to the layout, to put on top.
pub struct AddedLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

impl Layout {
    /// Writes the image manifest `base` changed: its config as `edit` leaves it, `layer` on
    /// top if given, `history` noted. Returns the new manifest's descriptor (named by no one
    /// yet).
    pub fn write_changed_image(
        &self,
        base: &Descriptor,
        edit: impl FnOnce(&mut Map<String, Value>),
        layer: Option<AddedLayer>,
        history: &HistoryNote,
    ) -> Result<Descriptor> {
        let mut manifest = self.json_object(base, "image manifest")?;
        let config_descriptor: Descriptor = manifest
            .get("config")
            .cloned()
            .and_then(|c| serde_json::from_value(c).ok())
            .ok_or_else(|| bad(self, base, "it has no config descriptor"))?;
        let mut config = self.json_object(&config_descriptor, "image config")?;
        edit(&mut config);
        if !history.skip {
            let mut entry = json!({ "created": history.created });
            let fields = [
                ("created_by", &history.created_by),
                ("author", &history.author),
                ("comment", &history.comment),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    entry[name] = json!(value);
                }
            }
            if layer.is_none() {
                entry["empty_layer"] = json!(true);
            }
            array_at(&mut config, "history").push(entry);
            config.insert("created".into(), json!(history.created));
        }
        if let Some(layer) = &layer {
            let rootfs = config
                .entry("rootfs")
                .or_insert_with(|| json!({ "type": "layers", "diff_ids": [] }));
            if let Some(rootfs) = rootfs.as_object_mut() {
                array_at(rootfs, "diff_ids").push(json!(layer.diff_id.to_string()));
            }
            array_at(&mut manifest, "layers").push(json!(layer.descriptor));
        }
        let config_bytes = serde_json::to_vec(&config).expect("JSON serialises");
        let new_config = descriptor_of(
            config_descriptor.media_type().as_ref(),
            &Digest::of(&config_bytes),
            config_bytes.len() as u64,
        );
        self.write_blob(&config_bytes, &new_config)?;
        manifest.insert("config".into(), json!(new_config));
        let manifest_bytes = serde_json::to_vec(&manifest).expect("JSON serialises");
        let descriptor = descriptor_of(
            base.media_type().as_ref(),
            &Digest::of(&manifest_bytes),
            manifest_bytes.len() as u64,
        );
        self.write_blob(&manifest_bytes, &descriptor)?;
        Ok(descriptor)
    }

    fn json_object(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<Map<String, Value>> {
        let bytes = self.read_blob(descriptor, what, DOCUMENT_LIMIT)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(bad(
                self,
                descriptor,
                &format!("its {what} is not a JSON object"),
            )),
        }
    }
}

/// The array at `key` of a JSON object, made if missing (or not an array).
pub fn array_at<'a>(object: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = object.entry(key).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("made an array above")
}

/// The object at `key` of a JSON object, made if missing (or not an object).
pub fn object_at<'a>(object: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = object.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

fn bad(layout: &Layout, descriptor: &Descriptor, reason: &str) -> Error {
    Error::BadArchive {
        path: layout.path().to_path_buf(),
        reason: format!("{}: {reason}", descriptor.digest()),
    }
}
