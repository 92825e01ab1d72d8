//! `hoist run IMAGE`: the image found (or pulled), a container made from it with podman's
//! options, and run in the foreground or handed to a monitor.

mod mounts;
mod options;
mod security;
mod spec;
mod userns;

pub use userns::{network_hook, NETWORK_HOOK_VERB};

use std::io::Read;
use std::path::PathBuf;

use hoist_oci::{Platform, Reference};
use hoist_registry::{EventSink, PlatformChoice, RegistryOptions};
use hoist_runtime::Runtime;
use hoist_unpack::UnpackOptions;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub use options::{PullPolicy, RunOptions};
pub(crate) use security::available_capabilities;
pub use security::DEFAULT_CAPABILITIES;
pub(crate) use spec::{read_env_files, set_env};

use crate::followed_pull::FollowedPull;
use crate::networking::{name_files_on_networks, published_ports};
use crate::rootless::{Maps, UserIds};
use crate::{
    make_bundle, pull_into, Container, Error, LocalImage, Location, NetworkMode, Record, Result,
    Store,
};

/// Where the image comes from, and how to pull it when it must be.
pub struct ImageSource<'a> {
    /// The image argument: a reference, or `oci:`/`oci-archive:` used where it is.
    pub image: &'a str,
    pub platform: Platform,
    pub registry: &'a RegistryOptions,
    pub events: EventSink,
}

