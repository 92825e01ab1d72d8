//! `/proc/self/mountinfo`, read into its fields. Written here rather than taken from the
//! `procfs` crate: hoist reads four fields of one table, and procfs would bring a model of all
//! of /proc with it.

use std::path::PathBuf;

/// One line of mountinfo (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] -
/// FSTYPE SOURCE SUPEROPTIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    pub id: u64,
    pub mount_point: PathBuf,
    /// The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fs_type: String,
    pub super_options: String,
}

/// The mounts of this process's namespace, in mount order (a later mount may cover an
/// earlier one).
pub(crate) fn read() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// Lines that do not have the fields (there are none in a kernel's table) are skipped.
pub(crate) fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    let fs_type = right.next()?.to_string();
    let _source = right.next()?;
    Some(MountEntry {
        id: left.first()?.parse().ok()?,
        mount_point: PathBuf::from(unescape(left.get(4)?)),
        optional: left.get(6..)?.iter().map(|s| s.to_string()).collect(),
        fs_type,
        super_options: right.next().unwrap_or("").to_string(),
    })
}

/// The kernel writes space, tab, newline and backslash in paths as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], escaped) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_optional_tags_and_escaped_paths_are_read() {
        let entries = parse(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n\
             35 22 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             90 22 0:50 / /tmp/a\\040b rw master:7 propagate_from:2 - tmpfs tmpfs rw\n\
             not a mountinfo line\n",
        );
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].id, 22);
        assert_eq!(entries[0].mount_point, PathBuf::from("/"));
        assert_eq!(entries[0].optional, ["shared:1"]);
        assert_eq!(entries[1].fs_type, "cgroup");
        assert_eq!(entries[1].super_options, "rw,memory");
        assert!(entries[1].optional.is_empty());
        assert_eq!(entries[2].mount_point, PathBuf::from("/tmp/a b"));
        assert_eq!(entries[2].optional, ["master:7", "propagate_from:2"]);
    }
}
