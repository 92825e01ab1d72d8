//! Names of an archive's entries, as the archive readers take them.

use std::path::{Component, Path};

/// An entry's name as plain components (`.` dropped); `None` if any would leave the archive.
pub(crate) fn archive_path(name: &Path) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts)
}
