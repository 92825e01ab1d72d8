//! podman's verbs for `hoist run IMAGE` containers: `ps`, `logs`, `stop`, `rm`.

use std::time::Duration;

use hoist_engine::{Activity, Container, Store};
use hoist_runtime::Runtime;

use crate::cli::{LogsArgs, PsArgs, RmArgs, StopArgs};

pub fn list(runtime: &Runtime, args: &PsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let containers = Container::all(&store)?;
    if !args.quiet {
        println!(
            "{:<14} {:<36} {:<24} {:<22} {:<14} NAMES",
            "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS"
        );
    }
    for container in &containers {
        let activity = Activity::of(runtime, container);
        if !activity.alive() && !args.all {
            continue;
        }
        if args.quiet {
            println!("{}", container.record.id);
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
        println!(
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
    let mut out = std::io::stdout().lock();
    hoist_engine::copy_log(runtime, &Store::locate(), &args.id, args.follow, &mut out)?;
    Ok(())
}

pub fn stop(runtime: &Runtime, args: StopArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        hoist_engine::stop(runtime, &store, id, Duration::from_secs(args.time))?;
        println!("{id}");
    }
    Ok(())
}

pub fn rm(runtime: &Runtime, args: RmArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        if hoist_engine::remove(runtime, &store, id, args.force)? {
            println!("{id}");
        }
    }
    Ok(())
}
