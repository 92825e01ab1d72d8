//! Resource limits written into cgroup files: v1 controllers and the cgroup2 interface files.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::device_filter::DeviceRule;
use super::layout::Hierarchy;
use super::{io_error, Cgroup, CgroupDir, CgroupError};

/// The action of a failed `mkdir` of a container's cgroup (or a parent), in [`CgroupError::Io`].
pub(crate) const CREATING: &str = "creating the cgroup";

/// Creates a container's directory in one hierarchy (and whatever of its parents is missing),
/// with what a new cgroup needs before a process can join it: in a v1 cpuset hierarchy, the
/// parent's cpus and mems (a new cpuset starts empty and refuses tasks); in cgroup2, the
/// hierarchy's controllers enabled down to it. Returns whether `dir` itself was made here
/// (only then is it hoist's to remove, or to kill what is in it). On a host with v1
/// hierarchies (`hybrid`), controllers are switched on in the unified hierarchy only in
/// parents made here: a cgroup hoist did not make is not its to change, and a controller
/// enabled in the unified root can no longer get a v1 hierarchy (crun then refuses the host).
pub(crate) fn prepare(
    hierarchy: &Hierarchy,
    dir: &Path,
    hybrid: bool,
) -> Result<bool, CgroupError> {
    if dir == hierarchy.mountpoint {
        return Err(CgroupError::Unsupported {
            what: "the root of the cgroup hierarchy as the container's cgroup".into(),
            why: "limits and kills there would reach every process on the host; give linux.cgroupsPath a cgroup below it".into(),
        });
    }
    let mut missing = Vec::new();
    let mut cursor = dir.to_path_buf();
    while !cursor.exists() && cursor.starts_with(&hierarchy.mountpoint) {
        missing.push(cursor.clone());
        if !cursor.pop() {
            break;
        }
    }
    let created_leaf = missing.first().is_some_and(|d| d == dir);
    for created in missing.iter().rev() {
        fs::create_dir(created)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(io_error(CREATING, created))?;
        let parent = created.parent().expect("below the mountpoint");
        if !hierarchy.unified && hierarchy.controllers.iter().any(|c| c == "cpuset") {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let own = fs::read_to_string(created.join(file)).unwrap_or_default();
                if own.trim().is_empty() {
                    let inherited = fs::read_to_string(parent.join(file))
                        .map_err(io_error("reading", &parent.join(file)))?;
                    write(created, file, inherited.trim())?;
                }
            }
        }
    }
    if hierarchy.unified && !hierarchy.controllers.is_empty() {
        enable_controllers(hierarchy, dir, &missing, hybrid)?;
    }
    Ok(created_leaf)
}