/// Makes the container `options` ask for from the image: its bundle, network and record. On
/// failure nothing of it is left.
pub fn create_container(
    runtime: &Runtime,
    store: &Store,
    source: ImageSource,
    command: &[String],
    options: &RunOptions,
) -> Result<Container> {
    let store_lock = store.lock(false)?;
    let image = find_image(store, &source, options.pull)?;
    let id = random_id()?;
    if let Some(name) = &options.name {
        hoist_runtime::validate_id(name)?;
    }
    let rootless = crate::rootless::is_rootless();
    // An unprivileged user's cgroup2 subtree, where their containers' cgroups go.
    let delegation = rootless.then(hoist_runtime::Delegation::find);
    // containers.conf's settings where no flag gave them; its pids limit only where the
    // container's cgroup can have one.
    let conf = crate::ContainersConf::get()?;
    let pids_limit_possible = delegation
        .as_ref()
        .is_none_or(|found| found.as_ref().is_ok_and(|d| d.lacks("pids").is_none()));
    let options = &conf.run_defaults(options, pids_limit_possible);
    let network_mode = NetworkMode::parse(
        &rootless_network(rootless, &options.network)?,
        options.ip.as_deref(),
        &options.network_alias,
    )?;
    for joined in network_mode.networks() {
        crate::networks(store).get(&joined.name)?;
    }
    for mapping in &options.publish {
        hoist_net::PortMapping::parse_all(mapping)?;
    }
    let publishes = !options.publish.is_empty() || options.publish_all;
    if publishes && network_mode.networks().is_empty() && network_mode != NetworkMode::Pasta {
        return Err(Error::bad_option(
            "-p/--publish",
            "needs a network: bridge, pasta, or one made with `hoist network create`",
        ));
    }
    let log_max_size = options.log_max_size()?;
    let mut labels = options.labels()?;
    let restart = options.restart_policy()?;
    let stop_signal = options.stop_signal()?;
    let userns = userns::Userns::parse(options.userns.as_deref(), rootless)?;
    let cgroup = match &delegation {
        Some(found) => rootless_cgroup(found, options, &id)?,
        None => None,
    };
    if rootless
        && userns == userns::Userns::KeepId
        && matches!(network_mode, NetworkMode::Container(_))
    {
        return Err(Error::bad_option(
            "--userns keep-id",
            "cannot be given with --network container:NAME, whose user namespace (with the default ids) the container joins",
        ));
    }
    options.names.check()?;
    let (name, dir, keeper) = claim_name(store, options.name.as_deref())?;
    let mut attachments = Vec::new();
    let mut ports = Vec::new();
    let mut used_volumes = Vec::new();
    let prepared = (|| {
        let id_block = match userns {
            userns::Userns::Auto { size } => Some(userns::reserve(store, &dir, size)?),
            userns::Userns::Host | userns::Userns::KeepId => None,
        };
        let user_maps = match (rootless, userns) {
            (true, userns::Userns::KeepId) => Some(UserIds::of_caller().keep_id_maps()?),
            (true, _) => Some(UserIds::of_caller().default_maps()),
            (false, _) => None,
        };
        let (uid_map, gid_map) = match (id_block, &user_maps) {
            (Some(block), _) => (block.id_map(), block.id_map()),
            // The layer cache is made with the default maps; keep-id's ids need a copy.
            (None, Some(maps)) if userns == userns::Userns::KeepId => {
                (maps.uid.clone(), maps.gid.clone())
            }
            _ => Default::default(),
        };
        let unpack = UnpackOptions {
            platform: source.platform.clone(),
            uid_map,
            gid_map,
            ..UnpackOptions::default()
        };
        let (config, driver, layers) =
            make_bundle(store, &image.image.layout, &image.image.top, &dir, &unpack).map_err(
                |e| Error::Preparing {
                    image: image.name.clone(),
                    source: Box::new(e),
                },
            )?;
        let config_path = dir.join("config.json");
        let mut spec = Spec::load(&config_path).map_err(|source| Error::Config {
            path: config_path.clone(),
            source,
        })?;
        // The image's labels are the container's too, under its own (podman's rule).
        let image_labels = config.config().as_ref().and_then(|c| c.labels().clone());
        for (key, value) in image_labels.unwrap_or_default() {
            labels.entry(key).or_insert(value);
        }
        // A hoist container's name, id or prefix, or a runtime id (`network_of` says when
        // it is none of them).
        let joins_network_of = match &network_mode {
            NetworkMode::Container(other) => {
                Some(crate::runtime_id(runtime, store, other).unwrap_or_else(|_| other.into()))
            }
            _ => None,
        };
        if matches!(network_mode, NetworkMode::Networks(_) | NetworkMode::Pasta) {
            let exposed: Vec<String> = config
                .config()
                .as_ref()
                .and_then(|c| c.exposed_ports().clone())
                .unwrap_or_default();
            ports = published_ports(&options.publish, options.publish_all, &exposed)?;
        }
        let join_network = match (&joins_network_of, &network_mode) {
            (Some(other), _) => Some(crate::network_sharing::network_of(runtime, other)?),
            (None, NetworkMode::Networks(joined)) => {
                attachments = crate::networking::join(store, &name, joined, &ports)?;
                attachments.first().map(|a| a.netns.clone())
            }
            (None, _) => None,
        };
        let hostname = options
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(12).collect());
        let (mounts, volumes) = mounts::requested(store, options)?;
        used_volumes = volumes;
        let context = spec::RunContext {
            image: &config,
            command,
            id: &id,
            rootfs: &dir.join("rootfs"),
            join_network,
            network: &network_mode,
            name_files: name_files_on_networks(
                store,
                &dir,
                &name,
                &hostname,
                &attachments,
                &options.names,
            )?,
            mounts,
            defaults: conf,
        };
        spec::apply(&mut spec, options, &context)?;
        if let Some(block) = id_block {
            block.own_rootfs(&dir)?;
            block.apply(&mut spec);
            if !attachments.is_empty() {
                userns::own_network(&mut spec, store, &name)?;
            } else if joins_network_of.is_some() {
                userns::leave_joined_network_alone(&mut spec);
            }
        }
        if network_mode == NetworkMode::Pasta {
            userns::own_network(&mut spec, store, &name)?;
        }
        if let Some(maps) = &user_maps {
            rootless_namespaces(&mut spec, maps, &network_mode, driver, store, &dir, &layers)?;
            if let (Some(cgroup), Some(linux)) = (&cgroup, spec.linux_mut()) {
                linux.set_cgroups_path(Some(cgroup.clone()));
            }
            if userns == userns::Userns::KeepId && options.user.is_none() {
                keep_own_ids(&mut spec);
            }
        }
        spec.save(&config_path).map_err(|source| Error::Config {
            path: config_path.clone(),
            source,
        })?;
        let container = Container {
            dir: dir.clone(),
            keeper: None,
            record: Record {
                id: id.clone(),
                name: name.clone(),
                image: image.name.clone(),
                command: spec
                    .process()
                    .as_ref()
                    .and_then(|p| p.args().clone())
                    .unwrap_or_default(),
                created: crate::now(),
                driver,
                layers,
                detached: options.detach,
                tty: options.tty,
                remove: options.rm,
                exit_code: None,
                finished: None,
                networks: attachments.clone(),
                ports: ports.clone(),
                log_max_size,
                error: None,
                joins: network_mode.networks().to_vec(),
                pasta: network_mode == NetworkMode::Pasta,
                bridged: false,
                unstarted: false,
                volumes: used_volumes.clone(),
                restart: restart.clone(),
                restarts: 0,
                labels: labels.clone(),
                stop_signal: stop_signal.clone().or_else(|| {
                    config
                        .config()
                        .as_ref()
                        .and_then(|c| c.stop_signal().clone())
                }),
                stop_timeout: options.stop_timeout,
                joins_network_of: joins_network_of.clone(),
                names: options.names.clone(),
            },
        };
        container.save()?;
        Ok(container)
    })();
    // The container rests on its own upper directory (or copy): the image may go now.
    drop(store_lock);
    match prepared {
        Ok(container) => Ok(Container {
            keeper: Some(keeper),
            ..container
        }),
        Err(error) => {
            if !attachments.is_empty() {
                let _ = hoist_net::detach(&crate::networks(store), &name);
            }
            let _ = Container::remove_files(&dir);
            Err(error)
        }
    }
}

