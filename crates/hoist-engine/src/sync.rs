//! `hoist sync`: skopeo's mirroring of repositories between a registry and directories. Each
//! image found at the source is copied to `DEST/NAME:TAG` (`DEST/HOST/PATH:TAG` with
//! `scoped`), skipping those the destination already holds with the same digest.

use std::path::{Path, PathBuf};

use hoist_oci::{Digest, ImageIndex, Platform, Reference};
use hoist_registry::{EventSink, PlatformChoice, RegistryOptions};

use crate::async_runtime::block_on;
use crate::{copy_image, CopyRequest, Error, Location, Result, Store};

/// Where images are synced from.
pub enum SyncSource {
    /// A repository (every tag) or one image in a registry: `HOST/REPO[:TAG]`.
    Registry(String),
    /// A directory tree of `dir:` images (each directory holding a manifest.json).
    Dir(PathBuf),
    /// skopeo's YAML file of registries and their images (see `sync_yaml`).
    Yaml(PathBuf),
}

/// Where they go: a registry namespace (`HOST[/PATH]`), or a directory.
pub enum SyncDestination {
    Registry(String),
    Dir(PathBuf),
}

pub struct SyncRequest<'a> {
    pub source: SyncSource,
    pub destination: SyncDestination,
    /// Keep the source's registry and full path in the destination's names.
    pub scoped: bool,
    pub platforms: PlatformChoice,
    pub source_registry: &'a RegistryOptions,
    pub destination_registry: &'a RegistryOptions,
    pub events: EventSink,
}

/// What happened to one image.
pub enum Synced {
    Copied { from: String, to: String },
    AlreadyThere { from: String, to: String },
}

/// Syncs every image of the source; stops at the first failure, having done what came before.
pub fn sync(
    store: &Store,
    request: &SyncRequest,
    mut each: impl FnMut(&Synced),
) -> Result<Vec<Synced>> {
    let images = source_images(&request.source, request.source_registry)?;
    if images.is_empty() {
        return Err(Error::NothingToSync(source_name(&request.source)));
    }
    let mut done = Vec::new();
    for SourceImage {
        location: source,
        name: suffix,
        registry,
    } in images
    {
        let source_registry = registry.as_ref().unwrap_or(request.source_registry);
        let suffix = if request.scoped {
            suffix
        } else {
            base_name(&suffix).to_string()
        };
        let destination = match &request.destination {
            SyncDestination::Registry(namespace) => {
                Location::Registry(format!("{}/{suffix}", namespace.trim_end_matches('/')).parse()?)
            }
            SyncDestination::Dir(dir) => Location::Dir(dir.join(&suffix)),
        };
        let (from, to) = (source.to_string(), destination.to_string());
        let wanted = digest_to_write(&source, &request.platforms, source_registry)?;
        let present = digest_present(&destination, request.destination_registry)?;
        let outcome = if present.is_some() && present == wanted {
            Synced::AlreadyThere { from, to }
        } else {
            copy_image(
                store,
                CopyRequest {
                    source: &source,
                    destination: &destination,
                    platforms: request.platforms.clone(),
                    source_registry,
                    destination_registry: request.destination_registry,
                    events: request.events.clone(),
                },
            )?;
            Synced::Copied { from, to }
        };
        each(&outcome);
        done.push(outcome);
    }
    Ok(done)
}

/// One image of the source.
struct SourceImage {
    location: Location,
    /// The name it is known by below the destination (before `scoped` is applied):
    /// `HOST/PATH:TAG` for a registry's, the path below the source directory for a
    /// directory's.
    name: String,
    /// How to reach its registry, where the source says so itself (a YAML file).
    registry: Option<RegistryOptions>,
}

impl SourceImage {
    fn in_registry(reference: Reference, registry: Option<RegistryOptions>) -> SourceImage {
        SourceImage {
            name: reference.to_string(),
            location: Location::Registry(reference),
            registry,
        }
    }
}

