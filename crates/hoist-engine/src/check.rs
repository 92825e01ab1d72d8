//! `hoist system check`: the store verified against itself. Every blob's content against its
//! digest, every image's graph against the blobs present, every layer-cache entry for its
//! completion marker, every container's record against its directory, its layers, the
//! runtime and its keeper, and every address lease against a container. Read only: what it
//! finds, `system prune` (or `rmi` and a new pull) repairs.

use std::fs;
use std::path::Path;

use hoist_oci::{full_name, Digest, DigestingReader, Layout};
use hoist_runtime::Runtime;
use hoist_unpack::LayerCache;
use serde::Serialize;

use crate::keeper::abandoned;
use crate::lifecycle::has_ended;
use crate::{Container, Result, Store};

/// What was looked at, and what is wrong.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Whether blob contents were hashed (not with `--quick`).
    pub hashed: bool,
    pub images: usize,
    pub layers: usize,
    pub containers: usize,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    /// The thing at fault: `blob sha256:…`, `image NAME`, `layer CHAIN-ID`, `container ID`.
    pub object: String,
    pub problem: String,
    /// What repairs it.
    pub remedy: &'static str,
}

const PRUNE: &str = "`hoist system prune` removes it";
const REPULL: &str = "remove the images that use it (`hoist rmi`) and pull them again";

/// Checks the store; `quick` leaves blob contents unhashed.
pub fn check_store(runtime: &Runtime, store: &Store, quick: bool) -> Result<CheckReport> {
    let _lock = store.lock(false)?;
    let mut report = CheckReport {
        hashed: !quick,
        ..CheckReport::default()
    };
    let layout = store.images()?;
    check_blobs(&layout, quick, &mut report)?;
    check_images(&layout, &mut report)?;
    let cache = LayerCache::open(store.layers())?;
    check_layers(&cache, &mut report)?;
    check_containers(runtime, store, &cache, &mut report)?;
    check_leases(store, &mut report);
    for dir in runtime.abandoned_creations() {
        report.problems.push(Problem {
            object: format!("runtime state {}", dir.display()),
            problem: "left by a `create` that died".into(),
            remedy: PRUNE,
        });
    }
    Ok(report)
}

fn check_blobs(layout: &Layout, quick: bool, report: &mut CheckReport) -> Result<()> {
    let dir = layout.path().join("blobs").join(Digest::ALGORITHM);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Partial downloads belong to pulls (`system prune` removes the dead ones).
        if name.starts_with('.') {
            continue;
        }
        report.blobs += 1;
        report.blob_bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        let claimed = format!("{}:{name}", Digest::ALGORITHM);
        if claimed.parse::<Digest>().is_err() {
            report.problems.push(Problem {
                object: format!("blob file {name}"),
                problem: "its name is no digest".into(),
                remedy: "remove the file",
            });
            continue;
        }
        if quick {
            continue;
        }
        match digest_of(&entry.path()) {
            Ok(actual) if actual.to_string() == claimed => {}
            Ok(actual) => report.problems.push(Problem {
                object: format!("blob {claimed}"),
                problem: format!("its content's digest is {actual}"),
                remedy: REPULL,
            }),
            Err(error) => report.problems.push(Problem {
                object: format!("blob {claimed}"),
                problem: format!("unreadable: {error}"),
                remedy: REPULL,
            }),
        }
    }
    Ok(())
}

fn digest_of(path: &Path) -> std::io::Result<Digest> {
    let mut reader = DigestingReader::new(fs::File::open(path)?);
    std::io::copy(&mut reader, &mut std::io::sink())?;
    Ok(reader.digest())
}

/// Every image in the index: its manifests and configs readable, every blob present at its
/// size.
fn check_images(layout: &Layout, report: &mut CheckReport) -> Result<()> {
    for top in layout.index()?.manifests() {
        report.images += 1;
        let object = format!("image {}", full_name(top).unwrap_or(top.digest().as_ref()));
        let descriptors = match layout.walk(top) {
            Ok(descriptors) => descriptors,
            Err(error) => {
                report.problems.push(Problem {
                    object,
                    problem: crate::render_chain(&error),
                    remedy: REPULL,
                });
                continue;
            }
        };
        for descriptor in std::iter::once(top).chain(&descriptors) {
            let present = descriptor
                .digest()
                .to_string()
                .parse::<Digest>()
                .is_ok_and(|d| layout.has_blob(&d, descriptor.size()));
            if !present {
                report.problems.push(Problem {
                    object: object.clone(),
                    problem: format!(
                        "blob {} ({} bytes) is missing or of another size",
                        descriptor.digest(),
                        descriptor.size()
                    ),
                    remedy: REPULL,
                });
            }
        }
    }
    Ok(())
}

fn check_layers(cache: &LayerCache, report: &mut CheckReport) -> Result<()> {
    for (name, complete) in cache.entries()? {
        report.layers += 1;
        if !complete {
            report.problems.push(Problem {
                object: format!("layer {name}"),
                problem: "was never finished (no completion marker)".into(),
                remedy: "the next run that needs it unpacks it again; `hoist system prune` removes it if nothing does",
            });
        }
    }
    Ok(())
}

fn check_containers(
    runtime: &Runtime,
    store: &Store,
    cache: &LayerCache,
    report: &mut CheckReport,
) -> Result<()> {
    let Ok(entries) = fs::read_dir(store.containers()) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Being claimed: a name's directory before it is renamed to the name (`prune` removes
        // one a dead process left).
        if name.starts_with('.') {
            continue;
        }
        let object = format!("container {name}");
        if !dir.join("container.json").exists() {
            // Without a record: being made, or left by a maker that died.
            if abandoned(&dir).is_some() {
                report.problems.push(Problem {
                    object,
                    problem: "half-made by a process that died".into(),
                    remedy: PRUNE,
                });
            }
            continue;
        }
        report.containers += 1;
        let container = match Container::open(store, &name) {
            Ok(container) => container,
            Err(error) => {
                report.problems.push(Problem {
                    object,
                    problem: crate::render_chain(&error),
                    remedy: "`hoist rm` it",
                });
                continue;
            }
        };
        for layer in &container.record.layers {
            if !cache.is_complete(layer) {
                report.problems.push(Problem {
                    object: object.clone(),
                    problem: format!("rests on layer {layer}, which is not in the cache"),
                    remedy: "`hoist rm` it",
                });
            }
        }
        if container.record.exit_code.is_none()
            && !container.record.unstarted
            && has_ended(runtime, &container)
        {
            report.problems.push(Problem {
                object,
                problem: "its end was never recorded: whoever ran it died".into(),
                remedy: "`hoist rm` it, or `hoist system prune`",
            });
        }
    }
    Ok(())
}

fn check_leases(store: &Store, report: &mut CheckReport) {
    for holder in hoist_net::leaseholders(&crate::networks(store)).unwrap_or_default() {
        if !store.containers().join(&holder).exists() {
            report.problems.push(Problem {
                object: format!("address lease of {holder}"),
                problem: "held for a container that does not exist".into(),
                remedy: PRUNE,
            });
        }
    }
}
