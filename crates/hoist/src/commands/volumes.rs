//! `hoist volume`: podman's named volumes.

use crate::output::outln;

use hoist_engine::{volumes, Store};
use hoist_runtime::Runtime;

use crate::cli::VolumeCommand;
use crate::format::{render, Format};

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
            crate::output::out(&crate::format::inspected(format.as_deref(), &json)?)?;
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
