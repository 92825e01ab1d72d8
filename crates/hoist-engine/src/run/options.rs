//! What `hoist run IMAGE` is asked for, as podman's `run` spells it: the binary fills this
//! from its command line.

use std::path::PathBuf;

use crate::{parse_size, Error, Result};

/// When to pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

/// podman's `run` options (the fields keep its flags' names).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Remove the container when it exits.
    pub rm: bool,
    /// The container's name; a random id if none.
    pub name: Option<String>,
    /// `KEY=VALUE`, or `KEY` to copy it from this process's environment.
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    /// `HOST:CONTAINER[:OPTIONS]`.
    pub volume: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Replaces the image's entrypoint: a word, a JSON array, or "" to clear it.
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// bridge, none, private, host, container:NAME, or networks' names (`NAME[:ip=…,alias=…]`);
    /// none given is bridge.
    pub network: Vec<String>,
    /// `--ip`: the container's address on its (one) network.
    pub ip: Option<String>,
    /// `--network-alias`: more names it is found by on its networks.
    pub network_alias: Vec<String>,
    /// `[[IP:][HOSTPORT]:]CONTAINERPORT[/PROTOCOL]`, ranges as `N-M`.
    pub publish: Vec<String>,
    /// `-P`: publish every port the image exposes on a free host port.
    pub publish_all: bool,
    /// `KEY=VALUE` options of a detached container's log.
    pub log_opt: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub pull: PullPolicy,
    /// Run in the background, watched by a monitor.
    pub detach: bool,
    /// `KEY=VALUE` (or `KEY`, for an empty value).
    pub label: Vec<String>,
    /// The signal `stop` sends first; the image's `StopSignal` if none.
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL.
    pub stop_timeout: Option<u64>,
    /// `type=bind|volume|tmpfs,...`.
    pub mount: Vec<String>,
    /// `PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    /// `NAME=SOFT[:HARD]`.
    pub ulimit: Vec<String>,
    /// `--sysctl NAME=VALUE`: over containers.conf's `default_sysctls`.
    pub sysctl: Vec<String>,
    pub shm_size: Option<String>,
    /// `HOST[:CONTAINER][:PERMISSIONS]`.
    pub device: Vec<String>,
    /// host (the default) or auto[:size=N].
    pub userns: Option<String>,
    /// `--dns`, `--dns-search`, `--dns-option`, `--add-host`.
    pub names: crate::NameSettings,
    /// A minimal init as PID 1 that reaps and forwards signals.
    pub init: bool,
    /// no, on-failure[:N] or always.
    pub restart: Option<String>,
}

impl RunOptions {
    /// `--label`s as a map; a later label replaces an earlier one of the same key.
    pub fn labels(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let mut labels = std::collections::BTreeMap::new();
        for label in &self.label {
            let (key, value) = label.split_once('=').unwrap_or((label, ""));
            if key.is_empty() {
                return Err(Error::bad_option(
                    format!("--label {label:?}"),
                    "names no key",
                ));
            }
            labels.insert(key.to_string(), value.to_string());
        }
        Ok(labels)
    }

    /// `--restart`, checked: no, on-failure[:N] or always (`None` for no).
    pub fn restart_policy(&self) -> Result<Option<String>> {
        let Some(policy) = &self.restart else {
            return Ok(None);
        };
        let valid = match policy.split_once(':') {
            Some(("on-failure", count)) => count.parse::<u32>().is_ok(),
            None => ["no", "on-failure", "always", "unless-stopped"].contains(&policy.as_str()),
            _ => false,
        };
        if !valid {
            return Err(Error::bad_option(
                format!("--restart {policy:?}"),
                "is not a policy: use no, on-failure[:N], always or unless-stopped",
            ));
        }
        if self.rm && policy != "no" {
            return Err(Error::bad_option(
                format!("--restart {policy:?}"),
                "and --rm conflict: a container removed when it ends cannot start again",
            ));
        }
        Ok((policy != "no").then(|| policy.clone()))
    }

    /// `--stop-signal`, checked to be a signal.
    pub fn stop_signal(&self) -> Result<Option<String>> {
        if let Some(signal) = &self.stop_signal {
            hoist_runtime::parse_signal(signal).map_err(|_| {
                Error::bad_option(format!("--stop-signal {signal:?}"), "is not a signal")
            })?;
        }
        Ok(self.stop_signal.clone())
    }

    /// The `max-size` of `--log-opt KEY=VALUE`, the one log option hoist's file log has.
    pub fn log_max_size(&self) -> Result<Option<u64>> {
        let mut max_size = None;
        for option in &self.log_opt {
            match option.split_once('=') {
                Some(("max-size", size)) => {
                    let size = parse_size(size).map_err(|source| Error::BadSize {
                        flag: "--log-opt max-size",
                        source,
                    })?;
                    if size == 0 {
                        return Err(Error::bad_option("--log-opt max-size", "must be above 0"));
                    }
                    max_size = Some(size);
                }
                _ => {
                    return Err(Error::bad_option(
                        format!("--log-opt {option:?}"),
                        "is not supported: hoist's log takes max-size=SIZE",
                    ))
                }
            }
        }
        Ok(max_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_log_opts(opts: &[&str]) -> RunOptions {
        RunOptions {
            log_opt: opts.iter().map(|s| s.to_string()).collect(),
            ..RunOptions::default()
        }
    }

    #[test]
    fn log_options_take_max_size_only() {
        assert_eq!(with_log_opts(&[]).log_max_size().unwrap(), None);
        assert_eq!(
            with_log_opts(&["max-size=10k"]).log_max_size().unwrap(),
            Some(10 << 10)
        );
        assert!(with_log_opts(&["max-size=0"]).log_max_size().is_err());
        assert!(with_log_opts(&["max-size=ten"]).log_max_size().is_err());
        assert!(with_log_opts(&["max-file=3"]).log_max_size().is_err());
    }
}
