//! podman's `create IMAGE`, `start NAME` and `restart NAME`: a container made now and started
//! later, or started again after it ended, under a monitor as `run -d` starts one.

use std::time::{Duration, Instant};

use hoist_runtime::{DeleteOptions, Runtime};
use hoist_unpack::LayerCache;

use crate::keeper::{abandoned, Keeper, Starting};
use crate::run::{create_container, ImageSource, RunOptions};
use crate::{Activity, Container, Driver, Error, Result, Store};

/// `hoist create`: the container made as `run` makes it, left for `hoist start`.
pub fn create(
    runtime: &Runtime,
    store: &Store,
    source: ImageSource,
    command: &[String],
    options: &RunOptions,
) -> Result<Container> {
    let mut container = create_container(runtime, store, source, command, options)?;
    // Its networks are joined at each start (as podman does): until then, none of its rules
    // (a published port's above all) takes traffic.
    container.release_network(store);
    container.record.networks.clear();
    container.record.unstarted = true;
    container.save()?;
    // Mounted when it starts, as podman does: a host with many created containers keeps no
    // mount of each, which every new mount namespace (each container's) would copy.
    if container.record.driver == Driver::Overlay && !crate::rootless::is_rootless() {
        hoist_unpack::unmount_rootfs(&container.dir)?;
    }
    Ok(container)
}

/// `hoist start`: starts a created or ended container under its monitor (a running one is
/// left as it is). Returns it as started.
pub fn start(runtime: &Runtime, store: &Store, reference: &str) -> Result<Container> {
    let found = Container::find(store, reference)?;
    let _turn = Starting::take(&found.dir)?;
    let kept = kept_running(store, &found)?;
    // Held from here until its monitor holds it: no prune removes it meanwhile.
    let keeper = Keeper::hold(&found.dir)?;
    let mut container = Container::open(store, &found.record.name)?;
    if kept || Activity::of(runtime, &container).alive() {
        return Ok(container);
    }
    let name = container.record.name.clone();
    // What the runtime kept of an earlier run.
    let _ = runtime.delete(&name, DeleteOptions { force: true });
    // An unprivileged user's overlay is mounted by the runtime, in the container.
    if container.record.driver == Driver::Overlay && !crate::rootless::is_rootless() {
        let _lock = store.lock(false)?;
        LayerCache::open(store.layers())?.remount(&container.record.layers, &container.dir)?;
    }
    if !container.record.joins.is_empty() && container.record.networks.is_empty() {
        let attached = crate::networking::join(
            store,
            &name,
            &container.record.joins,
            &container.record.ports,
        )?;
        let hostname = std::fs::read_to_string(container.dir.join("hosts"))
            .ok()
            .and_then(|hosts| hosts.lines().nth(2)?.split('\t').nth(1).map(str::to_string))
            .unwrap_or_else(|| container.record.id.chars().take(12).collect());
        container.record.networks = attached;
        let written = crate::networking::name_files_on_networks(
            store,
            &container.dir,
            &name,
            &hostname,
            &container.record.networks,
            &container.record.names,
        );
        if let Err(error) = written {
            container.release_network(store);
            return Err(error);
        }
    }
    let prepared = (|| {
        crate::network_sharing::join_network_again(runtime, &container)?;
        let marker = container.dir.join(crate::monitor::STOP_REQUESTED);
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("removing", &marker)(e))
            }
            _ => {}
        }
        container.record.exit_code = None;
        container.record.finished = None;
        container.record.error = None;
        container.record.unstarted = false;
        // A start by hand begins the restart policy's count anew, as podman's does.
        container.record.restarts = 0;
        container.save()
    })();
    if let Err(error) = prepared {
        // Until its monitor runs, its places on its networks are this process's to undo.
        container.release_network(store);
        return Err(error);
    }
    crate::launch(runtime, store, &container)?;
    drop(keeper);
    Ok(container)
}

/// Whether a monitor (waiting to restart it, say) or a foreground run keeps the container
/// running. One that has recorded the end is let go of in a moment: waited for.
fn kept_running(store: &Store, found: &Container) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kept = abandoned(&found.dir).is_none();
        let ended = Container::open(store, &found.record.name)?
            .record
            .exit_code
            .is_some();
        if !(kept && ended) || Instant::now() > deadline {
            return Ok(kept && !ended);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `hoist restart`: stops the container if it runs (as `stop` does), then starts it.
pub fn restart(
    runtime: &Runtime,
    store: &Store,
    reference: &str,
    grace: Option<Duration>,
) -> Result<Container> {
    crate::stop(runtime, store, reference, grace)?;
    start(runtime, store, reference)
}