/// An unprivileged user's network: pasta unless asked otherwise, and never a hoist network,
/// whose bridge and firewall are root's. pasta is the unprivileged user's only (it will not
/// run as root, and root has bridges).
fn rootless_network(rootless: bool, given: &[String]) -> Result<Vec<String>> {
    if !rootless {
        if given.iter().any(|n| n == "pasta") {
            return Err(Error::bad_option(
                "--network pasta",
                "is an unprivileged user's network: root's containers take bridge (the default), a network of `hoist network create`, none, host or container:NAME",
            ));
        }
        return Ok(given.to_vec());
    }
    if given.is_empty() {
        return Ok(vec!["pasta".to_string()]);
    }
    let root_only = |n: &String| {
        !matches!(n.as_str(), "none" | "private" | "host" | "pasta") && !n.starts_with("container:")
    };
    if let Some(network) = given.iter().find(|n| root_only(n)) {
        return Err(Error::bad_option(
            format!("--network {network}"),
            "needs root: hoist's networks are bridges with firewall rules on the host; an unprivileged user's containers take pasta (the default), none, host or container:NAME",
        ));
    }
    Ok(given.to_vec())
}

/// An unprivileged user's container: a user namespace of its own with `maps`, and over cached
/// layers, its rootfs an overlay the runtime's init mounts inside it.
fn rootless_namespaces(
    spec: &mut Spec,
    maps: &Maps,
    network: &NetworkMode,
    driver: crate::Driver,
    store: &Store,
    dir: &std::path::Path,
    layers: &[String],
) -> Result<()> {
    maps.apply(spec);
    match network {
        NetworkMode::Own | NetworkMode::Pasta => userns::fit_ping_groups(spec, maps.gid_count()),
        NetworkMode::Container(_) => {
            userns::leave_joined_network_alone(spec);
            join_user_namespace_of_network(spec);
        }
        _ => userns::leave_joined_network_alone(spec),
    }
    if driver == crate::Driver::Overlay {
        let cache = hoist_unpack::LayerCache::open(store.layers())?;
        hoist_runtime::RootfsOverlay {
            lower: cache.layer_dirs(layers),
            upper: dir.join("upper"),
            work: dir.join("work"),
        }
        .annotate(spec);
    }
    Ok(())
}

