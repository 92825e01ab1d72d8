//! containers.conf(5), where podman reads it: `$CONTAINERS_CONF` alone, or else
//! `/usr/share/containers/containers.conf`, `/etc/containers/containers.conf` and its
//! `containers.conf.d/*.conf`, then (for a user who is not root)
//! `~/.config/containers/containers.conf` and its `.d`; a later file's setting wins. Of its
//! `[containers]` table hoist takes what it has a meaning for: `seccomp_profile`,
//! `default_capabilities` and the DNS defaults. (`default_sysctls` and `pids_limit` are not
//! applied yet.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::{Error, Result};

#[derive(Debug, Default, Clone)]
pub struct ContainersConf {
    pub seccomp_profile: Option<PathBuf>,
    /// What a container's root keeps, replacing podman's eleven.
    pub default_capabilities: Option<Vec<String>>,
    pub dns_servers: Vec<String>,
    pub dns_searches: Vec<String>,
    pub dns_options: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ConfFile {
    #[serde(default)]
    containers: Containers,
}

#[derive(Deserialize, Default)]
struct Containers {
    seccomp_profile: Option<String>,
    default_capabilities: Option<Vec<String>>,
    dns_servers: Option<Vec<String>>,
    dns_searches: Option<Vec<String>>,
    dns_options: Option<Vec<String>>,
}

static LOADED: OnceLock<ContainersConf> = OnceLock::new();

impl ContainersConf {
    /// The settings in force (read once per process: a run asks several times).
    pub fn get() -> Result<&'static ContainersConf> {
        if let Some(conf) = LOADED.get() {
            return Ok(conf);
        }
        let conf = ContainersConf::load()?;
        Ok(LOADED.get_or_init(|| conf))
    }

    fn load() -> Result<ContainersConf> {
        let mut conf = ContainersConf::default();
        for file in files() {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let parsed: ConfFile =
                toml::from_str(&text).map_err(|source| Error::ContainersConf {
                    path: file.clone(),
                    source,
                })?;
            conf.merge(parsed.containers);
        }
        Ok(conf)
    }

    fn merge(&mut self, file: Containers) {
        if let Some(profile) = file.seccomp_profile.filter(|p| !p.is_empty()) {
            self.seccomp_profile = Some(PathBuf::from(profile));
        }
        if let Some(capabilities) = file.default_capabilities {
            self.default_capabilities = Some(capabilities);
        }
        let lists = [
            (file.dns_servers, &mut self.dns_servers),
            (file.dns_searches, &mut self.dns_searches),
            (file.dns_options, &mut self.dns_options),
        ];
        for (given, kept) in lists {
            if let Some(given) = given {
                *kept = given;
            }
        }
    }

    /// `names` with the configured DNS settings where no flag gave any.
    pub(crate) fn name_defaults(&self, names: &crate::NameSettings) -> crate::NameSettings {
        let mut names = names.clone();
        let defaults = [
            (&mut names.dns, &self.dns_servers),
            (&mut names.dns_search, &self.dns_searches),
            (&mut names.dns_option, &self.dns_options),
        ];
        for (given, default) in defaults {
            if given.is_empty() {
                given.clone_from(default);
            }
        }
        names
    }
}

fn files() -> Vec<PathBuf> {
    if let Some(file) = std::env::var_os("CONTAINERS_CONF") {
        return vec![PathBuf::from(file)];
    }
    let mut files = vec![
        PathBuf::from("/usr/share/containers/containers.conf"),
        PathBuf::from("/etc/containers/containers.conf"),
    ];
    files.extend(drop_ins(Path::new("/etc/containers/containers.conf.d")));
    if !rustix::process::geteuid().is_root() {
        if let Some(dir) = hoist_registry::authfile::user_config_dir() {
            files.push(dir.join("containers.conf"));
            files.extend(drop_ins(&dir.join("containers.conf.d")));
        }
    }
    files
}

fn drop_ins(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_win_and_flags_win_over_files() {
        let mut conf = ContainersConf::default();
        let first: ConfFile = toml::from_str(
            "[containers]\ndefault_capabilities = [\"CHOWN\"]\ndns_servers = [\"192.0.2.1\"]\n",
        )
        .unwrap();
        let second: ConfFile =
            toml::from_str("[containers]\ndns_servers = [\"192.0.2.2\"]\n[engine]\nx = 1\n")
                .unwrap();
        conf.merge(first.containers);
        conf.merge(second.containers);
        assert_eq!(
            conf.default_capabilities.as_deref(),
            Some(&["CHOWN".to_string()][..])
        );
        assert_eq!(conf.dns_servers, ["192.0.2.2"]);
        let flagged = crate::NameSettings {
            dns: vec!["198.51.100.1".into()],
            ..Default::default()
        };
        assert_eq!(conf.name_defaults(&flagged).dns, ["198.51.100.1"]);
        assert_eq!(
            conf.name_defaults(&crate::NameSettings::default()).dns,
            ["192.0.2.2"]
        );
    }
}
