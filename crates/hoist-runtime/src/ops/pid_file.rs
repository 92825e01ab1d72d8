//! `--pid-file`: the pid an engine reads to find the container's (or exec'd) process.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Written beside the target and renamed, so an engine polling for it never reads half a pid.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut file = fs::File::create(&tmp).map_err(Error::io("writing the pid file", &tmp))?;
    write!(file, "{pid}").map_err(Error::io("writing the pid file", &tmp))?;
    fs::rename(&tmp, path).map_err(Error::io("writing the pid file", path))
}
