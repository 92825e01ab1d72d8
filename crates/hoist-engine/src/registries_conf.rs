//! containers-registries.conf(5), version 2, as podman and skopeo read it: short names
//! (aliases, unqualified-search registries, the short-name mode), and per registry or
//! namespace a new location, `insecure`, `blocked` and mirrors (`pull-from-mirror`).
//!
//! In enforcing mode, an ambiguous short name is asked about on a terminal (see
//! [`ask_short_names_with`]); the choice, once its pull succeeds, is kept as an alias in
//! containers/image's cache of them, `short-name-aliases.conf`, which then wins over the
//! aliases of registries.conf, as containers/image reads it. (Unlike containers/image, two
//! prompts answered at once may each keep only their own alias: the file is not locked.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hoist_oci::Reference;
use serde::Deserialize;

use crate::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ConfFile {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    #[serde(default)]
    aliases: HashMap<String, String>,
    #[serde(default)]
    registry: Vec<RegistryEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryEntry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<Mirror>,
    #[serde(default)]
    mirror_by_digest_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Mirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    /// `all` (the default), `digest-only` or `tag-only`.
    pull_from_mirror: Option<String>,
}

/// Asks which of `candidates` the short name `name` means: the index chosen, or `None` when
/// nobody can be asked (no terminal) or nobody chose.
pub type ShortNameChooser = fn(name: &str, candidates: &[Reference]) -> Option<usize>;

static CHOOSER: std::sync::OnceLock<ShortNameChooser> = std::sync::OnceLock::new();

/// A choice asked for and not yet kept: the short name's repository and the one chosen.
static CHOSEN: std::sync::Mutex<Option<(String, Reference)>> = std::sync::Mutex::new(None);

/// Where the process may ask about ambiguous short names (the CLI, on a terminal).
pub fn ask_short_names_with(chooser: ShortNameChooser) {
    let _ = CHOOSER.set(chooser);
}

/// The configuration in force: the main file and its drop-ins merged.
#[derive(Debug, Default)]
pub struct RegistriesConf {
    search: Vec<String>,
    enforcing: bool,
    aliases: HashMap<String, String>,
    registries: Vec<RegistryEntry>,
}

/// One place to pull an image from, in the order they are tried.
pub(crate) struct Endpoint {
    pub(crate) reference: Reference,
    pub(crate) insecure: bool,
}

