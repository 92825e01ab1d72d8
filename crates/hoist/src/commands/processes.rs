//! podman's `cp`, `port`, `top` and `stats`.

use crate::output::outln;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

use hoist_engine::{Container, Store};
use hoist_runtime::Runtime;
use serde_json::{json, Value};

use crate::cli::{CpArgs, PortArgs, StatsArgs, TopArgs};
use crate::commands::containers::port_text;
use crate::format::{render, Format};

/// `cp`: files into or out of a container.
pub fn cp(runtime: &Runtime, args: CpArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let from = hoist_engine::CopyEnd::parse(&store, &args.source);
    let to = hoist_engine::CopyEnd::parse(&store, &args.destination);
    hoist_engine::copy_files(runtime, &store, &from, &to)?;
    Ok(())
}

/// `port`: each published port as `80/tcp -> 0.0.0.0:8080`.
pub fn port(args: PortArgs) -> anyhow::Result<()> {
    let container = Container::find(&Store::locate(), &args.id)?;
    for mapping in &container.record.ports {
        let text = port_text(mapping);
        let Some((host, container_port)) = text.split_once("->") else {
            continue;
        };
        let wanted = args.port.as_deref().map(|p| match p.contains('/') {
            true => p.to_string(),
            false => format!("{p}/tcp"),
        });
        if wanted.is_none_or(|w| w == container_port) {
            outln!("{container_port} -> {host}");
        }
    }
    Ok(())
}

/// `top`: podman's default columns.
pub fn top(runtime: &Runtime, args: TopArgs) -> anyhow::Result<()> {
    let rows = hoist_engine::top(runtime, &Store::locate(), &args.id)?;
    let fields: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "USER": row.user,
                "PID": row.pid.to_string(),
                "PPID": row.ppid.to_string(),
                "CPU": format!("{:.3}", row.cpu_percent),
                "ELAPSED": format!("{:.6}s", row.elapsed.as_secs_f64()),
                "TTY": row.tty,
                "TIME": format!("{}s", row.cpu_time.as_secs()),
                "COMMAND": row.command,
            })
        })
        .collect();
    let table =
        "{{.USER}}\t{{.PID}}\t{{.PPID}}\t{{.CPU}}\t{{.ELAPSED}}\t{{.TTY}}\t{{.TIME}}\t{{.COMMAND}}";
    let text = render(&Format::Default, &[], &fields, table, &[("CPU", "%CPU")])?;
    crate::output::out(&text)?;
    Ok(())
}

const STATS_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}\t{{.CPU}}\t{{.AVGCPU}}";
const STATS_HEADERS: &[(&str, &str)] = &[
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET IO"),
    ("BlockIO", "BLOCK IO"),
    ("CPU", "CPU TIME"),
    ("AVGCPU", "AVG CPU %"),
];

/// `stats`: one line per container, from its cgroup; every `--interval` seconds until
/// interrupted (or, for named containers, until none runs), or once with `--no-stream`. CPU %
/// is over the last interval (podman's), AVG CPU % over the container's life.
pub fn stats(runtime: &Runtime, args: StatsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let format = Format::parse(args.format.as_deref());
    let interval = std::time::Duration::from_secs(args.interval.max(1));
    let clear_screen = !args.no_stream && std::io::stdout().is_terminal();
    let mut previous = HashMap::new();
    loop {
        let ids = match args.ids.is_empty() {
            true => running_ids(runtime, &store)?,
            false => args.ids.clone(),
        };
        let (json, fields) = sample(runtime, &store, &ids, &mut previous)?;
        let table = render(&format, &json, &fields, STATS_TABLE, STATS_HEADERS)?;
        let text = match clear_screen {
            true => format!("\x1b[2J\x1b[H{table}"),
            false => table,
        };
        crate::output::out(&text)?;
        if args.no_stream || (!args.ids.is_empty() && json.is_empty()) {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

fn running_ids(runtime: &Runtime, store: &Store) -> anyhow::Result<Vec<String>> {
    Ok(Container::all(store)?
        .iter()
        .filter(|c| hoist_engine::Activity::of(runtime, c).alive())
        .map(|c| c.record.id.clone())
        .collect())
}

/// Each of `ids`' figures now, as JSON and as template fields; `previous` holds each one's
/// CPU time at the last sample, for the CPU % since. Once streaming, a container that has
/// ended is left out (named ones too: the stream ends with the last).
fn sample(
    runtime: &Runtime,
    store: &Store,
    ids: &[String],
    previous: &mut HashMap<String, (u64, Instant)>,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let host_memory = host_memory();
    let first = previous.is_empty();
    let (mut json, mut fields) = (Vec::new(), Vec::new());
    for id in ids {
        let (container, usage) = match hoist_engine::usage(runtime, store, id) {
            Ok(found) => found,
            Err(_) if !first => continue,
            Err(error) => return Err(error.into()),
        };
        let view = hoist_engine::ContainerView::of(runtime, &container);
        let up = view
            .started
            .and_then(|t| t.elapsed().ok())
            .map_or(0.0, |d| d.as_secs_f64());
        let cpu_seconds = usage.cpu_nanos as f64 / 1e9;
        let average = if up > 0.0 {
            cpu_seconds / up * 100.0
        } else {
            0.0
        };
        let now = Instant::now();
        let record = &container.record;
        let recent = match previous.insert(record.id.clone(), (usage.cpu_nanos, now)) {
            Some((nanos, then)) if now > then => {
                usage.cpu_nanos.saturating_sub(nanos) as f64
                    / now.duration_since(then).as_nanos() as f64
                    * 100.0
            }
            _ => average,
        };
        let limit = usage.memory_limit.unwrap_or(host_memory);
        let mem_percent = match limit {
            0 => 0.0,
            limit => usage.memory_bytes as f64 / limit as f64 * 100.0,
        };
        json.push(json!({
            "ContainerID": record.id,
            "Name": record.name,
            "CPU": recent,
            "CPUNano": usage.cpu_nanos,
            "AvgCPU": average,
            "MemUsage": usage.memory_bytes,
            "MemLimit": limit,
            "MemPerc": mem_percent,
            "BlockInput": usage.block_read,
            "BlockOutput": usage.block_written,
            "PIDs": usage.pids,
        }));
        fields.push(json!({
            "ID": &record.id[..record.id.len().min(12)],
            "Name": record.name,
            "CPUPerc": format!("{recent:.2}%"),
            "MemUsage": format!("{} / {}", size(usage.memory_bytes), size(limit)),
            "MemPerc": format!("{mem_percent:.2}%"),
            "NetIO": "-- / --",
            "BlockIO": format!("{} / {}", size(usage.block_read), size(usage.block_written)),
            "PIDs": usage.pids.to_string(),
            "CPU": format!("{:.6}s", cpu_seconds),
            "AVGCPU": format!("{average:.2}%"),
        }));
    }
    Ok((json, fields))
}

/// podman's sizes in `stats`: decimal units, four significant digits (`67.11MB`, Go's `%.4g`).
fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value >= 1.0 {
        value.log10().floor() as usize + 1
    } else {
        1
    };
    let text = format!("{value:.*}", 4usize.saturating_sub(integer_digits));
    let text = match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => &text,
    };
    format!("{text}{}", units[unit])
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kb = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
            kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_have_four_significant_digits_as_podmans() {
        assert_eq!(super::size(67_108_864), "67.11MB");
        assert_eq!(super::size(602_112), "602.1kB");
        assert_eq!(super::size(1_000), "1kB");
        assert_eq!(super::size(0), "0B");
    }
}
