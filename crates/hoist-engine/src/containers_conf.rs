//! containers.conf(5), where podman reads it: `$CONTAINERS_CONF` alone, or else
//! `/usr/share/containers/containers.conf`, `/etc/containers/containers.conf` and its
//! `containers.conf.d/*.conf`, then (for a user who is not root)
//! `~/.config/containers/containers.conf` and its `.d`; a later file's setting wins. Of its
//! `[containers]` table hoist takes what it has a meaning for: `seccomp_profile`,
//! `default_capabilities`, the DNS defaults, `default_sysctls`, `default_ulimits`, `env`,
//! `pids_limit` and `log_size_max`; a flag of `run` wins over each, as under podman.

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
    /// `NAME=VALUE`, under `--sysctl`; `net.*` ones only where the container has a network
    /// namespace of its own.
    pub default_sysctls: Vec<String>,
    /// `NAME=SOFT:HARD`, under `--ulimit`.
    pub default_ulimits: Vec<String>,
    /// `KEY=VALUE`, under the image's environment and `-e`.
    pub env: Vec<String>,
    /// Under `--pids-limit`; 0 or less: none.
    pub pids_limit: Option<i64>,
    /// A detached container's log cap in bytes, under `--log-opt max-size`; -1: none.
    pub log_size_max: Option<i64>,
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
    default_sysctls: Option<Vec<String>>,
    default_ulimits: Option<Vec<String>>,
    env: Option<Vec<String>>,
    pids_limit: Option<i64>,
    log_size_max: Option<i64>,
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
            (file.default_sysctls, &mut self.default_sysctls),
            (file.default_ulimits, &mut self.default_ulimits),
            (file.env, &mut self.env),
        ];
        for (given, kept) in lists {
            if let Some(given) = given {
                *kept = given;
            }
        }
        self.pids_limit = file.pids_limit.or(self.pids_limit);
        self.log_size_max = file.log_size_max.or(self.log_size_max);
    }

    /// `options` with this file's defaults where no flag gave the setting: the DNS settings,
    /// ulimits (a flag's replaces the file's of the same name), the pids limit (left out where
    /// the container's cgroup cannot have one, as podman leaves it out for an unprivileged user
    /// without a delegated pids controller), the log cap. The environment and sysctls are
    /// applied with the image's config (`run/spec.rs`).
    pub(crate) fn run_defaults(
        &self,
        options: &crate::RunOptions,
        pids_limit_possible: bool,
    ) -> crate::RunOptions {
        let mut options = options.clone();
        options.names = self.name_defaults(&options.names);
        options.ulimit = self
            .default_ulimits
            .iter()
            .chain(&options.ulimit)
            .cloned()
            .collect();
        if options.pids_limit.is_none() && pids_limit_possible {
            options.pids_limit = self.pids_limit.filter(|limit| *limit > 0);
        }
        let capped = options.log_opt.iter().any(|o| o.starts_with("max-size="));
        if let (false, Some(size)) = (capped, self.log_size_max.filter(|size| *size > 0)) {
            options.log_opt.push(format!("max-size={size}"));
        }
        options
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

    #[test]
    fn run_defaults_fill_only_what_no_flag_gave() {
        let file: ConfFile = toml::from_str(
            "[containers]\npids_limit = 77\nlog_size_max = 4096\ndefault_ulimits = [\"nofile=100:100\"]\n",
        )
        .unwrap();
        let mut conf = ContainersConf::default();
        conf.merge(file.containers);
        let plain = conf.run_defaults(&crate::RunOptions::default(), true);
        assert_eq!(plain.pids_limit, Some(77));
        assert_eq!(plain.log_opt, ["max-size=4096"]);
        assert_eq!(plain.ulimit, ["nofile=100:100"]);
        let flagged = crate::RunOptions {
            pids_limit: Some(5),
            log_opt: vec!["max-size=1k".into()],
            ulimit: vec!["nofile=50:50".into()],
            ..Default::default()
        };
        let flagged = conf.run_defaults(&flagged, true);
        assert_eq!(flagged.pids_limit, Some(5));
        assert_eq!(flagged.log_opt, ["max-size=1k"]);
        // Applied in order: the flag's replaces the file's.
        assert_eq!(flagged.ulimit, ["nofile=100:100", "nofile=50:50"]);
        assert_eq!(
            conf.run_defaults(&crate::RunOptions::default(), false)
                .pids_limit,
            None
        );
    }
}
