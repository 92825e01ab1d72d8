//! Containers find each other by name through their `/etc/hosts`: each container's file ends
//! with a section listing the containers on its networks, rewritten (under the state lock) as
//! they come and go.
//!
//! Chosen over a resolver on the bridge (aardvark-dns's way) because there is then no daemon
//! to start, keep alive, or find dead after a crash, nothing listening on the host's bridges,
//! and a name is there the moment its container is; upstream names keep going straight to the
//! servers in the container's resolv.conf. The price is a write per neighbour when a container
//! comes or goes, and that a program caching `/etc/hosts` for its life misses later ones.

use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::{Leases, Networks};

/// The line that opens hoist's section; everything after it is rewritten.
const MARKER: &str = "# hoist: containers on the same networks";

/// Rewrites the neighbour section of every container on `changed` networks (`None`: of
/// `container` alone), from the leases.
pub fn refresh(networks: &Networks, leases: &Leases, changed: &[String], container: Option<&str>) {
    let mut containers: Vec<&str> = match container {
        Some(container) => vec![container],
        None => leases
            .members
            .iter()
            .filter(|m| changed.contains(&m.network))
            .map(|m| m.container.as_str())
            .collect(),
    };
    containers.sort();
    containers.dedup();
    for container in containers {
        let path = networks.containers_dir.join(container).join("hosts");
        if let Err(error) = rewrite(&path, &section(leases, container)) {
            tracing::warn!(%error, path = %path.display(), "updating a container's /etc/hosts");
        }
    }
}

/// The lines naming `container`'s neighbours: those sharing a network with it, by the address
/// they have there.
fn section(leases: &Leases, container: &str) -> String {
    let mut lines = String::new();
    for own in leases.of(container) {
        for other in leases.on(&own.network) {
            if other.container != container {
                lines.push_str(&format!("{}\t{}\n", other.address, other.names.join(" ")));
            }
        }
    }
    lines
}

/// Replaces the section in place: the file is bound into the container, so it must stay the
/// same inode (a rename would leave the container the old one).
fn rewrite(path: &Path, section: &str) -> std::io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        // Not written yet: the container's own refresh comes after its files are.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let kept = match text.find(MARKER) {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut new = kept.to_string();
    if !section.is_empty() {
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(MARKER);
        new.push('\n');
        new.push_str(section);
    }
    if new == text {
        return Ok(());
    }
    file.rewind()?;
    file.write_all(new.as_bytes())?;
    file.set_len(new.len() as u64)
}
