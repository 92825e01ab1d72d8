//! A container's `/etc/hosts` and `/etc/resolv.conf`, written in its directory and bound in.
//!
//! The resolv.conf of a container on the bridge: the host's, copied as it is, names no server
//! the container can reach when the host runs a local stub resolver (127.0.0.53 of
//! systemd-resolved, a dnsmasq on 127.0.0.1): in the container's network namespace loopback is
//! its own. So, as podman does (containers/common's resolvconf): the stub's upstream servers
//! where systemd-resolved keeps them, loopback servers left out, and public ones if none is
//! left. `--dns`, `--dns-search` and `--dns-option` replace what they name.

use std::fs;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where the host's resolver configuration is.
const HOST: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the servers its stub asks.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
/// podman's fallback when nothing reachable is left.
const FALLBACK: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// What `run` was asked of the name files (podman's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameSettings {
    /// `--dns`: the servers, in place of the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_option: Vec<String>,
    /// `--add-host HOST:IP`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_host: Vec<String>,
}

impl NameSettings {
    pub fn is_empty(&self) -> bool {
        *self == NameSettings::default()
    }

    /// Refuses what would write a broken file: a server that is no address, a host entry
    /// that is not `HOST:IP`, a word with spaces in it.
    pub fn check(&self) -> Result<()> {
        for server in &self.dns {
            server.parse::<IpAddr>().map_err(|_| {
                Error::bad_option(format!("--dns {server}"), "is not an IP address")
            })?;
        }
        for entry in &self.add_host {
            host_entry(entry)?;
        }
        for (flag, words) in [
            ("--dns-search", &self.dns_search),
            ("--dns-option", &self.dns_option),
        ] {
            if let Some(bad) = words
                .iter()
                .find(|w| w.is_empty() || w.contains(char::is_whitespace))
            {
                return Err(Error::bad_option(
                    format!("{flag} {bad:?}"),
                    "must be one word",
                ));
            }
        }
        Ok(())
    }
}

/// `--add-host HOST:IP` (podman's form; the IP may be IPv6, so the host is before the first
/// colon) as `/etc/hosts` writes it.
fn host_entry(entry: &str) -> Result<String> {
    let bad = || {
        Error::bad_option(
            format!("--add-host {entry}"),
            "is not HOST:IP (e.g. db:192.0.2.7)",
        )
    };
    let (host, address) = entry.split_once(':').ok_or_else(bad)?;
    let address: IpAddr = address
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| bad())?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(format!("{address}\t{host}\n"))
}

/// Writes the two files in `dir` and returns their bind mounts. `address`: the container's on
/// the bridge, if it is on it.
pub fn name_files(
    dir: &Path,
    hostname: &str,
    address: Option<std::net::Ipv4Addr>,
    settings: &NameSettings,
) -> Result<Vec<oci_spec::runtime::Mount>> {
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    hosts.push_str(&format!(
        "{}\t{hostname}\n",
        address.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string())
    ));
    for entry in &settings.add_host {
        hosts.push_str(&host_entry(entry)?);
    }
    let host = fs::read_to_string(HOST).unwrap_or_default();
    let resolv = match address {
        Some(_) => {
            let upstream = fs::read_to_string(RESOLVED_UPSTREAM).ok();
            reachable_from_a_container(&host, upstream.as_deref())
        }
        None => host,
    };
    let resolv = with_settings(&resolv, settings);
    let mut mounts = Vec::new();
    for (name, content, target) in [
        ("hosts", hosts, "/etc/hosts"),
        ("resolv.conf", resolv, "/etc/resolv.conf"),
    ] {
        let path = dir.join(name);
        fs::write(&path, content).map_err(Error::io("writing", &path))?;
        let mut mount = oci_spec::runtime::Mount::default();
        mount.set_destination(target.into());
        mount.set_typ(Some("bind".to_string()));
        mount.set_source(Some(path));
        mount.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
        mounts.push(mount);
    }
    Ok(mounts)
}

