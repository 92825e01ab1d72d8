//! What skopeo does to a registry besides copying: list a repository's tags, delete an image.

use hoist_oci::{ArchiveFormat, Digest, Reference};
use hoist_registry::RegistryOptions;

use crate::{async_runtime::block_on, Error, Location, Result};

/// What `list-tags` finds: the repository, and its tags.
pub struct TagList {
    /// The repository's full name; none for a docker-archive (skopeo prints none).
    pub repository: Option<String>,
    /// Its tags; for a docker-archive, the names of its images, as skopeo lists them.
    pub tags: Vec<String>,
}

/// The tags of the repository `location` names (`docker://REPO`, or a bare name), or the
/// names of a docker-archive's images (`docker-archive:FILE`), as skopeo's `list-tags`.
pub fn list_tags(location: &Location, registry: &RegistryOptions) -> Result<TagList> {
    if let Location::Archive {
        file,
        format: ArchiveFormat::Docker,
        ..
    } = location
    {
        return Ok(TagList {
            repository: None,
            tags: hoist_oci::docker_archive_names(file)?,
        });
    }
    let reference = in_registry(location, "list-tags")?;
    crate::RegistriesConf::refuse_blocked(reference)?;
    let tags = block_on(hoist_registry::list_tags(reference, registry))?.map_err(|source| {
        Error::Registry {
            what: format!("listing the tags of {}", reference.name()),
            source,
        }
    })?;
    Ok(TagList {
        repository: Some(reference.name()),
        tags,
    })
}

/// Deletes the image `location` names from its registry; returns the digest it had. Only
/// `docker://REF` is taken: a bare name could mean hoist's store (that is `hoist rmi`).
pub fn delete_image(location: &Location, registry: &RegistryOptions) -> Result<Digest> {
    let Location::Registry(reference) = location else {
        return Err(Error::NeedsRegistry {
            verb: "delete",
            given: location.to_string(),
        });
    };
    block_on(hoist_registry::delete(reference, registry))?.map_err(|source| Error::Registry {
        what: format!("deleting {reference}"),
        source,
    })
}

fn in_registry<'a>(location: &'a Location, verb: &'static str) -> Result<&'a Reference> {
    match location {
        Location::Registry(reference) | Location::Store(reference) => Ok(reference),
        other => Err(Error::NeedsRegistry {
            verb,
            given: other.to_string(),
        }),
    }
}
