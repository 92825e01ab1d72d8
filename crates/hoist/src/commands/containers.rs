//! podman's verbs for `hoist run IMAGE` containers: `ps`, `logs`, `stop`, `rm`, `attach`,
//! `wait`, `kill`, `pause`/`unpause` and `inspect`. Containers are named as podman names
//! them: by name, id, or a prefix of the id that is no other's.

use crate::output::outln;
use std::time::{Duration, SystemTime};

use hoist_engine::{Container, ContainerView, Store};
use hoist_runtime::{parse_signal, Runtime};
use serde_json::{json, Value};

use crate::cli::{
    AttachArgs, KillArgs, LogsArgs, PsArgs, RestartArgs, RmArgs, StartArgs, StopArgs, WaitArgs,
};
use crate::format::{human_duration, render, Format};

const PS_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("CreatedHuman", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("ExitCode", "EXIT CODE"),
];

pub fn list(runtime: &Runtime, args: &PsArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let views: Vec<ContainerView> = Container::all(&store)?
        .iter()
        .map(|c| ContainerView::of(runtime, c))
        .filter(|v| args.all || v.activity.alive())
        .collect();
    if args.quiet {
        for view in &views {
            outln!("{}", short_id(&view.record.id, args.no_trunc));
        }
        return Ok(());
    }
    let json: Vec<Value> = views.iter().map(ps_json).collect();
    let fields: Vec<Value> = views.iter().map(|v| ps_fields(v, args.no_trunc)).collect();
    let format = Format::parse(args.format.as_deref());
    crate::output::out(&render(&format, &json, &fields, PS_TABLE, PS_HEADERS)?)?;
    Ok(())
}

fn short_id(id: &str, whole: bool) -> &str {
    match whole {
        true => id,
        false => &id[..id.len().min(12)],
    }
}

fn unix(time: Option<SystemTime>) -> i64 {
    time.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn ago(time: Option<SystemTime>) -> String {
    let elapsed = time
        .and_then(|t| t.elapsed().ok())
        .unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(elapsed))
}

/// podman's STATUS: "Up 5 seconds ago", "Exited (0) 2 minutes ago", "Created", "Paused".
fn status(view: &ContainerView) -> String {
    match view.state() {
        "running" => format!("Up {}", ago(view.started)),
        "exited" => format!("Exited ({}) {}", view.exit_code(), ago(view.finished)),
        "paused" => "Paused".into(),
        "stopped" => "Stopped".into(),
        _ => "Created".into(),
    }
}

/// `[IP:]HOST:CTR` as podman shows a published port: `0.0.0.0:8080->80/tcp`.
pub fn port_text(mapping: &str) -> String {
    let parts: Vec<&str> = mapping.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [ip, host, container] => (*ip, *host, *container),
        [host, container] => ("0.0.0.0", *host, *container),
        _ => return mapping.to_string(),
    };
    let container = match container.contains('/') {
        true => container.to_string(),
        false => format!("{container}/tcp"),
    };
    format!("{ip}:{host}->{container}")
}

/// An item of `ps --format json`, with podman's keys.
fn ps_json(view: &ContainerView) -> Value {
    let record = &view.record;
    json!({
        "AutoRemove": record.remove,
        "Command": record.command,
        "Created": unix(view.created),
        "CreatedAt": ago(view.created),
        "Exited": view.state() == "exited",
        "ExitedAt": unix(view.finished),
        "ExitCode": view.exit_code(),
        "Id": record.id,
        "Image": record.image,
        "Labels": record.labels,
        "Names": [record.name],
        "Pid": view.pid,
        "Ports": record.ports.iter().map(|p| port_text(p)).collect::<Vec<_>>(),
        "StartedAt": unix(view.started),
        "State": view.state(),
        "Status": status(view),
    })
}