/// `conf` with the lines of each kind the settings name replaced by theirs.
fn with_settings(conf: &str, settings: &NameSettings) -> String {
    let replaced = [
        ("nameserver", &settings.dns),
        ("search", &settings.dns_search),
        ("options", &settings.dns_option),
    ];
    let mut out: String = conf
        .lines()
        .filter(|line| {
            let keyword = line.split_whitespace().next().unwrap_or("");
            !replaced
                .iter()
                .any(|(k, given)| *k == keyword && !given.is_empty())
        })
        .map(|line| format!("{line}\n"))
        .collect();
    for server in &settings.dns {
        out.push_str(&format!("nameserver {server}\n"));
    }
    for (keyword, words) in [
        ("search", &settings.dns_search),
        ("options", &settings.dns_option),
    ] {
        if !words.is_empty() {
            out.push_str(&format!("{keyword} {}\n", words.join(" ")));
        }
    }
    out
}

/// `host` without loopback servers; `resolved_upstream` instead when the host's names only
/// loopback servers (a stub), and public servers if still none is left. Search domains and
/// options are kept.
fn reachable_from_a_container(host: &str, resolved_upstream: Option<&str>) -> String {
    let only_stubs = servers(host).next().is_some() && servers(host).all(is_loopback);
    let chosen = match resolved_upstream {
        Some(upstream) if only_stubs && servers(upstream).any(|s| !is_loopback(s)) => upstream,
        _ => host,
    };
    let mut kept: String = chosen
        .lines()
        .filter(|line| server(line).is_none_or(|s| !is_loopback(s)))
        .map(|line| format!("{line}\n"))
        .collect();
    if servers(&kept).next().is_none() {
        for fallback in FALLBACK {
            kept.push_str(&format!("nameserver {fallback}\n"));
        }
    }
    kept
}

fn servers(conf: &str) -> impl Iterator<Item = &str> {
    conf.lines().filter_map(server)
}

/// The address of a `nameserver` line.
fn server(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    (words.next()? == "nameserver").then_some(())?;
    words.next()
}

fn is_loopback(server: &str) -> bool {
    // A scoped IPv6 address (fe80::1%eth0) is no loopback, and unparsable ones are kept.
    server
        .split('%')
        .next()
        .and_then(|a| a.parse::<std::net::IpAddr>().ok())
        .is_some_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_resolver_gives_way_to_its_upstream_servers() {
        let stub = "# managed by resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n";
        let upstream = "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n";
        assert_eq!(reachable_from_a_container(stub, Some(upstream)), upstream);
    }

    #[test]
    fn loopback_servers_go_and_the_rest_stays_as_written() {
        let mixed = "search lan\nnameserver 127.0.0.1\nnameserver 198.51.100.1\nnameserver ::1\noptions ndots:2\n";
        assert_eq!(
            reachable_from_a_container(mixed, None),
            "search lan\nnameserver 198.51.100.1\noptions ndots:2\n"
        );
        let plain = "nameserver 10.255.255.53\n";
        assert_eq!(
            reachable_from_a_container(plain, Some("nameserver 192.0.2.53\n")),
            plain
        );
    }

    #[test]
    fn dns_flags_replace_the_lines_they_name_and_add_host_is_checked() {
        let settings = NameSettings {
            dns: vec!["192.0.2.1".into()],
            dns_search: vec!["a.test".into(), "b.test".into()],
            ..NameSettings::default()
        };
        assert_eq!(
            with_settings(
                "nameserver 10.0.0.1\nsearch lan\noptions ndots:2\n",
                &settings
            ),
            "options ndots:2\nnameserver 192.0.2.1\nsearch a.test b.test\n"
        );
        assert_eq!(host_entry("db:198.51.100.7").unwrap(), "198.51.100.7\tdb\n");
        assert_eq!(host_entry("v6:2001:db8::7").unwrap(), "2001:db8::7\tv6\n");
        for bad in ["db", "db:", ":192.0.2.1", "db:not-an-ip", "a b:192.0.2.1"] {
            assert!(host_entry(bad).is_err(), "{bad}");
        }
        let bad_dns = NameSettings {
            dns: vec!["resolver.example".into()],
            ..NameSettings::default()
        };
        assert!(bad_dns.check().is_err());
    }

    #[test]
    fn with_nothing_reachable_left_podmans_public_servers_are_used() {
        let only_stub = "nameserver 127.0.0.53\nsearch lan\n";
        assert_eq!(
            reachable_from_a_container(only_stub, None),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            reachable_from_a_container("", Some("nameserver 127.0.0.53\n")),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
