//! `hoist volume`: podman's named volumes; and `hoist network ls`, the networks containers join.

use crate::output::outln;

use hoist_engine::{volumes, Store};
use hoist_runtime::Runtime;

use crate::cli::{NetworkCommand, VolumeCommand};
use crate::format::{apply, render, Format};

pub fn volume(runtime: &Runtime, command: VolumeCommand) -> anyhow::Result<()> {
    let store = Store::locate();
    match command {
        VolumeCommand::Create { name } => {
            let name = match name {
                Some(name) => name,
                None => volumes::generated_name()?,
            };
            outln!("{}", volumes::create(&store, &name)?.name);
        }
        VolumeCommand::Ls { format, quiet } => {
            let list = volumes::list(&store)?;
            if quiet {
                for volume in &list {
                    outln!("{}", volume.name);
                }
                return Ok(());
            }
            let json: Vec<_> = list
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            let format = Format::parse(format.as_deref());
            let table = "{{.Driver}}\t{{.Name}}";
            let headers = [("Driver", "DRIVER"), ("Name", "VOLUME NAME")];
            crate::output::out(&render(&format, &json, &json, table, &headers)?)?;
        }
        VolumeCommand::Inspect { format, names } => {
            let found = names
                .iter()
                .map(|name| volumes::inspect(&store, name))
                .collect::<Result<Vec<_>, _>>()?;
            let json: Vec<_> = found
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            match Format::parse(format.as_deref()) {
                Format::Template { text, .. } => {
                    for volume in &json {
                        outln!("{}", apply(&text, volume)?);
                    }
                }
                _ => outln!("{}", serde_json::to_string_pretty(&json)?),
            }
        }
        VolumeCommand::Rm { force, names } => {
            for name in &names {
                volumes::remove(runtime, &store, name, force)?;
                outln!("{name}");
            }
        }
        VolumeCommand::Prune { force: _ } => {
            for name in volumes::prune(runtime, &store)? {
                outln!("{name}");
            }
        }
    }
    Ok(())
}

/// `network ls`: the networks `run --network` takes by name, as docker lists them (podman's
/// JSON fields).
pub fn network(command: NetworkCommand) -> anyhow::Result<()> {
    let NetworkCommand::Ls { format, quiet } = command;
    let store = Store::locate();
    let bridge = hoist_engine::bridge_config(&store);
    let subnet = bridge.subnet.to_string();
    let networks = [
        ("bridge", "bridge", Some(bridge.bridge.as_str())),
        ("host", "host", None),
        ("none", "null", None),
    ];
    if quiet {
        for (name, _, _) in networks {
            outln!("{name}");
        }
        return Ok(());
    }
    let json: Vec<serde_json::Value> = networks
        .iter()
        .map(|(name, driver, interface)| {
            serde_json::json!({
                "name": name,
                "id": hoist_oci::Digest::of(name.as_bytes()).hex(),
                "driver": driver,
                "network_interface": interface,
                "subnets": interface.map(|_| vec![serde_json::json!({ "subnet": subnet })]),
                "ipv6_enabled": false,
                "internal": false,
                "dns_enabled": false,
            })
        })
        .collect();
    let fields: Vec<serde_json::Value> = json
        .iter()
        .map(|n| {
            serde_json::json!({
                "ID": n["id"].as_str().map(|id| &id[..12]),
                "Name": n["name"],
                "Driver": n["driver"],
            })
        })
        .collect();
    let format = Format::parse(format.as_deref());
    let table = "{{.ID}}\t{{.Name}}\t{{.Driver}}";
    let headers = [("ID", "NETWORK ID")];
    crate::output::out(&render(&format, &json, &fields, table, &headers)?)?;
    Ok(())
}