impl RegistriesConf {
    /// `$CONTAINERS_REGISTRIES_CONF`, else `~/.config/containers/registries.conf` (for a user
    /// who has one), else `/etc/containers/registries.conf`; then the `*.conf` of
    /// `/etc/containers/registries.conf.d/` and `~/.config/containers/registries.conf.d/`, in
    /// name order, each overriding what it sets.
    pub fn load() -> Result<&'static RegistriesConf> {
        static LOADED: std::sync::OnceLock<RegistriesConf> = std::sync::OnceLock::new();
        if let Some(conf) = LOADED.get() {
            return Ok(conf);
        }
        let conf = RegistriesConf::read()?;
        Ok(LOADED.get_or_init(|| conf))
    }

    /// Reads the files (once per process: a pull asks several times).
    fn read() -> Result<RegistriesConf> {
        let user_dir = hoist_registry::authfile::user_config_dir();
        let main = match std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
            Some(file) => Some(PathBuf::from(file)),
            None => user_dir
                .as_ref()
                .map(|d| d.join("registries.conf"))
                .filter(|f| f.is_file())
                .or_else(|| Some(PathBuf::from("/etc/containers/registries.conf"))),
        };
        let mut conf = RegistriesConf {
            enforcing: true,
            ..RegistriesConf::default()
        };
        // A file named by the environment stands alone, as containers/image reads it.
        let drop_ins = match std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
            Some(_) => Vec::new(),
            None => drop_ins(user_dir.as_deref()),
        };
        for file in main.into_iter().chain(drop_ins) {
            if let Some(parsed) = read(&file)? {
                conf.merge(parsed);
            }
        }
        // Choices made at a prompt before: they win over registries.conf's aliases.
        if let Some(cached) = alias_cache().map(|f| read(&f)).transpose()?.flatten() {
            conf.aliases.extend(cached.aliases);
        }
        Ok(conf)
    }

    fn merge(&mut self, file: ConfFile) {
        if let Some(search) = file.unqualified_search_registries {
            self.search = search;
        }
        if let Some(mode) = file.short_name_mode {
            self.enforcing = mode == "enforcing";
        }
        self.aliases.extend(file.aliases);
        for entry in file.registry {
            let key = entry.prefix.clone().or(entry.location.clone());
            self.registries
                .retain(|e| e.prefix.clone().or(e.location.clone()) != key);
            self.registries.push(entry);
        }
    }

    /// The images a name the user typed may mean: itself if it names its registry; else its
    /// alias; else each unqualified-search registry's (one at most in enforcing mode, which
    /// cannot ask which without a terminal); else Docker Hub's, as hoist always read a short
    /// name (podman would refuse).
    pub fn candidates(&self, typed: &str) -> Result<Vec<Reference>> {
        self.candidates_preferring(typed, &|_| false)
    }

    /// [`candidates`](Self::candidates), where an ambiguous short name that one of them
    /// `is_local` (in the store already) means that one, without asking, as podman does.
    pub fn candidates_preferring(
        &self,
        typed: &str,
        is_local: &dyn Fn(&Reference) -> bool,
    ) -> Result<Vec<Reference>> {
        if !is_short_name(typed) {
            return Ok(vec![typed.parse()?]);
        }
        let (name, suffix) = split_suffix(typed);
        if let Some(target) = self.aliases.get(name) {
            return Ok(vec![format!("{target}{suffix}").parse()?]);
        }
        let searched = || -> Result<Vec<Reference>> {
            self.search
                .iter()
                .map(|registry| Ok(format!("{registry}/{typed}").parse()?))
                .collect()
        };
        match self.search.len() {
            0 => Ok(vec![typed.parse()?]),
            1 => searched(),
            _ if self.enforcing => {
                let candidates = searched()?;
                if let Some(local) = candidates.iter().find(|c| is_local(c)) {
                    return Ok(vec![local.clone()]);
                }
                let chosen = CHOOSER.get().and_then(|ask| ask(typed, &candidates));
                let Some(chosen) = chosen.and_then(|i| candidates.get(i)) else {
                    return Err(Error::AmbiguousShortName {
                        name: typed.to_string(),
                        registries: self.search.join(", "),
                    });
                };
                *CHOSEN.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((name.to_string(), chosen.clone()));
                Ok(vec![chosen.clone()])
            }
            _ => searched(),
        }
    }

    /// Keeps the choice made at the prompt for `pulled` as an alias, now that its pull
    /// succeeded (a choice whose pull failed is not kept, as in containers/image). Nothing to
    /// do for an image no prompt chose. A cache that cannot be written is only warned of.
    pub fn remember_choice(pulled: &Reference) {
        let Some((name, chosen)) = CHOSEN.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        if &chosen != pulled {
            return;
        }
        let Some(file) = alias_cache() else {
            return;
        };
        if let Err(error) = add_alias(&file, &name, &chosen.name()) {
            tracing::warn!(%error, file = %file.display(), "keeping the short name's alias");
        }
    }

    /// Refuses a reference whose registry this configuration blocks (for reads that are no
    /// pull: inspect, list-tags).
    pub(crate) fn refuse_blocked(reference: &Reference) -> Result<()> {
        RegistriesConf::load()?.endpoints(reference).map(|_| ())
    }

    /// Where to pull `reference` from, in order: the mirrors its entry allows for it, then its
    /// location. Refused if its entry is blocked.
    pub(crate) fn endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>> {
        let name = reference.name();
        let Some((entry, prefix)) = self.entry_for(&name) else {
            return Ok(vec![Endpoint {
                reference: reference.clone(),
                insecure: false,
            }]);
        };
        if entry.blocked {
            return Err(Error::RegistryBlocked(reference.to_string()));
        }
        let full = reference.to_string();
        let rest = &full[prefix.len()..];
        let by_digest = reference.digest().is_some();
        let mut endpoints = Vec::new();
        for mirror in &entry.mirror {
            // `mirror-by-digest-only` holds for every mirror of the entry, whatever each says.
            let allowed = match mirror.pull_from_mirror.as_deref() {
                _ if entry.mirror_by_digest_only => by_digest,
                Some("digest-only") => by_digest,
                Some("tag-only") => !by_digest,
                _ => true,
            };
            if allowed {
                endpoints.push(Endpoint {
                    reference: format!("{}{rest}", mirror.location).parse()?,
                    insecure: mirror.insecure,
                });
            }
        }
        let location = entry.location.clone().unwrap_or(prefix);
        endpoints.push(Endpoint {
            reference: format!("{location}{rest}").parse()?,
            insecure: entry.insecure,
        });
        Ok(endpoints)
    }

    /// The entry whose prefix matches `name` longest (a `*.domain` prefix matches hosts under
    /// the domain), and that prefix as matched.
    fn entry_for(&self, name: &str) -> Option<(&RegistryEntry, String)> {
        let host = name.split('/').next().unwrap_or(name);
        self.registries
            .iter()
            .filter_map(|entry| {
                let prefix = entry.prefix.as_ref().or(entry.location.as_ref())?;
                let matched = match prefix.strip_prefix("*.") {
                    Some(domain) => host
                        .split(':')
                        .next()
                        .is_some_and(|h| h.ends_with(&format!(".{domain}")))
                        .then(|| host.to_string()),
                    None => (name == prefix
                        || name
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|r| r.starts_with('/')))
                    .then(|| prefix.clone()),
                };
                matched.map(|m| (entry, m))
            })
            .max_by_key(|(entry, _)| {
                entry
                    .prefix
                    .as_ref()
                    .or(entry.location.as_ref())
                    .map_or(0, |p| p.len())
            })
    }
}

