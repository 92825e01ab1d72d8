//! The runc-shaped verbs.

use hoist_runtime::{parse_signal, CreateOptions, DeleteOptions, Runtime};

use crate::cli::{CreateArgs, DeleteArgs, KillArgs, ListArgs};

pub fn create(runtime: &Runtime, args: CreateArgs) -> anyhow::Result<()> {
    let options = CreateOptions {
        bundle: args.bundle,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
    };
    runtime.create(&args.id, &options)?;
    Ok(())
}

pub fn state(runtime: &Runtime, id: &str) -> anyhow::Result<()> {
    let state = runtime.state(id)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}

pub fn kill(runtime: &Runtime, args: KillArgs) -> anyhow::Result<()> {
    let signal = parse_signal(&args.signal)?;
    runtime.kill(&args.id, signal, args.all)?;
    Ok(())
}

pub fn delete(runtime: &Runtime, args: DeleteArgs) -> anyhow::Result<()> {
    runtime.delete(&args.id, DeleteOptions { force: args.force })?;
    Ok(())
}

pub fn list(runtime: &Runtime, args: ListArgs) -> anyhow::Result<()> {
    let containers = runtime.list()?;
    if args.quiet {
        for c in &containers {
            println!("{}", c.id);
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => {
            let states: Vec<_> = containers
                .iter()
                .map(|c| c.oci_state(runtime.root()))
                .collect();
            println!("{}", serde_json::to_string(&states)?);
        }
        "table" => {
            println!(
                "{:<24} {:<8} {:<10} {:<40} CREATED",
                "ID", "PID", "STATUS", "BUNDLE"
            );
            for c in &containers {
                let state = c.oci_state(runtime.root());
                println!(
                    "{:<24} {:<8} {:<10} {:<40} {}",
                    c.id,
                    state["pid"].to_string(),
                    state["status"].as_str().unwrap_or(""),
                    c.bundle.display(),
                    c.created
                );
            }
        }
        other => anyhow::bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}