/// Switches on, from the top, what each cgroup above `dir` offers: a cgroup2 controller reaches
/// a cgroup only through every ancestor's `subtree_control` (another container's creation of a
/// shared parent may not have got that far yet). On a hybrid host, only in cgroups `made` here
/// (see [`prepare`]). A cgroup that was there may refuse (it has processes of its own); the
/// limits then fail, naming their file.
fn enable_controllers(
    hierarchy: &Hierarchy,
    dir: &Path,
    made: &[PathBuf],
    hybrid: bool,
) -> Result<(), CgroupError> {
    let ancestors: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(&hierarchy.mountpoint))
        .collect();
    for parent in ancestors.into_iter().rev() {
        let ours = made.iter().any(|m| m == parent);
        if hybrid && !ours {
            continue;
        }
        let offered = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = offered
            .split_whitespace()
            .map(|c| format!("+{c}"))
            .collect();
        if enable.is_empty() {
            continue;
        }
        match write(parent, "cgroup.subtree_control", &enable.join(" ")) {
            Err(e) if ours => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses limits that no hierarchy of this host can enforce, instead of silently dropping them.
pub(crate) fn check_supported(
    cgroup: &Cgroup,
    resources: &LinuxResources,
) -> Result<(), CgroupError> {
    let has = |controller: &str| {
        cgroup
            .dirs
            .iter()
            .any(|d| d.controllers.iter().any(|c| c == controller))
    };
    let mut needed: Vec<&str> = Vec::new();
    if resources
        .memory()
        .as_ref()
        .is_some_and(|m| m.limit().is_some() || m.reservation().is_some() || m.swap().is_some())
    {
        needed.push("memory");
    }
    if resources.pids().is_some() {
        needed.push("pids");
    }
    if let Some(cpu) = resources.cpu() {
        if cpu.shares().is_some() || cpu.quota().is_some() || cpu.period().is_some() {
            needed.push("cpu");
        }
        if cpu.cpus().is_some() || cpu.mems().is_some() {
            needed.push("cpuset");
        }
    }
    if resources
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        needed.push("hugetlb");
    }
    if let Some(network) = resources.network() {
        if network.class_id().is_some() {
            needed.push("net_cls");
        }
        if network.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            needed.push("net_prio");
        }
    }
    for controller in needed {
        if !has(controller) {
            return Err(CgroupError::Unsupported {
                what: format!("{controller} limits"),
                why: format!("no hierarchy has the {controller} controller"),
            });
        }
    }
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty())
        && !cgroup.dirs.iter().any(|d| d.unified)
    {
        return Err(CgroupError::Unsupported {
            what: "linux.resources.unified".into(),
            why: "the host has no cgroup2 hierarchy".into(),
        });
    }
    Ok(())
}

