//! `commit CONTAINER IMAGE` (podman's): what a container changed, a new layer on its image, in
//! the store under the name given (a short name is `localhost/`'s, as podman names commits).

use hoist_oci::{Digest, HistoryNote, Platform, Reference};

use crate::layout_edit::{apply, ConfigEdit};
use crate::{Container, Driver, Error, Result, Store};

pub struct CommitRequest<'a> {
    pub container: &'a str,
    pub image: &'a str,
    pub author: Option<String>,
    pub message: Option<String>,
    /// podman's `--change` instructions (`CMD ["a", "b"]`, `ENV K=V`, `WORKDIR /srv`...).
    pub changes: &'a [String],
    /// podman's `--pause`: a running container is frozen while its changes are read, so that
    /// none is half-written in the layer, and thawed after.
    pub pause: bool,
}

pub fn commit_container(
    store: &Store,
    runtime: &hoist_runtime::Runtime,
    request: &CommitRequest,
) -> Result<Digest> {
    let container = Container::find(store, request.container)?;
    let name = &container.record.name;
    let running = runtime
        .state(name)
        .is_ok_and(|s| s.status == hoist_runtime::Status::Running);
    if !(request.pause && running) {
        return commit(store, container, request);
    }
    let name = name.clone();
    runtime.pause(&name)?;
    let made = commit(store, container, request);
    // Thawed whatever the commit did. A thaw that fails is warned of (`hoist unpause` is
    // left to do), so that an image made is still reported, and a failed commit's own error
    // is the one shown.
    if let Err(error) = runtime.resume(&name) {
        tracing::warn!(%error, container = %name, "thawing the container after the commit");
    }
    made
}

fn commit(store: &Store, container: Container, request: &CommitRequest) -> Result<Digest> {
    if container.record.driver != Driver::Overlay {
        return Err(Error::CommitNeedsOverlay(container.record.name.clone()));
    }
    // An unprivileged user's upper directory holds files of the user's (and subordinate)
    // ids: read in the storage helper's namespace, where they are the container's own ids.
    if crate::rootless::is_rootless() {
        return crate::rootless::commit(store, &container.record.name, request);
    }
    commit_here(store, container, request)
}

/// The commit itself, where the upper directory's owners are the container's ids: root's
/// store, or the storage helper's namespace.
pub(crate) fn commit_here(
    store: &Store,
    container: Container,
    request: &CommitRequest,
) -> Result<Digest> {
    let edit = parse_changes(request.changes)?;
    let name = image_name(request.image)?;
    let _lock = store.lock(false)?;
    let layout = store.images()?;
    let base = layout
        .resolve(Some(&container.record.image))
        .map_err(|source| Error::NotInStore {
            reference: container.record.image.clone(),
            source,
        })?;
    let base = layout.choose_image(&base, &Platform::host())?;
    // The name may have moved to another image since (a pull): the changes go only on the
    // layers they were made over.
    let manifest: hoist_oci::ImageManifest = layout.read_json(&base, "image manifest")?;
    let config: hoist_oci::ImageConfiguration =
        layout.read_json(manifest.config(), "image config")?;
    let layers =
        hoist_unpack::LayerCache::layer_names(&config).map_err(|source| Error::Repacking {
            bundle: container.dir.clone(),
            source: Box::new(source),
        })?;
    if layers != container.record.layers {
        return Err(Error::CommitBaseMoved {
            container: container.record.name.clone(),
            image: container.record.image.clone(),
        });
    }
    let history = HistoryNote {
        created: crate::now_rfc3339(),
        created_by: Some(format!("hoist commit {}", container.record.name)),
        author: request.author.clone(),
        comment: request.message.clone(),
        skip: false,
    };
    let upper = container.dir.join("upper");
    let made = hoist_unpack::commit_overlay_upper(
        &layout,
        &base,
        &upper,
        |config| apply(&edit, config),
        &history,
    )
    .map_err(|source| Error::Repacking {
        bundle: upper.clone(),
        source: Box::new(source),
    })?;
    layout.set_ref(&name, &made)?;
    Ok(hoist_oci::descriptor_digest(&made)?)
}

/// The image's full name: as given if it names a registry, else under `localhost/`.
fn image_name(given: &str) -> Result<String> {
    let full = match crate::registries_conf::is_short_name(given) {
        false => given.to_string(),
        true => format!("localhost/{given}"),
    };
    Ok(full.parse::<Reference>()?.to_string())
}

/// Dockerfile-like instructions, as `podman commit --change` takes them.
fn parse_changes(changes: &[String]) -> Result<ConfigEdit> {
    let mut edit = ConfigEdit::default();
    for change in changes {
        let (instruction, value) = change
            .split_once([' ', '='])
            .map(|(i, v)| (i.to_ascii_uppercase(), v.trim().to_string()))
            .ok_or_else(|| Error::BadChange(change.clone()))?;
        let command = || -> Result<Vec<String>> {
            if value.starts_with('[') {
                serde_json::from_str(&value).map_err(|_| Error::BadChange(change.clone()))
            } else {
                Ok(vec!["/bin/sh".into(), "-c".into(), value.clone()])
            }
        };
        match instruction.as_str() {
            "CMD" => edit.cmd = Some(command()?),
            "ENTRYPOINT" => edit.entrypoint = Some(command()?),
            "ENV" => edit
                .env
                .push(value.replacen(' ', "=", usize::from(!value.contains('=')))),
            "LABEL" => {
                edit.labels
                    .push(value.replacen(' ', "=", usize::from(!value.contains('='))))
            }
            "EXPOSE" => edit.exposed_ports.push(value),
            "USER" => edit.user = Some(value),
            "WORKDIR" => edit.working_dir = Some(value),
            "VOLUME" => edit.volumes.push(value),
            "STOPSIGNAL" => edit.stop_signal = Some(value),
            _ => return Err(Error::BadChange(change.clone())),
        }
    }
    Ok(edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_podman_reads_them() {
        let changes: Vec<String> = [
            "CMD [\"/bin/app\", \"--serve\"]",
            "ENTRYPOINT=/bin/sh",
            "ENV MODE=production",
            "ENV GREETING hello",
            "WORKDIR /srv",
        ]
        .map(String::from)
        .to_vec();
        let edit = parse_changes(&changes).unwrap();
        assert_eq!(edit.cmd.unwrap(), ["/bin/app", "--serve"]);
        assert_eq!(edit.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/sh"]);
        assert_eq!(edit.env, ["MODE=production", "GREETING=hello"]);
        assert_eq!(edit.working_dir.as_deref(), Some("/srv"));
        assert!(parse_changes(&["RUN rm -rf /".to_string()]).is_err());
        assert_eq!(image_name("app").unwrap(), "localhost/app:latest");
        assert_eq!(
            image_name("quay.io/team/app:2").unwrap(),
            "quay.io/team/app:2"
        );
    }
}