/// The fields a `ps` template sees (podman's names).
fn ps_fields(view: &ContainerView, whole: bool) -> Value {
    let record = &view.record;
    let mut command = record.command.join(" ");
    if !whole && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    json!({
        "ID": short_id(&record.id, whole),
        "Image": record.image,
        "Command": command,
        "CreatedHuman": ago(view.created),
        "RunningFor": ago(view.created),
        "CreatedAt": record.created,
        "Status": status(view),
        "State": view.state(),
        "Ports": record.ports.iter().map(|p| port_text(p)).collect::<Vec<_>>().join(", "),
        "Names": record.name,
        "Labels": record.labels,
        "Pid": view.pid,
        "ExitCode": view.exit_code(),
        "Exited": view.state() == "exited",
        "AutoRemove": record.remove,
    })
}

/// `logs`: the container's stdout to stdout, its stderr to stderr (podman's way).
pub fn logs(runtime: &Runtime, args: LogsArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now();
    let time = |t: Option<&String>| t.map(|t| hoist_engine::parse_log_time(t, now)).transpose();
    let options = hoist_engine::LogOptions {
        follow: args.follow,
        tail: args.tail.and_then(|n| usize::try_from(n).ok()),
        timestamps: args.timestamps,
        since: time(args.since.as_ref())?,
        until: time(args.until.as_ref())?,
    };
    let mut out = crate::output::stdout();
    let mut err = std::io::stderr();
    hoist_engine::copy_log(
        runtime,
        &Store::locate(),
        &args.id,
        &options,
        &mut out,
        &mut err,
    )?;
    Ok(())
}

pub fn stop(runtime: &Runtime, args: StopArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let grace = args.time.map(Duration::from_secs);
    for id in targets(runtime, &store, &args.ids, args.all, true)? {
        hoist_engine::stop(runtime, &store, &id, grace)?;
        outln!("{id}");
    }
    Ok(())
}

/// The containers a verb was given, or with `all` every container (only the running ones
/// for `running_only`), by full id.
fn targets(
    runtime: &Runtime,
    store: &Store,
    given: &[String],
    all: bool,
    running_only: bool,
) -> anyhow::Result<Vec<String>> {
    if !all {
        return Ok(given.to_vec());
    }
    Ok(Container::all(store)?
        .iter()
        .filter(|c| !running_only || hoist_engine::Activity::of(runtime, c).alive())
        .map(|c| c.record.id.clone())
        .collect())
}

/// `rm`: every container named is tried; the exit code says what failed, as podman's does
/// (1: one was not there, 2: one runs, 125: anything else; the worst wins).
pub fn rm(runtime: &Runtime, args: RmArgs) -> Result<(), crate::Failure> {
    let store = Store::locate();
    let ids =
        targets(runtime, &store, &args.ids, args.all, false).map_err(crate::Failure::hoist)?;
    let mut failures = Vec::new();
    for id in ids {
        match hoist_engine::remove(runtime, &store, &id, args.force) {
            Ok(true) => outln!("{id}"),
            Ok(false) => {}
            Err(error) => failures.push(error),
        }
    }
    let code = |error: &hoist_engine::Error| match error {
        hoist_engine::Error::NoSuchContainer(_) => 1,
        hoist_engine::Error::Running(_) => 2,
        _ => crate::EXIT_HOIST_ERROR,
    };
    let worst = failures.iter().map(code).max();
    let last = failures.pop();
    for error in failures {
        eprintln!("hoist: {}", crate::render(&error.into()));
    }
    match (last, worst) {
        (Some(error), Some(code)) => Err(crate::Failure {
            code,
            error: error.into(),
        }),
        _ => Ok(()),
    }
}

/// `wait`: each container's exit code, once it has ended (podman's `wait` itself exits 0).
pub fn wait(runtime: &Runtime, args: WaitArgs) -> anyhow::Result<u8> {
    let store = Store::locate();
    for id in &args.ids {
        let code = hoist_engine::wait(runtime, &store, id)?;
        outln!("{code}");
    }
    Ok(0)
}

