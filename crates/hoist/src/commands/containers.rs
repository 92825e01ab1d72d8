//! podman's verbs for `hoist run IMAGE` containers: `ps`, `logs`, `stop`, `rm`, `attach`.

use crate::output::outln;
use std::time::Duration;

use hoist_engine::{Activity, Container, Store};
use hoist_runtime::Runtime;

use crate::cli::{AttachArgs, LogsArgs, PsArgs, RmArgs, StopArgs};

pub fn list(runtime: &Runtime, args: &PsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let containers = Container::all(&store)?;
    if !args.quiet {
        outln!(
            "{:<14} {:<36} {:<24} {:<22} {:<14} NAMES",
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS"
        );
    }
    for container in &containers {
        let activity = Activity::of(runtime, container);
        if !activity.alive() && !args.all {
            continue;
        }
        if args.quiet {
            outln!("{}", container.record.id);
            continue;
        }
        let id: String = container.record.id.chars().take(12).collect();
        let command: String = container
            .record
            .command
            .join(" ")
            .chars()
            .take(22)
            .collect();
        outln!(
            "{id:<14} {:<36} {command:<24} {:<22} {:<14} {}",
            container.record.image,
            container.record.created,
            activity.to_string(),
            container.record.id
        );
    }
    Ok(())
}

pub fn logs(runtime: &Runtime, args: LogsArgs) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    hoist_engine::copy_log(runtime, &Store::locate(), &args.id, args.follow, &mut out)?;
    Ok(())
}

pub fn stop(runtime: &Runtime, args: StopArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        hoist_engine::stop(runtime, &store, id, Duration::from_secs(args.time))?;
        outln!("{id}");
    }
    Ok(())
}

pub fn rm(runtime: &Runtime, args: RmArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        if hoist_engine::remove(runtime, &store, id, args.force)? {
            outln!("{id}");
        }
    }
    Ok(())
}

/// `attach`: the container's exit code once it ends, 0 on a detach (as podman).
pub fn attach(runtime: &Runtime, args: AttachArgs) -> anyhow::Result<u8> {
    let options = hoist_engine::ClientOptions {
        input: !args.no_stdin,
        detach_keys: hoist_engine::DetachKeys::parse(&args.detach_keys)?,
    };
    let ended = hoist_engine::attach(runtime, &Store::locate(), &args.id, &options)?;
    Ok(ended_byte(ended))
}

/// The exit status of a terminal session's client: the process's code, or 0 after a detach.
pub fn ended_byte(ended: hoist_engine::Ended) -> u8 {
    match ended {
        hoist_engine::Ended::Exited(code) => u8::try_from(code).unwrap_or(255),
        hoist_engine::Ended::Detached => 0,
    }
}
