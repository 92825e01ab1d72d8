//! `hoist run`: runc's shape (`--bundle DIR ID`) and podman's (`IMAGE [CMD...]`).

use std::io::Read;

use anyhow::{bail, Context};
use hoist_oci::Reference;
use hoist_registry::PlatformChoice;
use hoist_runtime::{CreateOptions, Runtime};
use hoist_unpack::UnpackOptions;
use oci_spec::runtime::Spec;

use crate::cli::{PullPolicy, RunArgs};
use crate::commands::{monitor, pull, registry, run_spec};
use hoist_engine::{
    bridge_config, make_bundle, name_files, Container, LocalImage, Location, Record, Store,
};

pub fn run_bundle(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let [id] = args.args.as_slice() else {
        bail!(
            "with --bundle, give exactly one argument, the container id (got {:?})",
            args.args
        );
    };
    let podman_only = &args.container;
    if podman_only.rm
        || !podman_only.env.is_empty()
        || podman_only.name.is_some()
        || !podman_only.volume.is_empty()
        || podman_only.privileged
        || !podman_only.security_opt.is_empty()
        || !podman_only.log_opt.is_empty()
    {
        bail!("--rm, --env, --name, --volume, --privileged, --security-opt and --log-opt are for `hoist run IMAGE`; with --bundle, edit the bundle's config.json instead");
    }
    let options = CreateOptions {
        bundle: args.bundle.clone().expect("dispatched on --bundle"),
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
    };
    if args.detach {
        runtime.run_detached(id, &options)?;
        return Ok(0);
    }
    Ok(monitor::exit_byte(runtime.run(id, &options)?))
}

pub fn run_image(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let (image, command) = args.args.split_first().expect("clap requires one argument");
    let options = &args.container;
    let store = Store::locate();
    let store_lock = store.lock(false)?;
    // A layout or archive named directly is used where it is; anything else is the store's.
    let local;
    let (layout, manifest, name) = match Location::parse(image)? {
        location @ (Location::Layout { .. } | Location::Archive { .. }) => {
            local = LocalImage::open(&location, &store)?;
            (
                local.layout.clone(),
                local.top.clone(),
                location.to_string(),
            )
        }
        _ => {
            let reference: Reference = image.parse()?;
            let layout = store.images()?;
            let manifest = find_or_pull(&reference, &layout, &args.registry, options.pull)?;
            (layout, manifest, reference.to_string())
        }
    };

    let id = match &options.name {
        Some(name) => name.clone(),
        None => random_id()?,
    };
    hoist_runtime::validate_id(&id)?;
    for mapping in &options.publish {
        mapping.parse::<hoist_net::PortMapping>()?;
    }
    if !options.publish.is_empty() && options.network != "bridge" {
        bail!("-p/--publish needs --network bridge");
    }
    let log_max_size = log_max_size(&options.log_opt)?;
    let dir = Container::claim(&store, &id)?;
    let mut attachment = None;
    let prepared = (|| {
        let unpack = UnpackOptions {
            platform: pull::platform(&args.registry.transfer)?,
            ..UnpackOptions::default()
        };
        let (config, driver, layers) = make_bundle(&store, &layout, &manifest, &dir, &unpack)
            .with_context(|| format!("preparing {name}"))?;
        let mut spec = Spec::load(dir.join("config.json"))?;
        let join_network = match options.network.strip_prefix("container:") {
            Some(other) => Some(network_of(runtime, other)?),
            None if options.network == "bridge" => {
                let attached = hoist_net::attach(&bridge_config(&store), &id)
                    .context("joining the bridge network (or use --network none)")?;
                let netns = attached.netns.clone();
                attachment = Some(attached);
                Some(netns)
            }
            None => None,
        };
        let hostname = options
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(12).collect());
        let context = run_spec::RunContext {
            image: &config,
            command,
            id: &id,
            rootfs: &dir.join("rootfs"),
            join_network,
            name_files: name_files(&dir, &hostname, attachment.as_ref().map(|a| a.address))?,
        };
        run_spec::apply(&mut spec, options, &context)?;
        spec.save(dir.join("config.json"))?;
        let container = Container {
            dir: dir.clone(),
            record: Record {
                id: id.clone(),
                image: name.clone(),
                command: spec
                    .process()
                    .as_ref()
                    .and_then(|p| p.args().clone())
                    .unwrap_or_default(),
                created: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                driver,
                layers,
                detached: args.detach,
                remove: options.rm,
                exit_code: None,
                finished: None,
                network: attachment.clone(),
                ports: options.publish.clone(),
                log_max_size,
            },
        };
        container.save()?;
        Ok::<_, anyhow::Error>(container)
    })();
    // The container rests on its own upper directory (or copy): the image may go now.
    drop(store_lock);
    let container = match prepared {
        Ok(container) => container,
        Err(error) => {
            if let Some(attached) = &attachment {
                let _ = hoist_net::detach(&bridge_config(&store), &id, attached);
            }
            let _ = Container::remove_files(&dir);
            return Err(error);
        }
    };
    if args.detach {
        return monitor::launch(runtime, &container).map(|()| 0);
    }
    if !options.interactive && !options.tty {
        detach_stdin()?;
    }
    monitor::run_to_exit(runtime, container, None)
}

