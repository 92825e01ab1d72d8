//! podman's `top` and `stats`: a running container's processes, from `/proc`, and what its
//! cgroup has used.

use std::path::Path;
use std::time::Duration;

use hoist_runtime::{Runtime, Usage};

use crate::{Activity, Container, Error, Result, Store};

/// A process of a container, as `top` shows it.
#[derive(Debug, Clone)]
pub struct ProcessRow {
    /// Its user's name in the container's `/etc/passwd`, or its uid.
    pub user: String,
    pub pid: i32,
    pub ppid: i32,
    /// CPU time over its lifetime, as a percentage of one CPU.
    pub cpu_percent: f64,
    pub elapsed: Duration,
    /// Its controlling terminal (`pts/0`), or `?`.
    pub tty: String,
    pub cpu_time: Duration,
    pub command: String,
}

/// The processes of a running container, with the pids it sees.
pub fn top(runtime: &Runtime, store: &Store, reference: &str) -> Result<Vec<ProcessRow>> {
    let container = running(runtime, store, reference)?;
    let name = &container.record.name;
    let passwd = runtime
        .state(name)
        .ok()
        .and_then(|state| hoist_fs::Root::open(&state.rootfs).ok())
        .and_then(|root| root.read_file(Path::new("/etc/passwd"), 1 << 20).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let mut rows: Vec<ProcessRow> = runtime
        .ps(name)?
        .into_iter()
        .filter_map(|pid| process_row(pid, &passwd, ticks, uptime))
        .collect();
    // The pids the container sees, as podman's `top` shows them; a parent outside is 0.
    let inside: std::collections::HashMap<i32, i32> = rows
        .iter()
        .map(|row| (row.pid, pid_inside(row.pid).unwrap_or(row.pid)))
        .collect();
    for row in &mut rows {
        row.ppid = inside.get(&row.ppid).copied().unwrap_or(0);
        row.pid = inside[&row.pid];
    }
    rows.sort_by_key(|row| row.pid);
    Ok(rows)
}

/// The pid of host process `pid` in its own (innermost) pid namespace.
fn pid_inside(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

fn process_row(pid: i32, passwd: &str, ticks: f64, uptime: f64) -> Option<ProcessRow> {
    let proc = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
    // Fields resume after the command name's last ')', which may itself hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let cpu = (field(14)? + field(15)?) as f64 / ticks;
    let elapsed = (uptime - field(22)? as f64 / ticks).max(0.0);
    let uid = std::fs::read_to_string(proc.join("status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })?;
    let user = passwd
        .lines()
        .find_map(|l| {
            let entry: Vec<&str> = l.split(':').collect();
            (entry.get(2) == Some(&uid.as_str())).then(|| entry[0].to_string())
        })
        .unwrap_or(uid);
    let command = std::fs::read(proc.join("cmdline"))
        .ok()?
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(ProcessRow {
        user,
        pid,
        ppid: field(4)? as i32,
        cpu_percent: if elapsed > 0.0 {
            cpu / elapsed * 100.0
        } else {
            0.0
        },
        elapsed: Duration::from_secs_f64(elapsed),
        tty: tty_name(field(7)?),
        cpu_time: Duration::from_secs_f64(cpu),
        command,
    })
}

/// A `tty_nr` as `ps` names it: pseudo-terminals (major 136-143) as `pts/N`.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("{major}:{minor}"),
    }
}

/// What a running container has used so far, for `stats`.
pub fn usage(runtime: &Runtime, store: &Store, reference: &str) -> Result<(Container, Usage)> {
    let container = running(runtime, store, reference)?;
    let usage = runtime.usage(&container.record.name)?;
    Ok((container, usage))
}

fn running(runtime: &Runtime, store: &Store, reference: &str) -> Result<Container> {
    let container = Container::find(store, reference)?;
    if !Activity::of(runtime, &container).alive() {
        return Err(Error::NotRunning(container.record.name));
    }
    Ok(container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_are_named_as_ps_names_them() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(136 << 8 | 3), "pts/3");
    }
}
