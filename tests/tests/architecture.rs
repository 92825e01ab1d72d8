//! The source tree's shape: no crate depends on one above it in the stage order, and no module
//! of a crate imports a module that imports it back (directly or around a loop). Read from the
//! sources themselves: `crate::`/`super::` paths and each crate's `[dependencies]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Each `.rs` file of `src`, as its module path (`init::rootfs`; `crate` for lib.rs/main.rs).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut name = relative.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name == "main" {
                name = "crate".into();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests may reach anywhere; the shipped code may not.
            let shipped = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap()
                .to_string();
            found.insert(name, shipped);
        }
    }
    found
}

/// The module a `crate::`/`super::` path names: the longest prefix that is a module.
fn resolve(from: &str, path: &str, known: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = Vec::new();
    if parts[0] == "crate" {
        parts.remove(0);
    } else {
        base = from.split("::").collect();
        while parts.first() == Some(&"super") {
            parts.remove(0);
            base.pop();
        }
    }
    (1..=parts.len()).rev().find_map(|k| {
        let candidate = base
            .iter()
            .chain(&parts[..k])
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        known.contains(&candidate).then_some(candidate)
    })
}

/// Paths that start with `crate::` or `super::`, with `{a, b}` groups expanded.
fn referenced_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0
            && code[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let rest = &code[start..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .unwrap_or(rest.len());
        let path = &rest[..end];
        match path.split_once('{') {
            Some((prefix, _)) => {
                let group_end = rest.find('}').unwrap_or(rest.len());
                for name in rest[prefix.len() + 1..group_end].split(',') {
                    let name = name.trim().split([' ', ':']).next().unwrap_or("");
                    if !name.is_empty() {
                        paths.push(format!("{prefix}{name}"));
                    }
                }
            }
            None => paths.push(path.trim_end_matches(':').to_string()),
        }
    }
    paths
}

/// The strongly connected groups of more than one module (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

const CRATES: &[&str] = &[
    "hoist-fs",
    "hoist-oci",
    "hoist-registry",
    "hoist-unpack",
    "hoist-runtime",
    "hoist-net",
    "hoist-engine",
    "hoist",
];

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let src = workspace().join("crates").join(krate).join("src");
        let files = modules(&src);
        let known: BTreeSet<String> = files.keys().cloned().collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, text) in &files {
            let targets = edges.entry(module.clone()).or_default();
            for path in referenced_paths(text) {
                let Some(target) = resolve(module, &path, &known) else {
                    continue;
                };
                // A module's own parent (`super::x` of a submodule) is its enclosing scope.
                let is_parent = module.starts_with(&format!("{target}::")) || target == "crate";
                if target != *module && !is_parent {
                    targets.insert(target);
                }
            }
        }
        let found = cycles(&edges);
        assert!(
            found.is_empty(),
            "{krate}: modules import each other: {found:?}"
        );
    }
}

#[test]
fn crates_depend_only_on_the_stages_below_them() {
    // Which workspace crates each may use: the stage order of ARCHITECTURE.md.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("hoist-fs", &[][..]),
        ("hoist-oci", &[][..]),
        ("hoist-net", &[][..]),
        ("hoist-registry", &["hoist-oci"][..]),
        ("hoist-unpack", &["hoist-oci", "hoist-fs"][..]),
        ("hoist-runtime", &["hoist-fs"][..]),
        (
            "hoist-engine",
            &[
                "hoist-oci",
                "hoist-registry",
                "hoist-unpack",
                "hoist-runtime",
                "hoist-net",
                "hoist-fs",
            ][..],
        ),
    ]);
    for (krate, may_use) in allowed {
        let manifest =
            std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml"))
                .unwrap();
        let used: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.split(['.', ' ', '=']).next())
            .filter(|name| name.starts_with("hoist") && *name != krate)
            .collect();
        for dependency in used {
            assert!(
                may_use.contains(&dependency),
                "{krate} depends on {dependency}, which is not below it"
            );
        }
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.insert("a".into(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".into(), BTreeSet::from(["c".to_string()]));
    edges.insert("c".into(), BTreeSet::from(["a".to_string()]));
    edges.insert("d".into(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&edges).len(), 1);
    let known: BTreeSet<String> = ["init", "init::dev", "init::rootfs", "error"]
        .map(String::from)
        .into();
    assert_eq!(
        resolve("init::dev", "super::rootfs::Mounter", &known).as_deref(),
        Some("init::rootfs")
    );
    assert_eq!(
        resolve("init::dev", "crate::error::Error", &known).as_deref(),
        Some("error")
    );
    assert_eq!(
        referenced_paths("use crate::{error::Error, init};\nuse super::dev;"),
        ["crate::error", "crate::init", "super::dev"]
    );
}

#[test]
fn the_readme_has_the_unpack_crates_tolerance_table_as_it_is() {
    let root = workspace();
    let table = std::fs::read_to_string(root.join("crates/hoist-unpack/TOLERANCE.md")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's table of what an image may hold differs from crates/hoist-unpack/TOLERANCE.md: copy the file's table into the README"
    );
}