/// Whether `kill`'s arguments are podman's (`-s SIGNAL NAME...`, or names of `hoist run
/// IMAGE` containers) rather than runc's (`ID [SIGNAL]`).
fn podman_kill(store: &Store, args: &KillArgs) -> bool {
    if args.signal.is_some() {
        return true;
    }
    let is_container = |t: &String| Container::find(store, t).is_ok();
    match args.targets.as_slice() {
        [_, signal] if parse_signal(signal).is_ok() => false,
        [one] => is_container(one),
        more => more.iter().all(is_container),
    }
}

pub fn kill(runtime: &Runtime, args: KillArgs) -> Result<(), crate::Failure> {
    let store = Store::locate();
    if !podman_kill(&store, &args) {
        let (id, signal) = match args.targets.as_slice() {
            [id] => (id, "SIGTERM"),
            [id, signal] => (id, signal.as_str()),
            _ => {
                return Err(crate::Failure::runtime(anyhow::anyhow!(
                    "give one container id and at most one signal (or -s SIGNAL NAME...)"
                )))
            }
        };
        let signal = parse_signal(signal).map_err(|e| crate::Failure::runtime(e.into()))?;
        let id = hoist_engine::runtime_id(runtime, &store, id)
            .map_err(|e| crate::Failure::runtime(e.into()))?;
        return runtime
            .kill(&id, signal, args.all)
            .map_err(|e| crate::Failure::runtime(e.into()));
    }
    let signal = parse_signal(args.signal.as_deref().unwrap_or("KILL"))
        .map_err(|e| crate::Failure::hoist(e.into()))?;
    for target in &args.targets {
        hoist_engine::signal(runtime, &store, target, signal)
            .map_err(|e| crate::Failure::hoist(e.into()))?;
        outln!("{target}");
    }
    Ok(())
}

/// `pause` and `resume`/`unpause`: of a runtime container by id (quietly, as runc), or of a
/// `hoist run IMAGE` container by name or id (saying its name, as podman).
pub fn set_paused(runtime: &Runtime, id: &str, paused: bool) -> anyhow::Result<()> {
    if runtime.state(id).is_ok() && Container::open(&Store::locate(), id).is_err() {
        match paused {
            true => runtime.pause(id)?,
            false => runtime.resume(id)?,
        }
        return Ok(());
    }
    hoist_engine::set_paused(runtime, &Store::locate(), id, paused)?;
    outln!("{id}");
    Ok(())
}

/// `inspect NAME`: podman's document for each container, or the template's output.
pub fn inspect(
    runtime: &Runtime,
    container: &Container,
    format: Option<&str>,
) -> anyhow::Result<()> {
    let document = inspect_json(runtime, container);
    let text = match Format::parse(format) {
        Format::Default | Format::Json => serde_json::to_string_pretty(&[document])? + "\n",
        Format::Template { text, .. } => crate::format::apply(&text, &document)? + "\n",
    };
    crate::output::out(&text)?;
    Ok(())
}