/// A name with no registry: its first part is no host (no dot or port, not localhost).
pub(crate) fn is_short_name(typed: &str) -> bool {
    let typed = typed.strip_prefix("docker://").unwrap_or(typed);
    match typed.split_once('/') {
        None => true,
        Some((first, _)) => !(first.contains('.') || first.contains(':') || first == "localhost"),
    }
}

/// `name` and its `:tag` or `@digest` suffix.
fn split_suffix(typed: &str) -> (&str, &str) {
    if let Some(at) = typed.find('@') {
        return typed.split_at(at);
    }
    let last_slash = typed.rfind('/').map_or(0, |i| i + 1);
    match typed[last_slash..].find(':') {
        Some(colon) => typed.split_at(last_slash + colon),
        None => (typed, ""),
    }
}

fn drop_ins(user_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dirs = [
        Some(PathBuf::from("/etc/containers")),
        user_dir.map(Path::to_path_buf),
    ];
    for dir in dirs.into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(dir.join("registries.conf.d")) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// containers/image's cache of aliases chosen at a prompt: root's is
/// `/var/cache/containers/` whatever the environment says (a user's `$XDG_CACHE_HOME` must not
/// steer root's short names); a user's under `$XDG_CACHE_HOME`, else `~/.cache/`. Only an
/// absolute directory counts: none, no cache (never one relative to the working directory).
fn alias_cache() -> Option<PathBuf> {
    const FILE: &str = "containers/short-name-aliases.conf";
    if rustix::process::geteuid().is_root() {
        return Some(PathBuf::from("/var/cache").join(FILE));
    }
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join(FILE))
}

/// Adds (or replaces) the alias `name` = `target` in the cache `file`, written whole beside
/// it and renamed over it, so a reader never sees half a file.
fn add_alias(file: &Path, name: &str, target: &str) -> std::io::Result<()> {
    let mut aliases = read(file)
        .ok()
        .flatten()
        .map(|f| f.aliases)
        .unwrap_or_default();
    aliases.insert(name.to_string(), target.to_string());
    #[derive(serde::Serialize)]
    struct AliasCache<'a> {
        aliases: std::collections::BTreeMap<&'a str, &'a str>,
    }
    let cache = AliasCache {
        aliases: aliases
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect(),
    };
    let text = toml::to_string(&cache).map_err(std::io::Error::other)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// A file's settings; a missing file is none; one that cannot be read or parsed is an error
/// naming it (a `blocked` that failed to parse must not pass for no setting).
fn read(file: &Path) -> Result<Option<ConfFile>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", file)(e)),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| Error::BadRegistriesConf {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut conf = RegistriesConf {
            enforcing: true,
            ..RegistriesConf::default()
        };
        conf.merge(toml::from_str(text).unwrap());
        conf
    }

    #[test]
    fn short_names_resolve_by_alias_then_search() {
        let c = conf(
            r#"
            unqualified-search-registries = ["r1.example", "r2.example"]
            [aliases]
            "app" = "quay.example/team/app"
            "#,
        );
        let names = |typed: &str| -> Vec<String> {
            c.candidates(typed)
                .unwrap()
                .iter()
                .map(|r| r.to_string())
                .collect()
        };
        assert_eq!(names("app:2"), ["quay.example/team/app:2"]);
        assert_eq!(names("localhost/x"), ["localhost/x:latest"]);
        assert!(matches!(
            c.candidates("other"),
            Err(Error::AmbiguousShortName { .. })
        ));
        let permissive = conf(
            r#"
            unqualified-search-registries = ["r1.example", "r2.example"]
            short-name-mode = "permissive"
            "#,
        );
        assert_eq!(permissive.candidates("other").unwrap().len(), 2);
        assert_eq!(
            RegistriesConf::default().candidates("busybox").unwrap()[0].to_string(),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn entries_rewrite_block_and_mirror_by_the_longest_prefix() {
        let c = conf(
            r#"
            [[registry]]
            prefix = "r.example/team"
            location = "internal.example:5000/mirrored-team"
            insecure = true
            [[registry.mirror]]
            location = "mirror.example/team"
            pull-from-mirror = "digest-only"

            [[registry]]
            location = "r.example"
            blocked = true
            "#,
        );
        let tagged: Reference = "r.example/team/app:1".parse().unwrap();
        let endpoints = c.endpoints(&tagged).unwrap();
        assert_eq!(endpoints.len(), 1, "the mirror serves digests only");
        assert_eq!(
            endpoints[0].reference.to_string(),
            "internal.example:5000/mirrored-team/app:1"
        );
        assert!(endpoints[0].insecure);
        let pinned: Reference = format!("r.example/team/app@{}", hoist_oci::Digest::of(b"x"))
            .parse()
            .unwrap();
        let endpoints = c.endpoints(&pinned).unwrap();
        assert_eq!(endpoints.len(), 2);
        assert!(endpoints[0]
            .reference
            .to_string()
            .starts_with("mirror.example/team/app@sha256:"));
        let other: Reference = "r.example/other:1".parse().unwrap();
        assert!(matches!(
            c.endpoints(&other),
            Err(Error::RegistryBlocked(_))
        ));
    }
}
