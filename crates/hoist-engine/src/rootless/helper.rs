//! The storage helper. An unprivileged user's layers and containers hold files owned by the
//! user's subordinate ids, which the user can neither make, change nor remove. So hoist does
//! that work in a child of its own: the same binary, in a new user namespace mapped as the
//! user's containers are (its root the user, the rest the subordinate ids; written by
//! newuidmap and newgidmap, which check /etc/subuid and /etc/subgid) and a new mount namespace
//! for the overlays it mounts, which vanish with it. There it is root and the store's code
//! runs as it does for root. podman does this work in its `podman unshare` namespace; a child
//! per task keeps no process running between commands.
//!
//! The parent writes the task as JSON on the child's stdin once its maps are written; the child
//! answers with one JSON outcome on stdout. Its stderr is the user's.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use hoist_oci::{Descriptor, ImageConfiguration, Layout};
use hoist_unpack::{IdMap, IdRange, UnpackOptions};
use serde::{Deserialize, Serialize};

use super::ids::{linux_maps, UserIds};
use crate::{Driver, Error, Result, Store};

/// The hidden verb that runs a storage task in the user's namespace.
pub const STORAGE_HELPER_VERB: &str = "storage-helper";

/// What the helper does.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Task {
    /// `make_bundle` for the container directory `dir`, with ids as the helper sees them.
    MakeBundle {
        store: PathBuf,
        layout: PathBuf,
        image: Box<Descriptor>,
        dir: PathBuf,
        platform: String,
        uid_map: Vec<(u32, u32, u32)>,
        gid_map: Vec<(u32, u32, u32)>,
    },
    /// Removes a directory tree.
    Remove { path: PathBuf },
    /// Removes the cached layers not named in `keep`.
    PruneLayers { store: PathBuf, keep: Vec<String> },
    /// `commit` of the container `container` of the store (see `CommitRequest`).
    Commit {
        store: PathBuf,
        container: String,
        image: String,
        author: Option<String>,
        message: Option<String>,
        changes: Vec<String>,
    },
}

/// What it did.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    Bundle {
        config: Box<ImageConfiguration>,
        driver: Driver,
        layers: Vec<String>,
    },
    Removed(usize),
    /// The digest of the image a commit made.
    Committed(String),
    Failed(String),
}

/// Runs `task` in a helper in the calling user's namespace.
pub(crate) fn run(task: &Task) -> Result<Outcome> {
    let failed = |why: String| Error::StorageHelper(why);
    let (uid_maps, gid_maps) = linux_maps(&UserIds::of_caller().default_maps());
    let mut child = Command::new("/proc/self/exe")
        .arg(STORAGE_HELPER_VERB)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("starting it: {e}")))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stdin = child.stdin.take().expect("piped");
    let result = (|| {
        let mut unshared = [0u8; 1];
        stdout
            .read_exact(&mut unshared)
            .map_err(|_| failed("it could not make a user namespace (see above)".into()))?;
        let pid = child.id() as i32;
        hoist_runtime::map_user_namespace(pid, &uid_maps, &gid_maps)?;
        serde_json::to_writer(&mut stdin, task).map_err(|e| failed(e.to_string()))?;
        drop(stdin);
        let mut answer = Vec::new();
        stdout
            .read_to_end(&mut answer)
            .map_err(|e| failed(format!("reading its answer: {e}")))?;
        serde_json::from_slice(&answer)
            .map_err(|_| failed("it ended without an answer (see above)".into()))
    })();
    let _ = child.kill();
    let _ = child.wait();
    match result? {
        Outcome::Failed(message) => Err(failed(message)),
        outcome => Ok(outcome),
    }
}

/// The helper's side (`hoist storage-helper`): must run before any thread is started, since a
/// process with threads may not make a user namespace.
pub fn serve_storage_helper() -> Result<()> {
    use nix::sched::CloneFlags;
    let io = |what: &'static str| move |e: nix::Error| Error::StorageHelper(format!("{what}: {e}"));
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(io(
        "making a user namespace (are user namespaces allowed here?)",
    ))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(b"u")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::StorageHelper(e.to_string()))?;
    let mut request = Vec::new();
    std::io::stdin()
        .read_to_end(&mut request)
        .map_err(|e| Error::StorageHelper(e.to_string()))?;
    let root = nix::unistd::Uid::from_raw(0);
    let root_group = nix::unistd::Gid::from_raw(0);
    nix::unistd::setresgid(root_group, root_group, root_group).map_err(io("setresgid"))?;
    nix::unistd::setresuid(root, root, root).map_err(io("setresuid"))?;
    // Set after the id change, which clears it: a helper whose hoist was killed stops too,
    // rather than go on making what nobody will use.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| Error::StorageHelper(format!("asking to end with its parent: {e}")))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(io("making its mounts private"))?;
    let outcome = match serde_json::from_slice::<Task>(&request) {
        Ok(task) => perform(task).unwrap_or_else(|e| Outcome::Failed(crate::render_chain(&e))),
        Err(e) => Outcome::Failed(format!("a task it does not understand: {e}")),
    };
    serde_json::to_writer(&mut stdout, &outcome).map_err(|e| Error::StorageHelper(e.to_string()))
}

fn perform(task: Task) -> Result<Outcome> {
    match task {
        Task::MakeBundle {
            store,
            layout,
            image,
            dir,
            platform,
            uid_map,
            gid_map,
        } => {
            // Progress is not carried back: a rootless first run shows its pull only.
            let options = UnpackOptions {
                platform: platform
                    .parse()
                    .map_err(|e: String| Error::bad_option("--platform", e))?,
                uid_map: id_map(&uid_map),
                gid_map: id_map(&gid_map),
                ..UnpackOptions::default()
            };
            let layout = Layout::open(&layout)?;
            let (config, driver, layers) = crate::container::make_bundle_here(
                &Store::at(store),
                &layout,
                &image,
                &dir,
                &options,
            )?;
            Ok(Outcome::Bundle {
                config: Box::new(config),
                driver,
                layers,
            })
        }
        Task::Remove { path } => match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(Outcome::Removed(1)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Outcome::Removed(0)),
            Err(e) => Err(Error::io("removing", &path)(e)),
        },
        Task::PruneLayers { store, keep } => {
            let cache = hoist_unpack::LayerCache::open(Store::at(store).layers())?;
            Ok(Outcome::Removed(cache.prune(&keep.into_iter().collect())?))
        }
        Task::Commit {
            store,
            container,
            image,
            author,
            message,
            changes,
        } => {
            let store = Store::at(store);
            let request = crate::CommitRequest {
                container: &container,
                image: &image,
                author,
                message,
                changes: &changes,
                pause: false,
            };
            let container = crate::Container::find(&store, &container)?;
            let made = crate::commit::commit_here(&store, container, &request)?;
            Ok(Outcome::Committed(made.to_string()))
        }
    }
}

/// An id map as the task carries it: `(container, host, size)` ranges.
pub(crate) fn carried(map: &IdMap) -> Vec<(u32, u32, u32)> {
    map.0
        .iter()
        .map(|r| (r.container, r.host, r.size))
        .collect()
}

fn id_map(ranges: &[(u32, u32, u32)]) -> IdMap {
    IdMap(
        ranges
            .iter()
            .map(|&(container, host, size)| IdRange {
                container,
                host,
                size,
            })
            .collect(),
    )
}