fn inspect_json(runtime: &Runtime, container: &Container) -> Value {
    let view = ContainerView::of(runtime, container);
    let record = &view.record;
    let spec = oci_spec::runtime::Spec::load(container.dir.join("config.json")).ok();
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let rfc3339 = |t: Option<SystemTime>| {
        t.map_or_else(String::new, |t| {
            humantime::format_rfc3339_seconds(t).to_string()
        })
    };
    let (path, args) = record
        .command
        .split_first()
        .map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
    json!({
        "Id": record.id,
        "Created": record.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": view.state(),
            "Running": view.state() == "running",
            "Paused": view.state() == "paused",
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": view.pid,
            "ExitCode": view.exit_code(),
            "Error": record.error.clone().unwrap_or_default(),
            "StartedAt": rfc3339(view.started),
            "FinishedAt": rfc3339(view.finished),
        },
        "Image": record.image,
        "ImageName": record.image,
        "Name": record.name,
        "RestartCount": record.restarts,
        "Mounts": record.volumes,
        "Driver": match record.driver {
            hoist_engine::Driver::Overlay => "overlay",
            hoist_engine::Driver::Copy => "vfs",
        },
        "Config": {
            "Hostname": spec.as_ref().and_then(|s| s.hostname().clone()).unwrap_or_default(),
            "User": process.as_ref().map(|p| format!("{}:{}", p.user().uid(), p.user().gid())),
            "Env": process.as_ref().and_then(|p| p.env().clone()).unwrap_or_default(),
            "Cmd": record.command,
            "WorkingDir": process.as_ref().map(|p| p.cwd().display().to_string()),
            "Tty": record.tty,
            "Labels": record.labels,
            "StopSignal": record.stop_signal.as_deref().and_then(|s| parse_signal(s).ok()).unwrap_or(nix::sys::signal::Signal::SIGTERM) as i32,
            "StopTimeout": record.stop_timeout.unwrap_or(10),
        },
        "HostConfig": {
            "AutoRemove": record.remove,
            "LogConfig": { "Type": "k8s-file", "Path": container.log_path(), "Size": record.log_max_size.map(|s| s.to_string()).unwrap_or_default() },
        },
        "NetworkSettings": {
            "IPAddress": record.networks.first().map(|n| n.address.to_string()).unwrap_or_default(),
            "Gateway": record.networks.first().map(|n| n.gateway.to_string()).unwrap_or_default(),
            "Networks": record.networks.iter().map(|n| (n.network.clone(), serde_json::json!({
                "IPAddress": n.address.to_string(),
                "IPPrefixLen": n.prefix,
                "Gateway": n.gateway.to_string(),
                "Aliases": record.joins.iter().find(|j| j.name == n.network || (j.name == "bridge" && n.network == "hoist")).map(|j| j.aliases.clone()).unwrap_or_default(),
            }))).collect::<serde_json::Map<_, _>>(),
            "Ports": record.ports.iter().map(|p| port_text(p)).collect::<Vec<_>>(),
        },
    })
}

/// `start`: runc's for a runtime container that is no container of `hoist run IMAGE`, else
/// podman's; with `-a`, the container's output follows until it ends, and its exit code is
/// this command's.
pub fn start(runtime: &Runtime, args: StartArgs) -> Result<u8, crate::Failure> {
    let store = Store::locate();
    if let [id] = args.ids.as_slice() {
        // The runtime's container, unless it is the one of a hoist container by that name
        // (whose runtime id is its name): an engine's id may also read as a hoist id's prefix.
        if runtime.state(id).is_ok() && Container::open(&store, id).is_err() {
            runtime
                .start(id)
                .map_err(|e| crate::Failure::runtime(e.into()))?;
            return Ok(0);
        }
    }
    let hoist = |e: hoist_engine::Error| crate::Failure::hoist(e.into());
    let mut code = 0;
    for id in &args.ids {
        let container = hoist_engine::start(runtime, &store, id).map_err(hoist)?;
        if !args.attach {
            outln!("{id}");
            continue;
        }
        let name = &container.record.name;
        let mut out = crate::output::stdout();
        let follow = hoist_engine::LogOptions {
            follow: true,
            ..Default::default()
        };
        hoist_engine::copy_log(
            runtime,
            &store,
            name,
            &follow,
            &mut out,
            &mut std::io::stderr(),
        )
        .map_err(hoist)?;
        code = hoist_engine::wait(runtime, &store, name).map_err(hoist)?;
    }
    Ok(u8::try_from(code).unwrap_or(255))
}

pub fn restart(runtime: &Runtime, args: RestartArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    for id in &args.ids {
        hoist_engine::restart(runtime, &store, id, args.time.map(Duration::from_secs))?;
        outln!("{id}");
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
