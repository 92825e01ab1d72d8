//! What a container's cgroup has used, for `stats`: read from whichever hierarchy carries
//! each controller (v1 files or cgroup2's).

use std::fs;
use std::path::Path;

use super::{Cgroup, CgroupDir};

/// A container's use of CPU, memory, block I/O and processes, as its cgroup counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time, all of its processes together.
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
    /// The memory limit, if one is set.
    pub memory_limit: Option<u64>,
    pub block_read: u64,
    pub block_written: u64,
    pub pids: u64,
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Cgroup {
    fn dir_for(&self, controller: &str) -> Option<&CgroupDir> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
    }

    /// What the cgroup has used so far; a controller the cgroup lacks counts nothing.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        if let Some(dir) = self.dir_for("cpuacct").or(self.dir_for("cpu")) {
            usage.cpu_nanos = match dir.unified {
                true => fs::read_to_string(dir.path.join("cpu.stat"))
                    .ok()
                    .and_then(|stat| {
                        stat.lines()
                            .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok())
                    })
                    .map_or(0, |usec| usec * 1000),
                false => read_u64(&dir.path.join("cpuacct.usage")).unwrap_or(0),
            };
        }
        if let Some(dir) = self.dir_for("memory") {
            let (current, limit) = match dir.unified {
                true => ("memory.current", "memory.max"),
                false => ("memory.usage_in_bytes", "memory.limit_in_bytes"),
            };
            usage.memory_bytes = read_u64(&dir.path.join(current)).unwrap_or(0);
            // v1 says "no limit" with a huge number, cgroup2 with "max".
            usage.memory_limit =
                read_u64(&dir.path.join(limit)).filter(|limit| *limit < i64::MAX as u64 / 2);
        }
        if let Some(dir) = self.dir_for("pids") {
            usage.pids = read_u64(&dir.path.join("pids.current")).unwrap_or(0);
        }
        if let Some(dir) = self.dir_for("io").or(self.dir_for("blkio")) {
            (usage.block_read, usage.block_written) = block_io(dir);
        }
        usage
    }
}

/// Bytes read and written: cgroup2's `io.stat` (`rbytes=`/`wbytes=` per device), or v1's
/// `blkio.throttle.io_service_bytes` (`MAJ:MIN Read N` lines).
fn block_io(dir: &CgroupDir) -> (u64, u64) {
    let (mut read, mut written) = (0, 0);
    if dir.unified {
        let stat = fs::read_to_string(dir.path.join("io.stat")).unwrap_or_default();
        for field in stat.split_whitespace() {
            if let Some(n) = field
                .strip_prefix("rbytes=")
                .and_then(|n| n.parse::<u64>().ok())
            {
                read += n;
            } else if let Some(n) = field
                .strip_prefix("wbytes=")
                .and_then(|n| n.parse::<u64>().ok())
            {
                written += n;
            }
        }
    } else {
        let stat = fs::read_to_string(dir.path.join("blkio.throttle.io_service_bytes"))
            .unwrap_or_default();
        for line in stat.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "Read", n] => read += n.parse::<u64>().unwrap_or(0),
                [_, "Write", n] => written += n.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (read, written)
}