/// The image from the store, pulled first as the policy says.
fn find_or_pull(
    reference: &Reference,
    layout: &hoist_oci::Layout,
    registry_args: &crate::cli::RegistryArgs,
    policy: PullPolicy,
) -> anyhow::Result<hoist_oci::Descriptor> {
    let name = reference.to_string();
    match (policy, layout.resolve(Some(&name))) {
        (PullPolicy::Missing | PullPolicy::Never, Ok(descriptor)) => return Ok(descriptor),
        (PullPolicy::Never, Err(_)) => {
            bail!("{name} is not in hoist's store, and --pull=never forbids pulling it")
        }
        _ => {}
    }
    let platforms = PlatformChoice::One(pull::platform(&registry_args.transfer)?);
    let options = registry::options(registry_args, 6)?;
    pull::pull_into(reference, layout, &name, &platforms, &options, false)?;
    Ok(layout.resolve(Some(&name))?)
}

/// The network namespace of a running container, for `--network container:NAME`.
fn network_of(runtime: &Runtime, id: &str) -> anyhow::Result<std::path::PathBuf> {
    let state = runtime
        .state(id)
        .with_context(|| format!("--network container:{id}: no such container"))?;
    if state.pid <= 0 || state.status != hoist_runtime::Status::Running {
        bail!("--network container:{id}: the container is not running");
    }
    Ok(format!("/proc/{}/ns/net", state.pid).into())
}

/// Without `-i`, the container reads nothing, as under podman.
fn detach_stdin() -> anyhow::Result<()> {
    let null = std::fs::File::open("/dev/null").context("opening /dev/null")?;
    nix::unistd::dup2_stdin(&null).context("making /dev/null the container's stdin")?;
    Ok(())
}

/// A 64-hex-digit id, like podman's.
fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container id")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `max-size` of `--log-opt KEY=VALUE`, the one log option hoist's file log has.
fn log_max_size(options: &[String]) -> anyhow::Result<Option<u64>> {
    let mut max_size = None;
    for option in options {
        match option.split_once('=') {
            Some(("max-size", size)) => {
                let size = crate::cli::parse_size(size)
                    .map_err(|e| anyhow::anyhow!("--log-opt max-size: {e}"))?;
                if size == 0 {
                    bail!("--log-opt max-size must be above 0");
                }
                max_size = Some(size);
            }
            _ => bail!("--log-opt {option:?} is not supported: hoist's log takes max-size=SIZE"),
        }
    }
    Ok(max_size)
}
