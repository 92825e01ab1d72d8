//! `hoist run`: runc's shape (`--bundle DIR ID`) and podman's (`IMAGE [CMD...]`).

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use hoist_oci::{ImageConfiguration, Reference};
use hoist_registry::PlatformChoice;
use hoist_runtime::{CreateOptions, Runtime};
use hoist_unpack::UnpackOptions;
use oci_spec::runtime::Spec;

use crate::cli::RunArgs;
use crate::commands::{pull, registry};
use crate::store::Store;

pub fn run_bundle(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    let [id] = args.args.as_slice() else {
        bail!(
            "with --bundle, give exactly one argument, the container id (got {:?})",
            args.args
        );
    };
    if args.rm || !args.env.is_empty() || args.name.is_some() {
        bail!("--rm, --env and --name are for `hoist run IMAGE`; with --bundle, edit the bundle's config.json instead");
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
    Ok(exit_byte(runtime.run(id, &options)?))
}

pub fn run_image(runtime: &Runtime, args: RunArgs) -> anyhow::Result<u8> {
    if args.detach {
        bail!("-d/--detach with an image is not supported yet; use `hoist unpack` and `hoist run --bundle DIR --detach ID`");
    }
    let (image, command) = args.args.split_first().expect("clap requires one argument");
    let reference: Reference = image.parse()?;
    let store = Store::locate();
    let store_lock = store.lock(false)?;
    let layout = store.images()?;
    let name = reference.to_string();
    let manifest = match layout.resolve(Some(&name)) {
        Ok(descriptor) => descriptor,
        Err(_) => {
            let platforms = PlatformChoice::One(pull::platform(&args.registry)?);
            let options = registry::options(&args.registry, 6)?;
            pull::pull_into(&reference, &layout, &name, &platforms, &options, false)?;
            layout.resolve(Some(&name))?
        }
    };

    let id = match &args.name {
        Some(name) => name.clone(),
        None => random_id()?,
    };
    hoist_runtime::validate_id(&id)?;
    let bundle = store.containers().join(&id);
    if bundle.exists() {
        bail!(
            "the name {id:?} is already in use by a container in {}; choose another --name",
            bundle.display()
        );
    }
    let options = UnpackOptions {
        platform: pull::platform(&args.registry)?,
        ..UnpackOptions::default()
    };
    let unpacked = hoist_unpack::unpack(&layout, &manifest, &bundle, &options)
        .with_context(|| format!("unpacking {reference}"))?;
    // The container has its own copy of the layers: the image may be removed while it runs.
    drop(store_lock);

    let result = (|| {
        customise_spec(&bundle, &unpacked.config, command, &args.env, &id)?;
        let create = CreateOptions {
            bundle: bundle.clone(),
            pid_file: args.pid_file.clone(),
            ..CreateOptions::default()
        };
        Ok::<_, anyhow::Error>(exit_byte(runtime.run(&id, &create)?))
    })();
    if args.rm || result.is_err() {
        std::fs::remove_dir_all(&bundle)
            .with_context(|| format!("removing the container's files at {}", bundle.display()))?;
    }
    result
}

/// Applies the podman-style options to the unpacked bundle's config.json.
fn customise_spec(
    bundle: &Path,
    image: &ImageConfiguration,
    command: &[String],
    env: &[String],
    id: &str,
) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path)?;
    let mut process = spec.process().clone().unwrap_or_default();
    if !command.is_empty() {
        let mut args: Vec<String> = image
            .config()
            .as_ref()
            .and_then(|c| c.entrypoint().clone())
            .unwrap_or_default();
        args.extend(command.iter().cloned());
        process.set_args(Some(args));
    }
    let mut environment = process.env().clone().unwrap_or_default();
    for entry in env {
        let (key, value) = match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(entry) {
                Ok(v) => (entry.clone(), v),
                Err(_) => continue,
            },
        };
        if key.is_empty() {
            bail!("-e {entry:?}: the variable has no name");
        }
        environment.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        environment.push(format!("{key}={value}"));
    }
    process.set_env(Some(environment));
    spec.set_process(Some(process));
    spec.set_hostname(Some(id.chars().take(12).collect()));
    spec.save(&path)?;
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

/// The exit status to pass on, saying so when the memory limit killed the container.
fn exit_byte(exited: hoist_runtime::Exited) -> u8 {
    if exited.oom_killed {
        eprintln!("hoist: the container hit its memory limit and the kernel's OOM killer ended it");
    }
    u8::try_from(exited.code).unwrap_or(255)
}