/// An unprivileged user's container's cgroup, for its limits: `hoist/<id>` in the cgroup2
/// subtree delegated to the user (as rootless podman's go in the user's systemd service).
/// Limits asked for without one, or beyond the controllers it has, are refused by name, saying
/// what is missing (the runtime would only say that a cgroup file was not writable). Without
/// limits there is none, as under runc: `exec` and `start` then work from any of the user's
/// shells, while moving a process into the delegated subtree needs one inside it.
fn rootless_cgroup(
    delegation: &std::result::Result<hoist_runtime::Delegation, hoist_runtime::NoDelegation>,
    options: &RunOptions,
    id: &str,
) -> Result<Option<std::path::PathBuf>> {
    let asked = [
        ("--memory", "memory", options.memory.is_some()),
        ("--memory-swap", "memory", options.memory_swap.is_some()),
        ("--cpus", "cpu", options.cpus.is_some()),
        (
            "--pids-limit",
            "pids",
            options.pids_limit.is_some_and(|l| l > 0),
        ),
    ];
    let asked: Vec<(&str, &str)> = asked
        .iter()
        .filter(|(_, _, set)| *set)
        .map(|(flag, controller, _)| (*flag, *controller))
        .collect();
    let Some((first_flag, _)) = asked.first() else {
        return Ok(None);
    };
    let delegation = delegation.as_ref().map_err(|why| {
        Error::bad_option(
            *first_flag,
            format!("needs a cgroup, and an unprivileged user's containers get one only in a cgroup v2 subtree delegated to them: {why}; run as root or without limits"),
        )
    })?;
    for (flag, controller) in asked {
        if let Some(why) = delegation.lacks(controller) {
            return Err(Error::bad_option(
                flag,
                format!(
                    "needs the {controller} controller below your delegated cgroup {}: {why}",
                    delegation.cgroup.display()
                ),
            ));
        }
    }
    Ok(Some(delegation.container_cgroup(id)))
}

/// `--network container:NAME` without root: the other container's network namespace belongs to
/// its user namespace, which only its own processes are privileged in, so the container joins
/// that user namespace too (as rootless podman's do); both have the user's default maps.
fn join_user_namespace_of_network(spec: &mut Spec) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    let network = namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone());
    let Some(network) = network else { return };
    for namespace in namespaces.iter_mut() {
        if namespace.typ() == LinuxNamespaceType::User {
            namespace.set_path(Some(network.with_file_name("user")));
        }
    }
    linux.set_namespaces(Some(namespaces));
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    spec.set_linux(Some(linux));
}

/// `--userns keep-id` without `--user`: the program runs as the caller's own uid and gid.
fn keep_own_ids(spec: &mut Spec) {
    let mut process = spec.process().clone().unwrap_or_default();
    let mut user = process.user().clone();
    user.set_uid(nix::unistd::getuid().as_raw());
    user.set_gid(nix::unistd::getgid().as_raw());
    user.set_additional_gids(None);
    process.set_user(user);
    spec.set_process(Some(process));
}

/// Claims the container's name: the one given, or a generated one that is free.
fn claim_name(
    store: &Store,
    given: Option<&str>,
) -> Result<(String, PathBuf, crate::keeper::Keeper)> {
    if let Some(name) = given {
        let (dir, keeper) = Container::claim(store, name)?;
        return Ok((name.to_string(), dir, keeper));
    }
    let mut attempts = 0;
    loop {
        let name = crate::names::generate();
        match Container::claim(store, &name) {
            Err(Error::NameInUse(_)) if attempts < 100 => attempts += 1,
            claimed => return claimed.map(|(dir, keeper)| (name, dir, keeper)),
        }
    }
}

/// Runs a container made by `create_container` without a terminal in the foreground, to its
/// end (one with a terminal goes through [`crate::run_in_terminal`]). Without `-i` the
/// container reads nothing, as under podman.
pub fn run_attached(
    runtime: &Runtime,
    store: &Store,
    container: Container,
    options: &RunOptions,
) -> Result<hoist_runtime::Exited> {
    if !options.interactive && !options.tty {
        let null = std::fs::File::open("/dev/null").map_err(Error::io("opening", "/dev/null"))?;
        nix::unistd::dup2_stdin(&null)
            .map_err(|e| Error::io("making the container's stdin", "/dev/null")(e.into()))?;
    }
    // Its output is kept in its log too, for `hoist logs` after.
    let relay =
        crate::log_relay::Relay::start(&container.log_path(), container.record.log_max_size, true)?;
    crate::monitor::run_to_exit(runtime, store, container, Some(relay), None)
}