pub(crate) fn apply_v1(dir: &CgroupDir, resources: &LinuxResources) -> Result<(), CgroupError> {
    let has = |c: &str| dir.controllers.iter().any(|own| own == c);
    let path = &dir.path;
    if has("memory") {
        if let Some(memory) = resources.memory() {
            // memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes at every step.
            let limit = memory.limit();
            let swap = memory.swap();
            if let Some(swap) = swap {
                if write(
                    path,
                    "memory.limit_in_bytes",
                    &limit.unwrap_or(-1).to_string(),
                )
                .is_err()
                {
                    write(path, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                    write(
                        path,
                        "memory.limit_in_bytes",
                        &limit.unwrap_or(-1).to_string(),
                    )?;
                } else {
                    write(path, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
            } else if let Some(limit) = limit {
                write(path, "memory.limit_in_bytes", &limit.to_string())?;
            }
            if let Some(reservation) = memory.reservation() {
                write(path, "memory.soft_limit_in_bytes", &reservation.to_string())?;
            }
            if let Some(swappiness) = memory.swappiness() {
                write(path, "memory.swappiness", &swappiness.to_string())?;
            }
            if memory.disable_oom_killer() == Some(true) {
                write(path, "memory.oom_control", "1")?;
            }
        }
    }
    if let (true, Some(pids)) = (has("pids"), resources.pids()) {
        // pids.max is the same file, with the same values, in v1 and v2.
        write(path, "pids.max", &pids_max(pids.limit()))?;
    }
    if let Some(cpu) = resources.cpu() {
        if has("cpu") {
            if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
                write(path, "cpu.shares", &shares.to_string())?;
            }
            if let Some(period) = cpu.period().filter(|p| *p > 0) {
                write(path, "cpu.cfs_period_us", &period.to_string())?;
            }
            if let Some(quota) = cpu.quota().filter(|q| *q != 0) {
                write(path, "cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        if has("cpuset") {
            write_cpuset(path, cpu)?;
        }
    }
    if has("blkio") {
        if let Some(weight) = resources.block_io().as_ref().and_then(|b| b.weight()) {
            write(path, "blkio.weight", &weight.to_string())
                .or_else(|_| write(path, "blkio.bfq.weight", &weight.to_string()))?;
        }
    }
    if has("hugetlb") {
        for limit in resources.hugepage_limits().as_deref().unwrap_or_default() {
            write(
                path,
                &format!("hugetlb.{}.limit_in_bytes", limit.page_size()),
                &limit.limit().to_string(),
            )?;
        }
    }
    if let Some(network) = resources.network() {
        if let (true, Some(class)) = (has("net_cls"), network.class_id()) {
            write(path, "net_cls.classid", &class.to_string())?;
        }
        if has("net_prio") {
            // One "interface priority" entry per write, as the kernel reads them.
            for priority in network.priorities().as_deref().unwrap_or_default() {
                append(
                    path,
                    "net_prio.ifpriomap",
                    &format!("{} {}", priority.name(), priority.priority()),
                )?;
            }
        }
    }
    Ok(())
}

pub(crate) fn apply_v2(dir: &CgroupDir, resources: &LinuxResources) -> Result<(), CgroupError> {
    let has = |c: &str| dir.controllers.iter().any(|own| own == c);
    let path = &dir.path;
    if has("memory") {
        if let Some(memory) = resources.memory() {
            if let Some(limit) = memory.limit() {
                write(path, "memory.max", &max_or(limit))?;
            }
            if let Some(reservation) = memory.reservation() {
                write(path, "memory.low", &max_or(reservation))?;
            }
            // OCI's swap is memory plus swap; cgroup2 counts swap alone.
            if let Some(swap) = memory.swap() {
                let swap_only = match (swap, memory.limit()) {
                    (-1, _) => -1,
                    (swap, Some(limit)) if limit > 0 => (swap - limit).max(0),
                    (swap, _) => swap,
                };
                write(path, "memory.swap.max", &max_or(swap_only))?;
            }
        }
    }
    if let (true, Some(pids)) = (has("pids"), resources.pids()) {
        // pids.max is the same file, with the same values, in v1 and v2.
        write(path, "pids.max", &pids_max(pids.limit()))?;
    }
    if let Some(cpu) = resources.cpu() {
        if has("cpu") {
            if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
                write(path, "cpu.weight", &cpu_weight(shares).to_string())?;
            }
            if cpu.quota().is_some() || cpu.period().is_some() {
                let quota = cpu
                    .quota()
                    .filter(|q| *q > 0)
                    .map_or("max".to_string(), |q| q.to_string());
                let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
                write(path, "cpu.max", &format!("{quota} {period}"))?;
            }
        }
        if has("cpuset") {
            write_cpuset(path, cpu)?;
        }
    }
    if has("io") {
        if let Some(weight) = resources.block_io().as_ref().and_then(|b| b.weight()) {
            let weight = 1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990;
            write(path, "io.weight", &format!("default {weight}"))?;
        }
    }
    let hugepage_limits = resources.hugepage_limits().as_deref().unwrap_or_default();
    if has("hugetlb") && !hugepage_limits.is_empty() {
        ensure_enabled(path, "hugetlb")?;
        for limit in hugepage_limits {
            write(
                path,
                &format!("hugetlb.{}.max", limit.page_size()),
                &max_or(limit.limit()),
            )?;
        }
    }
    for (key, value) in resources.unified().as_ref().into_iter().flatten() {
        if key.contains('/') || key.starts_with('.') {
            return Err(CgroupError::Unsupported {
                what: format!("unified key {key:?}"),
                why: "it is not a file name".into(),
            });
        }
        write(path, key, value)?;
    }
    Ok(())
}

/// The devices every runc container may use whatever its config says (and its config's own
/// rules after a deny-all): mknod of any node (opening it is what the rules decide), and
/// /dev/null, zero, full, random, urandom, tty, console, ptmx and pts.
const DEFAULT_ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// The container's device rules as cgroup2 takes them: everything denied, then the config's
/// rules, then the devices every container may use, later rules overriding earlier ones.
pub(crate) fn device_filter_rules(rules: &[LinuxDeviceCgroup]) -> Vec<DeviceRule> {
    let deny_all = DeviceRule {
        allow: false,
        kind: None,
        major: None,
        minor: None,
        access: 0b111,
    };
    std::iter::once(deny_all)
        .chain(rules.iter().map(DeviceRule::from_spec))
        .chain(
            DEFAULT_ALLOWED_DEVICES
                .iter()
                .map(|l| DeviceRule::allow_line(l)),
        )
        .collect()
}

/// The same rules written to a v1 devices hierarchy.
pub(crate) fn apply_device_rules(
    path: &Path,
    rules: &[LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    write(path, "devices.deny", "a")?;
    for rule in rules {
        let kind = rule
            .typ()
            .map_or("a".to_string(), |t| t.as_str().to_string());
        let number = |n: Option<i64>| {
            n.filter(|n| *n >= 0)
                .map_or("*".to_string(), |n| n.to_string())
        };
        let line = if kind == "a" && rule.major().is_none() && rule.minor().is_none() {
            format!("a *:* {}", rule.access().as_deref().unwrap_or("rwm"))
        } else {
            format!(
                "{kind} {}:{} {}",
                number(rule.major()),
                number(rule.minor()),
                rule.access().as_deref().unwrap_or("rwm")
            )
        };
        write(
            path,
            if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            },
            &line,
        )?;
    }
    for rule in DEFAULT_ALLOWED_DEVICES {
        write(path, "devices.allow", rule)?;
    }
    Ok(())
}

/// cpuset's files have the same names and format in v1 and v2.
fn write_cpuset(path: &Path, cpu: &oci_spec::runtime::LinuxCpu) -> Result<(), CgroupError> {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        write(path, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        write(path, "cpuset.mems", mems)?;
    }
    Ok(())
}

fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

fn max_or(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

/// cgroup v1 shares (2..262144) to cgroup2 weight (1..10000), as runc and crun convert them.
fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// Fails clearly when the hierarchy has `controller` but it is not switched on for `dir`: its
/// files are missing there, and a write would only say "permission denied". On a hybrid host
/// that is the case below a root whose `cgroup.subtree_control` does not list it, which hoist
/// leaves as it is (see `prepare`).
fn ensure_enabled(dir: &Path, controller: &str) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.controllers");
    let enabled = fs::read_to_string(&file).map_err(io_error("reading", &file))?;
    if enabled.split_whitespace().any(|c| c == controller) {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    Err(CgroupError::Unsupported {
        what: format!("{controller} limits"),
        why: format!(
            "{controller} is not enabled for the container's cgroup {}: {} does not list it, and \
             hoist switches controllers on only in cgroups it made",
            dir.display(),
            highest_without(parent, controller)
                .join("cgroup.subtree_control")
                .display()
        ),
    })
}

/// The highest cgroup from `dir` up whose parent does not pass `controller` down: where it
/// would have to be switched on.
fn highest_without(dir: &Path, controller: &str) -> PathBuf {
    let mut highest = dir.to_path_buf();
    let mut cursor = dir.to_path_buf();
    loop {
        let lists = |d: &Path| {
            fs::read_to_string(d.join("cgroup.subtree_control"))
                .is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
        };
        if lists(&cursor) || !cursor.join("cgroup.controllers").exists() {
            return highest;
        }
        highest = cursor.clone();
        if !cursor.pop() {
            return highest;
        }
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(io_error("writing", &path))
}

/// One write of `value` at the end of `file`: for files that take one entry per write.
fn append(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    use std::io::Write;
    let path = dir.join(file);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()))
        .map_err(io_error("writing", &path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    /// A directory that mimics a cgroup2 cgroup: the interface files exist, empty.
    fn fake_v2(controllers: &[&str]) -> (tempfile::TempDir, CgroupDir) {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "pids.max",
            "cpu.weight",
            "cpu.max",
            "cgroup.procs",
        ] {
            fs::write(dir.path().join(file), "").unwrap();
        }
        let cgroup = CgroupDir {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            path: dir.path().to_path_buf(),
            unified: true,
            created: true,
        };
        (dir, cgroup)
    }

    fn read(dir: &CgroupDir, file: &str) -> String {
        fs::read_to_string(dir.path.join(file)).unwrap()
    }

    fn network(class_id: u32, priorities: &[(&str, u32)]) -> LinuxResources {
        serde_json::from_value(serde_json::json!({
            "network": {
                "classID": class_id,
                "priorities": priorities
                    .iter()
                    .map(|(name, priority)| serde_json::json!({"name": name, "priority": priority}))
                    .collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    }

    #[test]
    fn network_class_and_priorities_go_to_net_cls_and_net_prio() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["net_cls.classid", "net_prio.ifpriomap"] {
            fs::write(dir.path().join(file), "").unwrap();
        }
        let cgroup = CgroupDir {
            controllers: vec!["net_cls".into(), "net_prio".into()],
            path: dir.path().to_path_buf(),
            unified: false,
            created: true,
        };
        apply_v1(&cgroup, &network(0x100001, &[("lo", 5), ("eth0", 2)])).unwrap();
        assert_eq!(read(&cgroup, "net_cls.classid"), "1048577");
        assert_eq!(read(&cgroup, "net_prio.ifpriomap"), "lo 5\neth0 2\n");
    }

    #[test]
    fn network_limits_without_their_controllers_are_refused() {
        let memory_only = Cgroup {
            dirs: vec![CgroupDir {
                controllers: vec!["memory".into()],
                path: "/x".into(),
                unified: false,
                created: true,
            }],
        };
        let refused = check_supported(&memory_only, &network(1, &[])).unwrap_err();
        assert!(refused.to_string().contains("net_cls"), "{refused}");
        let refused = check_supported(&memory_only, &network(1, &[("lo", 1)])).unwrap_err();
        assert!(refused.to_string().contains("net_"), "{refused}");
    }

    #[test]
    fn v2_files_get_converted_values() {
        let (_keep, dir) = fake_v2(&["memory", "pids", "cpu"]);
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(256i64 << 20)
                    .swap(512i64 << 20)
                    .reservation(-1i64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(64i64).build().unwrap())
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .build()
                    .unwrap(),
            )
            .unified(
                [("memory.high".to_string(), "300000000".to_string())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .build()
            .unwrap();
        apply_v2(&dir, &resources).unwrap();
        assert_eq!(read(&dir, "memory.max"), (256u64 << 20).to_string());
        assert_eq!(
            read(&dir, "memory.swap.max"),
            (256u64 << 20).to_string(),
            "swap alone, not memory+swap"
        );
        assert_eq!(read(&dir, "memory.low"), "max");
        assert_eq!(read(&dir, "pids.max"), "64");
        assert_eq!(
            read(&dir, "cpu.weight"),
            "39",
            "1024 shares are weight 39, as runc converts"
        );
        assert_eq!(read(&dir, "cpu.max"), "50000 100000");
        assert_eq!(read(&dir, "memory.high"), "300000000");
    }

    #[test]
    fn v2_skips_what_the_hierarchy_lacks_and_refuses_odd_unified_keys() {
        let (_keep, dir) = fake_v2(&["hugetlb"]);
        let resources = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(10i64).build().unwrap())
            .build()
            .unwrap();
        apply_v2(&dir, &resources).unwrap();
        assert_eq!(
            read(&dir, "pids.max"),
            "",
            "no pids controller in this hierarchy: untouched"
        );
        let evil = LinuxResourcesBuilder::default()
            .unified(
                [("../../escape".to_string(), "1".to_string())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .build()
            .unwrap();
        assert!(apply_v2(&dir, &evil).is_err());
    }

    #[test]
    fn limits_no_hierarchy_can_enforce_are_refused() {
        let (_keep, dir) = fake_v2(&["hugetlb"]);
        let cgroup = Cgroup { dirs: vec![dir] };
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1i64 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let err = check_supported(&cgroup, &resources)
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory"), "{err}");
    }

    #[test]
    fn shares_convert_to_weights_like_runc() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(cpu_weight(1024), 39);
    }
}
