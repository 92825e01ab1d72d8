//! `hoist network`: podman's networks (a bridge and a subnet each) as objects.

use hoist_engine::Network;
use hoist_engine::Store;
use hoist_runtime::Runtime;
use serde_json::{json, Value};

use crate::cli::NetworkCommand;
use crate::format::{render, Format};
use crate::output::outln;

pub fn network(runtime: &Runtime, command: NetworkCommand) -> anyhow::Result<u8> {
    let store = Store::locate();
    let networks = hoist_engine::networks(&store);
    match command {
        NetworkCommand::Create(args) => {
            if args.driver != "bridge" {
                anyhow::bail!("--driver {:?}: hoist's networks are bridges", args.driver);
            }
            if args.ignore {
                if let Some(name) = &args.name {
                    if networks.get(name).is_ok() {
                        outln!("{name}");
                        return Ok(0);
                    }
                }
            }
            let labels = args
                .label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let created = networks.create(hoist_engine::NewNetwork {
                name: args.name,
                subnet: args.subnet.as_deref().map(str::parse).transpose()?,
                gateway: args
                    .gateway
                    .as_deref()
                    .map(|g| {
                        g.parse()
                            .map_err(|_| anyhow::anyhow!("--gateway {g:?} is not an IPv4 address"))
                    })
                    .transpose()?,
                internal: args.internal,
                labels,
            })?;
            outln!("{}", created.name);
        }
        NetworkCommand::Ls { format, quiet } => {
            let list = networks.list()?;
            if quiet {
                for network in &list {
                    outln!("{}", network.name);
                }
                return Ok(0);
            }
            let json: Vec<Value> = list.iter().map(podman_json).collect();
            let fields: Vec<Value> = json
                .iter()
                .map(|n| {
                    json!({
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
        }
        NetworkCommand::Inspect { format, names } => {
            let json = names
                .iter()
                .map(|name| Ok(podman_json(&networks.get(name)?)))
                .collect::<anyhow::Result<Vec<Value>>>()?;
            crate::output::out(&crate::format::inspected(format.as_deref(), &json)?)?;
        }
        NetworkCommand::Rm { force, names } => {
            for name in &names {
                hoist_engine::remove_network(runtime, &store, name, force)?;
                outln!("{name}");
            }
        }
        NetworkCommand::Prune { force: _ } => {
            for name in hoist_engine::prune_networks(&store)? {
                outln!("{name}");
            }
        }
        NetworkCommand::Exists { name } => return Ok(u8::from(networks.get(&name).is_err())),
    }
    Ok(0)
}

/// A network as podman's `network inspect` shows it.
fn podman_json(network: &Network) -> Value {
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(network.created);
    json!({
        "name": network.name,
        "id": hoist_oci::Digest::of(network.name.as_bytes()).hex(),
        "driver": "bridge",
        "network_interface": network.bridge,
        "created": humantime::format_rfc3339_seconds(created).to_string(),
        "subnets": [{ "subnet": network.subnet.to_string(), "gateway": network.gateway.to_string() }],
        "ipv6_enabled": false,
        "internal": network.internal,
        "dns_enabled": false,
        "labels": network.labels,
        "ipam_options": { "driver": "host-local" },
    })
}
