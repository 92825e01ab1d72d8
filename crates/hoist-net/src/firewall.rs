//! The firewall rules containers need: masquerading for what leaves a network's subnet, DNAT
//! for published ports (so the server sees its real client), and drops for internal networks.
//!
//! They live in an nftables table of hoist's own, `ip hoist`, written whole from the leases
//! each time a container joins or leaves (one `nft -f` transaction: the old table deleted and
//! the new one made together, never half of it), and deleted with the last container. So a
//! crash leaves no rule the next `attach` or `detach` does not put right, and the host's other
//! tables are never touched. The `nft` command is used rather than a netlink crate for the
//! reason `ip` is: its syntax is the documentation, every distribution ships it, and a whole
//! table is one call; the netlink crates for nftables are young or bind libnftnl.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::{Error, Leases, Network, Result};

const TABLE: &str = "hoist";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Makes hoist's table say what the leases need (or removes it when no container is left).
pub fn apply(networks: &[Network], leases: &Leases) -> Result<()> {
    let in_use: Vec<&Network> = networks
        .iter()
        .filter(|n| leases.on(&n.name).next().is_some())
        .collect();
    let mut script = format!("table ip {TABLE}\ndelete table ip {TABLE}\n");
    if !in_use.is_empty() {
        script.push_str(&table(&in_use, leases));
        if in_use.iter().any(|n| !n.internal) {
            enable_forwarding()?;
        }
    }
    nft(&["-f", "-"], Some(&script)).map(drop)
}

/// The table's text.
fn table(in_use: &[&Network], leases: &Leases) -> String {
    let mut published = String::new();
    for member in &leases.members {
        for port in &member.ports {
            if port.loopback_only() {
                continue; // the proxy's
            }
            let destination = match port.host_ip() {
                ip if ip.is_unspecified() => String::new(),
                ip => format!("ip daddr {ip} "),
            };
            let _ = writeln!(
                published,
                "\t\t{destination}{} dport {} dnat to {}:{}",
                port.protocol.name(),
                port.host.port(),
                member.address,
                port.container_port
            );
        }
    }
    let mut postrouting = String::new();
    let mut forward = String::new();
    for network in in_use {
        let subnet = network.subnet;
        if network.internal {
            let _ = writeln!(forward, "\t\tip saddr {subnet} ip daddr != {subnet} drop");
            let _ = writeln!(forward, "\t\tip daddr {subnet} ip saddr != {subnet} drop");
        } else {
            let _ = writeln!(
                postrouting,
                "\t\tip saddr {subnet} ip daddr != {subnet} masquerade"
            );
        }
        // A container reaching a port published to its own network through the host's
        // address: the answer must come back through the host too.
        let _ = writeln!(
            postrouting,
            "\t\tct status dnat ip saddr {subnet} ip daddr {subnet} masquerade"
        );
    }
    format!(
        "table ip {TABLE} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tfib daddr type local jump published
\t}}
\tchain output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr != 127.0.0.0/8 fib daddr type local jump published
\t}}
\tchain published {{
{published}\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority 100; policy accept;
{postrouting}\t}}
\tchain forward {{
\t\ttype filter hook forward priority 0; policy accept;
{forward}\t}}
}}
"
    )
}

/// Routing between the bridges and the world: the kernel's switch for this network namespace.
fn enable_forwarding() -> Result<()> {
    if std::fs::read_to_string(IP_FORWARD).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(IP_FORWARD, "1").map_err(Error::io(IP_FORWARD))
}

/// The forward chains of other tables that drop what they do not accept: a container's
/// traffic may die there, whatever hoist's table says. As `family table chain`.
pub fn dropping_forward_chains() -> Vec<String> {
    let Ok(listing) = nft(&["-j", "list", "chains"], None) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&listing) else {
        return Vec::new();
    };
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("chain"))
        .filter(|chain| chain["hook"] == "forward" && chain["policy"] == "drop")
        .filter(|chain| chain["table"] != TABLE)
        .map(|chain| {
            format!(
                "{} {} {}",
                chain["family"].as_str().unwrap_or("?"),
                chain["table"].as_str().unwrap_or("?"),
                chain["name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// `nft ARGS` with `input` on its stdin; its stdout, or what it said on failure.
fn nft(args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::NoNft)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::io("nft's input")(e))?;
    }
    let output = child.wait_with_output().map_err(|e| Error::io("nft")(e))?;
    if !output.status.success() {
        return Err(Error::Nft {
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