/// Each image of the source.
fn source_images(source: &SyncSource, registry: &RegistryOptions) -> Result<Vec<SourceImage>> {
    match source {
        SyncSource::Registry(repository) => {
            let reference: Reference = repository.parse()?;
            if names_one_image(repository) {
                return Ok(vec![SourceImage::in_registry(reference, None)]);
            }
            let listed = crate::list_tags(&Location::Registry(reference.clone()), registry)?;
            listed
                .tags
                .iter()
                .map(|tag| {
                    let tagged = format!("{}:{tag}", reference.name()).parse()?;
                    Ok(SourceImage::in_registry(tagged, None))
                })
                .collect()
        }
        SyncSource::Dir(base) => {
            let mut found = Vec::new();
            find_dir_images(base, base, &mut found)?;
            Ok(found)
        }
        SyncSource::Yaml(file) => Ok(crate::sync_yaml::images(file, registry)?
            .into_iter()
            .map(|image| SourceImage::in_registry(image.reference, Some(image.registry)))
            .collect()),
    }
}

/// Whether a registry source names a tag or digest (one image) rather than a repository.
fn names_one_image(source: &str) -> bool {
    source.contains('@') || base_name(source).contains(':')
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Every directory below `dir` that holds a manifest.json is an image (and holds no others).
fn find_dir_images(base: &Path, dir: &Path, found: &mut Vec<SourceImage>) -> Result<()> {
    if dir.join("manifest.json").is_file() {
        let relative = dir.strip_prefix(base).unwrap_or(dir);
        let name = match relative.as_os_str().is_empty() {
            true => base.file_name().unwrap_or(base.as_os_str()),
            false => relative.as_os_str(),
        };
        found.push(SourceImage {
            location: Location::Dir(dir.to_path_buf()),
            name: name.to_string_lossy().into_owned(),
            registry: None,
        });
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(Error::io("reading", dir))?;
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for subdir in subdirs {
        find_dir_images(base, &subdir, found)?;
    }
    Ok(())
}

fn source_name(source: &SyncSource) -> String {
    match source {
        SyncSource::Registry(name) => name.clone(),
        SyncSource::Dir(dir) | SyncSource::Yaml(dir) => dir.display().to_string(),
    }
}

/// The digest a copy of `source` writes at the top: the whole index with every platform,
/// else this platform's manifest.
fn digest_to_write(
    source: &Location,
    platforms: &PlatformChoice,
    registry: &RegistryOptions,
) -> Result<Option<Digest>> {
    let platform = match platforms {
        PlatformChoice::All => None,
        PlatformChoice::One(platform) => Some(platform),
    };
    match source {
        Location::Registry(reference) => {
            crate::RegistriesConf::refuse_blocked(reference)?;
            let host = Platform::host();
            let inspected = block_on(hoist_registry::inspect(
                reference,
                platform.unwrap_or(&host),
                registry,
                false,
            ))?
            .map_err(|source| Error::Registry {
                what: format!("looking at {reference}"),
                source,
            })?;
            Ok(Some(match platform {
                None => inspected.digest,
                Some(_) => inspected.manifest_digest,
            }))
        }
        Location::Dir(dir) => {
            let manifest = dir.join("manifest.json");
            let bytes = std::fs::read(&manifest).map_err(Error::io("reading", &manifest))?;
            let index = serde_json::from_slice::<ImageIndex>(&bytes).ok();
            let chosen = index
                .as_ref()
                .zip(platform)
                .and_then(|(index, platform)| platform.choose(index))
                .and_then(|d| d.digest().to_string().parse().ok());
            Ok(Some(chosen.unwrap_or_else(|| Digest::of(&bytes))))
        }
        _ => Ok(None),
    }
}

/// The digest the destination holds there now, if any.
fn digest_present(destination: &Location, registry: &RegistryOptions) -> Result<Option<Digest>> {
    match destination {
        Location::Registry(reference) => {
            block_on(hoist_registry::manifest_digest(reference, registry))?.map_err(|source| {
                Error::Registry {
                    what: format!("looking for {reference}"),
                    source,
                }
            })
        }
        Location::Dir(dir) => match std::fs::read(dir.join("manifest.json")) {
            Ok(bytes) => Ok(Some(Digest::of(&bytes))),
            Err(_) => Ok(None),
        },
        _ => Ok(None),
    }
}