/// An image to make a container from.
struct FoundImage {
    /// Held while the container is made: an archive's extracted layout goes with it.
    image: LocalImage,
    /// How the container's record names it.
    name: String,
}

/// A layout, archive or `dir:` image named directly is used where it is; anything else is the
/// store's, pulled first as the policy says (a short name resolved as registries.conf says).
fn find_image(store: &Store, source: &ImageSource, policy: PullPolicy) -> Result<FoundImage> {
    let location = Location::parse(source.image)?;
    if let Location::Layout { .. } | Location::Archive { .. } | Location::Dir(_) = location {
        return Ok(FoundImage {
            image: LocalImage::open(&location, store)?,
            name: location.to_string(),
        });
    }
    let layout = store.images()?;
    // The name as typed first (Docker Hub's for a short name, as the store has always kept
    // it), then what registries.conf makes of a short name.
    let typed: Reference = source.image.parse()?;
    if policy != PullPolicy::Always {
        if let Ok(manifest) = layout.resolve(Some(&typed.to_string())) {
            return Ok(FoundImage {
                image: LocalImage::in_layout(layout, manifest),
                name: typed.to_string(),
            });
        }
    }
    let in_store = |reference: &Reference| {
        policy != PullPolicy::Always && layout.resolve(Some(&reference.to_string())).is_ok()
    };
    let candidates =
        crate::RegistriesConf::load()?.candidates_preferring(source.image, &in_store)?;
    let mut failure = None;
    for reference in candidates {
        let name = reference.to_string();
        match (policy, layout.resolve(Some(&name))) {
            (PullPolicy::Missing | PullPolicy::Never, Ok(manifest)) => {
                return Ok(FoundImage {
                    image: LocalImage::in_layout(layout, manifest),
                    name,
                })
            }
            (PullPolicy::Never, Err(_)) => {
                failure = Some(Error::PullForbidden(name));
                continue;
            }
            _ => {}
        }
        match pull_candidate(store, &layout, source, &reference) {
            Ok(manifest) => {
                crate::RegistriesConf::remember_choice(&reference);
                return Ok(FoundImage {
                    image: LocalImage::in_layout(layout, manifest),
                    name,
                });
            }
            Err(error) => failure = Some(error),
        }
    }
    Err(failure.expect("a name has at least one candidate"))
}

/// Pulls one candidate into the store; returns its manifest there.
fn pull_candidate(
    store: &Store,
    layout: &hoist_oci::Layout,
    source: &ImageSource,
    reference: &Reference,
) -> Result<hoist_oci::Descriptor> {
    let name = reference.to_string();
    let vetted = crate::policy::vet(reference, source.registry)?;
    // Where this process keeps a layer cache (root, with overlayfs), the layers go into it
    // while they download; make_bundle's `prepare` finds them there.
    let cache = match hoist_unpack::overlay_supported() && !crate::rootless::is_rootless() {
        true => hoist_unpack::LayerCache::open(store.layers()).ok(),
        false => None,
    };
    let pulled = match cache {
        None => pull_into(
            &vetted,
            layout,
            &name,
            &PlatformChoice::One(source.platform.clone()),
            source.registry,
            source.events.clone(),
        ),
        Some(cache) => {
            let unpack = UnpackOptions {
                platform: source.platform.clone(),
                ..UnpackOptions::default()
            };
            let pull = FollowedPull {
                vetted: &vetted,
                layout,
                ref_name: &name,
                platform: &source.platform,
                registry: source.registry,
                events: source.events.clone(),
            };
            pull.run(|chosen| {
                let warmed = cache.warm(chosen.layout, chosen.feeds, chosen.manifest, &unpack);
                if let Err(error) = warmed {
                    tracing::debug!(%error, "unpacking while pulling stopped; unpacking after");
                }
            })
            .0
        }
    };
    pulled?;
    Ok(layout.resolve(Some(&name))?)
}

/// A 64-hex-digit id, like podman's.
pub(crate) fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io("reading a container id from", "/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
