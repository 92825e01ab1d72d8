//! Entry paths as the applier keeps them: the bytes of a plain relative path (`a/b/c`, no `.`,
//! `..` or empty components), so the bookkeeping of tens of thousands of entries is byte
//! slices and a fast hash, not `PathBuf`s hashed component by component.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustc_hash::FxHashSet;

/// Writes into `out` the entry's path as a plain relative path inside the root: `/` and `./`
/// prefixes dropped and `..` clamped at the root, as if the archive were extracted with the
/// root as `/`. Returns false for the root itself.
pub(crate) fn confine_into(path: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                let parent_end = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(parent_end);
            }
            name => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
    !out.is_empty()
}

/// The parent directory (empty for the root) and the final name of a confined path.
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => (&path[..slash], &path[slash + 1..]),
        None => (b"", path),
    }
}

/// `parent/name`, or `name` in the root.
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        joined.extend_from_slice(parent);
        joined.push(b'/');
    }
    joined.extend_from_slice(name);
    joined
}

/// Whether `candidate` is `path` or lies beneath it.
pub(crate) fn is_at_or_under(candidate: &[u8], path: &[u8]) -> bool {
    candidate
        .strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/' || path.is_empty())
}

pub(crate) fn as_path(path: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(path))
}

pub(crate) fn as_os_str(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

/// The paths one layer has put in place, and every directory above them: a whiteout hides only
/// what the layers below provided, so it must spare these. Only whiteouts ask, and most layers
/// have none, so paths are appended to one buffer until the first question builds the set.
#[derive(Default)]
pub(crate) struct WrittenPaths {
    /// NUL-terminated paths (a path never contains NUL), recorded before the set was needed.
    log: Vec<u8>,
    set: Option<FxHashSet<Box<[u8]>>>,
}

impl WrittenPaths {
    pub(crate) fn record(&mut self, path: &[u8]) {
        match &mut self.set {
            Some(set) => insert_with_ancestors(set, path),
            None => {
                self.log.extend_from_slice(path);
                self.log.push(0);
            }
        }
    }

    /// The set of written paths, built on first use.
    pub(crate) fn set(&mut self) -> &FxHashSet<Box<[u8]>> {
        let log = &self.log;
        let set = self.set.get_or_insert_with(|| {
            let mut set = FxHashSet::default();
            for path in log.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                insert_with_ancestors(&mut set, path);
            }
            set
        });
        self.log = Vec::new();
        set
    }
}

fn insert_with_ancestors(set: &mut FxHashSet<Box<[u8]>>, path: &[u8]) {
    if set.contains(path) {
        return;
    }
    set.insert(path.into());
    let mut ancestor = path;
    while let Some(slash) = ancestor.iter().rposition(|&b| b == b'/') {
        ancestor = &ancestor[..slash];
        if !set.insert(ancestor.into()) {
            break; // its ancestors are in already
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined(path: &str) -> Option<String> {
        let mut out = Vec::new();
        confine_into(path.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn confine_clamps_dotdot_and_drops_absolute_prefixes() {
        assert_eq!(confined("../../etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(confined("/a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(confined("a//b/").as_deref(), Some("a/b"));
        assert_eq!(confined("a/b/../../../c/..d").as_deref(), Some("c/..d"));
        assert_eq!(confined("./"), None);
        assert_eq!(confined("a/../.."), None);
    }

    #[test]
    fn split_and_join_are_inverse() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
        assert_eq!(join(b"", b"c"), b"c");
    }

    #[test]
    fn under_is_by_component_not_by_prefix() {
        assert!(is_at_or_under(b"a/b", b"a"));
        assert!(is_at_or_under(b"a", b"a"));
        assert!(!is_at_or_under(b"ab", b"a"));
        assert!(is_at_or_under(b"x/y", b""));
    }

    #[test]
    fn written_paths_answer_for_paths_and_ancestors_before_and_after_indexing() {
        let mut written = WrittenPaths::default();
        written.record(b"usr/lib/x");
        assert!(written.set().contains(&b"usr/lib/x"[..]));
        assert!(written.set().contains(&b"usr"[..]));
        assert!(!written.set().contains(&b"usr/li"[..]));
        written.record(b"etc/passwd");
        assert!(written.set().contains(&b"etc"[..]));
        assert!(!written.set().contains(&b"var"[..]));
    }
}
